"""GeoJSON (RFC 7946, WGS 84 longitude then latitude), written once: the geometry field that
rejects invalid, 3-D or out-of-range geometry, the Feature and FeatureCollection schemas every
endpoint emitting geometry dumps through (subclassed for typed properties or foreign
members), and the builders of points, features and collections.

Where PostgreSQL assembles the features as text (the coverage map, thousands of polygons),
``collection_text`` writes the collection around them, so that its members are still
written here."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

MEDIA_TYPE = "application/geo+json"

# type -> nesting depth of its coordinates (a position is depth 0)
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
          "MultiPolygon": 3}


def _check_position(position: Any) -> None:
    if not isinstance(position, list | tuple) or len(position) != 2:
        raise ValidationError("Position attendue : [longitude, latitude] (deux nombres, "
                              "pas d'altitude).")
    lon, lat = position
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in (lon, lat)):
        raise ValidationError("Longitude et latitude doivent être des nombres finis.")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(f"Position hors limites : [{lon}, {lat}] (longitude entre -180 "
                              "et 180, latitude entre -90 et 90).")


def _check_coordinates(coordinates: Any, depth: int, kind: str) -> None:
    if depth == 0:
        _check_position(coordinates)
        return
    if not isinstance(coordinates, list | tuple):
        raise ValidationError(f"Coordonnées de {kind} mal formées.")
    if depth == 1 and kind in ("LineString", "MultiLineString") and len(coordinates) < 2:
        raise ValidationError("Une ligne a au moins deux positions.")
    if depth == 1 and kind in ("Polygon", "MultiPolygon") and (
            len(coordinates) < 4 or list(coordinates[0]) != list(coordinates[-1])):
        raise ValidationError("Un anneau de polygone est fermé et a au moins quatre "
                              "positions.")
    for item in coordinates:
        _check_coordinates(item, depth - 1, kind)


def check_geometry(value: Any, *, full: bool = True) -> None:
    """Raise a French ``ValidationError`` unless ``value`` is a valid 2-D GeoJSON geometry in
    range. ``full=False`` checks the type and the first position only (geometry that
    PostGIS wrote from a constrained 2-D column, where walking every vertex costs time)."""
    if not isinstance(value, Mapping) or value.get("type") not in (*_DEPTH,
                                                                   "GeometryCollection"):
        raise ValidationError("Géométrie GeoJSON attendue (Point, LineString, Polygon, "
                              "leurs Multi…, GeometryCollection).")
    if value["type"] == "GeometryCollection":
        for member in value.get("geometries") or []:
            check_geometry(member, full=full)
        return
    coordinates = value.get("coordinates")
    depth = _DEPTH[value["type"]]
    if not full:
        first = coordinates
        for _ in range(depth):
            if not isinstance(first, list | tuple) or not first:
                raise ValidationError(f"Coordonnées de {value['type']} mal formées.")
            first = first[0]
        _check_position(first)
        return
    _check_coordinates(coordinates, depth, value["type"])


class Geometry(fields.Dict):
    """A GeoJSON geometry: checked in full on input, type and first position on output."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("metadata", {}).setdefault(
            "description", "Géométrie GeoJSON (RFC 7946, longitude puis latitude).")
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        try:
            check_geometry(value, full=False)
        except ValidationError as exc:  # a bug of ours, not of the caller
            raise ValueError(f"géométrie invalide en sortie : {exc.messages}") from exc
        return super()._serialize(value, attr, obj, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        check_geometry(value)
        return super()._deserialize(value, attr, data, **kwargs)


class FeatureSchema(Schema):
    """A Feature; subclasses type ``id`` and ``properties``."""

    type = fields.String(required=True, validate=validate.Equal("Feature"),
                         metadata={"enum": ["Feature"]})
    id = fields.Raw()
    geometry = Geometry(allow_none=True)
    properties = fields.Dict(allow_none=True)


class FeatureCollectionSchema(Schema):
    """A FeatureCollection; subclasses type the features and add foreign members."""

    type = fields.String(required=True, validate=validate.Equal("FeatureCollection"),
                         metadata={"enum": ["FeatureCollection"]})
    features = fields.List(fields.Nested(FeatureSchema))


def point(lon: float | None, lat: float | None, digits: int | None = None) -> dict | None:
    """A Point, or None when a coordinate is missing; rounded to ``digits`` when given."""
    if lon is None or lat is None:
        return None
    if digits is not None:
        lon, lat = round(lon, digits), round(lat, digits)
    return {"type": "Point", "coordinates": [lon, lat]}


def feature(id_: Any, geometry: dict | None, properties: Mapping[str, Any] | None) -> dict:
    return {"type": "Feature", "id": id_, "geometry": geometry, "properties": properties}


def feature_collection(features: Iterable[dict], **members: Any) -> dict:
    """A FeatureCollection; ``members`` are foreign members after the features."""
    return {"type": "FeatureCollection", "features": list(features), **members}


def collection_head(members: Mapping[str, Any] | None = None, *, compact: bool = True) -> str:
    """The text of a FeatureCollection up to the opening of its features array (foreign
    members first), for collections written as a stream or assembled by PostgreSQL."""
    separators = (",", ":") if compact else (", ", ": ")
    head = json.dumps({"type": "FeatureCollection", **(members or {})}, ensure_ascii=False,
                      separators=separators)[:-1]
    return head + separators[0] + json.dumps("features") + separators[1] + "["


def collection_text(features_text: str, members: Mapping[str, Any] | None = None) -> str:
    """A FeatureCollection around features already written as JSON text (comma-separated)."""
    return collection_head(members) + features_text + "]}"
