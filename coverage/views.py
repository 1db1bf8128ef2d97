"""HTML pages of the coverage package: the planner's coverage map at /carte.

The page is a skeleton: Leaflet and markercluster from our own static copies, and the map's
options handed to static/js/coverage-map.js through ``data-*`` attributes (the page's
Content-Security-Policy forbids inline scripts). The script fetches every figure from the
coverage, venues and programmes APIs as the view moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from marshmallow import EXCLUDE, RAISE, ValidationError

from core import clock, jobs
from core.access import holds, requires
from core.errors import Forbidden, InvalidInput, prefers_json
from directory.vocabulary import SERVICES
from extensions import db

from . import jobs as coverage_jobs
from .brief import METHOD_SENTENCES, OWN_LEVEL, check_briefable
from .readouts import prepare_view
from .schemas import RefreshArgs, SuggestionArgs
from .selection import NEEDS, Selection, containing_territories, resolve_territory
from .suggestions import sites_for_budget

bp = Blueprint("coverage_pages", __name__)

NEED_LABELS = {
    "population": "Population",
    "illectronisme": "Personnes en illectronisme (estimation)",
    "fragility": "Population × indice de fragilité numérique",
}

VENDOR = "/static/vendor"
SCRIPTS = (f"{VENDOR}/leaflet/leaflet.js", "/static/js/leaflet-fr.js",  # controls in French
           f"{VENDOR}/markercluster/leaflet.markercluster.js")
STYLESHEETS = (f"{VENDOR}/leaflet/leaflet.css", f"{VENDOR}/markercluster/MarkerCluster.css",
               f"{VENDOR}/markercluster/MarkerCluster.Default.css")
# Metropolitan France, framed for the first view (lat, lon).
FRANCE_CENTER = (46.6, 2.4)
FRANCE_ZOOM = 6
MIN_ZOOM = 3
MAX_ZOOM = 16


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class MapSettings:
    """What the template needs: assets to link, Leaflet options for the script."""

    options: dict[str, Any]
    basemap: dict[str, Any] | None
    js: tuple[str, ...] = SCRIPTS
    css: tuple[str, ...] = STYLESHEETS

    @property
    def options_json(self) -> str:
        return _json(self.options)

    @property
    def basemap_json(self) -> str:
        return _json(self.basemap) if self.basemap else ""


def map_settings(basemap_url: str = "", basemap_attribution: str = "") -> MapSettings:
    """Leaflet options of the coverage map (``L.map`` and ``L.tileLayer``); without a
    basemap URL the map has a plain background (nothing is requested from another host)
    and the choropleth alone is read."""
    options = {"zoom": FRANCE_ZOOM, "zoomControl": True, "preferCanvas": False,
               "center": list(FRANCE_CENTER), "minZoom": MIN_ZOOM, "maxZoom": MAX_ZOOM}
    basemap = None
    if basemap_url:
        # A basemap is always credited: the host stands for a missing attribution.
        attribution = basemap_attribution or urlsplit(basemap_url).netloc or "Fond de carte"
        basemap = {"url": basemap_url, "options": {
            "minZoom": MIN_ZOOM, "maxZoom": MAX_ZOOM, "maxNativeZoom": MAX_ZOOM,
            "noWrap": False, "attribution": attribution, "subdomains": "abc",
            "detectRetina": False, "tms": False, "opacity": 1}}
    return MapSettings(options=options, basemap=basemap)


@bp.get("/carte")
def coverage_map():
    config = current_app.config
    settings = map_settings(config.get("PASSERELLE_BASEMAP_URL", ""),
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
        "brief": url_for("coverage_pages.territory_brief"),
        "folium": url_for("coverage_pages.territory_folium_map"),
        # The referrals layer (demand met and not met), where the referrals are installed.
        "demand": url_for("stats.demand_layer")
        if "stats.demand_layer" in current_app.view_functions else "",
        # « Recalculer » for planners and administrators only (checked again on POST).
        "refresh": url_for("coverage_pages.refresh_selection") if holds("planner") else "",
    }
    # core.security sets the page's Content-Security-Policy (our host, the basemap's tiles).
    return render_template(
        "coverage/map.html", settings=settings, endpoints=endpoints, services=SERVICES,
        needs=[(need, NEED_LABELS.get(need, need)) for need in NEEDS],
        method=METHOD_SENTENCES)


@bp.post("/carte/recalculer")
@requires("planner")
def refresh_selection():
    """« Recalculer » of the map: the selection's refresh as a background job (202 and the
    job's address), for a planner of a territory holding the one asked, or an
    administrator. JSON answers: the map's script follows the job."""
    try:
        args = RefreshArgs(unknown=RAISE).load(request.args)
    except ValidationError as error:
        raise InvalidInput("Paramètres du recalcul invalides.",
                           errors=error.normalized_messages()) from error
    territory = resolve_territory(db.session, args["within"])  # French 422 when unknown
    if not any(holds("planner", code)
               for code in containing_territories(db.session, territory)):
        raise Forbidden(f"Votre rôle de planificateur ne porte pas sur {territory.name} : "
                        "vous pouvez recalculer votre territoire et ceux qu'il contient.")
    return jobs.accepted(jobs.enqueue("coverage.refresh", dict(args)))


def _brief_args() -> dict[str, Any]:
    """The brief's arguments (those of the suggestions API), French errors otherwise."""
    try:
        args = SuggestionArgs(unknown=EXCLUDE).load(request.args)
    except ValidationError as error:
        raise InvalidInput("Paramètres de la fiche invalides.",
                           errors=error.normalized_messages()) from error
    if args.get("budget") is not None:
        args["k"] = sites_for_budget(args["budget"], args["site_cost"])
    args["detour"] = args.get("detour") or current_app.config["PASSERELLE_DETOUR_FACTOR"]
    return args


def _selection(args: dict[str, Any]) -> Selection:
    return Selection(args.get("programme"), args.get("service"), args["within"],
                     args.get("need") or "population")


# Arguments of the suggestions that the brief does not use.
_NOT_BRIEF = ("format", "candidates", "gap_limit")
PREPARING_REFRESH_S = 2


def _brief_params() -> tuple[dict[str, Any], int]:
    """The brief's inputs (arguments, territory, run, day) and how many communes the
    territory holds; checked here with French 4xx (a 404 naming the command when no run
    answers the selection), before anything is computed."""
    args = _brief_args()
    selection = _selection(args)
    territory = check_briefable(db.session, selection.within)
    run = prepare_view(db.session, OWN_LEVEL[territory.kind],
                       selection.with_within(territory.code)).run
    params = {key: value for key, value in args.items() if key not in _NOT_BRIEF}
    params.update(within=territory.code, run_id=run["id"], today=clock.today().isoformat())
    return params, coverage_jobs.communes_within(db.session, territory.code)


def _documents(what: str, part: str):
    """``(document, None)`` when ready, else ``(None, answer)``. A territory of up to
    PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES communes is computed in the request (as its
    suggestions are); a larger one by a background job that makes the brief and the map at
    once, kept for the same inputs. A script (``Accept: application/json``) gets the
    job's state (202) or the documents' addresses (200); a person a page that says « en
    préparation » and reloads itself (no script needed)."""
    params, communes = _brief_params()
    urls = {"fiche": url_for("coverage_pages.territory_brief", **request.args),
            "carte": url_for("coverage_pages.territory_folium_map", **request.args)}
    if communes <= current_app.config["PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES"]:
        if prefers_json():
            return None, jsonify(urls)
        return coverage_jobs.documents(params, (part,))[part], None
    job = jobs.enqueue("coverage.brief", params, show_result=False, result_url=urls["fiche"])
    done, result = jobs.finished_result(job)
    if prefers_json():
        return None, (jsonify(urls) if done else jobs.accepted(job))
    if done:
        return result[part], None
    state = jobs.describe(job)
    failed = state["state"] in ("failed", "stopped", "canceled")
    page = render_template("coverage/preparing.html", what=what, job=state, failed=failed,
                           refresh_s=PREPARING_REFRESH_S)
    headers = {"Cache-Control": "no-store"}
    if failed:  # reloading asks again (a failed job starts afresh)
        return None, (page, 503, {**headers, "Retry-After": str(PREPARING_REFRESH_S)})
    return None, (page, 202, {**headers, "Refresh": str(PREPARING_REFRESH_S)})


@bp.get("/carte/fiche")
def territory_brief():
    """One A4 page per territory: figures, least served parts, suggested sites, method —
    computed by a background job; until it is done, a page « en préparation »."""
    brief, waiting = _documents("la fiche", "brief")
    if waiting is not None:
        return waiting
    folium_url = url_for("coverage_pages.territory_folium_map", **request.args)
    return render_template("coverage/brief.html", brief=brief, args=_brief_args(),
                           folium_url=folium_url, today=clock.today())


@bp.get("/carte/fiche/carte.html")
def territory_folium_map():
    """The territory's map as a standalone HTML file (opens offline), made by the same job
    as the brief."""
    html, waiting = _documents("la carte autonome", "folium")
    if waiting is not None:
        return waiting
    name = request.args.get("within", "").replace(":", "-")
    return Response(html, mimetype="text/html", headers={
        "Content-Disposition": f'attachment; filename="carte-{name}.html"'})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
