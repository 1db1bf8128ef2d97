"""The pure part of the cohort assignment: the min-cost-flow solver against hand cases, a
greedy baseline and an exhaustive optimum on seeded random problems."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from matching.availability import availability_fr
from matching.cohort.assignment import unassigned_reason
from matching.cohort.solver import Option, Problem, greedy, solve, total_distance, violations
from matching.question import Availability


def test_optimum_where_greedy_nearest_choice_is_worse():
    # B is listed first and is nearest to V1; taking it (greedy) sends A 4.5 km away.
    b = [Option(1, 500.0), Option(2, 3000.0)]
    a = [Option(1, 1000.0), Option(2, 4500.0)]
    problem = Problem([b, a], {1: 1, 2: 1})
    greedy_choice = greedy(problem)
    assert [o.venue_id for o in greedy_choice] == [1, 2]
    assert total_distance(greedy_choice) == 5000.0
    choice = solve(problem)
    assert [o.venue_id for o in choice] == [2, 1]
    assert total_distance(choice) == 4000.0
    assert violations(problem, choice) == []


def test_most_people_placed_before_least_distance():
    # A can only go to V1; B is nearer to V1 but can go to V2 far away.
    a = [Option(1, 50_000.0)]
    b = [Option(1, 10.0), Option(2, 90_000.0)]
    problem = Problem([a, b], {1: 1, 2: 1})
    assert greedy(Problem([b, a], {1: 1, 2: 1}))[1] is None
    choice = solve(problem)
    assert [o.venue_id for o in choice] == [1, 2]


def test_seats_and_capacity_limit_sessions_and_openings_together():
    # Venue 1 takes 2 people this week; its session 10 has a single free seat.
    people = [[Option(1, 100.0, "session", session_id=10), Option(1, 100.0, "opening")]
              for _ in range(3)]
    problem = Problem(people, {1: 2}, {10: 1})
    choice = solve(problem)
    assert violations(problem, choice) == []
    assert sum(o is not None for o in choice) == 2
    assert sorted(o.kind for o in choice if o) == ["opening", "session"]
    assert solve(problem) == choice  # deterministic among equal choices


def test_unknown_capacity_and_ties():
    people = [[Option(1, 0.0, "unknown_hours"), Option(2, 0.0, "opening")] for _ in range(4)]
    choice = solve(Problem(people, {1: None, 2: 1}))
    assert [o.venue_id for o in choice].count(2) == 1  # the known hours first, then no limit
    assert all(o is not None for o in choice)
    assert solve(Problem(people, {1: None, 2: 1})) == choice  # deterministic


def test_empty_and_impossible():
    assert solve(Problem([], {})) == []
    assert solve(Problem([[], []], {})) == [None, None]
    assert solve(Problem([[Option(1, 5.0)]], {1: 0})) == [None]


def _exhaustive(problem: Problem) -> tuple[int, int]:
    """(assigned, total cost) of the best choice by brute force."""
    best = (0, 0)
    choices = [[replace(o, window=w) for o in opts for w in (o.windows or (None,))] + [None]
               for opts in problem.options]
    for combo in itertools.product(*choices):
        if violations(problem, combo):
            continue
        assigned = sum(o is not None for o in combo)
        cost = sum(o.cost for o in combo if o is not None)
        if (assigned, -cost) > (best[0], -best[1]):
            best = (assigned, cost)
    return best


def _random_problem(rng: random.Random, people: int, venues: int) -> Problem:
    options = []
    sessions: dict[int, int] = {}
    windows: dict[int, int | None] = {}
    for _ in range(people):
        opts = []
        for v in rng.sample(range(1, venues + 1), rng.randint(0, venues)):
            d = rng.choice([0.0, rng.uniform(0, 30_000)])
            if rng.random() < 0.35:  # at openings the person can use, each with its capacity
                mine = tuple(sorted(rng.sample([v * 1000 + k for k in range(3)],
                                               rng.randint(1, 3))))
                for w in mine:
                    windows.setdefault(w, rng.choice([None, 0, 1, 1, 2]))
                opts.append(Option(v, d, "opening", windows=mine))
            elif rng.random() < 0.5:
                opts.append(Option(v, d, rng.choice(["opening", "unknown_hours"])))
            if rng.random() < 0.4:
                sid = v * 100 + rng.randint(0, 1)
                sessions[sid] = rng.randint(0, 2)
                opts.append(Option(v, d, "session", session_id=sid))
        options.append(opts)
    capacity = {v: rng.choice([None, 0, 1, 1, 2, 3]) for v in range(1, venues + 1)}
    return Problem(options, capacity, sessions, windows)


def test_openings_hold_their_share_of_people():
    """Three people can use two openings of one person each: two are placed, one per
    opening, the earliest first; a choice with two people in one opening breaks it."""
    people = [[Option(1, 100.0 * i, windows=("mardi", "jeudi"))] for i in range(3)]
    problem = Problem(people, {1: 10}, window_capacity={"mardi": 1, "jeudi": 1})
    choice = solve(problem)
    assert sorted(o.window for o in choice if o is not None) == ["jeudi", "mardi"]
    assert choice[2] is None  # the farthest
    assert violations(problem, choice) == []
    crowded = [replace(people[0][0], window="mardi"), replace(people[1][0], window="mardi"),
               None]
    assert violations(problem, crowded) == ["créneau mardi : 2 personnes pour 1 places"]
    assert [o and o.window for o in greedy(problem)] == ["mardi", "jeudi", None]
    # Only one person can use Thursday: they get it, the others share Tuesday's room.
    people = [[Option(1, 0.0, windows=("mardi", "jeudi"))],
              [Option(1, 0.0, windows=("jeudi",))]]
    choice = solve(Problem(people, {1: 10}, window_capacity={"mardi": 1, "jeudi": 1}))
    assert [o.window for o in choice] == ["mardi", "jeudi"]


@pytest.mark.parametrize("seed", range(40))
def test_random_problems_match_the_exhaustive_optimum(seed):
    rng = random.Random(seed)
    problem = _random_problem(rng, rng.randint(1, 6), rng.randint(1, 3))
    choice = solve(problem)
    assert violations(problem, choice) == []
    assigned = sum(o is not None for o in choice)
    cost = sum(o.cost for o in choice if o is not None)
    assert (assigned, cost) == _exhaustive(problem)


@pytest.mark.parametrize("seed", range(20))
def test_shared_window_tuples_give_the_same_optimum(seed):
    """The solver groups options by the identity of their windows' tuple (as the candidates
    share them), with equality behind: shared or equal copies, the optimum is the same."""
    rng = random.Random(500 + seed)
    problem = _random_problem(rng, rng.randint(1, 6), rng.randint(1, 3))
    shared: dict[tuple, tuple] = {}
    options = [[replace(o, windows=shared.setdefault(o.windows, o.windows)) for o in opts]
               for opts in problem.options]
    copies = [[replace(o, windows=tuple(list(o.windows))) for o in opts]
              for opts in problem.options]
    best = _exhaustive(problem)
    for variant in (options, copies):
        other = Problem(variant, problem.capacity, problem.seats, problem.window_capacity)
        choice = solve(other)
        assert violations(other, choice) == []
        assert (sum(o is not None for o in choice),
                sum(o.cost for o in choice if o is not None)) == best


@pytest.mark.parametrize("seed", range(10))
def test_random_cohorts_never_worse_than_greedy(seed):
    rng = random.Random(1000 + seed)
    problem = _random_problem(rng, 300, 25)
    choice = solve(problem)
    base = greedy(problem)
    assert violations(problem, choice) == []
    assert violations(problem, base) == []
    placed, placed_greedy = (sum(o is not None for o in c) for c in (choice, base))
    assert placed >= placed_greedy
    if placed == placed_greedy:
        assert total_distance(choice) <= total_distance(base) + 1e-6


def test_unassigned_reasons_in_french():
    assert unassigned_reason("no_venue", reach_m=10_000, programme_name="Pass Numérique Test") \
        == "Aucun lieu n'accepte le Pass Numérique Test pour ce besoin à moins de 10 km."
    av = Availability(days=(5,))
    assert unassigned_reason("availability", reach_m=5_000, count=3, availability=av) == (
        "3 lieux conviennent à moins de 5 km, mais aucun n'est ouvert ni n'a de séance avec "
        f"des places libres {availability_fr(av)}.")
    assert "Le seul lieu qui convient à moins de 2,5 km est complet" in unassigned_reason(
        "full", reach_m=2_500, count=1)
    assert unassigned_reason("full", reach_m=80_000, count=20, truncated=True).startswith(
        "Les 20 lieux les plus proches qui conviennent à moins de 80 km sont complets")
    with pytest.raises(ValueError):
        unassigned_reason("autre", reach_m=1000)
