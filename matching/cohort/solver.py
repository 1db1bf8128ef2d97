"""The cohort solver (pure: no Flask, no database).

A min-cost flow (OR-Tools ``SimpleMinCostFlow``) over ``person → (session →) venue → sink``.
A person's arcs are the options that passed the hard constraints, cost = ellipsoidal distance
in metres; a session node holds its free seats, a venue's arc to the sink its capacity for the
period; one "unassigned" arc per person to the sink costs more than any chain of reassignments
can save, so the flow is always feasible and the number of people placed is maximised first,
then the total distance is minimised. Among options at the same distance a dated session is
preferred to an opening, and an opening to a venue whose hours are unknown (a tie-break
weighted below one metre for the whole cohort).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_PEOPLE = 5_000

# Tie-break among options at the same distance (lower is preferred).
PREFERENCE = {"session": 0, "opening": 1, "unknown_hours": 2}
# Costs are metres × TIE_SCALE + preference: TIE_SCALE exceeds the largest possible sum of
# preferences (2 × MAX_PEOPLE), so the preference only ever breaks ties of total distance.
TIE_SCALE = 16_384


@dataclass(frozen=True)
class Option:
    """One way to place a person: a venue (at an opening) or a dated session of the venue."""

    venue_id: int
    distance_m: float
    kind: str = "opening"  # session | opening | unknown_hours
    session_id: int | None = None
    stop_id: int | None = None
    rank: int = 1  # 1 = the person's nearest venue that passed the hard constraints
    text: str | None = field(default=None, compare=False)  # "ouvert lundi de 10 h à 11 h"

    @property
    def cost(self) -> int:
        return int(round(self.distance_m)) * TIE_SCALE + PREFERENCE[self.kind]


@dataclass
class Problem:
    """Options per person (in the cohort's order); capacity per venue (None = no limit);
    free seats per session (a session's venue is the venue of the options that name it)."""

    options: list[list[Option]]
    capacity: dict[int, int | None]
    seats: dict[int, int] = field(default_factory=dict)


def solve(problem: Problem) -> list[Option | None]:
    """The optimal choice per person (None = unassigned): most people placed, then least total
    distance, within capacities and seats. Deterministic for a given problem."""
    from ortools.graph.python import min_cost_flow

    people = len(problem.options)
    if people == 0:
        return []
    session_venue: dict[int, int] = {}
    for opts in problem.options:
        for o in opts:
            if o.session_id is not None:
                session_venue.setdefault(o.session_id, o.venue_id)
    venue_ids = sorted({o.venue_id for opts in problem.options for o in opts})
    session_ids = sorted(session_venue)
    venue_node = {v: people + len(session_ids) + i for i, v in enumerate(venue_ids)}
    session_node = {s: people + i for i, s in enumerate(session_ids)}
    sink = people + len(session_ids) + len(venue_ids)

    # Person arcs, built column by column (a cohort has ~10^5 of them).
    arcs: list[Option] = []
    tails: list[int] = []
    heads: list[int] = []
    distances: list[float] = []
    preferences: list[int] = []
    for p, opts in enumerate(problem.options):
        seen: set[tuple[int, int | None]] = set()
        for o in opts:
            key = (o.venue_id, o.session_id)
            if key in seen:
                continue
            seen.add(key)
            arcs.append(o)
            tails.append(p)
            heads.append(session_node[o.session_id] if o.session_id is not None
                         else venue_node[o.venue_id])
            distances.append(o.distance_m)
            preferences.append(PREFERENCE[o.kind])
    option_costs = (np.rint(np.array(distances, dtype=np.float64)).astype(np.int64) * TIE_SCALE
                    + np.array(preferences, dtype=np.int64))
    max_cost = int(option_costs.max()) if len(arcs) else 0
    caps: list[int] = [1] * len(arcs)
    costs: list[int] = []
    for s in session_ids:
        tails.append(session_node[s])
        heads.append(venue_node[session_venue[s]])
        caps.append(max(0, problem.seats.get(s, 0)))
        costs.append(0)
    for v in venue_ids:
        cap = problem.capacity.get(v)
        tails.append(venue_node[v])
        heads.append(sink)
        caps.append(people if cap is None else max(0, min(cap, people)))
        costs.append(0)
    # Leaving one person out must cost more than any reassignment chain can save: an
    # augmenting path adds at most one arc per person.
    unassigned_cost = (people + 1) * (max_cost + 1)
    if unassigned_cost * people >= 2 ** 62:
        raise ValueError("cohorte trop grande pour les coûts entiers du solveur")
    first_unassigned = len(tails)
    for p in range(people):
        tails.append(p)
        heads.append(sink)
        caps.append(1)
        costs.append(unassigned_cost)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64),
        np.array(caps, dtype=np.int64),
        np.concatenate([option_costs, np.array(costs, dtype=np.int64)]))
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:people] = 1
    supplies[sink] = -people
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min cost flow: statut {status}")
    choice: list[Option | None] = [None] * people
    if arcs:
        flows = flow.flows(np.arange(len(arcs), dtype=np.int64))
        for i in np.flatnonzero(flows > 0):
            choice[tails[i]] = arcs[i]
    assert first_unassigned == len(tails) - people
    return choice


def greedy(problem: Problem) -> list[Option | None]:
    """Baseline for tests and the benchmark: in the cohort's order, each person takes their
    cheapest option that still has room."""
    load: dict[int, int] = {}
    taken: dict[int, int] = {}
    choice: list[Option | None] = []
    for opts in problem.options:
        best = None
        for o in sorted(opts, key=lambda o: (o.cost, o.venue_id, o.session_id or 0)):
            cap = problem.capacity.get(o.venue_id)
            if cap is not None and load.get(o.venue_id, 0) >= cap:
                continue
            if o.session_id is not None and \
                    taken.get(o.session_id, 0) >= problem.seats.get(o.session_id, 0):
                continue
            best = o
            break
        if best is not None:
            load[best.venue_id] = load.get(best.venue_id, 0) + 1
            if best.session_id is not None:
                taken[best.session_id] = taken.get(best.session_id, 0) + 1
        choice.append(best)
    return choice


def violations(problem: Problem, choice: Sequence[Option | None]) -> list[str]:
    """What a choice breaks (empty = valid): an option not offered, a venue over capacity, a
    session over its seats."""
    problems: list[str] = []
    load: dict[int, int] = {}
    taken: dict[int, int] = {}
    for p, o in enumerate(choice):
        if o is None:
            continue
        if o not in problem.options[p]:
            problems.append(f"personne {p} : option hors de ses possibilités")
        load[o.venue_id] = load.get(o.venue_id, 0) + 1
        if o.session_id is not None:
            taken[o.session_id] = taken.get(o.session_id, 0) + 1
    for v, n in load.items():
        cap = problem.capacity.get(v)
        if cap is not None and n > cap:
            problems.append(f"lieu {v} : {n} personnes pour {cap} places")
    for s, n in taken.items():
        if n > problem.seats.get(s, 0):
            problems.append(f"séance {s} : {n} personnes pour {problem.seats.get(s, 0)} places")
    return problems


def total_distance(choice: Sequence[Option | None]) -> float:
    return sum(o.distance_m for o in choice if o is not None)
