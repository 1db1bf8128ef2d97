"""The FCA family and coverage, checked against COVERAGE.md's conventions by hand-computed
cases, an independent loop implementation and the conservation identity."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from coverage import accessibility as acc

ABOVE = {t: math.nextafter(t, math.inf) for t in (10.0, 20.0, 30.0)}
EXP_HALF = math.exp(-0.5)


def dai(d: float, d0: float = 30.0) -> float:
    if d > d0:
        return 0.0
    return (math.exp(-0.5 * (d / d0) ** 2) - EXP_HALF) / (1 - EXP_HALF)


def pairs_of(rows, n_demand, n_supply):
    """rows: (demand index, supply index, cost)."""
    if not rows:
        return acc.make_pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                              np.array([]), n_demand, n_supply)
    d, s, c = zip(*rows, strict=True)
    return acc.make_pairs(np.array(d), np.array(s), np.array(c, dtype=float), n_demand, n_supply)


def weights_for(method: str, pairs: acc.Pairs) -> np.ndarray:
    return {
        "2sfca": lambda: acc.binary_weight(pairs.cost_km),
        "e2sfca_step": lambda: acc.step_weight(pairs.cost_km),
        "e2sfca_gauss": lambda: acc.gaussian_weight(pairs.cost_km),
        "3sfca": lambda: acc.three_stage_weight(pairs),
    }[method]()


# --- weights at the thresholds ---------------------------------------------------------

def test_step_weight_takes_the_higher_weight_at_exactly_a_step():
    costs = np.array([0.0, 10.0, ABOVE[10.0], 20.0, ABOVE[20.0], 30.0, ABOVE[30.0], 45.0])
    assert acc.step_weight(costs).tolist() == [1.0, 1.0, 0.68, 0.68, 0.22, 0.22, 0.0, 0.0]


def test_step_weight_with_other_steps():
    steps = ((5.0, 0.9), (15.0, 0.4))
    assert acc.step_weight(np.array([5.0, 5.5, 15.0, 15.5]), steps).tolist() == [
        0.9, 0.4, 0.4, 0.0]
    with pytest.raises(ValueError):
        acc.step_weight(np.array([1.0]), ((10.0, 1.0), (10.0, 0.5)))


def test_binary_weight_is_inclusive():
    costs = np.array([0.0, 20.0, ABOVE[20.0]])
    assert acc.binary_weight(costs).tolist() == [1.0, 1.0, 0.0]
    assert acc.binary_weight(costs, 30.0).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("d0", [30.0, 17.3, 1e-3])
def test_gaussian_weight_is_one_at_zero_and_zero_at_d0(d0):
    costs = np.array([0.0, d0 / 3, d0 / 2, d0, math.nextafter(d0, math.inf), 2 * d0])
    w = acc.gaussian_weight(costs, d0)
    assert w[0] == 1.0
    assert w[3] == 0.0
    assert w[4] == 0.0 and w[5] == 0.0  # never negative beyond d0
    assert w[1] == pytest.approx(dai(d0 / 3, d0), rel=1e-12)
    assert w[2] == pytest.approx(dai(d0 / 2, d0), rel=1e-12)
    assert 1.0 > w[1] > w[2] > 0.0


def test_gaussian_weight_is_decreasing_and_never_negative():
    costs = np.linspace(0.0, 40.0, 4001)
    w = acc.gaussian_weight(costs)
    assert (np.diff(w) <= 0).all()
    assert (w >= 0).all()


# --- hand-computed FCA cases -----------------------------------------------------------

def test_hand_case_at_exactly_the_thresholds():
    # Demand a (P=100), b (P=50); supply x (S=3): a at 10, b at 20; y (S=1): b at 30,
    # a at just above 30 (out of every catchment).
    pairs = pairs_of([(0, 0, 10.0), (1, 0, 20.0), (1, 1, 30.0), (0, 1, ABOVE[30.0])], 2, 2)
    population, capacity = [100.0, 50.0], [3.0, 1.0]

    # E2SFCA steps: W_ax = 1, W_bx = 0.68, W_by = 0.22.
    d_x, d_y = 100 * 1.0 + 50 * 0.68, 50 * 0.22
    expected = [1.0 * 3 / d_x, 0.68 * 3 / d_x + 0.22 * 1 / d_y]
    np.testing.assert_allclose(acc.e2sfca_step(population, capacity, pairs), expected,
                               rtol=1e-15)

    # 2SFCA (d <= 20): y has nobody within 20 km: D_y = 0, excluded.
    np.testing.assert_allclose(acc.two_sfca(population, capacity, pairs),
                               [3 / 150, 3 / 150], rtol=1e-15)

    # Gaussian: W_ax = dai(10), W_bx = dai(20), W_by = dai(30) = 0, y excluded.
    w_ax, w_bx = dai(10.0), dai(20.0)
    d_x = 100 * w_ax + 50 * w_bx
    np.testing.assert_allclose(acc.e2sfca_gaussian(population, capacity, pairs),
                               [w_ax * 3 / d_x, w_bx * 3 / d_x], rtol=1e-13)


def test_hand_case_just_above_the_thresholds():
    # The same demand points, now just beyond 10 and 20 km from x.
    pairs = pairs_of([(0, 0, ABOVE[10.0]), (1, 0, ABOVE[20.0])], 2, 1)
    population, capacity = [100.0, 50.0], [3.0]
    d_x = 100 * 0.68 + 50 * 0.22
    np.testing.assert_allclose(acc.e2sfca_step(population, capacity, pairs),
                               [0.68 * 3 / d_x, 0.22 * 3 / d_x], rtol=1e-15)
    # 2SFCA: only a is within 20 km.
    assert acc.two_sfca(population, capacity, pairs).tolist() == [3 / 100, 0.0]
    count, total = acc.supply_within(capacity, pairs, 10.0)
    assert count.tolist() == [0, 0] and total.tolist() == [0.0, 0.0]
    count, total = acc.supply_within(capacity, pairs, 20.0)
    assert count.tolist() == [1, 0] and total.tolist() == [3.0, 0.0]


def test_three_sfca_hand_case():
    # a (P=100) reaches x at 0 km and y at 15 km; b (P=200) reaches y at 0 km.
    t15 = dai(15.0)
    pairs = pairs_of([(0, 0, 0.0), (0, 1, 15.0), (1, 1, 0.0)], 2, 2)
    s_x, s_y = 4.0, 6.0
    w_ax = 1.0 * 1.0 / (1 + t15)          # G_ax · T_ax
    w_ay = t15 * t15 / (1 + t15)          # G_ay · T_ay
    w_by = 1.0                            # G_by = 1, T_by = 1
    d_x = 100 * w_ax
    d_y = 100 * w_ay + 200 * w_by
    expected = [w_ax * s_x / d_x + w_ay * s_y / d_y, w_by * s_y / d_y]
    np.testing.assert_allclose(acc.three_stage_weight(pairs), [w_ax, w_ay, w_by], rtol=1e-15)
    np.testing.assert_allclose(acc.three_sfca([100.0, 200.0], [s_x, s_y], pairs), expected,
                               rtol=1e-13)


def test_three_sfca_selection_weight_is_zero_when_every_supply_is_at_d0():
    pairs = pairs_of([(0, 0, 30.0), (0, 1, 30.0), (1, 1, 5.0)], 2, 2)
    w = acc.three_stage_weight(pairs)
    assert w.tolist()[:2] == [0.0, 0.0]
    assert w[2] == pytest.approx(dai(5.0))  # G = 1 for b's only supply
    a = acc.three_sfca([10.0, 20.0], [1.0, 1.0], pairs)
    assert a.tolist() == [0.0, pytest.approx(1 / 20)]


@pytest.mark.parametrize("method", acc.METHODS)
def test_supply_with_no_weighted_demand_is_excluded(method):
    # x is reached only by a point of zero population; y only at exactly 30 km, where the
    # Gaussian and 3SFCA weights are 0 (2SFCA: beyond 20 km). Neither may divide by zero.
    pairs = pairs_of([(0, 0, 1.0), (1, 1, 5.0), (2, 1, 30.0), (2, 2, 30.0)], 3, 3)
    population, capacity = [0.0, 10.0, 10.0], [7.0, 2.0, 5.0]
    a = acc.compute_all(population, capacity, pairs).accessibility[method]
    assert np.isfinite(a).all()
    demand = acc.catchment_demand(population, pairs, weights_for(method, pairs))
    assert demand[0] == 0.0  # x excluded for every method
    # the zero-population point next to x gets nothing from it
    assert a[0] == 0.0
    served = capacity[1] + (capacity[2] if demand[2] > 0 else 0.0)
    assert float(np.dot(population, a)) == pytest.approx(served, rel=1e-12)
    if method in ("e2sfca_gauss", "3sfca", "2sfca"):
        assert demand[2] == 0.0


def test_isolated_demand_gets_zero_not_nan():
    pairs = pairs_of([(0, 0, 3.0)], 3, 1)
    result = acc.compute_all([10.0, 20.0, 0.0], [2.0], pairs)
    for method in acc.METHODS:
        assert result.accessibility[method].tolist()[1:] == [0.0, 0.0]
        assert np.isfinite(result.normalised[method]).all()
    assert result.nearest_supply.tolist() == [0, -1, -1]
    assert math.isnan(result.nearest_cost_km[1])
    assert [result.covered[t].tolist() for t in (10.0, 20.0, 30.0)] == [[True, False, False]] * 3


def test_no_pairs_at_all():
    result = acc.compute_all([1.0, 2.0], [5.0], pairs_of([], 2, 1))
    for method in acc.METHODS:
        assert result.accessibility[method].tolist() == [0.0, 0.0]
        assert result.normalised[method].tolist() == [0.0, 0.0]
    assert result.nearest_supply.tolist() == [-1, -1]


# --- nearest supply and coverage -------------------------------------------------------

def test_nearest_supply_tie_goes_to_the_first_supply():
    # Demand 0: supplies 2 and 1 tie at 4 km (2 listed first in the pairs); supply 0 farther.
    # Demand 1: supplies 3 and 0 tie at 0 km.
    pairs = pairs_of([(0, 2, 4.0), (0, 0, 9.0), (0, 1, 4.0), (1, 3, 0.0), (1, 0, 0.0),
                      (1, 2, 0.5)], 2, 4)
    index, cost = acc.nearest_supply(pairs)
    assert index.tolist() == [1, 0]
    assert cost.tolist() == [4.0, 0.0]


def test_supply_within_counts_inclusively():
    pairs = pairs_of([(0, 0, 10.0), (0, 1, 20.0), (0, 2, 30.0), (0, 3, ABOVE[30.0])], 1, 4)
    capacity = [1.0, 2.0, 4.0, 8.0]
    result = acc.compute_all([5.0], capacity, pairs)
    assert [int(result.supply_count[t][0]) for t in (10.0, 20.0, 30.0)] == [1, 2, 3]
    assert [float(result.capacity_within[t][0]) for t in (10.0, 20.0, 30.0)] == [1.0, 3.0, 7.0]
    assert result.nearest_cost_km.tolist() == [10.0]


# --- an independent implementation, one loop per formula ------------------------------

def loop_fca(population, capacity, rows, method):
    """Straight from COVERAGE.md, with dicts and loops."""
    def weight(d):
        if method == "2sfca":
            return 1.0 if d <= 20 else 0.0
        if method == "e2sfca_step":
            return 1.0 if d <= 10 else 0.68 if d <= 20 else 0.22 if d <= 30 else 0.0
        return dai(d)

    w = {(i, j): weight(d) for i, j, d in rows}
    if method == "3sfca":
        totals = {}
        for (i, _), t in w.items():
            totals[i] = totals.get(i, 0.0) + t
        w = {(i, j): (t / totals[i] if totals[i] > 0 else 0.0) * t for (i, j), t in w.items()}
    demand = {}
    for (i, j), wij in w.items():
        demand[j] = demand.get(j, 0.0) + wij * population[i]
    ratio = {j: capacity[j] / dj for j, dj in demand.items() if dj > 0}
    access = [0.0] * len(population)
    for (i, j), wij in w.items():
        if j in ratio:
            access[i] += wij * ratio[j]
    return access


def random_case(seed, n_demand=40, n_supply=25, density=0.3):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_demand, n_supply)) < density
    # The last supply is reached only by demand point 0, of zero population: excluded.
    mask[:, -1] = False
    mask[0, -1] = True
    d, s = np.nonzero(mask)
    order = rng.permutation(d.size)
    d, s = d[order], s[order]
    cost = rng.uniform(0.0, 40.0, d.size)
    # put a good share exactly on the thresholds
    exact = rng.random(d.size) < 0.2
    cost[exact] = rng.choice([0.0, 10.0, 20.0, 30.0], exact.sum())
    population = rng.integers(0, 5000, n_demand).astype(float)
    population[rng.random(n_demand) < 0.15] = 0.0
    population[0] = 0.0
    capacity = rng.integers(0, 12, n_supply).astype(float)
    capacity[-1] = 5.0
    return population, capacity, acc.make_pairs(d, s, cost, n_demand, n_supply)


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_loop_implementation(seed):
    population, capacity, pairs = random_case(seed)
    rows = list(zip(pairs.demand.tolist(), pairs.supply.tolist(), pairs.cost_km.tolist(),
                    strict=True))
    result = acc.compute_all(population, capacity, pairs)
    for method in acc.METHODS:
        expected = loop_fca(population.tolist(), capacity.tolist(), rows, method)
        np.testing.assert_allclose(result.accessibility[method], expected, rtol=1e-12,
                                   atol=1e-300, err_msg=method)
    for i in range(pairs.n_demand):
        mine = [(c, j) for (k, j, c) in rows if k == i]
        if mine:
            c, j = min(mine)
            assert (result.nearest_supply[i], result.nearest_cost_km[i]) == (j, c)
            for t in (10.0, 20.0, 30.0):
                assert result.covered[t][i] == any(cc <= t for cc, _ in mine)
        else:
            assert result.nearest_supply[i] == -1


# --- the conservation identity ---------------------------------------------------------

def assert_conserved(population, capacity, pairs):
    population = np.asarray(population, dtype=float)
    capacity = np.asarray(capacity, dtype=float)
    result = acc.compute_all(population, capacity, pairs)
    excluded_somewhere = False
    for method in acc.METHODS:
        a = result.accessibility[method]
        assert np.isfinite(a).all() and (a >= 0).all()
        demand = acc.catchment_demand(population, pairs, weights_for(method, pairs))
        served = capacity[demand > 0].sum()
        excluded_somewhere |= bool(capacity[demand == 0].sum() > 0)
        total = float(population @ a)
        assert total == pytest.approx(served, rel=1e-9, abs=1e-9), method
        index = result.normalised[method]
        if total > 0:
            assert float(population @ index) / population.sum() == pytest.approx(1.0)
    return excluded_somewhere


@pytest.mark.parametrize("seed", range(20))
def test_conservation_identity_seeded(seed):
    population, capacity, pairs = random_case(seed, n_demand=200, n_supply=120, density=0.05)
    # The exclusion rule must actually be exercised, or the identity proves little.
    assert assert_conserved(population, capacity, pairs)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.data())
def test_conservation_identity_property(data):
    n_demand = data.draw(st.integers(1, 8))
    n_supply = data.draw(st.integers(1, 8))
    all_pairs = list(itertools.product(range(n_demand), range(n_supply)))
    chosen = data.draw(st.lists(st.sampled_from(all_pairs), unique=True, max_size=len(all_pairs)))
    cost = st.one_of(st.sampled_from([0.0, 10.0, 20.0, 30.0, ABOVE[10.0], ABOVE[30.0]]),
                     st.floats(0.0, 40.0))
    rows = [(i, j, data.draw(cost)) for i, j in chosen]
    population = data.draw(st.lists(st.one_of(st.just(0.0), st.floats(0.5, 1e6)),
                                    min_size=n_demand, max_size=n_demand))
    capacity = data.draw(st.lists(st.floats(0.0, 1e3), min_size=n_supply, max_size=n_supply))
    assert_conserved(population, capacity, pairs_of(rows, n_demand, n_supply))


# --- summaries ------------------------------------------------------------------------

def test_normalised_index_and_capacity_gap():
    population = np.array([100.0, 300.0, 0.0])
    access = np.array([0.04, 0.01, 0.5])
    mean = (100 * 0.04 + 300 * 0.01) / 400
    assert acc.mean_accessibility(population, access) == pytest.approx(mean)
    np.testing.assert_allclose(acc.normalised_index(population, access), access / mean)
    # only b is below the mean
    assert acc.capacity_gap(population, access, mean) == pytest.approx(300 * (mean - 0.01))
    # against a higher reference, a is short too
    assert acc.capacity_gap(population, access, 0.05) == pytest.approx(
        100 * 0.01 + 300 * 0.04)
    assert acc.normalised_index(population, np.zeros(3)).tolist() == [0.0, 0.0, 0.0]


def test_bad_pairs_are_refused():
    with pytest.raises(ValueError, match="en double"):
        pairs_of([(0, 0, 1.0), (1, 0, 2.0), (0, 0, 3.0)], 2, 1)
    with pytest.raises(ValueError, match="hors limites"):
        pairs_of([(2, 0, 1.0)], 2, 1)
    with pytest.raises(ValueError, match="hors limites"):
        pairs_of([(0, -1, 1.0)], 2, 1)
    with pytest.raises(ValueError, match="coûts"):
        pairs_of([(0, 0, -1.0)], 2, 1)
    with pytest.raises(ValueError, match="coûts"):
        pairs_of([(0, 0, float("nan"))], 2, 1)
    pairs = pairs_of([(0, 0, 1.0)], 2, 1)
    with pytest.raises(ValueError, match="poids"):
        acc.two_sfca([1.0, -2.0], [1.0], pairs)
    with pytest.raises(ValueError, match="capacités"):
        acc.two_sfca([1.0, 2.0], [1.0, 1.0], pairs)


# --- greedy maximal covering -----------------------------------------------------------

def incidence(rows, n_candidates, n_demand):
    data = [(c, i) for c, covered in enumerate(rows) for i in covered]
    c, i = zip(*data, strict=True)
    return sparse.csr_array((np.ones(len(c)), (c, i)), shape=(n_candidates, n_demand))


def test_greedy_new_sites_hand_case():
    need = [5.0, 3.0, 4.0, 2.0, 6.0]
    already = [False, False, False, False, True]
    cover = incidence([{0, 1}, {1, 2, 3}, {0, 4}, {2}], 4, 5)
    # Round 1: c1 adds 3+4+2 = 9. Round 2: c0 and c2 both add 5 (point 0); tie -> c0.
    # Round 3: nothing left to add (point 4 was covered already): stop early.
    chosen = acc.greedy_new_sites(need, cover, already, k=3)
    assert chosen.sites.tolist() == [1, 0]
    assert chosen.newly_covered_need.tolist() == [9.0, 5.0]
    assert [c.tolist() for c in chosen.newly_covered] == [[1, 2, 3], [0]]
    assert chosen.covered.all()
    assert already == [False, False, False, False, True]  # input untouched
    assert acc.greedy_new_sites(need, cover, already, k=1).sites.tolist() == [1]
    assert acc.greedy_new_sites(need, cover, already, k=0).sites.tolist() == []


def test_greedy_is_not_fooled_by_what_is_already_covered():
    # c0 covers the most need in total, but most of it is covered today.
    need = [10.0, 10.0, 1.0, 1.0, 1.0]
    cover = incidence([{0, 1, 2}, {2, 3, 4}], 2, 5)
    chosen = acc.greedy_new_sites(need, cover, [True, True, False, False, False], k=1)
    assert chosen.sites.tolist() == [1]
    assert chosen.newly_covered_need.tolist() == [3.0]


@pytest.mark.parametrize("seed", range(10))
def test_greedy_is_within_the_classic_bound_of_the_optimum(seed):
    rng = np.random.default_rng(seed)
    n_candidates, n_demand, k = 7, 12, 3
    cover = sparse.csr_array((rng.random((n_candidates, n_demand)) < 0.3).astype(float))
    need = rng.integers(0, 100, n_demand).astype(float)
    already = rng.random(n_demand) < 0.2
    chosen = acc.greedy_new_sites(need, cover, already, k)
    dense = cover.toarray() > 0

    def added(sites):
        reached = dense[list(sites)].any(axis=0) & ~already if sites else np.zeros(n_demand, bool)
        return need[reached].sum()

    best = max(added(c) for c in itertools.combinations(range(n_candidates), k))
    assert chosen.newly_covered_need.sum() == pytest.approx(added(chosen.sites.tolist()))
    assert chosen.newly_covered_need.sum() >= (1 - 1 / math.e) * best - 1e-9
    assert (np.diff(chosen.newly_covered_need) <= 0).all()  # greedy gains never grow
