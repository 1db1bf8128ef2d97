"""API of the matcher: GET and POST /api/v1/match (JSON or GeoJSON)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from typing import Any

from flask import current_app, json, request
from flask_smorest import Blueprint
from marshmallow import RAISE, fields

from core import clock, geojson, limits
from core.database import end_read_transaction
from core.geojson import FeatureCollectionSchema
from core.urls import safe_url, safe_urls
from extensions import db

from .question import question_from_loaded
from .schemas import QUESTION, MatchResponseSchema
from .services import MatchResult, match

blp = Blueprint(
    "match", __name__, url_prefix="/api/v1/match",
    description="Où utiliser mon Pass Numérique ? Lieux classés avec leurs raisons, offres à "
                "distance à part, pistes quand rien ne convient. Distances géodésiques "
                "(ellipsoïde WGS 84) ; durées estimées avec un détour de 1,3 à 4,5 km/h à pied, "
                "15 km/h à vélo, 20 km/h en transports en commun et 50 km/h en voiture. La "
                "recherche s'élargit par paliers (5, 10, 20, 40, 80 km) jusqu'à trouver assez "
                "de lieux, dans la limite demandée.")

EXAMPLE_RESPONSE = {
    "place": {"label": "33000 (Bordeaux)", "lat": 44.85, "lon": -0.57, "commune_code": "33063",
              "precision": "postal_code", "is_polygon": True},
    "programme": {"code": "pass-numerique-gironde", "name": "Pass Numérique Gironde"},
    "search": {"radius_m": 20000, "max_distance_m": 80000,
               "steps_m": [5000, 10000, 20000, 40000, 80000],
               "message": "Aucun lieu à moins de 10 km ; recherche élargie à 20 km.",
               "on_date": "2026-12-01"},
    "assumptions": {"detour_factor": 1.3,
                    "speeds_kmh": {"walk": 4.5, "bike": 15.0, "transit": 20.0, "car": 50.0}},
    "count": 1,
    "results": [{
        "rank": 1, "venue_id": 12, "nom": "Médiathèque du Bouscat", "adresse": "1 rue X",
        "code_postal": "33110", "commune": "Le Bouscat", "lat": 44.8651, "lon": -0.5995,
        "stop_id": None, "stop_label": None, "distance_m": 12314.2,
        "travel_minutes": {"bike": 64, "transit": 48, "car": 19},
        "next_slot": {"start": "2026-12-01T14:00:00+01:00", "end": "2026-12-01T17:00:00+01:00",
                      "kind": "opening", "text": "ouvert mardi de 14 h à 17 h",
                      "seats_free": None},
        "offers": [{"offer_id": 3, "venue_id": 12, "venue_nom": "Médiathèque du Bouscat",
                    "title": "Prendre en main son smartphone", "service":
                    "Maîtrise des outils numériques du quotidien",
                    "topics": ["numerique--prendre-en-main-un-smartphone-ou-une-tablette"],
                    "level": 1, "format": "collective", "cheques_required": 1,
                    "covered": True, "payment": "payé par votre pass : 1 chèque",
                    "duration_minutes": 60, "languages": ["fr"], "next_session": None}],
        "reasons": ["accepte le Pass Numérique Gironde", "à 12 km",
                    "propose « Prendre en main son smartphone » (atelier)",
                    "ouvert mardi de 14 h à 17 h"],
        "unmet": [], "score": 12.43, "hours_known": True,
        "horaires": "Tu-Sa 10:00-12:00,14:00-18:00", "telephone": [], "site_web": [],
        "prise_rdv": None, "weekly_capacity": 20}],
    "remote": [],
    "hints": [],
    "relaxations": [],
    "perimeter": {"valid_here": True, "commune_code": "33063", "commune_name": "Bordeaux",
                  "valid_programmes": [{"code": "pass-numerique-gironde",
                                        "name": "Pass Numérique Gironde"}]},
}


def _slot(slot) -> dict[str, Any] | None:
    if slot is None:
        return None
    return {"start": slot.start, "end": slot.end, "kind": slot.kind, "text": slot.text,
            "seats_free": slot.seats_free}


def _offer(o) -> dict[str, Any]:
    # Shallow (``asdict`` deep-copies every list: ~0.3 ms a question for nothing).
    data = {f.name: getattr(o, f.name) for f in dataclass_fields(o)}
    data["next_session"] = _slot(o.next_session)
    return _safe_links(data)


def _safe_links(data: dict[str, Any]) -> dict[str, Any]:
    """Only http, https, mailto and tel links (``core.urls.safe_url``), as the response
    schema's ``SafeUrl`` fields give them: the answer is sent without the schema's dump."""
    if "site_web" in data:
        data["site_web"] = safe_urls(data["site_web"])
    if "prise_rdv" in data:
        data["prise_rdv"] = safe_url(data["prise_rdv"])
    return data


def _iso_dates(value: Any) -> Any:
    """The JSON encoder's hook for what it cannot write itself: dates and times in ISO 8601,
    as ``MatchResponseSchema`` dumps them (Flask's own hook writes them as HTTP dates), the
    rest as Flask does. The answer is sent without the schema's dump, which took 1.5 of the
    10 ms of Python a question costs; ``tests/matching/test_ways_out.py`` checks that both
    give the same JSON."""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return current_app.json.default(value)


def json_response(payload: dict[str, Any]):
    """``jsonify`` of the schema's dump of ``payload``, in one pass of the C encoder: the same
    bytes (the app's JSON settings, compact out of debug mode), without rebuilding the
    answer's dicts and lists in Python first. Measured on bench/match.py's 300 questions:
    0.30-0.33 ms an answer against 0.51-0.58."""
    provider = current_app.json
    layout: dict[str, Any] = {"separators": (",", ":")}
    if (provider.compact is None and current_app.debug) or provider.compact is False:
        layout = {"indent": 2}
    return current_app.response_class(
        provider.dumps(payload, default=_iso_dates, **layout) + "\n",
        mimetype=provider.mimetype)


def result_payload(result: MatchResult) -> dict[str, Any]:
    """The match result as the API's JSON, links checked (its dates made text by the
    encoder: :func:`_iso_dates`)."""
    results = []
    for r in result.results:
        item = {k: v for k, v in r.__dict__.items() if k not in ("next_slot", "offers")}
        item["next_slot"] = _slot(r.next_slot)
        item["offers"] = [_offer(o) for o in r.offers]
        results.append(_safe_links(item))
    place = result.place
    return {
        "place": {"label": place.label, "lat": place.lat, "lon": place.lon,
                  "commune_code": place.commune_code, "precision": place.precision,
                  "is_polygon": place.is_polygon},
        "programme": ({"code": result.programme.code, "name": result.programme.name}
                      if result.programme else None),
        "search": {"radius_m": result.radius_m, "max_distance_m": result.max_distance_m,
                   "steps_m": result.steps_m, "message": result.search_message,
                   "on_date": result.on_date},
        "assumptions": result.assumptions,
        "count": len(results),
        "results": results,
        "remote": [_offer(o) for o in result.remote],
        "hints": result.hints,
        "relaxations": [asdict(r) for r in result.relaxations],
        "perimeter": asdict(result.perimeter) if result.perimeter else None,
    }


class MatchFeatureCollectionSchema(FeatureCollectionSchema):
    """The results as Features; the rest of the answer as foreign members (already dumped
    by MatchResponseSchema)."""

    place = fields.Raw()
    programme = fields.Raw(allow_none=True)
    search = fields.Raw()
    assumptions = fields.Raw()
    count = fields.Integer()
    remote = fields.Raw()
    hints = fields.Raw()
    relaxations = fields.Raw()
    perimeter = fields.Raw(allow_none=True)


def geojson_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A FeatureCollection of the results (RFC 7946, lon/lat); the rest as foreign members."""
    features = (geojson.feature(item["venue_id"], geojson.point(item["lon"], item["lat"]),
                                {k: v for k, v in item.items() if k not in ("lat", "lon")})
                for item in payload["results"])
    rest = {k: v for k, v in payload.items() if k != "results"}
    return MatchFeatureCollectionSchema().dump(geojson.feature_collection(features, **rest))


def _answer(args: dict[str, Any]):
    limit = args.pop("limit", 10)
    output = args.pop("output", "json")
    question = question_from_loaded(args)
    result = match(question, now=clock.now(), limit=limit, session=db.session)
    end_read_transaction(db.session)
    payload = result_payload(result)
    wants_geojson = output == "geojson" or (
        request.accept_mimetypes.best == "application/geo+json")
    if wants_geojson:
        return current_app.response_class(
            json.dumps(geojson_payload(payload), default=_iso_dates),
            mimetype=geojson.MEDIA_TYPE)
    return json_response(payload)  # as flask-smorest sends a dump


_GEOJSON_DOC = {"responses": {200: {"content": {"application/geo+json": {
    "schema": {"type": "object", "description": (
        "Avec output=geojson ou Accept: application/geo+json : une FeatureCollection des "
        "lieux (géométrie Point lon/lat, mêmes propriétés que results) avec place, search, "
        "assumptions, remote, hints, relaxations et perimeter en membres étrangers.")},
    "example": {"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": 12, "geometry": {"type": "Point",
                                                  "coordinates": [-0.5995, 44.8651]},
        "properties": {"nom": "Médiathèque du Bouscat", "distance_m": 12314.2,
                       "reasons": ["accepte le Pass Numérique Gironde", "à 12 km"]}}],
        "hints": []}}}}}}


@blp.route("")
@limits.match
@blp.arguments(QUESTION, location="query", unknown=RAISE)
@blp.response(200, MatchResponseSchema, example=EXAMPLE_RESPONSE)
@blp.doc(**_GEOJSON_DOC)
def match_get(args):
    """Lieux où utiliser le pass, par la requête (query string).

    Exemple : `/api/v1/match?postal_code=33000&programme=pass-numerique-gironde&topics=
    numerique--prendre-en-main-un-smartphone-ou-une-tablette&days=mardi&time_from=14:00&time_to=17:00`.
    Ce que la personne veut apprendre se demande par `topics` (thématiques) : un lieu y
    répond par une offre active sur la thématique, que le pass paie (programme et
    qualification du lieu : service, niveau, public) ; la raison cite cette offre.
    `services` (les neuf services larges du standard) reste accepté.
    Les listes se donnent en répétant le paramètre ou séparées par des virgules.

    Un lieu jamais deviné : si `address` désigne plusieurs communes (même nom dans
    plusieurs départements, code postal de plusieurs communes), la réponse est 422 avec
    `reason: "lieu_ambigu"`, la `question` à poser (« Quel Saint-Paul ? ») et les
    `candidates` (commune, code INSEE, code postal, département) ; redemandez avec
    `commune=<code INSEE>` choisi. `postal_code` désigne toujours toutes ses communes.
    """
    return _answer(args)


@blp.route("", methods=["POST"])
@limits.match
@blp.arguments(QUESTION, location="json", unknown=RAISE, example={
    "postal_code": "33000", "programme": "pass-numerique-gironde",
    "topics": ["numerique--prendre-en-main-un-smartphone-ou-une-tablette"], "level": 1,
    "support": ["Surdité"], "days": ["mardi", "samedi"], "time_from": "14:00",
    "time_to": "17:00", "travel_mode": "transit", "max_minutes": 45})
@blp.response(200, MatchResponseSchema, example=EXAMPLE_RESPONSE)
@blp.alt_response(415, description="Le corps n'est pas du JSON.")
@blp.doc(**_GEOJSON_DOC)
def match_post(args):
    """Lieux où utiliser le pass, par un corps JSON (champs inconnus refusés)."""
    return _answer(args)
