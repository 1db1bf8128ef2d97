"""The planner's map skeleton, built with folium but rendered by our own template.

folium describes the map (assets, initial view, zoom range, basemap layer); it never receives
data: the page's script (static/js/coverage-map.js) fetches every figure from the API as the
view moves. folium's own HTML output is not used because it is made of inline ``<script>``
and ``<style>`` blocks, which the page's Content-Security-Policy (no ``unsafe-inline``) and
the project's rule "no inline script" exclude; the template takes the asset lists and the
options below and hands the options to the script through ``data-*`` attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import folium
from folium.raster_layers import TileLayer
from folium.utilities import camelize

from core.security import tile_origin

STATIC = "/static/vendor"

# Metropolitan France, framed for the first view (lat, lon).
FRANCE_CENTER = (46.6, 2.4)
FRANCE_ZOOM = 6
MIN_ZOOM = 3
MAX_ZOOM = 16


class PasserelleMap(folium.Map):
    """folium's Map with Leaflet and markercluster served from our own static copies.

    folium's defaults point at CDNs (and add jQuery, Bootstrap, Font Awesome the page does
    not need); the subclass replaces the lists instead of mutating folium's module globals,
    which other maps of the process would share.
    """

    default_js = [
        ("leaflet", f"{STATIC}/leaflet/leaflet.js"),
        ("leaflet_fr", "/static/js/leaflet-fr.js"),  # controls in French
        ("markercluster", f"{STATIC}/markercluster/leaflet.markercluster.js"),
    ]
    default_css = [
        ("leaflet_css", f"{STATIC}/leaflet/leaflet.css"),
        ("markercluster_css", f"{STATIC}/markercluster/MarkerCluster.css"),
        ("markercluster_default_css", f"{STATIC}/markercluster/MarkerCluster.Default.css"),
    ]


@dataclass
class MapSkeleton:
    """What the template needs: assets to link, options for the script."""

    js: list[str]
    css: list[str]
    options: dict[str, Any]
    basemap: dict[str, Any] | None
    tile_origin: str | None = None

    @property
    def options_json(self) -> str:
        return json.dumps(self.options, ensure_ascii=False, separators=(",", ":"))

    @property
    def basemap_json(self) -> str:
        return json.dumps(self.basemap, ensure_ascii=False, separators=(",", ":"))


def build_skeleton(basemap_url: str = "", basemap_attribution: str = "") -> MapSkeleton:
    """The coverage map's skeleton; without a basemap URL the map has a plain background
    (nothing is requested from another host) and the choropleth alone is read."""
    fmap = PasserelleMap(location=FRANCE_CENTER, zoom_start=FRANCE_ZOOM, tiles=None,
                         min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM, prefer_canvas=False,
                         control_scale=True)
    basemap = None
    origin = None
    if basemap_url:
        # folium refuses a custom URL without attribution; the host then stands for it.
        attribution = basemap_attribution or urlsplit(basemap_url).netloc or "Fond de carte"
        layer = TileLayer(tiles=basemap_url, attr=attribution, min_zoom=MIN_ZOOM,
                          max_zoom=MAX_ZOOM)
        fmap.add_child(layer)
        basemap = {"url": layer.tiles,
                   "options": {camelize(k): v for k, v in layer.options.items()}}
        origin = tile_origin(basemap_url)
    options = {camelize(k): v for k, v in fmap.options.items()}
    options.update(center=list(fmap.location), minZoom=MIN_ZOOM, maxZoom=MAX_ZOOM)
    return MapSkeleton(js=[url for _name, url in fmap.default_js],
                       css=[url for _name, url in fmap.default_css],
                       options=options, basemap=basemap, tile_origin=origin)
