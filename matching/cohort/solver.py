"""The cohort solver (pure: no Flask, no database).

A min-cost flow (OR-Tools ``SimpleMinCostFlow``) over ``person → session → venue → sink`` and
``person → (venue, windows) → window → venue → sink``. A person's arcs are the options that
passed the hard constraints, cost = ellipsoidal distance in metres; a session node holds its
free seats; an opening option names the venue's opening windows (dated openings) the person
can use, each window holding the venue's capacity per opening; a venue's arc to the sink
holds its capacity for the period. People with the same windows at a venue share one node
``(venue, windows)``, whose arcs fan out to the windows (one arc per person and venue, not
per window). One "unassigned" arc per person to the sink costs more than any chain of reassignments
can save, so the flow is always feasible and the number of people placed is maximised first,
then the total distance is minimised. Among options at the same distance a dated session is
preferred to an opening, and an opening to a venue whose hours are unknown (a tie-break
weighted below one metre for the whole cohort).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
    # The opening windows (keys of ``Problem.window_capacity``) the person can use; empty:
    # the venue as a whole (unknown hours).
    windows: tuple = ()
    # In a solution: the window the person was given (one of ``windows``).
    window: Any = field(default=None, compare=False)

    @property
    def cost(self) -> int:
        return int(round(self.distance_m)) * TIE_SCALE + PREFERENCE[self.kind]


@dataclass
class Problem:
    """Options per person (in the cohort's order); capacity per venue (None = no limit);
    free seats per session (a session's venue is the venue of the options that name it);
    people per opening window (None = no limit; a window's venue is the venue of the options
    that name it)."""

    options: list[list[Option]]
    capacity: dict[int, int | None]
    seats: dict[int, int] = field(default_factory=dict)
    window_capacity: dict[Any, int | None] = field(default_factory=dict)


def solve(problem: Problem) -> list[Option | None]:
    """The optimal choice per person (None = unassigned): most people placed, then least total
    distance, within capacities and seats. Deterministic for a given problem."""
    from ortools.graph.python import min_cost_flow

    people = len(problem.options)
    if people == 0:
        return []
    session_venue: dict[int, int] = {}
    window_venue: dict[Any, int] = {}
    groups: dict[tuple, int] = {}  # (venue, windows) -> index
    # The same by the identity of the windows' tuple (shared by the options of many people):
    # hashing an identity is cheaper than hashing a dozen dated keys, option after option.
    group_of: dict[tuple[int, int], int] = {}
    for opts in problem.options:
        for o in opts:
            if o.session_id is not None:
                session_venue.setdefault(o.session_id, o.venue_id)
            elif o.windows and (o.venue_id, id(o.windows)) not in group_of:
                g = groups.setdefault((o.venue_id, o.windows), len(groups))
                group_of[(o.venue_id, id(o.windows))] = g
                if g == len(groups) - 1:
                    for w in o.windows:
                        window_venue.setdefault(w, o.venue_id)
    venue_ids = sorted({o.venue_id for opts in problem.options for o in opts})
    session_ids = sorted(session_venue)
    window_ids = list(window_venue)
    session_node = {s: people + i for i, s in enumerate(session_ids)}
    first = people + len(session_ids)
    first_group = first
    first += len(groups)
    window_node = {w: first + i for i, w in enumerate(window_ids)}
    first += len(window_ids)
    venue_node = {v: first + i for i, v in enumerate(venue_ids)}
    sink = first + len(venue_ids)

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
                         else first_group + group_of[(o.venue_id, id(o.windows))]
                         if o.windows
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
    for (_, windows), g in groups.items():
        for w in windows:
            tails.append(first_group + g)
            heads.append(window_node[w])
            caps.append(people)
            costs.append(0)
    for w in window_ids:
        cap = problem.window_capacity.get(w)
        tails.append(window_node[w])
        heads.append(venue_node[window_venue[w]])
        caps.append(people if cap is None else max(0, min(cap, people)))
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
    if groups:
        placed: dict[tuple, int] = {}
        for o in choice:
            if o is not None and o.session_id is None and o.windows:
                placed[(o.venue_id, o.windows)] = placed.get((o.venue_id, o.windows), 0) + 1
        room = _earliest_windows(placed, problem.window_capacity, people) if placed else {}
        for p, o in enumerate(choice):
            if o is not None and o.session_id is None and o.windows:
                choice[p] = replace(o, window=room[(o.venue_id, o.windows)].pop(0))
    assert first_unassigned == len(tails) - people
    return choice


def _earliest_windows(placed: dict[tuple, int], capacity: dict[Any, int | None], people: int
                      ) -> dict[tuple, list[Any]]:
    """The windows of the people placed through each group ``(venue, windows)``: within the
    windows' capacities, as early as can be (a second min-cost flow, cost = rank of the
    window in the group's chronological ``windows``; always feasible, the first flow having
    found a way). People of a group are then given its windows in order."""
    from ortools.graph.python import min_cost_flow

    groups = list(placed)
    window_ids = list(dict.fromkeys(w for _, windows in groups for w in windows))
    window_node = {w: len(groups) + i for i, w in enumerate(window_ids)}
    sink = len(groups) + len(window_ids)
    tails, heads, caps, costs, fan = [], [], [], [], []
    for g, (v, windows) in enumerate(groups):
        for rank, w in enumerate(windows):
            fan.append(((v, windows), w))
            tails.append(g)
            heads.append(window_node[w])
            caps.append(placed[(v, windows)])
            costs.append(rank)
    for w in window_ids:
        cap = capacity.get(w)
        tails.append(window_node[w])
        heads.append(sink)
        caps.append(people if cap is None else max(0, min(cap, people)))
        costs.append(0)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64),
        np.array(caps, dtype=np.int64), np.array(costs, dtype=np.int64))
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:len(groups)] = [placed[g] for g in groups]
    supplies[sink] = -sum(placed.values())
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min cost flow (créneaux) : statut {status}")
    room: dict[tuple, list[Any]] = {}
    counts = flow.flows(np.arange(len(fan), dtype=np.int64))
    for (group, w), n in zip(fan, counts, strict=True):
        room.setdefault(group, []).extend([w] * int(n))
    return room


def greedy(problem: Problem) -> list[Option | None]:
    """Baseline for tests and the benchmark: in the cohort's order, each person takes their
    cheapest option that still has room."""
    load: dict[int, int] = {}
    taken: dict[int, int] = {}
    used: dict[Any, int] = {}
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
            if o.session_id is None and o.windows:
                window = next((w for w in o.windows if _room(problem, used, w)), None)
                if window is None:
                    continue
                o = replace(o, window=window)
            best = o
            break
        if best is not None:
            load[best.venue_id] = load.get(best.venue_id, 0) + 1
            if best.session_id is not None:
                taken[best.session_id] = taken.get(best.session_id, 0) + 1
            if best.window is not None:
                used[best.window] = used.get(best.window, 0) + 1
        choice.append(best)
    return choice


def _room(problem: Problem, used: dict[Any, int], window: Any) -> bool:
    cap = problem.window_capacity.get(window)
    return cap is None or used.get(window, 0) < cap


def violations(problem: Problem, choice: Sequence[Option | None]) -> list[str]:
    """What a choice breaks (empty = valid): an option not offered, a venue over capacity, a
    session over its seats, an opening window missing or over its capacity."""
    problems: list[str] = []
    load: dict[int, int] = {}
    taken: dict[int, int] = {}
    used: dict[Any, int] = {}
    for p, o in enumerate(choice):
        if o is None:
            continue
        if o not in problem.options[p]:
            problems.append(f"personne {p} : option hors de ses possibilités")
        load[o.venue_id] = load.get(o.venue_id, 0) + 1
        if o.session_id is not None:
            taken[o.session_id] = taken.get(o.session_id, 0) + 1
        elif o.windows:
            if o.window not in o.windows:
                problems.append(f"personne {p} : créneau hors de ses possibilités")
            else:
                used[o.window] = used.get(o.window, 0) + 1
    for w, n in used.items():
        cap = problem.window_capacity.get(w)
        if cap is not None and n > cap:
            problems.append(f"créneau {w} : {n} personnes pour {cap} places")
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
