"""The planner's map page /carte: a skeleton from our own assets, no data inlined, no
external host, a Content-Security-Policy that allows only the configured basemap."""

from __future__ import annotations

import json
import re

import folium
from flask import url_for

from geodata.maps import PasserelleMap, build_skeleton
from tests.conftest import external_assets

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
        url = url_for("geodata.coverage_map")
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
    assert 'src="/static/js/coverage-map.js"' in html
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


def test_skeleton_uses_our_copies_without_touching_folium_globals():
    skeleton = build_skeleton()
    assert skeleton.js == ["/static/vendor/leaflet/leaflet.js",
                           "/static/vendor/markercluster/leaflet.markercluster.js"]
    assert all(href.startswith("/static/vendor/") for href in skeleton.css)
    assert skeleton.basemap is None and skeleton.tile_origin is None
    # folium's own lists still point at its CDN: the subclass replaced, not mutated, them.
    assert any("cdn.jsdelivr.net" in url for _name, url in folium.Map.default_js)
    # Even folium's full rendering of our map would load nothing from another host.
    fmap = PasserelleMap(location=(46.6, 2.4), zoom_start=6, tiles=None)
    assert external_assets(fmap.get_root().render()) == []


def test_skeleton_with_basemap_keeps_folium_tile_options():
    skeleton = build_skeleton("https://tiles.example.net/{z}/{x}/{y}.png", "")
    assert skeleton.basemap["url"] == "https://tiles.example.net/{z}/{x}/{y}.png"
    # Without a configured attribution, the host stands for it (folium requires one).
    assert skeleton.basemap["options"]["attribution"] == "tiles.example.net"
    assert skeleton.basemap["options"]["maxZoom"] >= 16
    assert skeleton.tile_origin == "https://tiles.example.net"
    assert build_skeleton("/tuiles/{z}/{x}/{y}.png", "Nous").tile_origin is None
