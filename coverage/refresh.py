"""Computing and storing a run: demand and supply read, costs, the FCA family, results per
commune of the territory (with their map properties), aggregates per EPCI, département,
région and France, simplified shapes for the map.

- **Capacity gap** ``Σ P_i · max(0, Ā − A_i)`` with ``A`` of the run's method (E2SFCA with
  steps by default) and ``Ā`` the demand-weighted mean over the territory studied: the
  nation for a national run (``reference = "nation"``), the territory otherwise
  (``"territoire"``). Stored with the run.
- Results are stored for the territory's communes only (communes beyond its border served
  only to compute the venues' catchments).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput

from . import accessibility
from .accessibility import DEFAULT_METHOD
from .costs import cost_pairs
from .inputs import ILLECTRONISME_RATE, Demand, Supply, load_demand, load_supply, straight_radius_km
from .models import CoverageRun
from .readouts import COORDINATE_DIGITS, SIMPLIFY, properties_sql, store_properties
from .runs import prune_runs
from .selection import (
    LEVEL_COLUMNS,
    Selection,
    Territory,
    check_selection,
    resolve_territory,
)

RADII_KM = (10.0, 20.0, 30.0)
_REFRESH_LOCK = 2_026_005  # pg_advisory_xact_lock key of coverage refresh
_ANALYZE = {table: text(f"ANALYZE {table}") for table in
            ("coverage_aggregate", "coverage_shape", "coverage_result")}

@dataclass
class RefreshReport:
    run_id: int
    selection: Selection
    territory: Territory
    communes: int
    ring_communes: int
    population: float
    need: float
    venues: int
    supply_points: int
    stops: int
    unknown_capacity: int
    pairs: int
    covered_population: dict[float, float]
    covered_need: dict[float, float]
    reference_mean: float
    reference: str
    method: str
    detour: float
    without_point: int
    without_fragility: int
    timings: dict[str, float] = field(default_factory=dict)


def refresh(session: Session, selection: Selection, *, detour: float,
            method: str = DEFAULT_METHOD, engine: str = "python",
            today: dt.date, parameters: accessibility.FcaParameters | None = None,
            progress: Callable[[str], None] | None = None) -> RefreshReport:
    """Compute, store and aggregate one run; the caller commits. ``progress`` is told the
    name of each step as it starts (in French)."""
    step = progress or (lambda _name: None)
    if not detour >= 1.0 or not math.isfinite(detour):
        raise InvalidInput("Le facteur de détour doit être un nombre ≥ 1 (par exemple 1.3).")
    if method not in accessibility.METHODS:
        raise InvalidInput(f"Méthode « {method} » inconnue : "
                           + ", ".join(accessibility.METHODS) + ".")
    params = parameters or accessibility.FcaParameters()
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    selection = selection.with_within(territory.code)
    # One refresh at a time (they share the simplified shapes); a batch job, not a web
    # request: the web statement timeout does not apply.
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFRESH_LOCK})
    session.execute(text("SET LOCAL statement_timeout = '15min'"))
    max_cost = max(params.two_sfca_radius_km, params.steps[-1][0], params.gaussian_d0_km,
                   *params.coverage_radii_km)
    radius = straight_radius_km(max_cost, detour)
    timings: dict[str, float] = {}

    step("lecture des communes et des lieux")
    start = time.perf_counter()
    demand = load_demand(session, territory, selection.need, 2.0 * radius)
    if not demand.inside.any():
        raise InvalidInput(f"Aucune commune localisée dans {territory.name} "
                           f"({territory.code}) : la géographie est-elle chargée ?")
    supply = load_supply(session, selection, territory, radius, today)
    timings["lecture"] = time.perf_counter() - start

    step("distances")
    start = time.perf_counter()
    pairs = cost_pairs(session, demand, supply, max_cost, detour, engine)
    timings["distances"] = time.perf_counter() - start

    step("calcul")
    start = time.perf_counter()
    result = accessibility.compute_all(demand.need, supply.capacity, pairs, params)
    inside = demand.inside
    a_method = result.accessibility[method]
    reference_mean = accessibility.mean_accessibility(demand.need[inside], a_method[inside])
    gap = demand.need * np.maximum(0.0, reference_mean - a_method)
    timings["calcul"] = time.perf_counter() - start

    step("enregistrement")
    start = time.perf_counter()
    reference = "nation" if territory.kind == "fr" else "territoire"
    stats = {
        "communes": int(inside.sum()), "ring_communes": int((~inside).sum()),
        "venues": supply.venues, "supply_points": len(supply), "stops": supply.stops,
        "venues_unknown_capacity": supply.unknown_capacity, "pairs": len(pairs),
        "communes_without_point": demand.without_point,
        "communes_without_fragility": demand.without_fragility,
        "population": float(demand.population[inside].sum()),
        "need": float(demand.need[inside].sum()),
        "reference_means": {name: accessibility.mean_accessibility(
            demand.need[inside], values[inside])
            for name, values in result.accessibility.items()},
        "date": today.isoformat(),
    }
    run_parameters = {
        "detour_factor": detour, "max_cost_km": max_cost, "straight_radius_km": radius,
        "two_sfca_radius_km": params.two_sfca_radius_km,
        "steps": [list(step) for step in params.steps],
        "gaussian_d0_km": params.gaussian_d0_km,
        "coverage_radii_km": list(params.coverage_radii_km), "engine": engine,
        "illectronisme_rate": ILLECTRONISME_RATE if selection.need == "illectronisme"
        else None,
    }
    run = CoverageRun(
        selection_key=selection.key, programme_code=selection.programme,
        service=selection.service, within=selection.within, need_kind=selection.need,
        method=method, parameters=run_parameters, stats=dict(stats),
        reference_mean=reference_mean, reference=reference)
    session.add(run)
    session.flush()
    run_id = run.id
    _store_results(session, run_id, demand, supply, result, gap, method, reference_mean)
    timings["enregistrement"] = time.perf_counter() - start

    step("agrégats")
    start = time.perf_counter()
    aggregate(session, run_id, method)
    store_properties(session, run_id, method, reference_mean)
    prune_runs(session, selection.key, run_id)
    timings["agrégats"] = time.perf_counter() - start

    step("formes simplifiées")
    start = time.perf_counter()
    stats["shapes_simplified"] = refresh_shapes(session, territory)
    # Fresh statistics, so that the views' plans start from the few rows they show; the
    # big tables only when they changed much (ANALYZE of coverage_result takes ≈ 1 s).
    tables = ["coverage_aggregate"]
    if stats["shapes_simplified"] > 1000:
        tables.append("coverage_shape")
    if stats["communes"] >= 10_000 or not session.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'coverage_result')"
    )).scalar():
        tables.append("coverage_result")
    for table in tables:
        session.execute(_ANALYZE[table])
    timings["formes"] = time.perf_counter() - start
    stats["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    run.stats = dict(stats)
    session.flush()

    population_in = demand.population[inside]
    need_in = demand.need[inside]
    return RefreshReport(
        run_id=run_id, selection=selection, territory=territory,
        communes=int(inside.sum()), ring_communes=int((~inside).sum()),
        population=float(population_in.sum()), need=float(need_in.sum()),
        venues=supply.venues, supply_points=len(supply), stops=supply.stops,
        unknown_capacity=supply.unknown_capacity, pairs=len(pairs),
        covered_population={t: float(population_in[result.covered[t][inside]].sum())
                            for t in params.coverage_radii_km},
        covered_need={t: float(need_in[result.covered[t][inside]].sum())
                      for t in params.coverage_radii_km},
        reference_mean=reference_mean, reference=reference, method=method, detour=detour,
        without_point=demand.without_point, without_fragility=demand.without_fragility,
        timings=timings)


_RESULT_COLUMNS = ("run_id", "commune_code", "population", "need", "a_2sfca",
                   "a_e2sfca_step", "a_e2sfca_gauss", "a_3sfca", "capacity_gap",
                   "nearest_lieu_id", "nearest_cost_km", "venues_10km", "venues_20km",
                   "venues_30km", "capacity_10km", "capacity_20km", "capacity_30km",
                   "covered_10km", "covered_20km", "covered_30km")


def _store_results(session: Session, run_id: int, demand: Demand, supply: Supply,
                   result: accessibility.FcaResult, gap: np.ndarray, method: str,
                   reference_mean: float) -> None:
    inside = np.flatnonzero(demand.inside)
    nearest = result.nearest_supply
    lieu = np.where(nearest >= 0, supply.lieu_ids[np.maximum(nearest, 0)]
                    if len(supply) else -1, -1)

    def radius(values: dict[float, np.ndarray], t: float) -> np.ndarray:
        return values.get(t, np.zeros(len(demand)))

    columns = [
        demand.population, demand.need,
        *(result.accessibility[name] for name in accessibility.METHODS), gap,
    ]
    counts = [radius(result.supply_count, t) for t in RADII_KM]
    capacities = [radius(result.capacity_within, t) for t in RADII_KM]
    covered = [radius(result.covered, t).astype(bool) for t in RADII_KM]
    cost = result.nearest_cost_km
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        # Staged, then inserted with the map's properties: one write per row.
        cursor.execute("DROP TABLE IF EXISTS cov_result_stage")
        cursor.execute("CREATE TEMP TABLE cov_result_stage (LIKE coverage_result) "
                       "ON COMMIT DROP")
        _copy_results(cursor, run_id, demand, inside, columns, counts, capacities, covered,
                      lieu, cost)
    columns_sql = ", ".join(_RESULT_COLUMNS)
    staged = ", ".join(f"r.{c}" for c in _RESULT_COLUMNS)
    session.execute(text(
        f"INSERT INTO coverage_result ({columns_sql}, properties) "
        f"SELECT {staged}, {properties_sql('commune', method)} "
        "FROM cov_result_stage r JOIN commune g ON g.code = r.commune_code"),
        {"level": "commune", "reference": reference_mean})
    session.execute(text("DROP TABLE cov_result_stage"))


def _copy_results(cursor, run_id, demand, inside, columns, counts, capacities, covered,
                  lieu, cost) -> None:
    with cursor.copy(f"COPY cov_result_stage ({', '.join(_RESULT_COLUMNS)}) "
                     "FROM STDIN") as copy:
        floats = [c.tolist() for c in columns]
        counts_l = [c.tolist() for c in counts]
        caps_l = [c.tolist() for c in capacities]
        cov_l = [c.tolist() for c in covered]
        lieu_l = lieu.tolist()
        cost_l = cost.tolist()
        for i in inside.tolist():
            has = lieu_l[i] >= 0
            copy.write_row((
                run_id, demand.codes[i], *(f[i] for f in floats),
                lieu_l[i] if has else None, cost_l[i] if has else None,
                *(int(c[i]) for c in counts_l), *(c[i] for c in caps_l),
                *(c[i] for c in cov_l)))


def aggregate(session: Session, run_id: int, method: str) -> None:
    """Sum the run's communes into EPCI, département, région and France rows."""
    if method not in accessibility.METHODS:
        raise InvalidInput(f"Méthode « {method} » inconnue.")
    a = f"a_{method}"  # from the fixed list above
    figures = (
        "count(*), sum(r.population), sum(r.need), "
        + ", ".join(f"COALESCE(sum(r.population) FILTER (WHERE r.covered_{t}km), 0)"
                    for t in (10, 20, 30)) + ", "
        + ", ".join(f"COALESCE(sum(r.need) FILTER (WHERE r.covered_{t}km), 0)"
                    for t in (10, 20, 30)) + ", "
        "count(*) FILTER (WHERE NOT r.covered_30km), "
        f"CASE WHEN sum(r.need) > 0 THEN sum(r.need * r.{a}) / sum(r.need) ELSE 0 END, "
        "sum(r.capacity_gap), "
        "sum(r.population * r.nearest_cost_km) FILTER (WHERE r.nearest_cost_km IS NOT NULL)"
        " / NULLIF(sum(r.population) FILTER (WHERE r.nearest_cost_km IS NOT NULL), 0)")
    columns = ("run_id, level, code, communes, population, need, population_covered_10km, "
               "population_covered_20km, population_covered_30km, need_covered_10km, "
               "need_covered_20km, need_covered_30km, communes_uncovered_30km, "
               "mean_accessibility, capacity_gap, mean_nearest_km")
    for level, column in LEVEL_COLUMNS.items():
        session.execute(text(
            f"INSERT INTO coverage_aggregate ({columns}) "
            f"SELECT :run, '{level}', c.{column}, {figures} "
            "FROM coverage_result r JOIN commune c ON c.code = r.commune_code "
            f"WHERE r.run_id = :run AND c.{column} IS NOT NULL GROUP BY c.{column}"),
            {"run": run_id})
    session.execute(text(
        f"INSERT INTO coverage_aggregate ({columns}) "
        f"SELECT :run, 'france', 'FR', {figures} "
        "FROM coverage_result r WHERE r.run_id = :run HAVING count(*) > 0"), {"run": run_id})



def refresh_shapes(session: Session, territory: Territory) -> int:
    """Simplify for the map, once, the polygons of the territory's communes and of the
    EPCI, départements and régions they belong to (again when a polygon changed)."""
    done = 0
    for level, tolerance in SIMPLIFY.items():
        if level == "commune":
            scope = territory.condition("g")
        elif territory.kind == "fr":
            scope = "TRUE"
        else:
            column = LEVEL_COLUMNS[level]
            scope = (f"g.code IN (SELECT DISTINCT c.{column} FROM commune c "
                     f"WHERE {territory.condition()} AND c.{column} IS NOT NULL)")
        done += session.execute(text(
            "INSERT INTO coverage_shape (level, code, tolerance, digits, source_md5, geojson) "
            "SELECT :level, g.code, :tolerance, :digits, q.md5, "
            " ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tolerance), :digits) "
            f"FROM {level} g "
            "CROSS JOIN LATERAL (SELECT md5(ST_AsEWKB(g.geom)) AS md5) q "
            "LEFT JOIN coverage_shape s ON s.level = :level AND s.code = g.code "
            f"WHERE g.geom IS NOT NULL AND ({scope}) AND (s.code IS NULL "
            " OR s.source_md5 <> q.md5 OR s.tolerance <> :tolerance OR s.digits <> :digits) "
            "ON CONFLICT (level, code) DO UPDATE SET tolerance = EXCLUDED.tolerance, "
            " digits = EXCLUDED.digits, source_md5 = EXCLUDED.source_md5, "
            " geojson = EXCLUDED.geojson"),
            {**territory.params, "level": level, "tolerance": tolerance,
             "digits": COORDINATE_DIGITS}).rowcount
    return done

