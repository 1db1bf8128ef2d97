"""The coverage API: GeoJSON / CSV per level, run lookup, 404, validation, OpenAPI."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from coverage.refresh import refresh
from coverage.selection import Selection

from .coverage_world import TERRITORY, cached_geojson

TODAY = dt.date(2026, 6, 1)


def test_departement_level_geojson(client, world):
    body = cached_geojson(client, "/api/v1/coverage/departement?within=reg:991",
                          f"coverage-{world['run_id']}-")
    assert body["type"] == "FeatureCollection" and body["level"] == "departement"
    assert body["run"]["id"] == world["run_id"] and body["run"]["reference"] == "territoire"
    features = {f["id"]: f for f in body["features"]}
    assert set(features) == {"991", "992"}
    props = features["991"]["properties"]
    assert props["population"] == 10500 and props["communes"] == 5
    assert props["population_covered_10km"] == 5000
    assert props["share_population_covered_20km"] == pytest.approx(7000 / 10500, abs=1e-4)
    assert props["uncovered_population_30km"] == 3000
    assert props["communes_uncovered_30km"] == 1 and props["region_code"] == "991"
    assert features["992"]["properties"]["share_population_covered_10km"] == 1.0
    geometry = features["991"]["geometry"]
    assert geometry["type"] in ("Polygon", "MultiPolygon")
    ring = geometry["coordinates"][0][0] if geometry["type"] == "MultiPolygon" \
        else geometry["coordinates"][0]
    for lon, lat in ring:
        assert round(lon, 5) == lon and round(lat, 5) == lat


def test_etag_answers_304(client, world):
    first = client.get("/api/v1/coverage/region?within=reg:991")
    again = client.get("/api/v1/coverage/region?within=reg:991",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get("/api/v1/coverage/region?within=reg:991&format=csv",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200


def test_commune_level_within_and_properties(client, world):
    response = client.get("/api/v1/coverage/commune?within=dep:991")
    assert response.status_code == 200
    features = {f["id"]: f["properties"] for f in response.get_json()["features"]}
    assert set(features) == set(TERRITORY)
    a, c = features["99101"], features["99103"]
    assert a["covered_10km"] is True and a["share_population_covered_10km"] == 1.0
    assert a["nearest_lieu_id"] == world["venues"]["V1"].id
    assert c["covered_30km"] is False and c["nearest_cost_km"] is None
    assert c["uncovered_population_30km"] == 3000
    assert a["epci_code"] == "999999991" and a["departement_code"] == "991"
    # A bounding box narrows the view.
    bbox = client.get("/api/v1/coverage/commune?within=reg:991&bbox=6.9,47.9,7.1,48.05")
    assert [f["id"] for f in bbox.get_json()["features"]] == ["99101"]


def test_commune_level_requires_within_or_bbox(client, world):
    response = client.get("/api/v1/coverage/commune")
    assert response.status_code == 422
    body = response.get_json()
    assert "within" in body["errors"] and "35 000" in body["message"]
    assert client.get("/api/v1/coverage/commune?within=fr").status_code == 422


def _french_rows(response) -> list[dict[str, str]]:
    """Rows as a French spreadsheet reads them: UTF-8 with BOM, `;` between cells."""
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _french_number(cell: str) -> float:
    assert "." not in cell, cell
    return float(cell.replace(",", "."))


def test_csv_export_reads_in_a_french_spreadsheet(client, world):
    response = client.get("/api/v1/coverage/commune?within=dep:991&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _french_rows(response)
    assert list(rows[0])[:4] == ["Code", "Nom", "Niveau", "Population"]
    by_code = {r["Code"]: r for r in rows}
    assert by_code["99105"]["Nom"] == "'=Formule"
    assert by_code["99101"]["Au moins un lieu à 10 km"] == "oui"
    assert by_code["99101"]["Niveau"] == "commune"
    assert _french_number(by_code["99102"]["Population à 20 km d'un lieu"]) == 2000
    index = by_code["99101"]["Indice d'accessibilité (1 = moyenne de référence)"]
    assert "," in index and _french_number(index) > 1


def test_csv_export_fills_every_territory_code(client, world):
    epci = _french_rows(client.get("/api/v1/coverage/epci?within=reg:991&format=csv"))
    assert [(r["Code EPCI"], r["Code département"], r["Code région"]) for r in epci] == [
        ("999999991", "991", "991")]
    deps = _french_rows(client.get("/api/v1/coverage/departement?within=reg:991&format=csv"))
    assert {(r["Code département"], r["Code région"]) for r in deps} == {
        ("991", "991"), ("992", "991")}


def test_csv_machine_format_keeps_property_names(client, world):
    response = client.get("/api/v1/coverage/commune?within=dep:991&format=machine")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert list(rows[0])[:4] == ["code", "name", "level", "population"]
    by_code = {r["code"]: r for r in rows}
    assert by_code["99105"]["name"] == "'=Formule"
    assert by_code["99101"]["covered_10km"] == "true"
    assert float(by_code["99102"]["population_covered_20km"]) == 2000


def test_no_run_is_a_french_404_with_the_command(client, world):
    response = client.get("/api/v1/coverage/departement?within=reg:991"
                          "&service=Loisirs%20et%20cr%C3%A9ations%20num%C3%A9riques")
    assert response.status_code == 404
    message = response.get_json()["message"]
    assert "Aucun calcul de couverture" in message
    assert "flask --app app coverage refresh --within reg:991" in message


def test_run_lookup_uses_a_containing_territory(client, world, db_session):
    # Only the région was computed: a département view is served by that run.
    response = client.get("/api/v1/coverage/epci?within=dep:991")
    assert response.status_code == 200
    assert response.get_json()["run"]["within"] == "reg:991"
    # A run of the département itself then takes precedence.
    own = refresh(db_session, Selection(within="dep:991"), detour=1.3,
                  today=TODAY)
    again = client.get("/api/v1/coverage/epci?within=dep:991").get_json()
    assert again["run"]["id"] == own.run_id


@pytest.mark.parametrize("query, field", [
    ("/api/v1/coverage/region?format=xml", "format"),
    ("/api/v1/coverage/region?within=canton:1", "within"),
    ("/api/v1/coverage/region?need=age", "need"),
    ("/api/v1/coverage/region?colour=red", "colour"),
    ("/api/v1/coverage/commune?bbox=1,2,3", "bbox"),
    ("/api/v1/coverage/suggestions?k=3", "within"),
    ("/api/v1/coverage/suggestions?within=dep:991&candidates=venues", "programme"),
    ("/api/v1/coverage/suggestions?within=dep:991&k=0", "k"),
])
def test_invalid_arguments_are_422(client, world, query, field):
    response = client.get(query)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_unknown_level_is_404(client, world):
    response = client.get("/api/v1/coverage/canton")
    assert response.status_code == 404
    assert response.get_json()["message"]


def test_runs_list(client, world):
    runs = client.get("/api/v1/coverage/runs").get_json()["runs"]
    assert runs[0]["id"] == world["run_id"] and runs[0]["within_name"] == "Région d'essai"
    assert runs[0]["venues_unknown_capacity"] == 1


def test_routes_are_in_openapi(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/coverage/{level}", "/api/v1/coverage/suggestions",
            "/api/v1/coverage/runs"} <= set(paths)
    level = paths["/api/v1/coverage/{level}"]
    assert level["parameters"][0]["schema"]["enum"] == ["commune", "epci", "departement",
                                                        "region"]


def test_views_use_the_shapes_simplified_at_refresh(client, world, db_session):
    from sqlalchemy import text

    stored = db_session.execute(text(
        "SELECT level, count(*) FROM coverage_shape WHERE code IN "
        "('991', '992', '999999991', '99101') GROUP BY level")).all()
    assert dict(stored) == {"region": 1, "departement": 2, "epci": 1, "commune": 1}
    marker = '{"type":"Point","coordinates":[7,48]}'
    db_session.execute(text("UPDATE coverage_shape SET geojson = :g WHERE level = 'region' "
                            "AND code = '991'"), {"g": marker})
    body = client.get("/api/v1/coverage/region?within=reg:991").get_json()
    assert body["features"][0]["geometry"] == {"type": "Point", "coordinates": [7, 48]}
    # A changed polygon is simplified again at the next refresh.
    db_session.execute(text("UPDATE region SET geom = ST_Multi(ST_MakeEnvelope("
                            "6.8, 47.8, 7.2, 48.8, 4326)) WHERE code = '991'"))
    refresh(db_session, Selection(within="reg:991"), detour=1.3,
            today=TODAY)
    body = client.get("/api/v1/coverage/region?within=reg:991").get_json()
    assert body["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize("level, within", [("commune", "dep:991"), ("epci", "reg:991"),
                                           ("departement", "reg:991"), ("region", "reg:991")])
def test_properties_stored_at_refresh_equal_those_built_on_the_fly(client, world, db_session,
                                                                   level, within):
    from sqlalchemy import text

    url = f"/api/v1/coverage/{level}?within={within}"
    stored = client.get(url).get_json()["features"]
    assert stored and all(f["properties"]["level"] == level for f in stored)
    db_session.execute(text("UPDATE coverage_result SET properties = NULL"))
    db_session.execute(text("UPDATE coverage_aggregate SET properties = NULL"))
    built = client.get(url).get_json()["features"]
    assert built == stored
