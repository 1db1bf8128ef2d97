"""Read-outs of stored runs: the properties of each territory (built in SQL, rounded, once
at refresh), the views per level (GeoJSON assembled by PostgreSQL, or rows for CSV), and
their CSV text.

Everything is SQLAlchemy Core over the models (columns looked up by name in the tables, so
a name outside them fails); every value is bound.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.geojson import collection_text
from core.spreadsheet import neutralise_cell, spreadsheet_number
from geodata.models import Commune

from . import accessibility
from .models import CoverageAggregate, CoverageResult, CoverageShape
from .runs import find_run
from .selection import (
    LEVEL_COLUMNS,
    LEVEL_MODELS,
    Selection,
    check_selection,
    member_of,
    resolve_territory,
)

VIEW_LEVELS = ("commune", "epci", "departement", "region")
# Simplification tolerance in degrees per level (≈ 2 km, 1.5 km, 500 m, 100 m): the national
# département view stays under 300 KB.
SIMPLIFY = {"region": 0.02, "departement": 0.015, "epci": 0.005, "commune": 0.001}
COORDINATE_DIGITS = 5
MAX_COMMUNES_PER_VIEW = 5000
_SHARE_RADII = (10, 20, 30)

PROPERTY_COLUMNS: tuple[str, ...] = (
    "code", "name", "level", "population", "need", "communes",
    *(f"population_covered_{t}km" for t in _SHARE_RADII),
    *(f"share_population_covered_{t}km" for t in _SHARE_RADII),
    *(f"need_covered_{t}km" for t in _SHARE_RADII),
    *(f"share_need_covered_{t}km" for t in _SHARE_RADII),
    *(f"uncovered_population_{t}km" for t in _SHARE_RADII),
    "communes_uncovered_30km", "mean_accessibility", "accessibility_index", "capacity_gap",
    "mean_nearest_km", "region_code", "departement_code", "epci_code",
)
COMMUNE_COLUMNS: tuple[str, ...] = (
    "a_2sfca", "a_e2sfca_step", "a_e2sfca_gauss", "a_3sfca", "nearest_lieu_id",
    "nearest_cost_km", *(f"venues_{t}km" for t in _SHARE_RADII),
    *(f"capacity_{t}km" for t in _SHARE_RADII), *(f"covered_{t}km" for t in _SHARE_RADII),
)


def columns_for(level: str) -> tuple[str, ...]:
    return PROPERTY_COLUMNS + (COMMUNE_COLUMNS if level == "commune" else ())


@dataclass
class View:
    run: dict
    level: str
    count: int
    features: str | None = None      # GeoJSON Features joined by commas (format geojson)
    rows: list[dict] | None = None   # properties of each territory (format csv)


# Figures are rounded in SQL, for reading and for the payload's size: shares to 0.01 %,
# indices to 6 significant digits, people, need, capacities and km to 2 decimals.
def _float(expression) -> ColumnElement[float]:
    return cast(expression, Float)


def _r2(expression) -> ColumnElement[float]:
    # float8 arithmetic (numeric rounding costs 10 × more); PostgreSQL prints the shortest
    # text that reads back exactly, so 1234.57 stays 1234.57.
    return func.round(_float(expression) * _n(100), type_=Float) / _n(100)


def _sig(expression) -> ColumnElement[float]:
    x = _float(expression)
    scale = func.power(_float(_n(10)), _n(5) - func.floor(func.log(func.abs(x))),
                       type_=Float)
    return case((or_(expression.is_(None), expression == _n(0)), x),
                else_=func.round(x * scale, type_=Float) / scale)


def _share(part, whole) -> ColumnElement[float]:
    return case((whole > _n(0), func.round(part / whole * _n(10000), type_=Float)
                 / _n(10000)))


def _n(value: int) -> ColumnElement:
    """A constant of the statement, written in it (not a parameter of every execution)."""
    return literal(value, literal_execute=True)


def _string(value: str) -> ColumnElement[str]:
    return cast(literal(value, literal_execute=True), Text)


def _object(pairs: list[tuple[str, Any]]) -> ColumnElement[dict]:
    return func.jsonb_build_object(*(item for key, value in pairs
                                     for item in (_string(key), value)), type_=JSONB)


# The run's Ā, bound at execution: the properties' expressions are built once per level
# and method (building them costs more than the query they serve).
REFERENCE = bindparam("reference", type_=Float)


def _properties(f: dict[str, Any], level: str) -> ColumnElement[dict]:
    """``jsonb_build_object`` of the common properties from SQL expressions ``f``."""
    mean = REFERENCE
    pairs: list[tuple[str, Any]] = [
        ("code", f["code"]), ("name", f["name"]), ("level", _string(level)),
        ("population", _r2(f["population"])), ("need", _r2(f["need"])),
        ("communes", f["communes"]),
    ]
    pairs += [(f"population_covered_{t}km", _r2(f[f"population_covered_{t}km"]))
              for t in _SHARE_RADII]
    pairs += [(f"share_population_covered_{t}km",
               _share(f[f"population_covered_{t}km"], f["population"])) for t in _SHARE_RADII]
    pairs += [(f"need_covered_{t}km", _r2(f[f"need_covered_{t}km"])) for t in _SHARE_RADII]
    pairs += [(f"share_need_covered_{t}km", _share(f[f"need_covered_{t}km"], f["need"]))
              for t in _SHARE_RADII]
    pairs += [(f"uncovered_population_{t}km",
               _r2(f["population"] - f[f"population_covered_{t}km"]))
              for t in _SHARE_RADII]
    pairs += [
        ("communes_uncovered_30km", f["communes_uncovered_30km"]),
        ("mean_accessibility", _sig(f["mean_accessibility"])),
        ("accessibility_index", case((mean > 0, _sig(f["mean_accessibility"] / mean)))),
        ("capacity_gap", _r2(f["capacity_gap"])), ("mean_nearest_km", _r2(f["mean_nearest_km"])),
        ("region_code", f["region_code"]), ("departement_code", f["departement_code"]),
        ("epci_code", f["epci_code"]),
    ]
    return _object(pairs)


def _aggregate_fields(a, g, level: str) -> dict[str, Any]:
    """Properties of a territory above the commune: ``a`` its coverage_aggregate row,
    ``g`` its row of the level's table."""
    no_code = null().cast(Text)
    return {
        "code": a.c.code, "name": g.c.name, "population": a.c.population, "need": a.c.need,
        "communes": a.c.communes,
        **{f"population_covered_{t}km": a.c[f"population_covered_{t}km"]
           for t in _SHARE_RADII},
        **{f"need_covered_{t}km": a.c[f"need_covered_{t}km"] for t in _SHARE_RADII},
        "communes_uncovered_30km": a.c.communes_uncovered_30km,
        "mean_accessibility": a.c.mean_accessibility, "capacity_gap": a.c.capacity_gap,
        "mean_nearest_km": a.c.mean_nearest_km,
        "region_code": g.c.region_code if level == "departement" else no_code,
        "departement_code": no_code, "epci_code": no_code,
    }


def _commune_fields(r, g, method: str) -> dict[str, Any]:
    """Properties of a commune: ``r`` its coverage_result row (or the staged one), ``g``
    its commune row."""
    return {
        "code": r.c.commune_code, "name": g.c.name, "population": r.c.population,
        "need": r.c.need, "communes": _n(1),
        **{f"population_covered_{t}km": case((r.c[f"covered_{t}km"], r.c.population),
                                             else_=_n(0)) for t in _SHARE_RADII},
        **{f"need_covered_{t}km": case((r.c[f"covered_{t}km"], r.c.need), else_=_n(0))
           for t in _SHARE_RADII},
        "communes_uncovered_30km": case((r.c.covered_30km, _n(0)), else_=_n(1)),
        "mean_accessibility": r.c[f"a_{method}"], "capacity_gap": r.c.capacity_gap,
        "mean_nearest_km": r.c.nearest_cost_km, "region_code": g.c.region_code,
        "departement_code": g.c.departement_code, "epci_code": g.c.epci_code,
    }


def _commune_extra(r) -> ColumnElement[dict]:
    pairs: list[tuple[str, Any]] = [(f"a_{m}", _sig(r.c[f"a_{m}"]))
                                    for m in accessibility.METHODS]
    pairs += [("nearest_lieu_id", r.c.nearest_lieu_id),
              ("nearest_cost_km", _r2(r.c.nearest_cost_km))]
    pairs += [(f"venues_{t}km", r.c[f"venues_{t}km"]) for t in _SHARE_RADII]
    pairs += [(f"capacity_{t}km", _r2(r.c[f"capacity_{t}km"])) for t in _SHARE_RADII]
    pairs += [(f"covered_{t}km", r.c[f"covered_{t}km"]) for t in _SHARE_RADII]
    return _object(pairs)


@functools.cache
def commune_properties(r, g, method: str) -> ColumnElement[dict]:
    """A commune's map properties (``r``: coverage_result or its staged copy, ``g``:
    commune), rounded; binds :data:`REFERENCE`, the run's Ā."""
    if method not in accessibility.METHODS:
        raise InvalidInput("Méthode du calcul inconnue.")
    return _properties(_commune_fields(r, g, method), "commune").op("||")(_commune_extra(r))


@functools.cache
def aggregate_properties(a, g, level: str) -> ColumnElement[dict]:
    """The map properties of a territory of ``level`` above the commune (``a``:
    coverage_aggregate, ``g``: the level's table); binds :data:`REFERENCE`."""
    return _properties(_aggregate_fields(a, g, level), level)


def store_properties(session: Session, run_id: int, reference_mean: float) -> None:
    """Build once, at refresh, the properties every view of the run shows (the
    communes' are built as they are stored)."""
    a = CoverageAggregate.__table__
    for level, model in LEVEL_MODELS.items():
        g = model.__table__
        session.execute(
            update(a).values(properties=aggregate_properties(a, g, level))
            .where(g.c.code == a.c.code, a.c.run_id == run_id, a.c.level == level),
            {"reference": reference_mean})


def view_rows(level: str, method: str, kind: str, in_bbox: bool):
    """``(select, g)``: the code and properties (``props``) of the territories of a view,
    ordered by code; ``g`` is the level's table (its ``geom`` column for the shapes). Binds
    ``run``, ``territory``, ``reference`` and with ``in_bbox`` ``x0``, ``y0``, ``x1``,
    ``y1``."""
    communes = Commune.__table__
    within = bindparam("territory", type_=Text)
    if level == "commune":
        r, g = CoverageResult.__table__, communes
        props = func.coalesce(r.c.properties, commune_properties(r, g, method))
        inner = (select(r.c.commune_code.label("code"), props.label("props"))
                 .select_from(r.join(g, g.c.code == r.c.commune_code))
                 .where(r.c.run_id == bindparam("run"), member_of(g, kind, within))
                 .order_by(r.c.commune_code).limit(MAX_COMMUNES_PER_VIEW + 1))
    else:
        a, g = CoverageAggregate.__table__, LEVEL_MODELS[level].__table__
        props = func.coalesce(a.c.properties, aggregate_properties(a, g, level))
        inner = (select(a.c.code, props.label("props"))
                 .select_from(a.join(g, g.c.code == a.c.code))
                 .where(a.c.run_id == bindparam("run"), a.c.level == level)
                 .order_by(a.c.code))
        if kind != "fr":
            column = communes.c[LEVEL_COLUMNS[level]]
            inner = inner.where(a.c.code.in_(
                select(column).distinct().where(member_of(communes, kind, within),
                                                column.is_not(None))))
    if in_bbox:
        box = func.ST_MakeEnvelope(*(bindparam(name, type_=Float)
                                     for name in ("x0", "y0", "x1", "y1")), 4326)
        inner = inner.where(g.c.geom.op("&&")(box))
    return inner, g


def feature_text(code, geometry, props) -> ColumnElement[str]:
    """One GeoJSON Feature as text from SQL expressions: the territory's ``code``, its
    ``geometry`` (GeoJSON text or NULL) and its ``props`` (JSON)."""
    return func.concat(
        _string('{"type":"Feature","id":'), cast(func.to_json(code), Text),
        _string(',"geometry":'), func.coalesce(geometry, _string("null")),
        _string(',"properties":'), cast(props, Text), _string("}"))


def features_text(inner) -> ColumnElement[str]:
    """``(count, Features joined by commas)`` of a select with ``code``, ``geometry``
    (GeoJSON text or NULL) and ``props`` columns, assembled by PostgreSQL."""
    v = inner.subquery("v")
    feature = feature_text(v.c.code, v.c.geometry, v.c.props)
    return select(func.count(),
                  func.string_agg(feature, aggregate_order_by(_string(","), v.c.code)))


@functools.cache
def _view_statement(level: str, method: str, kind: str, in_bbox: bool, fmt: str):
    """The statement of a view, built once per shape of request (see :func:`view_rows`)."""
    inner, g = view_rows(level, method, kind, in_bbox)
    if fmt != "geojson":
        return select(inner.subquery("v").c.props)
    tolerance, digits = SIMPLIFY[level], COORDINATE_DIGITS
    s = CoverageShape.__table__
    geometry = func.coalesce(s.c.geojson, func.ST_AsGeoJSON(
        func.ST_SimplifyPreserveTopology(g.c.geom, tolerance), digits))
    inner = inner.add_columns(geometry.label("geometry")).outerjoin(s, and_(
        s.c.level == level, s.c.code == g.c.code, s.c.tolerance == tolerance,
        s.c.digits == digits))
    return features_text(inner)


@dataclass(frozen=True)
class ViewRequest:
    """What a view reads, checked: the run, the territory and the statement's values."""

    run: dict
    territory: Any
    params: dict[str, Any]


def prepare_view(session: Session, level: str, selection: Selection, *,
                 bbox: Sequence[float] | None = None,
                 run_id: int | None = None) -> ViewRequest:
    """Check a view's arguments (French errors) and find its run."""
    if level not in VIEW_LEVELS:
        raise NotFound(f"Niveau « {level} » inconnu : commune, epci, departement ou region.")
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    if level == "commune" and territory.kind == "fr" and bbox is None:
        raise InvalidInput(
            "Au niveau commune, précisez un territoire (within=dep:33, reg:75, epci:… ; "
            "pas fr) ou une emprise (bbox=minlon,minlat,maxlon,maxlat) : la France entière "
            "compte près de 35 000 communes.",
            errors={"within": ["Obligatoire au niveau commune (sauf avec bbox)."]})
    run = find_run(session, selection.with_within(territory.code), run_id)
    if run["method"] not in accessibility.METHODS:
        raise InvalidInput("Méthode du calcul inconnue.")
    params: dict[str, Any] = {"run": run["id"], "territory": territory.value,
                              "reference": run["reference_mean"]}
    return ViewRequest(run, territory, {**params, **bbox_params(bbox)})


def bbox_params(bbox: Sequence[float] | None) -> dict[str, float]:
    """The values a view statement with a box binds (none without a box)."""
    return {} if bbox is None else dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True))


def check_view_size(level: str, count: int) -> None:
    if level == "commune" and count > MAX_COMMUNES_PER_VIEW:
        raise InvalidInput(f"Plus de {MAX_COMMUNES_PER_VIEW} communes dans cette vue : "
                           "réduisez le territoire ou l'emprise.")


def coverage_view(session: Session, level: str, selection: Selection, *,
                  bbox: Sequence[float] | None = None, run_id: int | None = None,
                  fmt: str = "geojson") -> View:
    """Figures per territory of ``level`` within ``selection.within`` (and ``bbox``).

    Properties are built and rounded in SQL, and with ``fmt="geojson"`` the Features are
    assembled there too, with the polygons simplified at refresh (``coverage_shape``): a
    view is one query and no per-row Python.
    """
    prepared = prepare_view(session, level, selection, bbox=bbox, run_id=run_id)
    run = prepared.run
    statement = _view_statement(level, run["method"], prepared.territory.kind,
                                bbox is not None, fmt)
    if fmt == "geojson":
        count, features = session.execute(statement, prepared.params).one()
        view = View(run, level, int(count), features=features or "")
    else:
        found = list(session.execute(statement, prepared.params).scalars())
        view = View(run, level, len(found), rows=found)
    check_view_size(level, view.count)
    return view


def view_geojson(view: View) -> str:
    """The FeatureCollection as text (Features assembled by PostgreSQL)."""
    run = {**view.run, "created_at": view.run["created_at"].isoformat()}
    return collection_text(view.features or "", {"level": view.level, "run": run})


# French headers of the planner's CSV (the machine format keeps the property names).
_RADIUS_HEADERS = {
    "population_covered_{t}km": "Population à {t} km d'un lieu",
    "share_population_covered_{t}km": "Part de la population à {t} km d'un lieu",
    "need_covered_{t}km": "Besoin à {t} km d'un lieu",
    "share_need_covered_{t}km": "Part du besoin à {t} km d'un lieu",
    "uncovered_population_{t}km": "Personnes sans lieu à {t} km",
    "venues_{t}km": "Lieux à {t} km",
    "capacity_{t}km": "Capacité à {t} km (accompagnements par semaine)",
    "covered_{t}km": "Au moins un lieu à {t} km",
}
FRENCH_HEADERS: dict[str, str] = {
    "code": "Code", "name": "Nom", "level": "Niveau", "population": "Population",
    "need": "Besoin", "communes": "Communes",
    **{pattern.format(t=t): header.format(t=t) for pattern, header in _RADIUS_HEADERS.items()
       for t in _SHARE_RADII},
    "communes_uncovered_30km": "Communes sans lieu à 30 km",
    "mean_accessibility": "Accompagnements par semaine par personne (moyenne)",
    "accessibility_index": "Indice d'accessibilité (1 = moyenne de référence)",
    "capacity_gap": "Écart de capacité (accompagnements par semaine manquants)",
    "mean_nearest_km": "Distance moyenne au lieu le plus proche (km)",
    "region_code": "Code région", "departement_code": "Code département",
    "epci_code": "Code EPCI",
    "a_2sfca": "Accessibilité 2SFCA (bassin de 20 km)",
    "a_e2sfca_step": "Accessibilité E2SFCA par paliers (10, 20, 30 km)",
    "a_e2sfca_gauss": "Accessibilité E2SFCA gaussienne (30 km)",
    "a_3sfca": "Accessibilité 3SFCA (30 km)",
    "nearest_lieu_id": "Numéro du lieu le plus proche",
    "nearest_cost_km": "Distance au lieu le plus proche (km)",
}
LEVEL_WORDS = {"commune": "commune", "epci": "intercommunalité",
               "departement": "département", "region": "région"}


def csv_cell(value: Any, *, french: bool = False) -> str:
    """Text of one CSV cell; a cell that a spreadsheet would read as a formula is prefixed
    with an apostrophe (CSV injection). ``french``: decimal commas, oui/non."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return ("oui" if value else "non") if french else ("true" if value else "false")
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return spreadsheet_number(value) if french else repr(value)
    return neutralise_cell(str(value))


def fill_territory_codes(session: Session, view: View) -> None:
    """Every territory code of the rows filled: a territory's own code, and for an EPCI
    the département and région holding most of its population."""
    rows = view.rows or []
    own = {"region": "region_code", "departement": "departement_code", "epci": "epci_code"}
    for row in rows:
        if view.level in own:
            row[own[view.level]] = row["code"]
    if view.level != "epci" or not rows:
        return
    c = Commune.__table__
    ranked = (select(c.c.epci_code, c.c.departement_code, c.c.region_code,
                     func.row_number().over(
                         partition_by=c.c.epci_code,
                         order_by=(func.sum(func.coalesce(c.c.population, 0)).desc(),
                                   c.c.departement_code)).label("n"))
              .where(c.c.epci_code.in_([row["code"] for row in rows]))
              .group_by(c.c.epci_code, c.c.departement_code, c.c.region_code).subquery())
    parents = {epci: (dep, reg) for epci, dep, reg in session.execute(
        select(ranked.c.epci_code, ranked.c.departement_code, ranked.c.region_code)
        .where(ranked.c.n == 1))}
    for row in rows:
        dep, reg = parents.get(row["code"], (None, None))
        row["departement_code"] = row.get("departement_code") or dep
        row["region_code"] = row.get("region_code") or reg


def view_csv(view: View, *, french: bool = True) -> str:
    """The rows as CSV. French (the default): headers in words, ``;`` separator, decimal
    commas, BOM (a French spreadsheet opens it in columns). Machine: property names, ``,``
    and decimal points."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if french else ",",
                        lineterminator="\r\n" if french else "\n")
    columns = columns_for(view.level)
    writer.writerow([FRENCH_HEADERS[c] for c in columns] if french else columns)
    for props in view.rows or ():
        values = dict(props)
        if french:
            values["level"] = LEVEL_WORDS.get(values.get("level"), values.get("level"))
        writer.writerow([csv_cell(values.get(c), french=french) for c in columns])
    return ("\ufeff" if french else "") + out.getvalue()

