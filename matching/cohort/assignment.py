"""Cohort assignment: one venue (and a dated session where one fits) per person of a cohort,
respecting weekly capacities and session seats, minimising total travel.

Two parts:

- **The solver** (pure, no Flask, no database): a min-cost flow (OR-Tools ``SimpleMinCostFlow``)
  over ``person → (session →) venue → sink``. A person's arcs are the options that passed the
  hard constraints, cost = ellipsoidal distance in metres; a session node holds its free seats,
  a venue's arc to the sink its capacity for the period; one "unassigned" arc per person to the
  sink costs more than any chain of reassignments can save, so the flow is always feasible and
  the number of people placed is maximised first, then the total distance is minimised.
  Among options at the same distance a dated session is preferred to an opening, and an opening
  to a venue whose hours are unknown (a tie-break weighted below one metre for the whole
  cohort).
- **The candidates** (SQL): the matching engine's own hard-constraint conditions
  (``matching.services._venue_sql`` and ``_perimeter_sql``: programme accepted and valid on
  the date, perimeter, service offered and covered, required support, not closed) evaluated
  once per group of people sharing them, into a temporary table with a GiST index; then the
  ``k`` nearest of each distinct place within the person's reach (KNN, exact ellipsoidal
  distance, 0 inside a commune or postal-code polygon), all places in one ``LATERAL`` query;
  then the exact availability per person (opening hours through the OSM parser, sessions with
  free seats), as ``matching.services`` does for one person. Running the engine's one-place
  query 2,000 times would take about 15 ms each: the shared table makes a cohort of 2,000 a
  matter of seconds.

Candidates are limited to the ``k`` nearest venues that pass the constraints; people left
unassigned while their list was cut are searched again with ``4 k`` (up to
``MAX_CANDIDATES``) and the whole cohort is solved again.

Assumptions (returned with every answer): a venue's ``weekly_capacity`` counts the people it
can take in the period (× ``weeks``), sessions included; an unknown capacity is taken as
``default_capacity`` per week (``None`` = no limit); nothing is booked: seats and capacities
are read, not written.
"""

from __future__ import annotations

import logging
import re
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.text import distance_fr, km_fr, relative_day_fr

from .. import services as engine
from ..availability import HORIZON_DAYS, availability_fr, first_opening, free_intervals
from ..question import Availability, Question
from ..ranking import travel_minutes

log = logging.getLogger(__name__)

MAX_PEOPLE = 5_000
DEFAULT_CANDIDATES = 20  # nearest venues per person that pass the hard constraints
MAX_CANDIDATES = 320
CANDIDATE_GROWTH = 4
DEFAULT_UNKNOWN_CAPACITY = 10  # people per week at a venue whose capacity is unknown
MAX_WEEKS = 4
SESSIONS_PER_VENUE = 3  # dated sessions offered to one person at one venue (earliest first)
PARIS = ZoneInfo("Europe/Paris")

# Tie-break among options at the same distance (lower is preferred).
PREFERENCE = {"session": 0, "opening": 1, "unknown_hours": 2}
# Costs are metres × TIE_SCALE + preference: TIE_SCALE exceeds the largest possible sum of
# preferences (2 × MAX_PEOPLE), so the preference only ever breaks ties of total distance.
TIE_SCALE = 16_384

REASON_CODES = ("programme", "services", "no_venue", "availability", "full")


# =========================================================================== the solver (pure)

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


def _venues_fr(n: int) -> str:
    return "1 lieu" if n == 1 else f"{n} lieux"


def unassigned_reason(code: str, *, reach_m: int, count: int = 0, truncated: bool = False,
                      programme_name: str | None = None,
                      availability: Availability | None = None,
                      message: str | None = None) -> str:
    """Why a person could not be placed, in French."""
    if message:
        return message
    where = f"à moins de {km_fr(reach_m)}"
    what = f"n'accepte le {programme_name} pour ce besoin" if programme_name \
        else "ne propose ce qui est demandé"
    if code == "no_venue":
        return f"Aucun lieu {what} {where}."
    if code == "availability":
        subject = (f"Les {count} lieux les plus proches qui conviennent {where}" if truncated
                   else f"{_venues_fr(count)} {'convient' if count == 1 else 'conviennent'} "
                        f"{where}")
        when = availability_fr(availability) if availability else "aux moments indiqués"
        return (f"{subject}, mais aucun n'est ouvert ni n'a de séance avec des places libres "
                f"{when}.")
    if code == "full":
        if truncated:
            return (f"Les {count} lieux les plus proches qui conviennent {where} sont complets "
                    "(capacité de la semaine ou places des séances).")
        if count == 1:
            return (f"Le seul lieu qui convient {where} est complet (capacité de la semaine ou "
                    "places des séances).")
        return (f"Les {count} lieux qui conviennent {where} sont tous complets (capacité de la "
                "semaine ou places des séances).")
    raise ValueError(code)


# =========================================================================== the cohort (SQL)

@dataclass(frozen=True)
class PersonNeed:
    """One person of the cohort: a pseudonymous identifier and their question."""

    key: str
    question: Question


@dataclass(frozen=True)
class SessionRef:
    session_id: int
    offer_id: int
    title: str
    service: str
    starts_at: datetime
    ends_at: datetime
    seats_free: int
    text: str


@dataclass
class Assignment:
    key: str
    venue_id: int
    nom: str
    adresse: str | None
    code_postal: str | None
    commune: str
    lat: float
    lon: float
    stop_id: int | None
    stop_label: str | None
    distance_m: float
    travel_minutes: dict[str, int]
    candidate_rank: int
    kind: str  # session | opening | unknown_hours
    session: SessionRef | None
    note: str


@dataclass
class Unassigned:
    key: str
    code: str  # one of REASON_CODES
    reason: str


@dataclass
class VenueLoad:
    venue_id: int
    nom: str
    commune: str
    load: int
    capacity: int | None
    capacity_known: bool
    sessions: int


@dataclass
class CohortResult:
    reference_date: date
    assignments: list[Assignment]
    unassigned: list[Unassigned]
    venues: list[VenueLoad]
    totals: dict[str, Any]
    assumptions: dict[str, Any]
    timings: dict[str, float]
    # The last problem solved and its solution, for comparisons (bench, tests).
    problem: Problem | None = field(default=None, repr=False)
    choice: list[Option | None] = field(default_factory=list, repr=False)


@dataclass
class _Prepared:
    index: int
    need: PersonNeed
    place: Any
    programme: Any
    filters: Any
    reach: int
    services: tuple[str, ...]
    k: int = DEFAULT_CANDIDATES
    rows: list[Any] = field(default_factory=list)  # nearest row per venue, by distance
    truncated: bool = False
    options: list[Option] = field(default_factory=list)


# --- the engine's hard constraints, for many people at once -------------------------------

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_GROUP_PARAMS = ("d", "pid", "svc", "support")


def eligible_sql(f) -> str:
    """Venues, and stops of itinerant venues, that pass the engine's venue-level hard
    constraints for the filters ``f`` (``matching.services._venue_sql`` and
    ``_perimeter_sql``: status on the date, programme accepted and valid, service offered and
    covered, required support, perimeter), wherever they are."""
    from ..services import _perimeter_sql, _venue_sql

    venue = _venue_sql(f)
    sql = f"""
SELECT l.id AS lieu_id, NULL::bigint AS stop_id, l.geog
  FROM lieu l
 WHERE {venue}
   AND NOT EXISTS (SELECT 1 FROM lieu_stop st WHERE st.lieu_id = l.id)
   AND {_perimeter_sql(f, "l.code_insee", "l.geom")}
UNION ALL
SELECT s.lieu_id, s.id, s.geog
  FROM lieu_stop s JOIN lieu l ON l.id = s.lieu_id
 WHERE {venue}
   AND {_perimeter_sql(f, "s.code_insee", "s.geom")}"""
    unknown = set(_PARAM.findall(sql)) - set(_GROUP_PARAMS)
    if unknown:
        raise RuntimeError("conditions du moteur : paramètres inattendus "
                           + ", ".join(sorted(unknown)))
    return sql


def _group_key(f) -> tuple:
    """People who share the venue-level constraints (programme, date, services, support)."""
    return (f.programme_id, f.national, f.on_date, f.services, f.support)


def _group_params(f, place) -> dict[str, Any]:
    """The engine's own parameters of the venue-level conditions."""
    from ..services import candidate_params

    params = candidate_params(f, place, 0, 1)
    return {k: v for k, v in params.items() if k in _GROUP_PARAMS}


# Nearest eligible venues of each place, by the temporary table's GiST index (KNN on the
# sphere), with the exact ellipsoidal distance. A polygon place (commune, postal code) is
# searched from its point on surface, within its reach plus the polygon's radius around that
# point and with twice the rows (KNN against the polygon itself costs ~2 ms a place); the
# distances kept are exact, to the polygon (0 inside), and filtered by the reach.
_NEAREST_SQL = """
WITH places AS MATERIALIZED (
  SELECT j, g, reach, n, c,
         CASE WHEN polygon THEN ST_Length(ST_LongestLine(CAST(c AS geometry),
                                                         CAST(g AS geometry))::geography)
              ELSE 0 END AS radius
    FROM (SELECT j, CAST(g AS geography) AS g, reach, n, polygon,
                 CASE WHEN polygon THEN ST_PointOnSurface(CAST(g AS geometry))::geography
                      ELSE CAST(g AS geography) END AS c
            FROM json_to_recordset(CAST(:places AS json))
                 AS x(j int, g text, reach float8, n int, polygon boolean)) AS y
)
SELECT pl.j AS place, e.lieu_id, e.stop_id, e.knn, e.distance_m, e.fetched
  FROM places pl
 CROSS JOIN LATERAL (
   SELECT f.*, ST_Distance(f.geog, pl.g, true) AS distance_m, count(*) OVER () AS fetched
     FROM (SELECT lieu_id, stop_id, geog, geog <-> pl.c AS knn FROM {table}
            WHERE ST_DWithin(geog, pl.c, pl.reach + pl.radius)
            ORDER BY geog <-> pl.c
            LIMIT pl.n) AS f) AS e
 WHERE e.distance_m <= pl.reach
 ORDER BY pl.j, e.distance_m, e.lieu_id, e.stop_id"""


def _place_key(p: _Prepared) -> tuple[str, int, int, bool]:
    polygon = bool(p.place.is_polygon)
    return (p.place.geography, p.reach, (p.k + 10) * (2 if polygon else 1), polygon)


def fetch_candidates(session: Session, people: list[_Prepared]) -> None:
    """Fill ``rows`` (nearest row per venue, by distance, at most ``k``) and ``truncated`` of
    each person: the venue-level hard constraints once per group of people, into a temporary
    table indexed on the position, then the ``k`` nearest within reach of each distinct place.
    Availability is checked afterwards, exactly, per person (``_options_for``)."""
    import json

    groups: dict[tuple, list[_Prepared]] = {}
    for p in people:
        groups.setdefault(_group_key(p.filters), []).append(p)
    # JIT compilation of these plans costs seconds and saves nothing here.
    session.execute(text("SET LOCAL jit = off"))
    for number, members in enumerate(groups.values()):
        table = f"cohort_eligible_{number}"
        f = members[0].filters
        session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text(f"CREATE TEMPORARY TABLE {table} ON COMMIT DROP AS "
                             + eligible_sql(f)), _group_params(f, members[0].place))
        session.execute(text(f"CREATE INDEX ON {table} USING gist (geog)"))
        session.execute(text(f"ANALYZE {table}"))
        places: dict[tuple[str, int, int, bool], int] = {}
        for p in members:
            places.setdefault(_place_key(p), len(places))
        try:
            rows = session.execute(text(_NEAREST_SQL.format(table=table)), {
                "places": json.dumps([{"j": j, "g": g, "reach": reach, "n": n,
                                       "polygon": polygon}
                                      for (g, reach, n, polygon), j in places.items()])}).all()
        except DBAPIError as exc:
            # Its parameters hold where people are: keep them out of tracebacks and logs.
            raise RuntimeError("requête des lieux les plus proches de la cohorte : "
                               f"{type(exc.orig).__name__}") from None
        session.execute(text(f"DROP TABLE {table}"))
        by_place: dict[int, list] = {}
        for r in rows:
            by_place.setdefault(r.place, []).append(r)
        for p in members:
            key = _place_key(p)
            raw = by_place.get(places[key], [])
            nearest: dict[int, Any] = {}
            for r in raw:
                kept = nearest.get(r.lieu_id)
                if kept is None or (r.distance_m, r.stop_id or 0) < (kept.distance_m,
                                                                      kept.stop_id or 0):
                    nearest[r.lieu_id] = r
            ordered = sorted(nearest.values(), key=lambda r: (r.distance_m, r.lieu_id))
            p.truncated = bool(raw) and raw[0].fetched >= key[2] or len(ordered) > p.k
            p.rows = ordered[:p.k]


# --- details of the candidate venues ------------------------------------------------------

@dataclass
class _Details:
    venues: dict[int, Any] = field(default_factory=dict)
    stops: dict[int, Any] = field(default_factory=dict)
    covered: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    offers: dict[int, list] = field(default_factory=dict)
    sessions: dict[int, list] = field(default_factory=dict)
    offer_by_id: dict[int, Any] = field(default_factory=dict)
    session_by_id: dict[int, Any] = field(default_factory=dict)


def _load_details(session: Session, det: _Details, people: list[_Prepared],
                  horizon: tuple[datetime, datetime]) -> None:
    venue_ids = sorted({r.lieu_id for p in people for r in p.rows} - set(det.venues))
    stop_ids = sorted({r.stop_id for p in people for r in p.rows if r.stop_id is not None}
                      - set(det.stops))
    programme_ids = sorted({p.programme.id for p in people if p.programme is not None})
    if venue_ids:
        for r in session.execute(text(
                "SELECT id, nom, adresse, code_postal, commune, ST_Y(geom) AS lat, "
                "ST_X(geom) AS lon, horaires_osm, timezone, weekly_capacity FROM lieu "
                "WHERE id = ANY(:ids)"), {"ids": venue_ids}):
            det.venues[r.id] = r
        if programme_ids:
            for r in session.execute(text(
                    "SELECT lieu_id, programme_id, services FROM acceptation "
                    "WHERE lieu_id = ANY(:ids) AND programme_id = ANY(:pids)"),
                    {"ids": venue_ids, "pids": programme_ids}):
                det.covered[(r.lieu_id, r.programme_id)] = tuple(r.services or ())
        new_offers: list[int] = []
        for r in session.execute(text(
                "SELECT id, lieu_id, title, service FROM offre WHERE lieu_id = ANY(:ids) "
                "AND active AND format <> 'remote' ORDER BY lieu_id, id"), {"ids": venue_ids}):
            det.offers.setdefault(r.lieu_id, []).append(r)
            det.offer_by_id[r.id] = r
            new_offers.append(r.id)
        if new_offers:
            for r in session.execute(text(
                    "SELECT id, offre_id, stop_id, starts_at, ends_at, seats - seats_taken AS free "
                    "FROM seance WHERE offre_id = ANY(:ids) AND starts_at >= :h0 "
                    "AND starts_at < :h1 AND seats_taken < seats ORDER BY starts_at, id"),
                    {"ids": new_offers, "h0": horizon[0], "h1": horizon[1]}):
                det.sessions.setdefault(r.offre_id, []).append(r)
                det.session_by_id[r.id] = r
    if stop_ids:
        for r in session.execute(text(
                "SELECT id, label, adresse, horaires_osm, ST_Y(geom) AS lat, ST_X(geom) AS lon "
                "FROM lieu_stop WHERE id = ANY(:ids)"), {"ids": stop_ids}):
            det.stops[r.id] = r


class _Availability:
    """Per-run caches of the free intervals and of the opening-hours checks."""

    def __init__(self, now: datetime):
        self.now = now
        self._free: dict[tuple, list] = {}
        self._opening: dict[tuple, str | bool | None] = {}
        self.ways: dict[tuple, tuple[str | None, str | None, tuple[int, ...]]] = {}
        self.sessions: dict[tuple, list[tuple[datetime, int]]] = {}

    def free(self, av: Availability, tz: str) -> list[tuple[datetime, datetime]]:
        key = (av, tz)
        if key not in self._free:
            self._free[key] = free_intervals(av, self.now, tz)
        return self._free[key]

    def open_during(self, osm: str, tz: str, av: Availability) -> str | bool | None:
        """The first opening inside the availability in words ("ouvert lundi de 10 h à
        11 h"), True when no availability is given, False when closed then; None when the
        hours are unknown."""
        key = (osm, tz, av)
        if key not in self._opening:
            hours = engine._hours_of(osm, tz)
            if hours is None:
                found: str | bool | None = None
            elif not av.given:
                found = True
            else:
                slot = first_opening(hours, self.free(av, tz), self.now)
                found = slot.text if slot is not None else False
            self._opening[key] = found
        return self._opening[key]


def _venue_ways(p: _Prepared, row, det: _Details, avail: _Availability
                ) -> tuple[str | None, str | None, tuple[int, ...]]:
    """How a person can be received at a candidate venue (or stop): at an opening ("opening",
    "unknown_hours" or None when closed at their times) and the dated sessions with free seats
    that fit their availability, for an offer of a requested service the pass covers."""
    av = p.need.question.availability
    key = (row.lieu_id, row.stop_id, p.programme.id if p.programme else None, p.services, av)
    cached = avail.ways.get(key)
    if cached is not None:
        return cached
    venue = det.venues[row.lieu_id]
    stop = det.stops.get(row.stop_id) if row.stop_id is not None else None
    osm = stop.horaires_osm if stop is not None else venue.horaires_osm
    tz = venue.timezone
    opening = avail.open_during(osm, tz, av) if osm else None
    kind = "unknown_hours" if opening is None else ("opening" if opening else None)
    opening_text = opening if isinstance(opening, str) else None
    free = avail.free(av, tz)
    fitting = []
    for start, sid in _venue_sessions(p, row, det, avail):  # earliest first
        if len(fitting) >= SESSIONS_PER_VENUE:
            break
        for ws, we in free:
            if ws <= start < we:
                fitting.append((start, sid))
                break
    fitting.sort()
    result = (kind, opening_text, tuple(sid for _, sid in fitting[:SESSIONS_PER_VENUE]))
    avail.ways[key] = result
    return result


def _venue_sessions(p: _Prepared, row, det: _Details, avail: _Availability
                    ) -> list[tuple[datetime, int]]:
    """Sessions with free seats at a venue (or stop) for an offer of a requested service the
    person's pass covers, whenever they are: (start, id), earliest first."""
    key = (row.lieu_id, row.stop_id, p.programme.id if p.programme else None, p.services)
    cached = avail.sessions.get(key)
    if cached is not None:
        return cached
    covered = {}
    if p.programme is not None:
        covered = {row.lieu_id: det.covered.get((row.lieu_id, p.programme.id), ())}
    found = []
    for offer in det.offers.get(row.lieu_id, ()):
        if p.services and offer.service not in p.services:
            continue
        if not engine._service_covered(offer.service, row.lieu_id, covered, p.programme):
            continue
        for s in det.sessions.get(offer.id, ()):
            if row.stop_id is None or s.stop_id in (None, row.stop_id):
                found.append((s.starts_at, s.id))
    found.sort()
    avail.sessions[key] = found
    return found


def _options_for(p: _Prepared, det: _Details, avail: _Availability) -> list[Option]:
    options: list[Option] = []
    for rank, row in enumerate(p.rows, start=1):
        kind, opening_text, sessions = _venue_ways(p, row, det, avail)
        if kind is not None:
            options.append(Option(row.lieu_id, row.distance_m, kind, stop_id=row.stop_id,
                                  rank=rank, text=opening_text))
        for sid in sessions:
            options.append(Option(row.lieu_id, row.distance_m, "session", session_id=sid,
                                  stop_id=row.stop_id, rank=rank))
    return options


# --- the whole assignment -----------------------------------------------------------------

def reference_now(reference_date: date | None, now: datetime) -> datetime:
    """The instant the assignment is made at: ``now``, or the start of ``reference_date`` in
    Paris (the current instant when that date is today)."""
    if reference_date is None or reference_date == now.astimezone(PARIS).date():
        return now
    return datetime.combine(reference_date, datetime.min.time(), tzinfo=PARIS)


def _prepare(session: Session, needs: Sequence[PersonNeed], now: datetime,
             default_programme: str | None, candidates: int
             ) -> tuple[list[_Prepared], list[Unassigned], dict[int, str]]:
    """Place, programme and filters of each person (the engine's functions); early reasons."""
    from ..services import (
        DEFAULT_REACH_M,
        filters_for,
        load_programme,
        programme_problem,
        resolve_place,
    )

    places: dict[Any, Any] = resolve_places(session, [n.question.where for n in needs])
    programmes: dict[str, Any] = {}
    prepared: list[_Prepared] = []
    early: list[Unassigned] = []
    early_index: dict[int, str] = {}
    errors: dict[int, dict[str, list[str]]] = {}
    for i, need in enumerate(needs):
        q = need.question
        code = q.programme or default_programme
        try:
            if q.where not in places:
                places[q.where] = resolve_place(session, q.where)
            place = places[q.where]
            programme = None
            if code:
                if code not in programmes:
                    programmes[code] = load_programme(session, code)
                programme = programmes[code]
        except InvalidInput as exc:
            errors[i] = {k: list(v) if isinstance(v, list) else [str(v)]
                         for k, v in exc.errors.items()}
            continue
        on_date = q.availability.on_date or now.astimezone(PARIS).date()
        reach = q.reach_m() or DEFAULT_REACH_M
        services = q.services
        if programme is not None:
            problem = programme_problem(programme, on_date)
            if problem:
                early.append(Unassigned(need.key, "programme", problem))
                early_index[i] = "programme"
                continue
            if programme.allowed_services and services:
                services = tuple(s for s in services if s in programme.allowed_services)
                if not services:
                    early.append(Unassigned(need.key, "services", (
                        f"Le {programme.name} ne couvre pas "
                        + " ni ".join(f"« {s} »" for s in q.services) + ".")))
                    early_index[i] = "services"
                    continue
        f = filters_for(q, now, on_date, programme, services)
        prepared.append(_Prepared(i, need, place, programme, f, reach, services, k=candidates))
    if errors:
        raise InvalidInput(errors={"people": errors})
    return prepared, early, early_index


def resolve_places(session: Session, wheres: Sequence[Any]) -> dict[Any, Any]:
    """``matching.services.resolve_place`` for many communes and postal codes at once (the
    same SQL, grouped; tested equal). Points need no query; unknown codes are left out, for
    ``resolve_place`` to answer with its own error."""
    from ..services import Place

    found: dict[Any, Any] = {}
    communes = sorted({w.commune for w in wheres if w.commune and w.lat is None})
    postal_codes = sorted({w.postal_code for w in wheres
                           if w.postal_code and w.lat is None and not w.commune})
    by_commune: dict[str, Any] = {}
    if communes:
        by_commune = {r.code: r for r in session.execute(text(
            "SELECT code, name, ST_Y(COALESCE(point, ST_PointOnSurface(geom))) AS lat, "
            "ST_X(COALESCE(point, ST_PointOnSurface(geom))) AS lon, "
            "encode(ST_AsEWKB(COALESCE(geom, point)), 'hex') AS g, geom IS NOT NULL AS poly, "
            "greatest(abs(ST_YMin(COALESCE(geom, point))), abs(ST_YMax(COALESCE(geom, point))))"
            " AS max_abs_lat FROM commune WHERE code = ANY(:codes)"), {"codes": communes})}
    by_postal_code: dict[str, Any] = {}
    if postal_codes:
        by_postal_code = {r.pc: r for r in session.execute(text(
            "SELECT pc, names, code, n, g, ST_Y(centre) AS lat, ST_X(centre) AS lon,"
            " greatest(abs(ST_YMin(CAST(g AS geometry))), abs(ST_YMax(CAST(g AS geometry))))"
            " AS max_abs_lat FROM ("
            " SELECT pc, names, code, n, g, ST_PointOnSurface(CAST(g AS geometry)) AS centre"
            " FROM (SELECT p.code AS pc, string_agg(c.name, ', ' ORDER BY c.name) AS names,"
            "  min(c.code) AS code, count(*) AS n,"
            "  encode(ST_AsEWKB(ST_Multi(ST_Union(c.geom))), 'hex') AS g"
            "  FROM postal_code p JOIN commune c ON c.code = p.commune_code"
            "  WHERE p.code = ANY(:pcs) AND c.geom IS NOT NULL GROUP BY p.code) AS u) AS v"),
            {"pcs": postal_codes})}
    for w in wheres:
        if w in found or w.lat is not None:
            continue
        if w.commune:
            r = by_commune.get(w.commune)
            if r is not None and r.g is not None:
                found[w] = Place(f"{r.name} ({r.code})", r.lat, r.lon, r.code, "commune",
                                 bool(r.poly), r.g, max_abs_lat=r.max_abs_lat)
        elif w.postal_code:
            r = by_postal_code.get(w.postal_code)
            if r is not None and r.n and r.g is not None:
                found[w] = Place(f"{w.postal_code} ({r.names})", r.lat, r.lon,
                                 r.code if r.n == 1 else None, "postal_code", True, r.g,
                                 max_abs_lat=r.max_abs_lat)
    return found


def _horizon(now: datetime, people: list[_Prepared]) -> tuple[datetime, datetime]:
    start, end = now, now + timedelta(days=HORIZON_DAYS + 1)
    for p in people:
        if p.filters.horizon is not None:
            start = min(start, p.filters.horizon[0])
            end = max(end, p.filters.horizon[1])
    return start, end


def assign_cohort(needs: Sequence[PersonNeed], *, now: datetime,
                  reference_date: date | None = None, default_programme: str | None = None,
                  default_capacity: int | None = DEFAULT_UNKNOWN_CAPACITY, weeks: int = 1,
                  candidates: int = DEFAULT_CANDIDATES, session: Session) -> CohortResult:
    """Assign every person of the cohort to one venue (and session where one fits)."""
    if len(needs) > MAX_PEOPLE:
        raise ValueError(f"au plus {MAX_PEOPLE} personnes")
    keys = [n.key for n in needs]
    if len(set(keys)) != len(keys):
        seen: set[str] = set()
        dup = {i: {"id": ["Identifiant en double dans la cohorte."]}
               for i, k in enumerate(keys) if k in seen or seen.add(k)}
        raise InvalidInput(errors={"people": dup})
    started = clock.perf_counter()
    now = reference_now(reference_date, now)
    ref_day = now.astimezone(PARIS).date()
    prepared, early, early_index = _prepare(session, needs, now, default_programme, candidates)
    t_prepare = clock.perf_counter()

    det = _Details()
    avail = _Availability(now)
    horizon = _horizon(now, prepared)
    todo = prepared
    rounds = 0
    t_candidates = 0.0
    t_solve = 0.0
    choice: list[Option | None] = []
    while True:
        rounds += 1
        t0 = clock.perf_counter()
        fetch_candidates(session, todo)
        _load_details(session, det, todo, horizon)
        changed = False
        for p in todo:
            options = _options_for(p, det, avail)
            changed = changed or options != p.options
            p.options = options
        t1 = clock.perf_counter()
        t_candidates += t1 - t0
        if not changed and rounds > 1:
            break  # the wider search gave the people left out nothing new: same solution
        capacity: dict[int, int | None] = {}
        for v, row in det.venues.items():
            weekly = row.weekly_capacity if row.weekly_capacity is not None else default_capacity
            capacity[v] = None if weekly is None else weekly * weeks
        seats = {s.id: s.free for lst in det.sessions.values() for s in lst}
        problem = Problem([p.options for p in prepared], capacity, seats)
        choice = solve(problem)
        t2 = clock.perf_counter()
        t_solve += t2 - t1
        todo = [p for p, c in zip(prepared, choice, strict=True)
                if c is None and p.truncated and p.k < MAX_CANDIDATES]
        if not todo:
            break
        for p in todo:
            p.k = min(MAX_CANDIDATES, p.k * CANDIDATE_GROWTH)

    by_index: dict[int, Assignment | Unassigned] = {}
    loads: dict[int, int] = {}
    for p, c in zip(prepared, choice, strict=True):
        q = p.need.question
        programme_name = p.programme.name if p.programme else None
        if c is not None:
            by_index[p.index] = _assignment(p, c, det, now)
            loads[c.venue_id] = loads.get(c.venue_id, 0) + 1
            continue
        if p.options:
            venues = len({o.venue_id for o in p.options})
            code = "full"
            reason = unassigned_reason(code, reach_m=p.reach, count=venues,
                                       truncated=p.truncated, programme_name=programme_name)
        elif p.rows:
            code = "availability"
            reason = unassigned_reason(code, reach_m=p.reach, count=len(p.rows),
                                       truncated=p.truncated, availability=q.availability)
        else:
            code = "no_venue"
            reason = unassigned_reason(code, reach_m=p.reach, programme_name=programme_name)
        by_index[p.index] = Unassigned(p.need.key, code, reason)
    early_iter = iter(early)
    for i in sorted(early_index):
        by_index[i] = next(early_iter)

    ordered = [by_index[i] for i in range(len(needs))]
    assignments = [a for a in ordered if isinstance(a, Assignment)]
    unassigned = [a for a in ordered if isinstance(a, Unassigned)]
    session_people: dict[int, int] = {}
    for a in assignments:
        if a.session is not None:
            session_people[a.venue_id] = session_people.get(a.venue_id, 0) + 1
    venues = []
    for v in sorted(loads, key=lambda v: (-loads[v], v)):
        row = det.venues[v]
        venues.append(VenueLoad(v, row.nom, row.commune, loads[v], capacity.get(v),
                                row.weekly_capacity is not None, session_people.get(v, 0)))
    total = sum(a.distance_m for a in assignments)
    assumed = sum(1 for v in venues if not v.capacity_known)
    totals = {
        "people": len(needs), "assigned": len(assignments), "unassigned": len(unassigned),
        "with_session": sum(1 for a in assignments if a.session is not None),
        "total_distance_m": round(total, 1),
        "mean_distance_m": round(total / len(assignments), 1) if assignments else None,
        "max_distance_m": round(max((a.distance_m for a in assignments), default=0), 1),
        "venues_used": len(venues), "venues_with_assumed_capacity": assumed,
        "unassigned_by_reason": {code: sum(1 for u in unassigned if u.code == code)
                                 for code in REASON_CODES
                                 if any(u.code == code for u in unassigned)},
        "candidate_rounds": rounds,
    }
    cap_text = ("illimitée" if default_capacity is None
                else f"{default_capacity} personne(s) par semaine")
    assumptions = {
        "capacity": f"La capacité hebdomadaire d'un lieu (weekly_capacity) compte les personnes "
                    f"qu'il peut recevoir sur {weeks} semaine(s), séances comprises ; "
                    "rien n'est réservé (places et capacités lues, non modifiées).",
        "unknown_capacity": f"Capacité inconnue : {cap_text}.",
        "default_capacity": default_capacity,
        "weeks": weeks,
        "distance": "Distance géodésique sur l'ellipsoïde WGS 84 ; 0 dans la commune ou le "
                    "code postal de la personne.",
        "objective": "Le plus de personnes placées, puis la plus petite distance totale "
                     "(flot de coût minimal, OR-Tools) ; à distance égale, une séance datée "
                     "puis un lieu aux horaires connus.",
        "candidates": f"Les {candidates} lieux les plus proches qui respectent les contraintes "
                      f"par personne, jusqu'à {MAX_CANDIDATES} pour les personnes restées "
                      "sans place.",
        "sessions": f"Séances avec des places libres dans les {HORIZON_DAYS} jours (ou le jour "
                    "demandé), pendant les disponibilités de la personne.",
    }
    finished = clock.perf_counter()
    timings = {"prepare_s": round(t_prepare - started, 3),
               "candidates_s": round(t_candidates, 3), "solve_s": round(t_solve, 3),
               "total_s": round(finished - started, 3)}
    log.info("cohorte : %d personnes, %d placées, %d sans place, %d tour(s), %.2f s",
             len(needs), len(assignments), len(unassigned), rounds, finished - started)
    return CohortResult(ref_day, assignments, unassigned, venues, totals, assumptions, timings,
                        problem, choice)


def _assignment(p: _Prepared, c: Option, det: _Details, now: datetime) -> Assignment:
    venue = det.venues[c.venue_id]
    stop = det.stops.get(c.stop_id) if c.stop_id is not None else None
    ref = None
    if c.session_id is not None:
        s = det.session_by_id[c.session_id]
        offer = det.offer_by_id[s.offre_id]
        zone = ZoneInfo(venue.timezone)
        start, end = s.starts_at.astimezone(zone), s.ends_at.astimezone(zone)
        from directory import hours as oh

        text_ = (f"séance {relative_day_fr(start.date(), now.astimezone(zone).date())} à "
                 f"{oh.format_time_fr(start.time())} : {offer.title}")
        ref = SessionRef(s.id, offer.id, offer.title, offer.service, start, end, s.free, text_)
        note = text_
    elif c.kind == "unknown_hours":
        note = "horaires inconnus : appelez avant de vous déplacer"
    elif c.text:
        note = c.text
    else:
        note = "aux heures d'ouverture"
    in_polygon = bool(p.place.is_polygon)
    note = f"{distance_fr(c.distance_m, in_commune=in_polygon)} ; {note}"
    return Assignment(
        key=p.need.key, venue_id=c.venue_id, nom=venue.nom,
        adresse=stop.adresse if stop is not None and stop.adresse else venue.adresse,
        code_postal=venue.code_postal, commune=venue.commune,
        lat=stop.lat if stop is not None else venue.lat,
        lon=stop.lon if stop is not None else venue.lon,
        stop_id=c.stop_id, stop_label=stop.label if stop is not None else None,
        distance_m=round(c.distance_m, 1), travel_minutes=travel_minutes(c.distance_m),
        candidate_rank=c.rank, kind=c.kind, session=ref, note=note)


# --- glue for the API and the command line ------------------------------------------------

def needs_from_loaded(people: Sequence[dict[str, Any]]) -> list[PersonNeed]:
    """PersonNeeds from the output of ``CohortRequestSchema().load(...)["people"]``;
    InvalidInput with errors under ``people.<index>`` otherwise."""
    from ..question import question_from_loaded

    needs: list[PersonNeed] = []
    errors: dict[int, Any] = {}
    for i, person in enumerate(people):
        fields_ = {k: v for k, v in person.items() if k != "id"}
        try:
            needs.append(PersonNeed(person["id"], question_from_loaded(fields_)))
        except InvalidInput as exc:
            errors[i] = exc.errors
    if errors:
        raise InvalidInput(errors={"people": errors})
    return needs


def run_cohort(loaded: dict[str, Any], *, now: datetime, session: Session) -> CohortResult:
    """Assign a cohort validated by ``CohortRequestSchema``."""
    return assign_cohort(
        needs_from_loaded(loaded["people"]), now=now,
        reference_date=loaded.get("reference_date"), default_programme=loaded.get("programme"),
        default_capacity=loaded.get("default_capacity", DEFAULT_UNKNOWN_CAPACITY),
        weeks=loaded.get("weeks", 1), candidates=loaded.get("candidates", DEFAULT_CANDIDATES),
        session=session)


def result_payload(result: CohortResult) -> dict[str, Any]:
    """The result as the API's JSON (before the response schema dumps it)."""
    from dataclasses import asdict

    assignments = []
    for a in result.assignments:
        item = asdict(a)
        item["id"] = item.pop("key")
        assignments.append(item)
    unassigned = [{"id": u.key, "code": u.code, "reason": u.reason} for u in result.unassigned]
    return {"reference_date": result.reference_date, "totals": result.totals,
            "assumptions": result.assumptions, "timings": result.timings,
            "assignments": assignments, "unassigned": unassigned,
            "venues": [asdict(v) for v in result.venues]}
