"""Spatial accessibility and coverage: the floating catchment area family, as array code.

Pure numpy/scipy, independent of Flask and of the database, so that anyone can check the
figures on any input (``flask coverage fca`` reads them from files). The conventions are
those of ``docs/COVERAGE.md`` and are followed to the letter:

- every catchment is inclusive (``d <= d0``); at exactly a step the higher weight applies;
- the same weight ``W_ij`` is used in both steps: ``D_j = sum_i W_ij P_i``,
  ``R_j = S_j / D_j``, ``A_i = sum_j W_ij R_j``;
- a supply with ``D_j = 0`` is excluded (no ratio, no contribution), never divided by zero;
- a demand point with nothing in reach gets ``A_i = 0``, not NaN;
- hence ``sum_i P_i A_i = sum_{j: D_j > 0} S_j`` for every method (tested).

Inputs are indices, not identifiers: demand points ``0..n_demand-1`` with weights ``P``,
supply points ``0..n_supply-1`` with capacities ``S``, and the costs in km of the pairs in
reach as three parallel arrays (:class:`Pairs`). A pair absent from them is out of reach.
Everything is one pass of ``np.bincount`` over the pairs, so millions of pairs take well
under a second per method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# COVERAGE.md defaults, all in km.
TWO_SFCA_RADIUS_KM = 20.0
# (upper bound of the step, weight), bounds increasing; the last bound is the catchment.
E2SFCA_STEPS: tuple[tuple[float, float], ...] = ((10.0, 1.00), (20.0, 0.68), (30.0, 0.22))
GAUSSIAN_D0_KM = 30.0
COVERAGE_RADII_KM: tuple[float, ...] = (10.0, 20.0, 30.0)

METHODS = ("2sfca", "e2sfca_step", "e2sfca_gauss", "3sfca")
DEFAULT_METHOD = "e2sfca_step"  # the index of capacity gaps unless asked otherwise


@dataclass(frozen=True)
class FcaParameters:
    """The parameters of every measure, with the defaults of COVERAGE.md."""

    two_sfca_radius_km: float = TWO_SFCA_RADIUS_KM
    steps: tuple[tuple[float, float], ...] = E2SFCA_STEPS
    gaussian_d0_km: float = GAUSSIAN_D0_KM
    coverage_radii_km: tuple[float, ...] = COVERAGE_RADII_KM


@dataclass(frozen=True)
class Pairs:
    """Costs of the (demand, supply) pairs in reach, as parallel arrays.

    Build it with :func:`make_pairs`, which checks the arrays once for every method.
    """

    demand: IntArray
    supply: IntArray
    cost_km: FloatArray
    n_demand: int
    n_supply: int

    def __len__(self) -> int:
        return int(self.cost_km.size)


def make_pairs(demand: ArrayLike, supply: ArrayLike, cost_km: ArrayLike,
               n_demand: int, n_supply: int, *, check_duplicates: bool = True) -> Pairs:
    """Check and pack the sparse cost table.

    Raises ``ValueError`` on indices out of range, a negative or non-finite cost, or (unless
    ``check_duplicates`` is false, for callers that already know) a pair given twice: a
    duplicate pair would be counted twice in every sum, and no rule makes that right.
    """
    d = np.asarray(demand)
    s = np.asarray(supply)
    c = np.asarray(cost_km, dtype=np.float64)
    if d.ndim != 1 or s.ndim != 1 or c.ndim != 1 or not d.size == s.size == c.size:
        raise ValueError("les tableaux demande, offre et coût doivent être 1-D et de même taille")
    if d.size and not (np.issubdtype(d.dtype, np.integer) and np.issubdtype(s.dtype, np.integer)):
        raise ValueError("les indices de demande et d'offre doivent être entiers")
    d = d.astype(np.int64, copy=False)
    s = s.astype(np.int64, copy=False)
    if n_demand < 0 or n_supply < 0:
        raise ValueError("n_demand et n_supply doivent être positifs ou nuls")
    if d.size:
        if d.min() < 0 or d.max() >= n_demand:
            raise ValueError("indice de demande hors limites")
        if s.min() < 0 or s.max() >= n_supply:
            raise ValueError("indice d'offre hors limites")
        if not np.isfinite(c).all() or c.min() < 0:
            raise ValueError("les coûts doivent être finis et positifs ou nuls")
        if check_duplicates:
            position = duplicate_pair(d, s, n_supply)
            if position is not None:
                raise ValueError(f"paire (demande {d[position[1]]}, offre {s[position[1]]}) "
                                 f"en double (positions {position[0]} et {position[1]})")
    return Pairs(d, s, c, int(n_demand), int(n_supply))


def duplicate_pair(demand: IntArray, supply: IntArray, n_supply: int) -> tuple[int, int] | None:
    """Positions ``(first, second)`` of one pair given twice, or None; first < second."""
    keys = demand * np.int64(max(n_supply, 1)) + supply
    # A plain sort (SIMD) is ~20 times faster than a stable argsort on millions of keys;
    # the argsort only runs to locate a duplicate once one is known to exist.
    ordered = np.sort(keys)
    if not np.any(ordered[1:] == ordered[:-1]):
        return None
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if same.size == 0:
        return None
    k = int(same[0])
    return int(order[k]), int(order[k + 1])


def _weights(values: ArrayLike, size: int, what: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"{what} : {size} valeurs attendues, {array.shape} reçues")
    if not np.isfinite(array).all() or (array.size and array.min() < 0):
        raise ValueError(f"{what} : valeurs finies et positives ou nulles attendues")
    return array


# --- weights ---------------------------------------------------------------------------

def binary_weight(cost_km: FloatArray, radius_km: float = TWO_SFCA_RADIUS_KM) -> FloatArray:
    """2SFCA (Luo & Wang 2003): 1 within the radius (inclusive), 0 beyond."""
    return (cost_km <= radius_km).astype(np.float64)


def step_weight(cost_km: FloatArray,
                steps: Sequence[tuple[float, float]] = E2SFCA_STEPS) -> FloatArray:
    """E2SFCA step weights (Luo & Qi 2009): the weight of the first step whose upper bound
    is >= d, so that at exactly a bound the higher (nearer) weight applies; 0 beyond the last.
    """
    bounds = np.array([b for b, _ in steps], dtype=np.float64)
    if bounds.size == 0 or np.any(np.diff(bounds) <= 0):
        raise ValueError("les paliers doivent avoir des bornes strictement croissantes")
    values = np.append(np.array([w for _, w in steps], dtype=np.float64), 0.0)
    # side="left": the first i with bounds[i] >= d, i.e. d <= bound is inside step i.
    return values[np.searchsorted(bounds, cost_km, side="left")]


def gaussian_weight(cost_km: FloatArray, d0_km: float = GAUSSIAN_D0_KM) -> FloatArray:
    """Dai (2010): ``(exp(-½(d/d0)²) − exp(-½)) / (1 − exp(-½))`` for ``d <= d0``, else 0.

    Exactly 1 at d = 0 and exactly 0 at d = d0 (same expression on both sides of the
    subtraction); never negative.
    """
    if not d0_km > 0:
        raise ValueError("d0 doit être strictement positif")
    floor = np.exp(-0.5)
    raw = (np.exp(-0.5 * (cost_km / d0_km) ** 2) - floor) / (1.0 - floor)
    return np.where(cost_km <= d0_km, np.maximum(raw, 0.0), 0.0)


def three_stage_weight(pairs: Pairs, d0_km: float = GAUSSIAN_D0_KM) -> FloatArray:
    """3SFCA (Wan, Zou & Sternberg 2012): ``W_ij = G_ij · T_ij`` with ``T`` the Dai weight
    and ``G_ij = T_ij / sum_k T_ik`` over the supplies k in reach of i (0 when that sum is 0).
    """
    t = gaussian_weight(pairs.cost_km, d0_km)
    total = np.bincount(pairs.demand, weights=t, minlength=pairs.n_demand)
    denominator = total[pairs.demand]
    share = np.divide(t, denominator, out=np.zeros_like(t), where=denominator > 0)
    return share * t


# --- the two steps --------------------------------------------------------------------

def floating_catchment(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
                       weight: FloatArray) -> FloatArray:
    """``A_i`` for one weight per pair (0 outside the catchment), both steps with that weight."""
    p = _weights(population, pairs.n_demand, "poids de la demande")
    s = _weights(capacity, pairs.n_supply, "capacités")
    return _two_steps(p[pairs.demand], s, pairs, weight)


def _two_steps(population_at_pair: FloatArray, capacity: FloatArray, pairs: Pairs,
               weight: FloatArray) -> FloatArray:
    demand = np.bincount(pairs.supply, weights=weight * population_at_pair,
                         minlength=pairs.n_supply)
    # D_j = 0: the supply is excluded, its ratio stays 0 and contributes nothing.
    ratio = np.divide(capacity, demand, out=np.zeros(pairs.n_supply), where=demand > 0)
    return np.bincount(pairs.demand, weights=weight * ratio[pairs.supply],
                       minlength=pairs.n_demand)


def catchment_demand(population: ArrayLike, pairs: Pairs, weight: FloatArray) -> FloatArray:
    """``D_j = sum_i W_ij P_i`` per supply (the supplies with 0 are the excluded ones)."""
    p = _weights(population, pairs.n_demand, "poids de la demande")
    return np.bincount(pairs.supply, weights=weight * p[pairs.demand], minlength=pairs.n_supply)


def two_sfca(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
             radius_km: float = TWO_SFCA_RADIUS_KM) -> FloatArray:
    return floating_catchment(population, capacity, pairs, binary_weight(pairs.cost_km, radius_km))


def e2sfca_step(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
                steps: Sequence[tuple[float, float]] = E2SFCA_STEPS) -> FloatArray:
    return floating_catchment(population, capacity, pairs, step_weight(pairs.cost_km, steps))


def e2sfca_gaussian(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
                    d0_km: float = GAUSSIAN_D0_KM) -> FloatArray:
    return floating_catchment(population, capacity, pairs, gaussian_weight(pairs.cost_km, d0_km))


def three_sfca(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
               d0_km: float = GAUSSIAN_D0_KM) -> FloatArray:
    return floating_catchment(population, capacity, pairs, three_stage_weight(pairs, d0_km))


# --- coverage -------------------------------------------------------------------------

def nearest_supply(pairs: Pairs) -> tuple[IntArray, FloatArray]:
    """Per demand point, the index of the nearest supply and its cost.

    On a tie the supply with the lowest index (the first in the supply order) wins. A demand
    point with no pair gets index -1 and cost NaN.
    """
    best = np.full(pairs.n_demand, np.inf)
    np.minimum.at(best, pairs.demand, pairs.cost_km)
    at_best = pairs.cost_km == best[pairs.demand]
    first = np.full(pairs.n_demand, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, pairs.demand[at_best], pairs.supply[at_best])
    none = np.isinf(best)
    first[none] = -1
    best[none] = np.nan
    return first, best


def supply_within(capacity: ArrayLike, pairs: Pairs,
                  radius_km: float) -> tuple[IntArray, FloatArray]:
    """Per demand point, the number of supplies and their total capacity with ``d <= t``."""
    s = _weights(capacity, pairs.n_supply, "capacités")
    inside = pairs.cost_km <= radius_km
    demand = pairs.demand[inside]
    count = np.bincount(demand, minlength=pairs.n_demand).astype(np.int64)
    total = np.bincount(demand, weights=s[pairs.supply[inside]], minlength=pairs.n_demand)
    return count, total


# --- summaries ------------------------------------------------------------------------

def mean_accessibility(population: ArrayLike, accessibility: ArrayLike) -> float:
    """``Ā = sum P_i A_i / sum P_i`` (0 when the total weight is 0)."""
    p = np.asarray(population, dtype=np.float64)
    a = np.asarray(accessibility, dtype=np.float64)
    total = p.sum()
    return float(p @ a / total) if total > 0 else 0.0


def normalised_index(population: ArrayLike, accessibility: ArrayLike) -> FloatArray:
    """``A_i / Ā``, 1 = the population-weighted mean. All zeros when ``Ā = 0`` (nobody has
    any capacity in reach, or no weight at all): "no access" rather than NaN."""
    a = np.asarray(accessibility, dtype=np.float64)
    mean = mean_accessibility(population, a)
    return a / mean if mean > 0 else np.zeros_like(a)


def capacity_gap(population: ArrayLike, accessibility: ArrayLike, reference: float) -> float:
    """``sum_i P_i · max(0, Ā_ref − A_i)``: the capacity (accompaniments per week) missing to
    bring every demand point of the selection up to the reference average ``Ā_ref`` (say
    which: the région's or the nation's :func:`mean_accessibility`)."""
    p = np.asarray(population, dtype=np.float64)
    a = np.asarray(accessibility, dtype=np.float64)
    return float(p @ np.maximum(0.0, reference - a))


@dataclass(frozen=True)
class FcaResult:
    """Every measure per demand point (arrays of length n_demand)."""

    accessibility: dict[str, FloatArray]          # METHODS -> A_i
    normalised: dict[str, FloatArray]             # METHODS -> A_i / Ā
    nearest_supply: IntArray                      # -1: nothing in reach
    nearest_cost_km: FloatArray                   # NaN: nothing in reach
    supply_count: dict[float, IntArray]           # radius -> supplies with d <= radius
    capacity_within: dict[float, FloatArray]      # radius -> their total capacity
    covered: dict[float, BoolArray] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "covered",
                           {t: count > 0 for t, count in self.supply_count.items()})


def compute_all(population: ArrayLike, capacity: ArrayLike, pairs: Pairs,
                parameters: FcaParameters | None = None) -> FcaResult:
    """The four FCA measures, their normalised index, nearest supply and coverage."""
    params = parameters or FcaParameters()
    p = _weights(population, pairs.n_demand, "poids de la demande")
    s = _weights(capacity, pairs.n_supply, "capacités")
    p_at_pair = p[pairs.demand]
    weights = {
        "2sfca": binary_weight(pairs.cost_km, params.two_sfca_radius_km),
        "e2sfca_step": step_weight(pairs.cost_km, params.steps),
        "e2sfca_gauss": gaussian_weight(pairs.cost_km, params.gaussian_d0_km),
        "3sfca": three_stage_weight(pairs, params.gaussian_d0_km),
    }
    accessibility = {name: _two_steps(p_at_pair, s, pairs, w) for name, w in weights.items()}
    nearest, nearest_cost = nearest_supply(pairs)
    counts, totals = {}, {}
    for radius in params.coverage_radii_km:
        counts[radius], totals[radius] = supply_within(s, pairs, radius)
    return FcaResult(
        accessibility=accessibility,
        normalised={name: normalised_index(p, a) for name, a in accessibility.items()},
        nearest_supply=nearest,
        nearest_cost_km=nearest_cost,
        supply_count=counts,
        capacity_within=totals,
    )


# --- where to invest ------------------------------------------------------------------

@dataclass(frozen=True)
class NewSites:
    """Greedy maximal-covering choice: sites in the order chosen, and what each adds."""

    sites: IntArray                 # candidate indices
    newly_covered_need: FloatArray  # need newly covered by each site, in that order
    newly_covered: list[IntArray]   # demand indices newly covered by each site
    covered: BoolArray              # coverage after all the chosen sites


def greedy_new_sites(need: ArrayLike, incidence: ArrayLike | sparse.sparray | sparse.spmatrix,
                     already_covered: ArrayLike, k: int) -> NewSites:
    """Choose up to ``k`` candidate sites that greedily maximise the newly covered need.

    ``incidence`` is a (candidates × demand points) sparse matrix whose non-zero entries say
    "this candidate covers this demand point" (within t km); ``already_covered`` marks the
    demand points covered today. At each round the candidate adding the most uncovered need
    wins (the lowest index on a tie); the selection stops early when no candidate adds any
    need. Greedy selection is within 1 − 1/e of the optimum for maximal covering.
    """
    weights = np.asarray(need, dtype=np.float64)
    if weights.ndim != 1 or not np.isfinite(weights).all() or (weights.size
                                                                and weights.min() < 0):
        raise ValueError("besoin : tableau 1-D de valeurs finies positives ou nulles attendu")
    covered = np.array(already_covered, dtype=bool)
    if covered.shape != weights.shape:
        raise ValueError("already_covered doit avoir la taille du besoin")
    if k < 0:
        raise ValueError("k doit être positif ou nul")
    matrix = sparse.csr_array(incidence)
    if matrix.ndim != 2 or matrix.shape[1] != weights.size:
        raise ValueError("l'incidence doit être une matrice candidats × points de demande")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix = sparse.csr_array((np.ones(matrix.nnz), matrix.indices, matrix.indptr),
                              shape=matrix.shape)
    by_demand = matrix.tocsc()

    residual = np.where(covered, 0.0, weights)
    gains = matrix @ residual
    sites: list[int] = []
    added: list[float] = []
    newly: list[IntArray] = []
    for _ in range(min(k, matrix.shape[0])):
        best = int(np.argmax(gains))
        if not gains[best] > 0:
            break
        row = matrix.indices[matrix.indptr[best]:matrix.indptr[best + 1]]
        fresh = np.sort(row[~covered[row]]).astype(np.int64)
        covered[fresh] = True
        residual[fresh] = 0.0
        sites.append(best)
        added.append(float(weights[fresh].sum()))
        newly.append(fresh)
        # Recompute exactly (not by subtraction, which leaves rounding crumbs) the gains of
        # the candidates that shared any of the newly covered points.
        touched = np.unique(by_demand[:, fresh].indices)
        gains[touched] = matrix[touched] @ residual
    return NewSites(np.array(sites, dtype=np.int64), np.array(added, dtype=np.float64),
                    newly, covered)
