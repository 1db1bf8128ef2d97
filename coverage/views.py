"""HTML pages of the coverage package: the planner's coverage map at /carte.

The page is a skeleton (folium's asset lists and options, see :mod:`coverage.maps`); its
script fetches every figure from the coverage, venues and programmes APIs as the view moves.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template, url_for

from directory.vocabulary import SERVICES

from .selection import NEEDS

bp = Blueprint("coverage_pages", __name__)

NEED_LABELS = {
    "population": "Population",
    "illectronisme": "Personnes en illectronisme (estimation)",
    "fragility": "Population × indice de fragilité numérique",
}


@bp.get("/carte")
def coverage_map():
    config = current_app.config
    # folium (and pandas behind it) is loaded by this page only, not at start-up.
    from .maps import build_skeleton

    skeleton = build_skeleton(config.get("PASSERELLE_BASEMAP_URL", ""),
                              config.get("PASSERELLE_BASEMAP_ATTRIBUTION", ""))
    endpoints = {
        "runs": url_for("coverage.list_runs"),
        "coverage": url_for("coverage.coverage_level", level="departement").rsplit("/", 1)[0],
        "suggestions": url_for("coverage.suggestions"),
        "map": url_for("coverage_map.map_level", level="departement").rsplit("/", 1)[0]
        if "coverage_map.map_level" in current_app.view_functions else "",
        "venues": url_for("venues.list_venues"),
        "programmes": url_for("programmes.list_programmes"),
        "venue_page": url_for("directory.venue_page", venue_id=0).rsplit("/", 1)[0]
        if "directory.venue_page" in current_app.view_functions else "",
    }
    # core.security sets the page's Content-Security-Policy (our host, the basemap's tiles).
    return render_template(
        "coverage/map.html", skeleton=skeleton, endpoints=endpoints, services=SERVICES,
        needs=[(need, NEED_LABELS.get(need, need)) for need in NEEDS])


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
