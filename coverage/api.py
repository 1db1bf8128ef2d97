"""Coverage API under /api/v1/coverage: stored runs per territory level (GeoJSON or CSV),
the list of runs, and where to invest (new sites, capacity gaps). Thin views over
:mod:`coverage.runs`, :mod:`coverage.readouts` and :mod:`coverage.suggestions`."""

from __future__ import annotations

import hashlib
import json

from flask import Response, current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import RAISE, fields

from core import clock, jobs, limits
from core.geojson import (
    MEDIA_TYPE,
    FeatureCollectionSchema,
    feature,
    feature_collection,
    point,
)
from core.schemas import other_content
from extensions import db

from . import jobs as coverage_jobs
from .readouts import coverage_view, fill_territory_codes, view_csv, view_geojson
from .runs import list_runs as stored_runs
from .schemas import (
    LevelArgs,
    RunListSchema,
    RunsArgs,
    SuggestionArgs,
    SuggestionsSchema,
)
from .selection import Selection
from .suggestions import suggest_from_args

blp = Blueprint(
    "coverage", __name__, url_prefix="/api/v1/coverage",
    description="Couverture et accessibilité : part de la population à 10, 20 et 30 km d'un "
                "lieu, indices d'accessibilité (FCA), écart de capacité, et où investir. "
                "Les chiffres viennent des calculs enregistrés par « flask --app app coverage "
                "refresh ».")

CACHE_CONTROL = "public, max-age=300"


def _selection(args: dict, within: str | None = None) -> Selection:
    return Selection(args.get("programme"), args.get("service"),
                              within or args.get("within") or "fr", args.get("need")
                              or "population")


@blp.route("/runs")
@blp.arguments(RunsArgs, location="query", unknown=RAISE)
@blp.response(200, RunListSchema)
def list_runs(args):
    """Lister les calculs de couverture enregistrés

    Les plus récents d'abord (50 au plus), filtrés par programme, service et besoin.
    """
    selection = Selection(args.get("programme"), args.get("service"), "fr",
                                   args.get("need"))  # type: ignore[arg-type]
    return {"runs": stored_runs(db.session, selection)}


JOB_DESCRIPTION = ("Calcul confié à une tâche de fond : l'en-tête Location et le membre `url` "
                   "donnent l'adresse de la tâche (/api/v1/jobs/<id>) ; la même demande "
                   "retrouve la même tâche, puis son résultat.")


@blp.route("/suggestions")
@limits.heavy
@blp.arguments(SuggestionArgs, location="query", unknown=RAISE)
@blp.response(200, SuggestionsSchema)
@blp.alt_response(202, description=JOB_DESCRIPTION)
@blp.alt_response(404, description="Territoire inconnu.")
@blp.doc(**other_content(200, **{MEDIA_TYPE: {"schema": FeatureCollectionSchema}}))
@blp.alt_response(429, description="Trop de demandes de ce client (Retry-After).")
def suggestions(args):
    """Où investir : nouveaux sites et écarts de capacité

    Choisit au plus k sites (mairies du territoire, ou lieux qui n'acceptent pas encore le
    programme) de façon gloutonne pour couvrir le plus de besoin nouveau à radius_km (coût
    = distance géodésique × détour), avec pour chacun les personnes nouvellement couvertes ;
    classe les territoires (un niveau sous `within`) dont l'écart de capacité
    Σ P·max(0, Ā − A) est le plus grand. Calculé à la demande depuis le catalogue.
    `budget` et `site_cost` : k = budget ÷ coût d'un site ; `scenario` donne le gain
    (personnes nouvellement à portée, écart de capacité comblé avec `site_capacity`
    accompagnements par semaine par site).
    `format=geojson` : les sites seuls, en points GeoJSON.

    Au-delà de quelques centaines de communes (une région, la France), le calcul passe en
    tâche de fond : réponse 202 avec l'adresse de la tâche ; une fois la tâche terminée, la
    même demande répond 200 avec le résultat.
    """
    limit = current_app.config["PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES"]
    if coverage_jobs.communes_within(db.session, args["within"]) > limit:
        params = {key: value for key, value in args.items() if key != "format"}
        job = jobs.enqueue("coverage.suggestions", params, result_url=request.full_path)
        done, result = jobs.finished_result(job)
        if not done:
            return jobs.accepted(job)
        return _geojson(result) if args["format"] == "geojson" else jsonify(result)
    result = suggest_from_args(db.session, args,
                               detour=current_app.config["PASSERELLE_DETOUR_FACTOR"],
                               today=clock.today())
    if args["format"] == "geojson":
        return _geojson(result)
    return result


class CoverageCollectionSchema(FeatureCollectionSchema):
    """The territories of a level: the features and, as foreign members, the level and the
    run the figures come from."""

    level = fields.String(metadata={"enum": ["commune", "epci", "departement", "region"]})
    run = fields.Dict(metadata={"description": "Le calcul servi (numéro, sélection, date)."})


def _geojson(result: dict) -> Response:
    collection = FeatureCollectionSchema().dump(feature_collection(
        feature(site["rank"], point(site["lon"], site["lat"], digits=6), site)
        for site in result["sites"]))
    return Response(json.dumps(collection, ensure_ascii=False, default=str),
                    mimetype=MEDIA_TYPE)


@blp.route("/<any(commune, epci, departement, region):level>")
@limits.export
@blp.arguments(LevelArgs, location="query", unknown=RAISE)
@blp.response(200, description="Les territoires du niveau et leurs chiffres : GeoJSON "
                                "(FeatureCollection, géométrie simplifiée, coordonnées à 5 "
                                "décimales, membre `run`) ou CSV (mêmes colonnes que les "
                                "propriétés).",
              content_type="application/geo+json")
@blp.alt_response(304, description="Inchangé depuis l'ETag envoyé (If-None-Match).")
@blp.alt_response(404, description="Aucun calcul pour cette sélection : le message donne la "
                                   "commande à lancer.")
@blp.alt_response(422, description="Paramètres invalides (dont : niveau commune sans "
                                   "`within` ni `bbox`).")
@blp.doc(**other_content(200, **{MEDIA_TYPE: {"schema": CoverageCollectionSchema},
                                 "text/csv": {"schema": {"type": "string"}}}))
def coverage_level(args, level):
    """Chiffres de couverture par commune, EPCI, département ou région

    Niveau `commune` : `within` (autre que fr) ou `bbox` obligatoire, pour ne jamais envoyer
    les 35 000 polygones à la fois. Le calcul servi est le dernier de la sélection (programme,
    service, besoin) dont le territoire contient `within`. L'ETag suit le numéro du calcul.
    """
    selection = _selection(args)
    bbox = args.get("bbox")
    view = coverage_view(db.session, level, selection, bbox=bbox,
                         run_id=args.get("run"), fmt=args["format"])
    query = json.dumps({k: v for k, v in sorted(args.items()) if k != "run"},
                       sort_keys=True, default=str)
    digest = hashlib.sha1(f"{level}|{query}".encode()).hexdigest()[:16]
    tag = f"coverage-{view.run['id']}-{digest}"
    headers = {"ETag": f'"{tag}"', "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if request.if_none_match.contains(tag):
        return Response(status=304, headers=headers)
    if args["format"] in ("csv", "machine"):
        fill_territory_codes(db.session, view)
        filename = f"couverture-{level}-{selection.within.replace(':', '-')}.csv"
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(view_csv(view, french=args["format"] == "csv"),
                        mimetype="text/csv", headers=headers)
    return Response(view_geojson(view), mimetype="application/geo+json",
                    headers=headers)


def init_app(app) -> None:
    from extensions import api

    api.register_blueprint(blp)
