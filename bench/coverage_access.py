"""Benchmark: coverage.accessibility against PySAL's ``access`` on one national cost table.

    .venv/bin/pip install -e '.[bench]'      # or: .venv/bin/pip install access
    .venv/bin/python bench/coverage_access.py [--access-demand N] [--seed S]

Builds a national-size table (35,000 demand points × 20,000 venues, every pair within 30 km):
from the communes of the local ``passerelle`` database when it holds them (points and
population, venues placed near communes in proportion to population), otherwise synthetic
and seeded in a France-sized box (750 × 750 km ≈ the area of metropolitan France), with
demand and venues denser around 120 urban centres, as in the real country.

Times our library on the whole table, then runs the four methods ``access`` shares with us
(2SFCA, E2SFCA with steps, E2SFCA with Dai's Gaussian, 3SFCA) with both libraries on the same
table (or on the demand points of its western part, ``--access-demand``, when ``access`` would
take too long on the whole table on a shared 2-core machine), checks that every value agrees
to 1e-9 (relative and absolute), and prints the time ratio.

Convention differences between ``access`` 1.1 and COVERAGE.md, and how the inputs are aligned
so that both compute the same thing (each one is shown on a two-point example at the start):

1. A venue whose weighted demand ``D_j`` is 0 (only zero-population points in its catchment):
   COVERAGE.md excludes it; ``access`` divides by zero and gives ``A_i = inf`` to the
   zero-population points near it. Aligned by giving ``access``, for each method, a capacity
   of 0 to the venues that method excludes: ``0/0`` is NaN, which pandas' sum skips.
2. A demand point with no pair: ``access`` leaves NaN, COVERAGE.md says 0: NaN read as 0.
3. Gaussian: ``access.weights.gaussian`` is ``exp(-d²/2σ²)``, not Dai's truncated and
   rescaled weight; we pass Dai's weight (0 beyond d0) as ``weight_fn``.
4. 3SFCA: ``access`` sums the selection weights over every pair of the cost table, even beyond
   ``max_cost``; the table holds only pairs within 30 km (= d0), so the sums are the same.
5. Thresholds: ``access`` filters ``cost <= max_cost`` and its ``step_fn`` gives the weight of
   the first step with ``d <= bound``: the same inclusive conventions as ours.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coverage import accessibility as acc  # noqa: E402

N_DEMAND = 35_000
N_SUPPLY = 20_000
BOX_KM = 750.0
REACH_KM = 30.0
TOLERANCE = 1e-9


def dai_scalar(d: float, d0: float = acc.GAUSSIAN_D0_KM) -> float:
    """Dai's weight, for ``access`` (which calls it once per pair)."""
    if d > d0:
        return 0.0
    floor = math.exp(-0.5)
    return max(0.0, (math.exp(-0.5 * (d / d0) ** 2) - floor) / (1 - floor))


# --- the national table ---------------------------------------------------------------

def communes_from_database() -> tuple[np.ndarray, np.ndarray] | None:
    """(x, y in km, Lambert-93) and population of the communes, if the database has them."""
    try:
        from sqlalchemy import create_engine, text

        from core.config import local_database_url

        engine = create_engine(local_database_url("passerelle"))
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT ST_X(p), ST_Y(p), population FROM ("
                " SELECT ST_Transform(point, 2154) AS p, coalesce(population, 0) AS population"
                " FROM commune WHERE point IS NOT NULL AND code < '97') AS c")).all()
        engine.dispose()
    except Exception as exc:  # no database, no table: fall back to synthetic points
        print(f"  (communes de la base indisponibles, {type(exc).__name__} : points synthétiques)")
        return None
    if len(rows) < 30_000:
        print(f"  (seulement {len(rows)} communes avec point dans la base : points synthétiques)")
        return None
    array = np.array(rows, dtype=np.float64)
    return array[:, :2] / 1000.0, array[:, 2]


def synthetic_points(rng: np.random.Generator, n: int, urban_share: float,
                     centres: np.ndarray, spread_km: float) -> np.ndarray:
    urban = rng.random(n) < urban_share
    points = rng.uniform(0.0, BOX_KM, (n, 2))
    chosen = centres[rng.integers(0, len(centres), urban.sum())]
    points[urban] = chosen + rng.normal(0.0, spread_km, (urban.sum(), 2))
    return np.clip(points, 0.0, BOX_KM)


def national_table(seed: int):
    rng = np.random.default_rng(seed)
    real = communes_from_database()
    if real is not None:
        demand_xy, population = real
        source = f"{len(population)} communes de la base passerelle"
        weights = np.maximum(population, 1.0)
        at = rng.choice(len(population), N_SUPPLY, p=weights / weights.sum())
        supply_xy = demand_xy[at] + rng.normal(0.0, 2.0, (N_SUPPLY, 2))
    else:
        source = f"points synthétiques (graine {seed})"
        centres = rng.uniform(30.0, BOX_KM - 30.0, (120, 2))
        demand_xy = synthetic_points(rng, N_DEMAND, 0.45, centres, 12.0)
        supply_xy = synthetic_points(rng, N_SUPPLY, 0.7, centres, 10.0)
        # Commune-like populations: a long tail, and a few uninhabited points.
        population = np.round(rng.lognormal(6.0, 1.3, N_DEMAND))
        population[rng.random(N_DEMAND) < 0.003] = 0.0
    capacity = rng.integers(1, 21, len(supply_xy)).astype(np.float64)

    matrix = cKDTree(demand_xy).sparse_distance_matrix(
        cKDTree(supply_xy), REACH_KM, output_type="coo_matrix")
    demand = matrix.row.astype(np.int64)
    supply = matrix.col.astype(np.int64)
    cost = matrix.data.astype(np.float64)
    # sparse_distance_matrix would drop pairs at exactly 0 km; every venue is jittered away
    # from the points (continuous coordinates), so there are none.
    order = rng.permutation(cost.size)  # no help from a sorted table
    return (source, demand_xy, population, capacity,
            demand[order], supply[order], cost[order])


# --- the two libraries ----------------------------------------------------------------

def ours(population, capacity, pairs_arrays, n_demand, n_supply):
    """The four FCA methods: validation included, the other measures left out."""
    start = time.perf_counter()
    pairs = acc.make_pairs(*pairs_arrays, n_demand, n_supply)
    result = {
        "2sfca": acc.two_sfca(population, capacity, pairs),
        "e2sfca_step": acc.e2sfca_step(population, capacity, pairs),
        "e2sfca_gauss": acc.e2sfca_gaussian(population, capacity, pairs),
        "3sfca": acc.three_sfca(population, capacity, pairs),
    }
    return result, time.perf_counter() - start, pairs


def aligned_capacities(population, capacity, pairs) -> dict[str, np.ndarray]:
    """Per method, the capacities with 0 for the venues COVERAGE.md excludes (D_j = 0)."""
    weights = {
        "2sfca": acc.binary_weight(pairs.cost_km, acc.TWO_SFCA_RADIUS_KM),
        "e2sfca_step": acc.step_weight(pairs.cost_km),
        "e2sfca_gauss": acc.gaussian_weight(pairs.cost_km),
        "3sfca": acc.three_stage_weight(pairs),
    }
    return {name: np.where(acc.catchment_demand(population, pairs, w) > 0, capacity, 0.0)
            for name, w in weights.items()}


def with_access(population, capacities, demand, supply, cost):
    import pandas as pd
    from access import Access, weights

    demand_df = pd.DataFrame({"demand": np.arange(len(population)), "population": population})
    supply_df = pd.DataFrame({"supply": np.arange(len(next(iter(capacities.values())))),
                              **{f"cap_{name}": values for name, values in capacities.items()}})
    cost_df = pd.DataFrame({"origin": demand, "dest": supply, "cost": cost})
    start = time.perf_counter()
    model = Access(demand_df=demand_df, demand_index="demand", demand_value="population",
                   supply_df=supply_df, supply_index="supply",
                   supply_value=[f"cap_{name}" for name in capacities],
                   cost_df=cost_df, cost_origin="origin", cost_dest="dest", cost_name="cost")
    steps = weights.step_fn({bound: w for bound, w in acc.E2SFCA_STEPS})
    model.two_stage_fca(name="2sfca", max_cost=acc.TWO_SFCA_RADIUS_KM,
                        supply_values="cap_2sfca")
    model.enhanced_two_stage_fca(name="e2sfca_step", max_cost=REACH_KM, weight_fn=steps,
                                 supply_values="cap_e2sfca_step")
    model.enhanced_two_stage_fca(name="e2sfca_gauss", max_cost=acc.GAUSSIAN_D0_KM,
                                 weight_fn=dai_scalar, supply_values="cap_e2sfca_gauss")
    model.three_stage_fca(name="3sfca", max_cost=acc.GAUSSIAN_D0_KM, weight_fn=dai_scalar,
                          supply_values="cap_3sfca")
    elapsed = time.perf_counter() - start
    frame = model.access_df.reindex(np.arange(len(population)))
    result = {name: frame[f"{name}_cap_{name}"].fillna(0.0).to_numpy(dtype=np.float64)
              for name in capacities}
    return result, elapsed


def show_convention_difference() -> None:
    """A zero-population point alone with a venue: access says inf, COVERAGE.md excludes."""
    import pandas as pd
    from access import Access

    model = Access(demand_df=pd.DataFrame({"demand": [0, 1], "population": [0.0, 10.0]}),
                   demand_index="demand", demand_value="population",
                   supply_df=pd.DataFrame({"supply": [0, 1], "cap": [5.0, 2.0]}),
                   supply_index="supply", supply_value="cap",
                   cost_df=pd.DataFrame({"origin": [0, 1], "dest": [0, 1], "cost": [3.0, 3.0]}),
                   cost_origin="origin", cost_dest="dest", cost_name="cost")
    theirs = model.two_stage_fca(name="x", max_cost=20.0)["x_cap"].tolist()
    pairs = acc.make_pairs(np.array([0, 1]), np.array([0, 1]), np.array([3.0, 3.0]), 2, 2)
    mine = acc.two_sfca([0.0, 10.0], [5.0, 2.0], pairs).tolist()
    print(f"Convention D_j = 0 (point sans habitant seul avec un lieu) : access {theirs}, "
          f"COVERAGE.md {mine}")


def compare(mine: dict, theirs: dict) -> bool:
    ok = True
    for name in mine:
        a, b = mine[name], theirs[name]
        absolute = float(np.max(np.abs(a - b))) if a.size else 0.0
        scale = np.maximum(np.abs(a), np.abs(b))
        relative = float(np.max(np.divide(np.abs(a - b), scale, out=np.zeros_like(a),
                                          where=scale > 0))) if a.size else 0.0
        good = bool(np.isfinite(b).all()) and absolute <= TOLERANCE and relative <= TOLERANCE
        ok &= good
        print(f"  {name:13s} écart max absolu {absolute:.2e}, relatif {relative:.2e} "
              f"{'OK' if good else 'DIFFÉRENT'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--access-demand", type=int, default=None,
                        help="points de demande (les plus à l'ouest) donnés à access ; "
                             "tous par défaut")
    parser.add_argument("--repeat", type=int, default=3, help="répétitions de nos calculs")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)

    show_convention_difference()
    start = time.perf_counter()
    source, demand_xy, population, capacity, demand, supply, cost = national_table(args.seed)
    n_demand, n_supply = len(population), len(capacity)
    print(f"Table nationale : {n_demand} points de demande × {n_supply} lieux, "
          f"{cost.size} paires à 30 km au plus ({source}), construite en "
          f"{time.perf_counter() - start:.1f} s.")

    best_all = best_fca = math.inf
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pairs = acc.make_pairs(demand, supply, cost, n_demand, n_supply)
        full = acc.compute_all(population, capacity, pairs)
        best_all = min(best_all, time.perf_counter() - t0)
        _, elapsed, _ = ours(population, capacity, (demand, supply, cost), n_demand, n_supply)
        best_fca = min(best_fca, elapsed)
    kept_capacity = aligned_capacities(population, capacity, pairs)
    for name in acc.METHODS:
        total = float(population @ full.accessibility[name])
        served = float(kept_capacity[name].sum())
        print(f"  identité {name:13s} Σ P·A = {total:.6f}, Σ S (D > 0) = {served:.6f}, "
              f"écart relatif {abs(total - served) / served:.1e}")
    print(f"Nous, table entière : toutes les mesures (4 FCA, indices normalisés, plus proche, "
          f"couverture 10/20/30) {best_all:.2f} s ; les 4 FCA seules {best_fca:.2f} s "
          f"(meilleur de {args.repeat}).")

    # The subsample: the westernmost demand points and all their pairs.
    if args.access_demand and args.access_demand < n_demand:
        kept = np.zeros(n_demand, dtype=bool)
        kept[np.argsort(demand_xy[:, 0], kind="stable")[:args.access_demand]] = True
        inside = kept[demand]
        sub = (demand[inside], supply[inside], cost[inside])
        label = (f"sous-échantillon : {int(kept.sum())} points de demande (les plus à l'ouest), "
                 f"{int(inside.sum())} paires")
    else:
        sub = (demand, supply, cost)
        label = f"table entière : {n_demand} points de demande, {cost.size} paires"

    mine, our_time, pairs = ours(population, capacity, sub, n_demand, n_supply)
    for _ in range(args.repeat - 1):
        our_time = min(our_time, ours(population, capacity, sub, n_demand, n_supply)[1])
    capacities = aligned_capacities(population, capacity, pairs)
    present = np.bincount(pairs.supply, minlength=n_supply) > 0
    excluded = {name: int((present & (c == 0) & (capacity > 0)).sum())
                for name, c in capacities.items()}
    print(f"Comparaison avec access ({label}, {int(present.sum())} lieux) ; lieux exclus "
          f"(D_j = 0) par méthode : {excluded} (alignés pour access, voir plus haut).")
    theirs, access_time = with_access(population, capacities, *sub)
    # Only the demand points of the sample are compared (the others have no pair: 0 in both).
    ok = compare(mine, theirs)
    print(f"access {access_time:.1f} s, nous {our_time:.3f} s sur les mêmes 4 FCA : "
          f"nous sommes {access_time / our_time:.0f} × plus rapides.")
    if sub[2].size != cost.size:
        print(f"Tailles : table entière {cost.size} paires (nous : {best_fca:.2f} s), "
              f"comparaison sur {sub[2].size} paires.")
    print("Résultats identiques à 1e-9." if ok else "ÉCARTS au-delà de 1e-9.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
