"""Read-outs of stored runs: the properties of each territory (built in SQL, rounded, once
at refresh), the views per level (GeoJSON assembled by PostgreSQL, or rows for CSV), and
their CSV text.

The SQL of the properties is assembled from fixed pieces: the column names come from
:data:`PROPERTY_COLUMNS`, :data:`COMMUNE_COLUMNS`, the methods of
:data:`coverage.accessibility.METHODS` and the levels of :data:`VIEW_LEVELS` (closed sets,
checked against the models by tests/coverage/test_queries.py); every value is bound.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.geojson import collection_text
from core.spreadsheet import neutralise_cell

from . import accessibility
from .runs import find_run
from .selection import (
    LEVEL_COLUMNS,
    TERRITORY_TABLES,
    Selection,
    check_selection,
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
def _r2(expression: str) -> str:
    # float8 arithmetic (numeric rounding costs 10 × more); PostgreSQL prints the shortest
    # text that reads back exactly, so 1234.57 stays 1234.57.
    return f"(round(({expression})::float8 * 100) / 100)"


def _sig(expression: str) -> str:
    x = f"({expression})::float8"
    scale = f"power(10::float8, 5 - floor(log(abs({x}))))"
    return (f"(CASE WHEN ({expression}) IS NULL OR ({expression}) = 0 THEN {x} "
            f"ELSE round({x} * {scale}) / {scale} END)")


def _share(part: str, whole: str) -> str:
    return f"(CASE WHEN {whole} > 0 THEN round(({part}) / ({whole}) * 10000) / 10000 END)"


_REFERENCE = "CAST(:reference AS float8)"


def _properties_sql(f: dict[str, str]) -> str:
    """``jsonb_build_object`` of the common properties from SQL expressions ``f``."""
    pairs: list[tuple[str, str]] = [
        ("code", f["code"]), ("name", f["name"]), ("level", "CAST(:level AS text)"),
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
               _r2(f"{f['population']} - {f[f'population_covered_{t}km']}"))
              for t in _SHARE_RADII]
    pairs += [
        ("communes_uncovered_30km", f["communes_uncovered_30km"]),
        ("mean_accessibility", _sig(f["mean_accessibility"])),
        ("accessibility_index",
         f"(CASE WHEN {_REFERENCE} > 0 THEN "
         f"{_sig(f['mean_accessibility'] + ' / ' + _REFERENCE)} "
         "END)"),
        ("capacity_gap", _r2(f["capacity_gap"])), ("mean_nearest_km", _r2(f["mean_nearest_km"])),
        ("region_code", f["region_code"]), ("departement_code", f["departement_code"]),
        ("epci_code", f["epci_code"]),
    ]
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


_AGGREGATE_FIELDS = {
    "code": "a.code", "name": "g.name", "population": "a.population", "need": "a.need",
    "communes": "a.communes",
    **{f"population_covered_{t}km": f"a.population_covered_{t}km" for t in _SHARE_RADII},
    **{f"need_covered_{t}km": f"a.need_covered_{t}km" for t in _SHARE_RADII},
    "communes_uncovered_30km": "a.communes_uncovered_30km",
    "mean_accessibility": "a.mean_accessibility", "capacity_gap": "a.capacity_gap",
    "mean_nearest_km": "a.mean_nearest_km", "region_code": "CAST(NULL AS text)",
    "departement_code": "CAST(NULL AS text)", "epci_code": "CAST(NULL AS text)",
}


def _commune_fields(method: str) -> dict[str, str]:
    return {
        "code": "r.commune_code", "name": "g.name", "population": "r.population",
        "need": "r.need", "communes": "1",
        **{f"population_covered_{t}km": f"(CASE WHEN r.covered_{t}km THEN r.population "
                                        "ELSE 0 END)" for t in _SHARE_RADII},
        **{f"need_covered_{t}km": f"(CASE WHEN r.covered_{t}km THEN r.need ELSE 0 END)"
           for t in _SHARE_RADII},
        "communes_uncovered_30km": "(CASE WHEN r.covered_30km THEN 0 ELSE 1 END)",
        "mean_accessibility": f"r.a_{method}", "capacity_gap": "r.capacity_gap",
        "mean_nearest_km": "r.nearest_cost_km", "region_code": "g.region_code",
        "departement_code": "g.departement_code", "epci_code": "g.epci_code",
    }


def _commune_extra_sql() -> str:
    pairs = [(f"a_{m}", _sig(f"r.a_{m}")) for m in accessibility.METHODS]
    pairs += [("nearest_lieu_id", "r.nearest_lieu_id"),
              ("nearest_cost_km", _r2("r.nearest_cost_km"))]
    pairs += [(f"venues_{t}km", f"r.venues_{t}km") for t in _SHARE_RADII]
    pairs += [(f"capacity_{t}km", _r2(f"r.capacity_{t}km")) for t in _SHARE_RADII]
    pairs += [(f"covered_{t}km", f"r.covered_{t}km") for t in _SHARE_RADII]
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


def properties_sql(level: str, method: str) -> str:
    """SQL of a territory's map properties (aliases: ``r`` coverage_result and ``g``
    commune at the commune level; ``a`` coverage_aggregate and ``g`` the level's table
    otherwise; binds ``:level`` and ``:reference``)."""
    if method not in accessibility.METHODS:
        raise InvalidInput("Méthode du calcul inconnue.")
    if level == "commune":
        return _properties_sql(_commune_fields(method)) + " || " + _commune_extra_sql()
    fields = dict(_AGGREGATE_FIELDS)
    if level == "departement":
        fields["region_code"] = "g.region_code"
    return _properties_sql(fields)


def store_properties(session: Session, run_id: int, method: str,
                     reference_mean: float) -> None:
    """Build once, at refresh, the properties every view of the run shows (the
    communes' are built as they are stored)."""
    params = {"run": run_id, "reference": reference_mean}
    for level, table in TERRITORY_TABLES.items():
        session.execute(text(
            f"UPDATE coverage_aggregate a SET properties = {properties_sql(level, method)} "
            f"FROM {table} g WHERE g.code = a.code AND a.run_id = :run AND a.level = :level"),
            {**params, "level": level})


def coverage_view(session: Session, level: str, selection: Selection, *,
                  bbox: Sequence[float] | None = None, run_id: int | None = None,
                  fmt: str = "geojson") -> View:
    """Figures per territory of ``level`` within ``selection.within`` (and ``bbox``).

    Properties are built and rounded in SQL, and with ``fmt="geojson"`` the Features are
    assembled there too, with the polygons simplified at refresh (``coverage_shape``): a
    view is one query and no per-row Python.
    """
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
    params: dict[str, Any] = {"run": run["id"], **territory.params, "level": level,
                              "tolerance": SIMPLIFY[level], "digits": COORDINATE_DIGITS,
                              "reference": run["reference_mean"]}
    bbox_sql = "TRUE"
    if bbox is not None:
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
        bbox_sql = "g.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
    geometry = ("COALESCE(s.geojson, ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, "
                ":tolerance), :digits))" if fmt == "geojson" else "NULL")
    shapes = ("LEFT JOIN coverage_shape s ON s.level = :level AND s.code = g.code "
              "AND s.tolerance = :tolerance AND s.digits = :digits" if fmt == "geojson"
              else "")
    properties = f"COALESCE({'r' if level == 'commune' else 'a'}.properties, " \
                 f"{properties_sql(level, run['method'])})"
    if level == "commune":
        inner = (
            f"SELECT r.commune_code AS code, {properties} AS props, {geometry} AS geometry "
            f"FROM coverage_result r JOIN commune g ON g.code = r.commune_code {shapes} "
            f"WHERE r.run_id = :run AND ({territory.condition('g')}) AND ({bbox_sql}) "
            f"ORDER BY r.commune_code LIMIT {MAX_COMMUNES_PER_VIEW + 1}")
    else:
        column = LEVEL_COLUMNS[level]
        table = TERRITORY_TABLES[level]
        in_within = ("TRUE" if territory.kind == "fr" else
                     f"a.code IN (SELECT DISTINCT c.{column} FROM commune c "
                     f"WHERE {territory.condition()} AND c.{column} IS NOT NULL)")
        inner = (
            f"SELECT a.code, {properties} AS props, {geometry} AS geometry "
            f"FROM coverage_aggregate a JOIN {table} g ON g.code = a.code {shapes} "
            f"WHERE a.run_id = :run AND a.level = '{level}' AND ({in_within}) "
            f"AND ({bbox_sql}) ORDER BY a.code")
    if fmt == "geojson":
        count, features = session.execute(text(
            "SELECT count(*), string_agg('{\"type\":\"Feature\",\"id\":' || "
            "to_json(v.code)::text || ',\"geometry\":' || COALESCE(v.geometry, 'null') || "
            "',\"properties\":' || v.props::text || '}', ',' ORDER BY v.code) "
            f"FROM ({inner}) AS v"), params).one()
        view = View(run, level, int(count), features=features or "")
    else:
        rows = session.execute(text(f"SELECT v.props FROM ({inner}) AS v"), params).scalars()
        found = list(rows)
        view = View(run, level, len(found), rows=found)
    if level == "commune" and view.count > MAX_COMMUNES_PER_VIEW:
        raise InvalidInput(f"Plus de {MAX_COMMUNES_PER_VIEW} communes dans cette vue : "
                           "réduisez le territoire ou l'emprise.")
    return view


def view_geojson(view: View) -> str:
    """The FeatureCollection as text (Features assembled by PostgreSQL)."""
    run = {**view.run, "created_at": view.run["created_at"].isoformat()}
    return collection_text(view.features or "", {"level": view.level, "run": run})


def csv_cell(value: Any) -> str:
    """Text of one CSV cell; a cell that a spreadsheet would read as a formula is prefixed
    with an apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    return neutralise_cell(str(value))


def view_csv(view: View) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = columns_for(view.level)
    writer.writerow(columns)
    for props in view.rows or ():
        writer.writerow([csv_cell(props.get(c)) for c in columns])
    return out.getvalue()

