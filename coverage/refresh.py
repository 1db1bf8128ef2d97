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
from sqlalchemy import (
    and_,
    case,
    column,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from geodata.models import Commune

from . import accessibility
from .accessibility import DEFAULT_METHOD
from .costs import cost_pairs
from .inputs import ILLECTRONISME_RATE, Demand, Supply, load_demand, load_supply, straight_radius_km
from .map_features import store_map_features
from .map_shapes import refresh_map_shapes
from .models import (
    CoverageAggregate,
    CoverageMapFeature,
    CoverageMapShape,
    CoverageResult,
    CoverageRun,
    CoverageShape,
)
from .readouts import COORDINATE_DIGITS, SIMPLIFY, commune_properties, store_properties
from .runs import prune_runs
from .selection import (
    LEVEL_COLUMNS,
    LEVEL_MODELS,
    Selection,
    Territory,
    check_selection,
    resolve_territory,
)

RADII_KM = (10.0, 20.0, 30.0)
_RADII = (10, 20, 30)  # the same, as in the result columns' names
_DROP_STAGE = text("DROP TABLE cov_result_stage")
_REFRESH_LOCK = 2_026_005  # pg_advisory_xact_lock key of coverage refresh
# ANALYZE takes no bound table name: one fixed statement per table, named by its model.
_ANALYZE = {model.__tablename__: text(f"ANALYZE {model.__tablename__}")
            for model in (CoverageAggregate, CoverageShape, CoverageMapShape, CoverageResult,
                          CoverageMapFeature)}


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
    store_properties(session, run_id, reference_mean)
    prune_runs(session, selection.key, run_id)
    timings["agrégats"] = time.perf_counter() - start

    step("formes simplifiées")
    start = time.perf_counter()
    stats["shapes_simplified"] = refresh_shapes(session, territory)
    stats["map_shapes_simplified"] = refresh_map_shapes(session, territory)
    stats["map_features"] = store_map_features(session, run_id, method, reference_mean)
    # Fresh statistics, so that the views' plans start from the few rows they show; the
    # big tables only when they changed much (ANALYZE of coverage_result takes ≈ 1 s).
    tables = ["coverage_aggregate"]
    if stats["shapes_simplified"] > 1000:
        tables.append("coverage_shape")
    if stats["map_shapes_simplified"] > 1000:
        tables.append("coverage_map_shape")
    if stats["map_features"] > 1000:
        tables.append("coverage_map_feature")
    if stats["communes"] >= 10_000 or not session.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'coverage_result')"
    )).scalar():
        tables.append("coverage_result")
    for name in tables:
        session.execute(_ANALYZE[name])
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
# The staging table of a refresh's results (a temporary copy of coverage_result).
_STAGE = table("cov_result_stage", *(column(c.name, c.type)
                                     for c in CoverageResult.__table__.columns
                                     if c.name in _RESULT_COLUMNS))


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
    results = CoverageResult.__table__
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        # Staged, then inserted with the map's properties: one write per row.
        cursor.execute("DROP TABLE IF EXISTS cov_result_stage")
        cursor.execute("CREATE TEMP TABLE cov_result_stage (LIKE coverage_result) "
                       "ON COMMIT DROP")
        _copy_results(cursor, run_id, demand, inside, columns, counts, capacities, covered,
                      lieu, cost)
    communes = Commune.__table__
    session.execute(insert(results).from_select(
        [*_RESULT_COLUMNS, "properties"],
        select(*(_STAGE.c[c] for c in _RESULT_COLUMNS),
               commune_properties(_STAGE, communes, method))
        .select_from(_STAGE.join(communes, communes.c.code == _STAGE.c.commune_code))),
        {"reference": reference_mean})
    session.execute(_DROP_STAGE)


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
    r = CoverageResult.__table__
    reached = r.c.nearest_cost_km.is_not(None)
    figures = [
        func.count(), func.sum(r.c.population), func.sum(r.c.need),
        *(func.coalesce(func.sum(r.c.population).filter(r.c[f"covered_{t}km"]), 0.0)
          for t in _RADII),
        *(func.coalesce(func.sum(r.c.need).filter(r.c[f"covered_{t}km"]), 0.0)
          for t in _RADII),
        func.count().filter(not_(r.c.covered_30km)),
        case((func.sum(r.c.need) > 0,
              func.sum(r.c.need * r.c[f"a_{method}"]) / func.sum(r.c.need)), else_=0.0),
        func.sum(r.c.capacity_gap),
        func.sum(r.c.population * r.c.nearest_cost_km).filter(reached)
        / func.nullif(func.sum(r.c.population).filter(reached), 0.0),
    ]
    aggregates = CoverageAggregate.__table__
    columns = [c.name for c in aggregates.columns if c.name != "properties"]
    communes = Commune.__table__
    for level, name in LEVEL_COLUMNS.items():
        code = communes.c[name]
        session.execute(insert(aggregates).from_select(columns, select(
            literal(run_id), literal(level), code, *figures)
            .select_from(r.join(communes, communes.c.code == r.c.commune_code))
            .where(r.c.run_id == run_id, code.is_not(None)).group_by(code)))
    session.execute(insert(aggregates).from_select(columns, select(
        literal(run_id), literal("france"), literal("FR"), *figures)
        .where(r.c.run_id == run_id).having(func.count() > 0)))


def refresh_shapes(session: Session, territory: Territory) -> int:
    """Simplify for the map, once, the polygons of the territory's communes and of the
    EPCI, départements and régions they belong to (again when a polygon changed)."""
    shapes = CoverageShape.__table__
    communes = Commune.__table__
    done = 0
    for level, tolerance in SIMPLIFY.items():
        g = (Commune if level == "commune" else LEVEL_MODELS[level]).__table__
        if level == "commune":
            scope = territory.clause(g)
        elif territory.kind == "fr":
            scope = true()
        else:
            member = communes.c[LEVEL_COLUMNS[level]]
            scope = g.c.code.in_(select(member).distinct().where(
                territory.clause(communes), member.is_not(None)))
        md5 = func.md5(func.ST_AsEWKB(g.c.geom))
        s = shapes.alias("s")
        fresh = (
            select(literal(level), g.c.code, literal(tolerance), literal(COORDINATE_DIGITS),
                   md5, func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(
                       g.c.geom, tolerance), COORDINATE_DIGITS))
            .select_from(g.outerjoin(s, and_(s.c.level == level, s.c.code == g.c.code)))
            .where(g.c.geom.is_not(None), scope,
                   or_(s.c.code.is_(None), s.c.source_md5 != md5,
                       s.c.tolerance != tolerance, s.c.digits != COORDINATE_DIGITS)))
        statement = pg_insert(shapes).from_select(
            ["level", "code", "tolerance", "digits", "source_md5", "geojson"], fresh)
        # (An INSERT … SELECT's rowcount reads -1 through SQLAlchemy here: rows counted.)
        done += len(session.execute(statement.on_conflict_do_update(
            index_elements=[shapes.c.level, shapes.c.code],
            set_={name: statement.excluded[name]
                  for name in ("tolerance", "digits", "source_md5", "geojson")})
            .returning(literal(1))).all())
    return done
