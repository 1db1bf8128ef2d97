"""The planner's map page /carte: a skeleton from our own assets, no data inlined, no
external host, a Content-Security-Policy that allows only the configured basemap; and the
map's light view of the coverage (/api/v1/coverage/map/{level})."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re

import pytest
from flask import url_for

from core.security import tile_origin
from coverage.map_api import (
    MAP_FIELDS,
    ResponseCache,
    degrees_per_pixel,
    digits_for,
    map_view,
    reset_caches,
    tolerance_for,
)
from coverage.map_features import has_map_features
from coverage.map_shapes import shape_zoom, stored_zooms
from coverage.readouts import COORDINATE_DIGITS, SIMPLIFY
from coverage.refresh import refresh
from coverage.selection import Selection
from coverage.views import map_settings

from .coverage_world import cached_geojson

EXAMPLE_TILES = "https://{s}.tile.example.org/{z}/{x}/{y}.png"


def _map_element(html: str) -> str:
    match = re.search(r'<div id="carte-couverture"[^>]*>', html)
    assert match, "la page n'a pas d'élément de carte"
    return match.group(0)


def _attribute(element: str, name: str) -> str:
    import html as html_lib

    match = re.search(rf'{name}="([^"]*)"', element)
    assert match, f"attribut {name} absent"
    return html_lib.unescape(match.group(1))


def test_map_page_renders_a_skeleton_from_local_assets(app, client):
    with app.test_request_context():
        url = url_for("coverage_pages.coverage_map")
    assert url == "/carte"
    response = client.get(url)  # the client fails on any external asset
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Carte de couverture</h1>" in html
    assert '<html lang="fr">' in html
    # No inline script at all: every <script> has a src on our host.
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all('src="/static/' in attrs for attrs in scripts), scripts
    for src in re.findall(r'<script src="([^"]+)"', html) + re.findall(
            r'<link rel="stylesheet" href="([^"]+)"', html):
        asset = client.get(src)
        asset.close()  # static files are streamed
        assert asset.status_code == 200, src
    assert 'src="/static/vendor/leaflet/leaflet.js"' in html
    assert 'src="/static/vendor/markercluster/leaflet.markercluster.js"' in html
    assert 'src="/static/js/coverage-map.js?v=' in html  # content digest: cache-busting
    # Configuration through data-* attributes; no data (no FeatureCollection) in the page.
    element = _map_element(html)
    options = json.loads(_attribute(element, "data-options"))
    assert options["minZoom"] <= 5 and options["maxZoom"] >= 12
    assert _attribute(element, "data-coverage-url") == "/api/v1/coverage"
    assert _attribute(element, "data-venues-url") == "/api/v1/venues"
    assert _attribute(element, "data-programmes-url") == "/api/v1/programmes"
    assert _attribute(element, "data-basemap") == ""  # offline by default
    assert "FeatureCollection" not in html and "coordinates" not in html
    # The filters: the standard's services, the needs.
    assert '<option value="Aide aux démarches administratives">' in html
    assert '<option value="illectronisme">' in html
    # The side panel is focusable and titled; figures go into a definition list.
    assert re.search(r'<section id="carte-panneau"[^>]*tabindex="-1"', html)
    assert '<dl id="carte-panneau-valeurs"' in html
    # Without JavaScript the page says so and links to the same figures as CSV.
    assert re.search(r'<noscript>.*href="/api/v1/coverage/departement\?format=csv"', html,
                     re.DOTALL)


def test_content_security_policy_allows_only_our_host(client):
    policy = client.get("/carte").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["connect-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_configured_basemap_is_the_only_other_host(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSERELLE_BASEMAP_URL", EXAMPLE_TILES)
    monkeypatch.setitem(app.config, "PASSERELLE_BASEMAP_ATTRIBUTION", "© Exemple")
    response = client.get("/carte")
    assert response.status_code == 200
    basemap = json.loads(_attribute(_map_element(response.get_data(as_text=True)),
                                    "data-basemap"))
    assert basemap["url"] == EXAMPLE_TILES
    assert basemap["options"]["attribution"] == "© Exemple"
    policy = response.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tile.example.org;" in policy
    assert "example.org" not in policy.split("img-src")[0]


def test_nav_and_home_link_to_the_map(client):
    html = client.get("/").get_data(as_text=True)
    assert html.count('href="/carte"') >= 2  # navigation and the planners' card


def test_map_settings_use_our_copies_and_no_basemap_by_default():
    settings = map_settings()
    assert settings.js == ("/static/vendor/leaflet/leaflet.js", "/static/js/leaflet-fr.js",
                           "/static/vendor/markercluster/leaflet.markercluster.js")
    assert all(href.startswith("/static/vendor/") for href in settings.css)
    assert settings.basemap is None and settings.basemap_json == ""
    options = json.loads(settings.options_json)
    assert options["center"] == [46.6, 2.4] and options["zoom"] == 6
    assert options["minZoom"] < options["zoom"] < options["maxZoom"]


def test_map_settings_with_basemap():
    settings = map_settings("https://tiles.example.net/{z}/{x}/{y}.png", "")
    basemap = json.loads(settings.basemap_json)
    assert basemap["url"] == "https://tiles.example.net/{z}/{x}/{y}.png"
    # Without a configured attribution, the host stands for it.
    assert basemap["options"]["attribution"] == "tiles.example.net"
    assert basemap["options"]["maxZoom"] >= 16
    assert map_settings("/tuiles/{z}/{x}/{y}.png", "Nous").basemap["options"][
        "attribution"] == "Nous"
    assert tile_origin("https://tiles.example.net/{z}/{x}/{y}.png") == \
        "https://tiles.example.net"
    assert tile_origin("/tuiles/{z}/{x}/{y}.png") is None


# --------------------------------------------------------------------------- the map's API

def test_map_view_has_the_coverage_figures_it_draws(client, world):
    body = cached_geojson(client, "/api/v1/coverage/map/departement?within=reg:991&zoom=8",
                          f"map-{world['run_id']}-")
    assert body["level"] == "departement" and body["zoom"] == 8
    assert body["run"]["id"] == world["run_id"]
    drawn = {f["id"]: f for f in body["features"]}
    full = {f["id"]: f["properties"] for f in client.get(
        "/api/v1/coverage/departement?within=reg:991").get_json()["features"]}
    assert set(drawn) == set(full) == {"991", "992"}
    for code, feature in drawn.items():
        assert tuple(feature["properties"]) == MAP_FIELDS
        assert feature["properties"] == {name: full[code][name] for name in MAP_FIELDS}
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert drawn["991"]["properties"]["uncovered_population_30km"] == 3000


def test_map_view_filters_like_the_coverage_api(client, world):
    bbox = client.get("/api/v1/coverage/map/commune?within=reg:991&bbox=6.9,47.9,7.1,48.05"
                      "&zoom=11").get_json()
    assert [f["id"] for f in bbox["features"]] == ["99101"]
    # Never all communes at once: commune level needs a territory or a box.
    assert client.get("/api/v1/coverage/map/commune?zoom=9").status_code == 422
    missing = client.get("/api/v1/coverage/map/region?within=reg:991&zoom=5"
                         "&service=Loisirs%20et%20cr%C3%A9ations%20num%C3%A9riques")
    assert missing.status_code == 404
    assert "flask --app app coverage refresh" in missing.get_json()["message"]


@pytest.mark.parametrize("query, field", [
    ("zoom=19", "zoom"), ("zoom=x", "zoom"), ("", "zoom"), ("zoom=6&format=csv", "format"),
    ("zoom=6&bbox=1,2,3", "bbox"), ("zoom=6&within=canton:1", "within"),
])
def test_map_view_rejects_bad_arguments(client, world, query, field):
    response = client.get(f"/api/v1/coverage/map/departement?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_map_view_gzip_and_etag(client, world):
    url = "/api/v1/coverage/map/commune?within=reg:991&zoom=12"
    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data)
    again = client.get(url, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""



def test_map_view_naming_its_run_is_immutable(client, world):
    url = "/api/v1/coverage/map/departement?within=reg:991&zoom=7"
    latest = client.get(url)
    assert latest.headers["Cache-Control"] == "public, max-age=300"
    run = latest.get_json()["run"]["id"]
    named = client.get(f"{url}&run={run}")
    assert named.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert named.get_json()["features"] == latest.get_json()["features"]
    again = client.get(f"{url}&run={run}", headers={"If-None-Match": named.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    missing = client.get(f"{url}&run={run + 1000}")
    assert missing.status_code == 404 and "n° " in missing.get_json()["message"]

def test_tolerance_follows_the_pixel_never_finer_than_the_api():
    assert degrees_per_pixel(0) == pytest.approx(360 / 256)
    assert tolerance_for("departement", 6) == pytest.approx(360 / 256 / 64)
    # At high zoom the coverage API's own tolerance is the floor.
    assert tolerance_for("commune", 16) == SIMPLIFY["commune"]
    assert digits_for(tolerance_for("departement", 6)) == 2
    assert digits_for(tolerance_for("commune", 9)) == 3
    assert digits_for(SIMPLIFY["commune"]) <= COORDINATE_DIGITS


def test_refresh_stores_the_map_shapes_of_every_zoom_once(db_session, world):
    from sqlalchemy import text

    held = db_session.execute(text(
        "SELECT level, code, zoom FROM coverage_map_shape WHERE code IN ('991', '992', "
        "'999999991') OR code LIKE '99___'")).all()
    for level, code in (("region", "991"), ("departement", "992"), ("epci", "999999991"),
                        ("commune", "99104")):
        assert sorted(z for lv, c, z in held if (lv, c) == (level, code)) == list(
            stored_zooms(level)), (level, code)
    # Every zoom of the map is served by a stored one, up to the API's own tolerance.
    assert shape_zoom("commune", 16) == max(stored_zooms("commune"))
    assert tolerance_for("commune", shape_zoom("commune", 16)) == SIMPLIFY["commune"]
    assert shape_zoom("epci", 0) == min(stored_zooms("epci"))
    # Unchanged polygons are not simplified again; a changed one is, at every zoom.
    again = refresh(db_session, Selection(within="reg:991"), detour=1.3,
                    today=dt.date(2026, 6, 2))
    assert _written(db_session, again.run_id) == 0
    db_session.execute(text("UPDATE commune SET geom = ST_Translate(geom, 0.001, 0) "
                            "WHERE code = '99104'"))
    moved = refresh(db_session, Selection(within="reg:991"), detour=1.3,
                    today=dt.date(2026, 6, 3))
    assert _written(db_session, moved.run_id) == len(stored_zooms("commune"))


def _written(session, run_id: int) -> int:
    from coverage.models import CoverageRun

    return session.get(CoverageRun, run_id).stats["map_shapes_simplified"]


def test_map_tiles_draw_the_stored_shapes(app, client, world, db_session):
    """A run older than the stored Features (built on the fly): a tile simplifies nothing,
    it joins the shape the refresh stored for its zoom, and simplifies on the fly only a
    territory the refresh did not store."""
    from sqlalchemy import text

    db_session.execute(text("DELETE FROM coverage_map_feature WHERE run_id = :r"),
                       {"r": world["run_id"]})
    marker = '{"type":"Polygon","coordinates":[[[7,48],[7.01,48],[7.01,48.01],[7,48]]]}'
    db_session.execute(text("UPDATE coverage_map_shape SET geojson = :g WHERE level = "
                            "'commune' AND code = '99101' AND zoom = :z"),
                       {"g": marker, "z": shape_zoom("commune", 13)})
    url = "/api/v1/coverage/map/commune?within=reg:991&zoom=13"
    drawn = {f["id"]: f["geometry"] for f in client.get(url).get_json()["features"]}
    assert drawn["99101"] == json.loads(marker)
    db_session.execute(text("DELETE FROM coverage_map_shape WHERE code = '99101'"))
    reset_caches(app)
    drawn = {f["id"]: f["geometry"] for f in client.get(url).get_json()["features"]}
    # The commune's square (the test world's squares are multipolygons).
    assert drawn["99101"]["type"] == "MultiPolygon" and drawn["99101"] != json.loads(marker)
    assert len(drawn["99101"]["coordinates"][0][0]) == 5


def test_real_communes_are_lighter_on_the_map(app, client, geography, db_session):
    """On the real Gironde (≈ 535 communes): the map's view weighs a fraction of the full
    one, and its polygons are coarser at a low zoom than at a high one."""
    refresh(db_session, Selection(within="dep:33"), detour=1.3,
            today=dt.date(2026, 6, 1))
    full = client.get("/api/v1/coverage/commune?within=dep:33")
    low = client.get("/api/v1/coverage/map/commune?within=dep:33&zoom=8")
    high = client.get("/api/v1/coverage/map/commune?within=dep:33&zoom=13")
    assert full.status_code == low.status_code == high.status_code == 200
    assert len(low.data) * 2 < len(full.data)
    assert len(low.data) < len(high.data)

    def vertices(body) -> int:
        return sum(len(json.dumps(f["geometry"])) for f in body["features"])
    assert vertices(low.get_json()) < vertices(high.get_json())
    assert len(low.get_json()["features"]) == len(full.get_json()["features"]) > 500


def test_map_route_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/coverage/map/{level}" in spec["paths"]


@pytest.mark.parametrize("roles, offered", [
    ((), False), ((("prescriber", "CCAS d'essai"),), False),
    ((("planner", "dep:33"),), True), ((("administrator", ""),), True)])
def test_recompute_is_offered_to_planners_and_administrators(app, client, db_session, roles,
                                                             offered):
    from tests.accounts.conftest import make_person, sign_in

    if roles:
        make_person(db_session, "personne@essai.fr", *roles)
        sign_in(client, "personne@essai.fr")
    page = client.get("/carte").get_data(as_text=True)
    assert ('id="carte-recalculer"' in page) == offered
    assert ('data-refresh-url="/carte/recalculer"' in page) == offered
    assert ("data-csrf-token=" in page) == offered


def test_response_cache_keeps_the_most_recent_answers():
    cache = ResponseCache(max_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"      # a is now the most recent
    cache.put("c", b"12345")
    assert cache.get("b") is None and cache.get("a") == b"12345" and cache.get("c")


def test_map_answer_changes_with_a_new_run(client, world, db_session):
    url = "/api/v1/coverage/map/departement?within=reg:991&zoom=7"
    first = client.get(url)
    assert client.get(url).headers["ETag"] == first.headers["ETag"]
    refresh(db_session, Selection(within="reg:991"), detour=1.3, today=dt.date(2026, 6, 2))
    again = client.get(url)
    assert again.headers["ETag"] != first.headers["ETag"]
    assert again.get_json()["run"]["id"] != first.get_json()["run"]["id"]


def test_refresh_stores_the_map_features_of_every_zoom(db_session, world):
    from sqlalchemy import text

    run_id = world["run_id"]
    held = db_session.execute(text(
        "SELECT level, zoom, count(*) FROM coverage_map_feature WHERE run_id = :r "
        "GROUP BY level, zoom"), {"r": run_id}).all()
    territories = {"commune": 0, **dict(db_session.execute(text(
        "SELECT level, count(*) FROM coverage_aggregate WHERE run_id = :r "
        "AND level <> 'france' GROUP BY level"), {"r": run_id}).all())}
    territories["commune"] = db_session.execute(text(
        "SELECT count(*) FROM coverage_result WHERE run_id = :r"), {"r": run_id}).scalar()
    assert all(territories.values())
    assert {(level, zoom): n for level, zoom, n in held} == {
        (level, zoom): n for level, n in territories.items() for zoom in stored_zooms(level)}
    report = db_session.execute(text("SELECT stats->>'map_features' FROM coverage_run "
                                     "WHERE id = :r"), {"r": run_id}).scalar()
    assert int(report) == sum(n for _level, _zoom, n in held)


@pytest.mark.parametrize(("level", "within", "zoom", "bbox"), [
    ("commune", "reg:991", 9, None),
    ("commune", "reg:991", 14, (6.9, 47.9, 7.1, 48.05)),
    ("commune", "dep:992", 7, None),
    ("epci", "reg:991", 5, None),
    ("departement", "fr", 6, None),
    ("region", "fr", 3, (6.0, 47.0, 8.0, 49.0)),
    # France within a box: the stored boxes, not the territories, are searched.
    ("commune", "fr", 9, (6.95, 47.95, 7.06, 48.04)),
    ("epci", "fr", 8, (6.0, 47.0, 8.0, 49.0)),
])
def test_stored_features_answer_as_computed_on_the_fly(db_session, world, level, within,
                                                       zoom, bbox):
    selection = Selection(within="reg:991")
    assert has_map_features(db_session, world["run_id"], level)
    args = {"zoom": zoom, "bbox": bbox, "run_id": world["run_id"]}
    _run, stored = map_view(db_session, level, selection.with_within(within), stored=True,
                            **args)
    _run, computed = map_view(db_session, level, selection.with_within(within),
                              stored=False, **args)
    assert json.loads(stored) == json.loads(computed)
    assert json.loads(stored)["features"], "une vue vide ne prouverait rien"


def test_map_view_reads_the_stored_features_and_old_runs_still_draw(app, client, world,
                                                                   db_session):
    from sqlalchemy import text

    url = "/api/v1/coverage/map/commune?within=reg:991&zoom=9"
    computed = client.get(url).get_json()
    marker = ('{"type":"Feature","id":"99101","geometry":null,'
              '"properties":{"code":"99101","name":"Marque"}}')
    db_session.execute(text("UPDATE coverage_map_feature SET feature = :f WHERE run_id = :r "
                            "AND level = 'commune' AND code = '99101' AND zoom = :z"),
                       {"f": marker, "r": world["run_id"], "z": shape_zoom("commune", 9)})
    reset_caches(app)
    drawn = {f["id"]: f for f in client.get(url).get_json()["features"]}
    assert drawn["99101"] == json.loads(marker)
    # A run refreshed before the store existed: the same answer, built on the fly.
    db_session.execute(text("DELETE FROM coverage_map_feature WHERE run_id = :r"),
                       {"r": world["run_id"]})
    reset_caches(app)
    assert client.get(url).get_json() == computed
