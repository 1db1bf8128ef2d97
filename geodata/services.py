"""Territory queries: plain arguments in, plain dictionaries out.

Geometry goes out as GeoJSON (RFC 7946: longitude first, exterior rings
counter-clockwise, no ``crs`` member), simplified for the scale asked and with
coordinates rounded accordingly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from core import geojson
from core.errors import InvalidInput, NotFound

from .models import Commune, Departement, Epci, PostalCode, Region
from .sources import osm_opening_hours
from .text import normalise_name

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
FULL_PRECISION_DIGITS = 6  # ≈ 0.1 m
# Municipal arrondissements (code prefix -> city): the product works with communes.
_ARRONDISSEMENTS = (("751", "75056"), ("132", "13055"), ("6938", "69123"))


def parent_commune_code(code: str) -> str:
    """The commune of a municipal arrondissement of Paris, Marseille or Lyon; else ``code``."""
    for prefix, city in _ARRONDISSEMENTS:
        if code.startswith(prefix) and len(code) == 5:
            return city
    return code


# --------------------------------------------------------------------------- geometry


def tolerance_for(tolerance: float | None = None, zoom: int | None = None) -> float | None:
    """Simplification tolerance in degrees: given, or about one screen pixel
    (256-pixel tiles) at ``zoom``; None keeps the stored polygon."""
    if tolerance is not None:
        return tolerance
    if zoom is not None:
        return 360.0 / (256 * 2**zoom)
    return None


def digits_for(tolerance: float | None) -> int:
    """Decimal places worth keeping at that tolerance (one more than its magnitude)."""
    if not tolerance:
        return FULL_PRECISION_DIGITS
    return max(1, min(FULL_PRECISION_DIGITS, math.ceil(-math.log10(tolerance)) + 1))


def _geojson(column, tolerance: float | None) -> ColumnElement:
    geometry = column
    if tolerance:
        geometry = func.ST_SimplifyPreserveTopology(geometry, tolerance)
    return func.ST_AsGeoJSON(func.ST_ForcePolygonCCW(geometry), digits_for(tolerance), 0)


def _point(lon: float | None, lat: float | None) -> dict[str, Any] | None:
    return geojson.point(lon, lat, FULL_PRECISION_DIGITS)


def _loads(value: str | None) -> dict[str, Any] | None:
    return json.loads(value) if value else None


# --------------------------------------------------------------------------- communes


def _postal_codes_of(code_column) -> ColumnElement:
    return (select(func.array_agg(aggregate_order_by(PostalCode.code, PostalCode.code)))
            .where(PostalCode.commune_code == code_column)
            .scalar_subquery())


def _commune_select(geometry: bool, tolerance: float | None) -> Select:
    columns = [
        Commune.code, Commune.name, Commune.population,
        Departement.code.label("departement_code"), Departement.name.label("departement_name"),
        Region.code.label("region_code"), Region.name.label("region_name"),
        Epci.code.label("epci_code"), Epci.name.label("epci_name"),
        Epci.kind.label("epci_kind"),
        _postal_codes_of(Commune.code).label("postal_codes"),
        func.ST_X(Commune.point).label("lon"), func.ST_Y(Commune.point).label("lat"),
        func.ST_X(Commune.town_hall_point).label("town_hall_lon"),
        func.ST_Y(Commune.town_hall_point).label("town_hall_lat"),
        Commune.town_hall_address, Commune.town_hall_hours,
    ]
    if geometry:
        columns.append(_geojson(Commune.geom, tolerance).label("geometry"))
    return (select(*columns)
            .join(Departement, Departement.code == Commune.departement_code)
            .join(Region, Region.code == Commune.region_code)
            .outerjoin(Epci, Epci.code == Commune.epci_code))


def _commune_dict(row, geometry: bool) -> dict[str, Any]:
    town_hall = None
    if row.town_hall_lon is not None or row.town_hall_address or row.town_hall_hours:
        town_hall = {
            "point": _point(row.town_hall_lon, row.town_hall_lat),
            "address": row.town_hall_address,
            "hours": row.town_hall_hours or [],
            "opening_hours": osm_opening_hours(row.town_hall_hours),
        }
    result = {
        "code": row.code,
        "name": row.name,
        "population": row.population,
        "departement": {"code": row.departement_code, "name": row.departement_name},
        "region": {"code": row.region_code, "name": row.region_name},
        "epci": ({"code": row.epci_code, "name": row.epci_name, "kind": row.epci_kind}
                 if row.epci_code else None),
        "postal_codes": list(row.postal_codes or []),
        "town_hall": town_hall,
        "point": _point(row.lon, row.lat),
    }
    if geometry:
        result["geometry"] = _loads(row.geometry)
    return result


def get_commune(session: Session, code: str, *, geometry: bool = False,
                tolerance: float | None = None) -> dict:
    row = session.execute(
        _commune_select(geometry, tolerance).where(Commune.code == code)).first()
    if row is None:
        parent = parent_commune_code(code)
        if parent != code:
            raise NotFound(f"Le code {code} est celui d'un arrondissement municipal : "
                           f"les territoires sont des communes, utilisez {parent}.")
        raise NotFound(f"Aucune commune de code {code}.")
    return _commune_dict(row, geometry)


def commune_code_at_sql(point) -> ScalarSelect:
    """The code of the commune whose polygon contains ``point`` (a geometry in 4326), the
    lowest code on a border; NULL outside every commune. Written against ``commune.geom``
    itself so that its GiST index serves it."""
    return (select(Commune.code).where(func.ST_Intersects(Commune.geom, point))
            .order_by(Commune.code).limit(1).scalar_subquery())


def commune_at_select(lat: float, lon: float) -> Select:
    """The commune at a point (:func:`commune_code_at_sql`), all its columns."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    return _commune_select(False, None).where(Commune.code == commune_code_at_sql(point))


def commune_at(session: Session, lat: float, lon: float) -> dict:
    """The commune whose polygon contains the point (the lowest code on a border)."""
    row = session.execute(commune_at_select(lat, lon)).first()
    if row is None:
        raise NotFound(f"Aucune commune ne contient le point de latitude {lat} et de "
                       f"longitude {lon} (les territoires chargés couvrent la métropole et "
                       "les départements d'outre-mer).")
    return _commune_dict(row, False)


def _name_match(normalised: str) -> ColumnElement:
    """Prefix of the name, prefix of one of its words, or trigram similarity
    (pg_trgm's ``%``); all three served by the trigram index."""
    return or_(Commune.search_name.like(normalised + "%"),
               Commune.search_name.like("% " + normalised + "%"),
               Commune.search_name.op("%")(normalised))


def search_communes(session: Session, q: str | None = None, postal_code: str | None = None,
                    departement: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE,
                    after: str | None = None, geometry: bool = False,
                    tolerance: float | None = None) -> dict:
    """Communes by name, postal code and/or département.

    With a name, the best matches come first (exact, then prefix, then similarity, then
    population) on one page; without, communes are listed by code, page after page
    (``after`` = last code of the previous page).
    """
    normalised = normalise_name(q) if q is not None else None
    if q is not None and not normalised:
        raise InvalidInput("Le nom recherché (q) ne contient ni lettre ni chiffre.")
    if not (normalised or postal_code or departement):
        raise InvalidInput("Indiquez au moins un critère de recherche : q (nom de "
                           "commune), postal_code ou departement.")
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    stmt = _commune_select(geometry, tolerance)
    if postal_code:
        stmt = stmt.where(Commune.code.in_(
            select(PostalCode.commune_code).where(PostalCode.code == postal_code)))
    if departement:
        stmt = stmt.where(Commune.departement_code == departement)
    if normalised:
        stmt = stmt.where(_name_match(normalised)).order_by(
            (Commune.search_name == normalised).desc(),
            Commune.search_name.like(normalised + "%").desc(),
            func.similarity(Commune.search_name, normalised).desc(),
            Commune.population.desc().nulls_last(), Commune.code)
    else:
        if after:
            stmt = stmt.where(Commune.code > after)
        stmt = stmt.order_by(Commune.code)
    rows = session.execute(stmt.limit(page_size + 1)).all()
    more = len(rows) > page_size
    items = [_commune_dict(row, geometry) for row in rows[:page_size]]
    next_after = items[-1]["code"] if more and not normalised else None
    return {"items": items, "next_after": next_after}


# --------------------------------------------------------------------------- geocoding helpers


def _place_select() -> Select:
    """What the offline geocoder answers: the town hall when known, else the point."""
    location = func.coalesce(Commune.town_hall_point, Commune.point)
    return select(Commune.code, Commune.name, Commune.search_name, Commune.population,
                  _postal_codes_of(Commune.code).label("postal_codes"),
                  func.ST_X(location).label("lon"), func.ST_Y(location).label("lat"),
                  Commune.departement_code,
                  select(Departement.name).where(Departement.code == Commune.departement_code)
                  .scalar_subquery().label("departement_name"))


def places_by_postal_code(session: Session, postal_code: str) -> list:
    return session.execute(
        _place_select()
        .where(Commune.code.in_(
            select(PostalCode.commune_code).where(PostalCode.code == postal_code)))
        .order_by(Commune.population.desc().nulls_last(), Commune.code)).all()


def places_by_code(session: Session, code: str) -> list:
    return session.execute(_place_select().where(Commune.code == code)).all()


def places_by_exact_names(session: Session, names: list[str], limit: int) -> list:
    """Communes whose normalised name is one of ``names``, longest name first."""
    return session.execute(
        _place_select().where(Commune.search_name.in_(names))
        .order_by(func.length(Commune.search_name).desc(),
                  Commune.population.desc().nulls_last(), Commune.code)
        .limit(limit)).all()


def places_by_similar_name(session: Session, normalised: str, limit: int,
                           min_similarity: float) -> list:
    similarity = func.similarity(Commune.search_name, normalised)
    return session.execute(
        _place_select()
        .where(or_(Commune.search_name.like(normalised + "%"),
                   and_(Commune.search_name.op("%")(normalised),
                        similarity >= min_similarity)))
        .order_by(Commune.search_name.like(normalised + "%").desc(), similarity.desc(),
                  Commune.population.desc().nulls_last(), Commune.code)
        .limit(limit)).all()


# --------------------------------------------------------------------------- larger territories


def _area_columns(model, geometry: bool, tolerance: float | None) -> list:
    columns = [model.code, model.name, model.population]
    if geometry:
        columns.append(_geojson(model.geom, tolerance).label("geometry"))
    return columns


def _with_geometry(result: dict, row, geometry: bool) -> dict:
    if geometry:
        result["geometry"] = _loads(row.geometry)
    return result


def _departement_select(geometry: bool, tolerance: float | None) -> Select:
    communes = (select(func.count()).where(Commune.departement_code == Departement.code)
                .scalar_subquery())
    return (select(*_area_columns(Departement, geometry, tolerance),
                   Region.code.label("region_code"), Region.name.label("region_name"),
                   communes.label("communes_count"))
            .join(Region, Region.code == Departement.region_code))


def _departement_dict(row, geometry: bool) -> dict:
    return _with_geometry({
        "code": row.code, "name": row.name, "population": row.population,
        "region": {"code": row.region_code, "name": row.region_name},
        "communes_count": row.communes_count,
    }, row, geometry)


def list_departements(session: Session, region: str | None = None, *, geometry: bool = False,
                      tolerance: float | None = None) -> dict:
    stmt = _departement_select(geometry, tolerance).order_by(Departement.code)
    if region:
        stmt = stmt.where(Departement.region_code == region)
    return {"items": [_departement_dict(row, geometry)
                      for row in session.execute(stmt)]}


def get_departement(session: Session, code: str, *, geometry: bool = False,
                    tolerance: float | None = None) -> dict:
    row = session.execute(
        _departement_select(geometry, tolerance).where(Departement.code == code)).first()
    if row is None:
        raise NotFound(f"Aucun département de code {code}.")
    return _departement_dict(row, geometry)


def _region_select(geometry: bool, tolerance: float | None) -> Select:
    departements = (select(func.array_agg(aggregate_order_by(Departement.code,
                                                             Departement.code)))
                    .where(Departement.region_code == Region.code).scalar_subquery())
    return select(*_area_columns(Region, geometry, tolerance),
                  departements.label("departements"))


def _region_dict(row, geometry: bool) -> dict:
    return _with_geometry({
        "code": row.code, "name": row.name, "population": row.population,
        "departements": list(row.departements or []),
    }, row, geometry)


def list_regions(session: Session, *, geometry: bool = False,
                 tolerance: float | None = None) -> dict:
    rows = session.execute(_region_select(geometry, tolerance).order_by(Region.code))
    return {"items": [_region_dict(row, geometry) for row in rows]}


def get_region(session: Session, code: str, *, geometry: bool = False,
               tolerance: float | None = None) -> dict:
    row = session.execute(
        _region_select(geometry, tolerance).where(Region.code == code)).first()
    if row is None:
        raise NotFound(f"Aucune région de code {code}.")
    return _region_dict(row, geometry)


def _epci_select(geometry: bool, tolerance: float | None) -> Select:
    departements = (select(func.array_agg(aggregate_order_by(
                        Commune.departement_code.distinct(), Commune.departement_code)))
                    .where(Commune.epci_code == Epci.code).scalar_subquery())
    communes = select(func.count()).where(Commune.epci_code == Epci.code).scalar_subquery()
    return select(*_area_columns(Epci, geometry, tolerance), Epci.kind,
                  departements.label("departements"), communes.label("communes_count"))


def _epci_dict(row, geometry: bool) -> dict:
    return _with_geometry({
        "code": row.code, "name": row.name, "kind": row.kind, "population": row.population,
        "departements": list(row.departements or []), "communes_count": row.communes_count,
    }, row, geometry)


def list_epcis(session: Session, departement: str | None = None, region: str | None = None,
               q: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE,
               after: str | None = None, geometry: bool = False,
               tolerance: float | None = None) -> dict:
    """EPCI by code, page after page; filtered by département, région or name.

    EPCI names are few (≈1,250): the name filter normalises them in Python with the same
    function as commune names rather than storing a search column.
    """
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    stmt = _epci_select(geometry, tolerance).order_by(Epci.code)
    if departement:
        stmt = stmt.where(Epci.code.in_(
            select(Commune.epci_code).where(Commune.departement_code == departement)))
    if region:
        stmt = stmt.where(Epci.code.in_(
            select(Commune.epci_code).where(Commune.region_code == region)))
    if q is not None:
        normalised = normalise_name(q)
        if not normalised:
            raise InvalidInput("Le nom recherché (q) ne contient ni lettre ni chiffre.")
        names = session.execute(select(Epci.code, Epci.name)).all()
        codes = [code for code, name in names if normalised in normalise_name(name)]
        if not codes:
            return {"items": [], "next_after": None}
        stmt = stmt.where(Epci.code.in_(codes))
    if after:
        stmt = stmt.where(Epci.code > after)
    rows = session.execute(stmt.limit(page_size + 1)).all()
    items = [_epci_dict(row, geometry) for row in rows[:page_size]]
    next_after = items[-1]["code"] if len(rows) > page_size else None
    return {"items": items, "next_after": next_after}


def get_epci(session: Session, code: str, *, geometry: bool = False,
             tolerance: float | None = None) -> dict:
    row = session.execute(_epci_select(geometry, tolerance).where(Epci.code == code)).first()
    if row is None:
        raise NotFound(f"Aucun EPCI de code SIREN {code}.")
    return _epci_dict(row, geometry)


# --------------------------------------------------------------------------- names on maps

# Names of the communes only for views this narrow (degrees of longitude or latitude):
# wider, the maps show the départements' names alone.
LABEL_COMMUNES_SPAN_DEG = 1.5
LABEL_COMMUNES_MAX = 400


def _label_columns(model) -> list:
    shape = model.geom
    point = model.point if model is Commune else func.ST_PointOnSurface(shape)
    return [model.code, model.name, model.population,
            func.ST_X(point).label("lon"), func.ST_Y(point).label("lat"),
            func.ST_XMin(shape).label("xmin"), func.ST_YMin(shape).label("ymin"),
            func.ST_XMax(shape).label("xmax"), func.ST_YMax(shape).label("ymax")]


def _label(row) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "population": row.population,
            "point": [round(row.lon, 5), round(row.lat, 5)],
            "bbox": [round(v, 5) for v in (row.xmin, row.ymin, row.xmax, row.ymax)]}


def territory_labels(session: Session, bbox: tuple[float, float, float, float]) -> dict:
    """Names to draw on a map without a basemap: the départements, and the communes (the
    most populous first) when the view is narrow enough, that meet ``bbox``; each with a
    point inside it and its bounding box (the map writes a name only where it fits inside
    its territory). The index on ``geom`` serves the ``&&`` filter."""
    envelope = func.ST_MakeEnvelope(*bbox, 4326)
    departements = session.execute(
        select(*_label_columns(Departement))
        .where(Departement.geom.op("&&")(envelope)).order_by(Departement.code)).all()
    communes = []
    if max(bbox[2] - bbox[0], bbox[3] - bbox[1]) <= LABEL_COMMUNES_SPAN_DEG:
        communes = session.execute(
            select(*_label_columns(Commune))
            .where(Commune.geom.op("&&")(envelope), Commune.point.is_not(None))
            .order_by(Commune.population.desc().nulls_last(), Commune.code)
            .limit(LABEL_COMMUNES_MAX)).all()
    return {"departements": [_label(r) for r in departements],
            "communes": [_label(r) for r in communes]}

