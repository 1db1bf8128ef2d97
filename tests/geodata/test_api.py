"""Territory API over the session's real `geography` (a few départements)."""

from __future__ import annotations

import re

import pytest
from pyproj import Geod
from shapely.geometry import Point, shape
from sqlalchemy import text

from extensions import db
from geodata import services

BORDEAUX = (44.8378, -0.5792)  # lat, lon
API = "/api/v1/territories"


@pytest.fixture
def api(client, geography):
    def get(path: str, status: int = 200, **params):
        response = client.get(API + path, query_string=params)
        assert response.status_code == status, response.get_json()
        assert response.is_json
        return response.get_json()
    return get


def _max_decimals(geometry: dict) -> int:
    return max(len(number.split(".")[1]) if "." in number else 0
               for number in re.findall(r"-?\d+(?:\.\d+)?", str(geometry["coordinates"])))


def _vertices(geometry: dict) -> int:
    return len(re.findall(r"\[-?\d", str(geometry["coordinates"])))


def test_commune_detail(api):
    body = api("/communes/33063")
    assert body["name"] == "Bordeaux"
    assert body["population"] > 200_000
    assert body["departement"] == {"code": "33", "name": "Gironde"}
    assert body["region"] == {"code": "75", "name": "Nouvelle-Aquitaine"}
    assert body["epci"]["code"] == "243300316" and body["epci"]["kind"] == "METRO"
    assert "33000" in body["postal_codes"]
    assert "Pey-Berland" in body["town_hall"]["address"]
    assert body["town_hall"]["opening_hours"]
    assert "geometry" not in body
    lon, lat = body["point"]["coordinates"]
    # Lon/lat order, and the point is in Bordeaux (within 10 km of the town hall).
    distance = Geod(ellps="WGS84").inv(lon, lat, BORDEAUX[1], BORDEAUX[0])[2]
    assert distance < 10_000


def test_commune_polygon_on_request(api):
    body = api("/communes/33063", geometry="true")
    polygon = shape(body["geometry"])
    assert body["geometry"]["type"] == "MultiPolygon"
    assert polygon.is_valid
    assert polygon.contains(Point(BORDEAUX[1], BORDEAUX[0]))
    assert not polygon.contains(Point(BORDEAUX[0], BORDEAUX[1]))  # not lat/lon
    # RFC 7946: exterior rings counter-clockwise.
    assert all(part.exterior.is_ccw for part in polygon.geoms)
    assert _max_decimals(body["geometry"]) <= 6


def test_geometry_simplified_for_the_scale(api):
    full = api("/departements/33", geometry="true")["geometry"]
    coarse = api("/departements/33", geometry="true", zoom=5)["geometry"]
    tolerant = api("/departements/33", geometry="true", tolerance=0.05)["geometry"]
    assert _vertices(coarse) < _vertices(full) / 3
    assert _vertices(tolerant) < _vertices(full) / 3
    assert _max_decimals(coarse) <= 3 < _max_decimals(full)
    # Still the same place: Bordeaux inside, area within 5 %.
    assert shape(coarse).contains(Point(BORDEAUX[1], BORDEAUX[0]))
    assert shape(coarse).area == pytest.approx(shape(full).area, rel=0.05)


def test_tolerance_and_zoom_are_exclusive(api):
    body = api("/communes/33063", 422, geometry="true", zoom=5, tolerance=0.01)
    assert body["errors"]["zoom"] == ["Indiquez tolerance ou zoom, pas les deux."]


@pytest.mark.parametrize(("path", "message"), [
    ("/communes/99999", "Aucune commune de code 99999."),
    ("/communes/75108", "arrondissement municipal"),
    ("/departements/99", "Aucun département de code 99."),
    ("/regions/99", "Aucune région de code 99."),
    ("/epci/123456789", "Aucun EPCI de code SIREN 123456789."),
])
def test_unknown_code_is_a_french_404(api, path, message):
    body = api(path, 404)
    assert message in body["message"]
    assert body["status"] == 404


@pytest.mark.parametrize(("query", "expected"), [
    ({"q": "st etienne"}, "42218"),
    ({"q": "SAINT-ÉTIENNE"}, "42218"),
    ({"q": "Saint Etienne"}, "42218"),
    ({"q": "bordeaux"}, "33063"),
    ({"q": "bord", "departement": "33"}, "33063"),
    ({"q": "ajacio"}, "2A004"),  # misspelt: trigram similarity
    ({"q": "st denis", "departement": "974"}, "97411"),
    ({"postal_code": "97400"}, "97411"),
    ({"postal_code": "20000"}, "2A004"),
    ({"q": "paris", "postal_code": "75011"}, "75056"),
])
def test_commune_search(api, query, expected):
    body = api("/communes", **query)
    assert body["items"], query
    assert body["items"][0]["code"] == expected


def test_commune_search_is_capped_and_pages_by_code(api):
    all_codes = [c["code"] for c in api("/communes", departement="974", page_size=100)["items"]]
    assert len(all_codes) == 24 and all_codes == sorted(all_codes)
    first = api("/communes", departement="974", page_size=10)
    assert first["next_after"] == first["items"][-1]["code"]
    codes = [c["code"] for c in first["items"]]
    after = first["next_after"]
    while after:
        page = api("/communes", departement="974", page_size=10, after=after)
        codes += [c["code"] for c in page["items"]]
        after = page["next_after"]
    assert codes == all_codes
    body = api("/communes", 422, departement="974", page_size=1000)
    assert "page_size" in body["errors"]


@pytest.mark.parametrize(("query", "message"), [
    ({}, "Indiquez au moins un critère de recherche"),
    ({"q": "--"}, "ne contient ni lettre ni chiffre"),
])
def test_commune_search_needs_a_criterion(api, query, message):
    body = api("/communes", 422, **query)
    assert message in body["message"]


def test_unknown_parameter_is_refused_in_french(api):
    body = api("/communes", 422, q="bordeaux", nom="x")
    assert body["errors"] == {"nom": ["Paramètre inconnu."]}
    assert body["message"] == "Les paramètres de la requête sont invalides."


@pytest.mark.parametrize(("lat", "lon", "expected"), [
    (48.8566, 2.3522, "75056"),     # Paris, Hôtel de Ville: the commune, not an arrondissement
    (48.8867, 2.3431, "75056"),     # Montmartre
    (41.9192, 8.7386, "2A004"),     # Ajaccio
    (-20.8823, 55.4504, "97411"),   # Saint-Denis, La Réunion
    (BORDEAUX[0], BORDEAUX[1], "33063"),
    (45.4397, 4.3872, "42218"),     # Saint-Étienne
])
def test_commune_at_point(api, lat, lon, expected):
    assert api("/at", lat=lat, lon=lon)["code"] == expected


def test_commune_at_every_commune_point(app, api):
    """Each loaded commune's point on surface is answered with that commune."""
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT code, ST_Y(point), ST_X(point) FROM commune "
            "WHERE departement_code IN ('2A', '974') AND geom IS NOT NULL")).all()
    assert len(rows) > 100
    for code, lat, lon in rows:
        assert api("/at", lat=lat, lon=lon)["code"] == code


def test_commune_at_outside_france(api):
    body = api("/at", 404, lat=45.0, lon=-5.0)  # Bay of Biscay
    assert "Aucune commune ne contient le point" in body["message"]


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"lat": 91, "lon": 0}, "lat", "La latitude doit être comprise entre -90 et 90."),
    ({"lat": 45, "lon": "est"}, "lon", "Nombre attendu."),
    ({"lat": 45}, "lon", "Paramètre obligatoire."),
])
def test_commune_at_bad_coordinates(api, params, field, message):
    assert api("/at", 422, **params)["errors"][field] == [message]


def test_commune_at_uses_the_spatial_index(app, geography, db_session):
    statement = services.commune_at_select(44.8378, -0.5792)
    compiled = statement.compile(dialect=db.engine.dialect,
                                 compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in db_session.execute(text(f"EXPLAIN {compiled}")))
    assert "idx_commune_geom" in plan, plan


def test_departements(api):
    items = api("/departements")["items"]
    assert len(items) == 101
    gironde = next(d for d in items if d["code"] == "33")
    assert gironde["region"]["code"] == "75" and gironde["population"] > 1_500_000
    assert "geometry" not in gironde
    body = api("/departements/2a", geometry="true", zoom=8)
    assert body["name"] == "Corse-du-Sud" and body["communes_count"] == 124
    assert shape(body["geometry"]).contains(Point(8.7386, 41.9192))
    in_region = api("/departements", region="04")["items"]
    assert [d["code"] for d in in_region] == ["974"]


def test_regions(api):
    items = api("/regions")["items"]
    assert len(items) == 18
    body = api("/regions/04", geometry="true")
    assert body["name"] == "La Réunion" and body["departements"] == ["974"]
    assert shape(body["geometry"]).contains(Point(55.4504, -20.8823))


def test_epci(api):
    body = api("/epci/243300316", geometry="true", zoom=10)
    assert body["name"] == "Bordeaux Métropole" and body["kind"] == "METRO"
    assert body["communes_count"] == 28 and body["departements"] == ["33"]
    assert shape(body["geometry"]).contains(Point(BORDEAUX[1], BORDEAUX[0]))
    found = api("/epci", q="bordeaux metropole")["items"]
    assert [e["code"] for e in found] == ["243300316"]
    in_gironde = api("/epci", departement="33", page_size=100)
    assert "243300316" in [e["code"] for e in in_gironde["items"]]
    first = api("/epci", departement="33", page_size=5)
    assert len(first["items"]) == 5 and first["next_after"] == first["items"][-1]["code"]


def test_every_route_is_in_the_openapi_document(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = set(document["paths"])
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("territories", "geocoding"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            assert path in paths, path


def test_answers_carry_an_etag_and_revalidate(client, geography):
    url = f"{API}/departements/33?geometry=true&zoom=7"
    first = client.get(url)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=3600"
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    other = client.get(f"{API}/departements/42?geometry=true&zoom=7")
    assert other.headers["ETag"] != first.headers["ETag"]


def test_labels_name_the_communes_and_departements_of_a_view(api):
    body = api("/labels", bbox="-0.75,44.75,-0.45,44.95")
    assert [d["name"] for d in body["departements"]] == ["Gironde"]
    names = [c["name"] for c in body["communes"]]
    assert names[0] == "Bordeaux"  # the most populous first
    assert {"Mérignac", "Pessac", "Talence"} <= set(names)
    bordeaux = body["communes"][0]
    lon, lat = bordeaux["point"]
    west, south, east, north = bordeaux["bbox"]
    assert west < lon < east and south < lat < north
    assert west < BORDEAUX[1] < east and south < BORDEAUX[0] < north
    # Every commune returned meets the view (its box).
    for c in body["communes"]:
        w, s, e, n = c["bbox"]
        assert w <= -0.45 and e >= -0.75 and s <= 44.95 and n >= 44.75, c["name"]


def test_labels_of_a_wide_view_are_the_departements_only(api):
    body = api("/labels", bbox="-2.0,44.0,1.0,46.5")
    assert body["communes"] == []
    assert {"Gironde", "Charente"} <= {d["name"] for d in body["departements"]}


@pytest.mark.parametrize(("params", "message"), [
    ({}, "obligatoire"),
    ({"bbox": "-0.5,44.9,-0.7,44.8"}, "bbox mal ordonnée"),
    ({"bbox": "a,b,c,d"}, "nombres"),
    ({"bbox": ""}, "obligatoire"),
])
def test_labels_refuse_a_bad_view_in_french(api, params, message):
    body = api("/labels", status=422, **params)
    assert message in str(body)
