"""The one GeoJSON schema: geometry checked (valid, 2-D, in range), collections written once."""

from __future__ import annotations

import json

import pytest
from marshmallow import ValidationError

from core import geojson

SQUARE = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]


@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": [-0.57, 44.84]},
    {"type": "Polygon", "coordinates": SQUARE},
    {"type": "MultiPolygon", "coordinates": [SQUARE, SQUARE]},
    {"type": "LineString", "coordinates": [[0, 0], [180, 90]]},
    {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]},
])
def test_valid_geometry_passes(geometry):
    geojson.check_geometry(geometry)
    assert geojson.Geometry().deserialize(geometry) == geometry


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Point", "coordinates": [-0.57, 44.84, 12.0]}, "pas d'altitude"),
    ({"type": "Point", "coordinates": [44.84, -190]}, "hors limites"),
    ({"type": "Point", "coordinates": [200, 44.84]}, "hors limites"),
    ({"type": "Point", "coordinates": [float("nan"), 1]}, "nombres finis"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "fermé"),
    ({"type": "LineString", "coordinates": [[0, 0]]}, "deux positions"),
    ({"type": "Circle", "coordinates": [0, 0]}, "Géométrie GeoJSON attendue"),
    ({"type": "MultiPolygon", "coordinates": [[[[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 0, 1]]]]},
     "pas d'altitude"),
])
def test_invalid_geometry_is_refused_in_french(geometry, message):
    with pytest.raises(ValidationError) as error:
        geojson.Geometry().deserialize(geometry)
    assert message in " ".join(error.value.messages)


def test_output_of_a_3d_or_out_of_range_geometry_is_a_bug():
    schema = geojson.FeatureSchema()
    feature = geojson.feature(1, {"type": "Point", "coordinates": [1, 2, 3]}, {})
    with pytest.raises(ValueError, match="géométrie invalide en sortie"):
        schema.dump(feature)


def test_feature_collection_and_its_text_forms_agree():
    features = [geojson.feature(7, geojson.point(-0.5712345, 44.8, digits=3), {"nom": "Là"})]
    dumped = geojson.FeatureCollectionSchema().dump(geojson.feature_collection(features))
    assert dumped == {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [-0.571, 44.8]},
         "properties": {"nom": "Là"}}]}
    text = geojson.collection_text(
        ",".join(json.dumps(f, ensure_ascii=False) for f in features), {"run": 3})
    assert json.loads(text) == {"type": "FeatureCollection", "run": 3, "features": features}
    assert geojson.collection_head(compact=False) == '{"type": "FeatureCollection", "features": ['
    assert geojson.point(None, 44.8) is None
