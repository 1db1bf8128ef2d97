"""Read API of venues: /api/v1/venues (filtered, keyset-paginated, JSON or GeoJSON) and
/api/v1/venues/<id> (one venue with offers, sessions, passes, hours in words)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from core import clock
from core.geojson import MEDIA_TYPE as GEOJSON
from core.geojson import feature_collection
from extensions import db

from . import services
from .venue_schemas import (
    VenueDetailSchema,
    VenueFeatureCollectionSchema,
    VenueListArgs,
    VenueListSchema,
)

blp = Blueprint(
    "venues", __name__, url_prefix="/api/v1/venues",
    description="Lieux d'inclusion numérique : champs du standard national v1.0.2 (noms "
                "français), programmes de Pass Numérique acceptés, horaires, offres et "
                "séances.")


def _wants_geojson(requested: str | None) -> bool:
    if requested is not None:
        return requested == "geojson"
    # Only an explicit preference: "*/*" (browsers, curl) keeps plain JSON.
    accept = request.accept_mimetypes
    return accept[GEOJSON] > accept["application/json"]


def _next_url(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    pairs = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    pairs.append(("cursor", cursor))
    return request.base_url + "?" + urlencode(pairs)


@blp.route("")
@blp.arguments(VenueListArgs, location="query", unknown=RAISE)
@blp.response(200, VenueListSchema, description="Une page de lieux (JSON).")
@blp.alt_response(200, schema=VenueFeatureCollectionSchema, content_type=GEOJSON,
                  success=True,
                  description="La même page en GeoJSON (format=geojson ou Accept: "
                              "application/geo+json) : FeatureCollection, lon/lat.")
def list_venues(args):
    """Rechercher des lieux

    Filtres combinables : rectangle (bbox), territoire (commune, departement, region,
    epci : code INSEE du lieu, ou son point quand le code manque ; les arrêts des lieux
    itinérants comptent), programme de pass accepté à une date, services, publics,
    recherche plein texte en français (q), date de modification, statut, source.
    Pagination par curseur : suivre le lien `next` (aussi dans l'en-tête `Link`).
    """
    limit = min(args.get("limit", services.DEFAULT_LIMIT),
                current_app.config["PASSERELLE_MAX_PAGE_SIZE"])
    query = services.VenueQuery(
        bbox=args.get("bbox"),
        commune=args.get("commune"),
        departement=args.get("departement"),
        region=args.get("region"),
        epci=args.get("epci"),
        programme=args.get("programme"),
        on_date=args.get("date"),
        services=args.get("service", ()),
        publics=args.get("public", ()),
        q=args.get("q"),
        modified_since=args.get("modified_since"),
        statuses=args.get("status") or services.DEFAULT_STATUSES,
        sources=args.get("source", ()),
        sort=args.get("sort"),
        cursor=args.get("cursor"),
        limit=limit,
    )
    page = services.list_venues(db.session, query, clock.today())
    next_url = _next_url(page.next_cursor)
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
    if _wants_geojson(args.get("format")):
        collection = VenueFeatureCollectionSchema().dump(feature_collection(
            (services.geojson_feature(item) for item in page.items), next=next_url))
        response = current_app.response_class(
            json.dumps(collection, ensure_ascii=False), mimetype=GEOJSON)
        response.headers.update(headers)
        return response
    return {"count": len(page.items), "items": page.items, "next": next_url}, 200, headers


@blp.route("/<int:venue_id>")
@blp.response(200, VenueDetailSchema)
@blp.alt_response(404, description="Aucun lieu ne porte cet identifiant.")
def get_venue(venue_id):
    """Un lieu, avec tout ce qu'il faut pour s'y rendre

    Champs du standard, offres (chèques demandés, niveau, format, langues), séances des
    60 prochains jours avec les places libres, arrêts des lieux itinérants, programmes de
    pass acceptés aujourd'hui, ouvert en ce moment (fuseau du lieu, jours fériés
    français), prochaine ouverture et horaires en mots.
    """
    return services.venue_detail(db.session, venue_id, clock.now())
