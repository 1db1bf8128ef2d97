"""Territory and geocoding API under /api/v1: thin views over ``services``."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from core.errors import InvalidInput, NotFound
from extensions import db

from . import services
from .geocoding import get_geocoder
from .schemas import (
    CommunePageSchema,
    CommuneSchema,
    CommuneSearchArgs,
    DepartementListArgs,
    DepartementListSchema,
    DepartementSchema,
    EpciListArgs,
    EpciPageSchema,
    EpciSchema,
    GeocodeArgs,
    GeocodeSchema,
    RegionListSchema,
    RegionSchema,
    TerritoryGeometryArgs,
    TerritoryLabelArgs,
    TerritoryLabelsSchema,
    TerritoryPointArgs,
)

territories = Blueprint(
    "territories", __name__, url_prefix="/api/v1/territories",
    description="Territoires de France (métropole et départements d'outre-mer) : communes, "
                "EPCI, départements, régions ; polygones GeoJSON simplifiés à l'échelle "
                "demandée.")
geocoding = Blueprint(
    "geocoding", __name__, url_prefix="/api/v1/geocode",
    description="Géocodage : adresse, commune ou code postal vers des coordonnées, avec "
                "la précision de chaque réponse.")


# Territories change when `geodata load` runs (yearly data): an hour of client caching,
# then revalidation by ETag (a hash of the answer; 304 when unchanged).
CACHE_CONTROL = "public, max-age=3600"


@territories.after_request
def _cache_headers(response):
    if response.status_code in (200, 304):
        response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _territory_read(path: str, args_schema, response_schema):
    """A read-only territory operation: its query arguments (unknown ones refused), its
    200 answer, an ETag."""
    def decorate(view):
        view = territories.response(200, response_schema)(view)
        view = territories.arguments(args_schema, location="query", unknown=RAISE)(view)
        return territories.route(path)(territories.etag(view))
    return decorate


def _scale(args: dict) -> dict:
    return {"geometry": args["geometry"],
            "tolerance": services.tolerance_for(args.get("tolerance"), args.get("zoom"))}


@_territory_read("/communes", CommuneSearchArgs, CommunePageSchema)
def list_communes(args):
    """Rechercher des communes

    Par nom (insensible aux accents et à la casse, « st » = « saint »), code postal
    et/ou département ; au moins un critère. Avec un nom, les meilleures réponses d'abord.
    """
    return services.search_communes(db.session, args.get("q"), args.get("postal_code"),
                                    args.get("departement"), page_size=args["page_size"],
                                    after=args.get("after"), **_scale(args))


@_territory_read("/communes/<code>", TerritoryGeometryArgs, CommuneSchema)
def get_commune(args, code):
    """Une commune par son code INSEE

    Nom, population, département, région, EPCI, codes postaux, mairie, point intérieur ;
    le polygone avec geometry=true.
    """
    return services.get_commune(db.session, code.upper(), **_scale(args))


@_territory_read("/at", TerritoryPointArgs, CommuneSchema)
def commune_at(args):
    """La commune qui contient un point (latitude, longitude WGS 84)"""
    return services.commune_at(db.session, args["lat"], args["lon"])


@_territory_read("/labels", TerritoryLabelArgs, TerritoryLabelsSchema)
def territory_labels(args):
    """Noms des territoires à écrire sur une carte

    Les départements et, si la vue est étroite, les communes qui touchent l'emprise, avec
    un point intérieur et leur emprise : de quoi nommer les lieux d'une carte sans fond de
    carte (ou quand il est injoignable).
    """
    if args.get("bbox") is None:
        raise InvalidInput(errors={"bbox": ["Paramètre obligatoire."]})
    return services.territory_labels(db.session, args["bbox"])


@_territory_read("/departements", DepartementListArgs, DepartementListSchema)
def list_departements(args):
    """Les départements (filtrables par région)"""
    return services.list_departements(db.session, args.get("region"), **_scale(args))


@_territory_read("/departements/<code>", TerritoryGeometryArgs, DepartementSchema)
def get_departement(args, code):
    """Un département"""
    return services.get_departement(db.session, code.upper(), **_scale(args))


@_territory_read("/regions", TerritoryGeometryArgs, RegionListSchema)
def list_regions(args):
    """Les régions"""
    return services.list_regions(db.session, **_scale(args))


@_territory_read("/regions/<code>", TerritoryGeometryArgs, RegionSchema)
def get_region(args, code):
    """Une région"""
    return services.get_region(db.session, code, **_scale(args))


@_territory_read("/epci", EpciListArgs, EpciPageSchema)
def list_epcis(args):
    """Les EPCI à fiscalité propre, par page (filtrables par département, région, nom)"""
    return services.list_epcis(db.session, args.get("departement"), args.get("region"),
                               args.get("q"), page_size=args["page_size"], after=args.get("after"),
                               **_scale(args))


@_territory_read("/epci/<code>", TerritoryGeometryArgs, EpciSchema)
def get_epci(args, code):
    """Un EPCI par son SIREN"""
    return services.get_epci(db.session, code, **_scale(args))


@geocoding.route("")
@geocoding.arguments(GeocodeArgs, location="query", unknown=RAISE)
@geocoding.response(200, GeocodeSchema)
def geocode(args):
    """Géocoder une adresse, une commune ou un code postal

    Chaque réponse porte sa précision : address, commune ou postal_code.
    """
    answer = get_geocoder().geocode(args["q"], args["limit"])
    if not answer.candidates:
        raise NotFound(f"Aucun lieu trouvé pour « {args['q']} ».")
    return {"query": args["q"], "geocoder": answer.geocoder, "degraded": answer.degraded,
            "candidates": [c.as_dict() for c in answer.candidates]}


def init_app(app) -> None:
    from extensions import api

    api.register_blueprint(territories)
    api.register_blueprint(geocoding)
