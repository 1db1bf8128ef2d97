"""Cohort assignment: one venue (and a dated session where one fits) per person of a cohort,
respecting weekly capacities and session seats, minimising total travel.

The orchestration: each person's place, programme and filters (the engine's functions),
their candidates (:mod:`matching.cohort.candidates`), the min-cost flow
(:mod:`matching.cohort.solver`), the people left out while their list was cut searched again
with ``4 k`` candidates (up to ``MAX_CANDIDATES``) and the whole cohort solved again, then
the reasons and figures.

Assumptions (returned with every answer): a venue's ``weekly_capacity`` counts the people it
can take in the period (× ``weeks``), sessions included, and is shared over its openings in
proportion to their length (each dated opening takes at most its share, rounded up); the
openings offered are those that start in the period planned (``weeks`` × 7 days from the
reference instant: the capacity is stated per week, so a later opening is not the period's),
or on the date a person gave; an unknown capacity is taken as ``default_capacity`` per week
(``None`` = no limit); a person is sent to an opening or a session only where they are
free for the offer's duration; nothing is booked: seats and capacities are read, not written.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.text import distance_fr, km_fr, relative_day_fr

from ..availability import HORIZON_DAYS, availability_fr
from ..question import Availability
from ..ranking import travel_minutes
from .candidates import (
    DEFAULT_CANDIDATES,
    Details,
    OpeningCache,
    PersonNeed,
    Prepared,
    fetch_candidates,
    load_details,
    options_for,
    person_minutes,
    place_hours,
    resolve_places,
    weekly_open_minutes,
    window_capacity,
)
from .solver import MAX_PEOPLE, Option, Problem, solve

log = logging.getLogger(__name__)

MAX_CANDIDATES = 320
CANDIDATE_GROWTH = 4
DEFAULT_UNKNOWN_CAPACITY = 10  # people per week at a venue whose capacity is unknown
MAX_WEEKS = 4
PARIS = ZoneInfo("Europe/Paris")

REASON_CODES = ("programme", "services", "no_venue", "availability", "full")


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


# =========================================================================== the cohort

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


def reference_now(reference_date: date | None, now: datetime) -> datetime:
    """The instant the assignment is made at: ``now``, or the start of ``reference_date`` in
    Paris (the current instant when that date is today)."""
    if reference_date is None or reference_date == now.astimezone(PARIS).date():
        return now
    return datetime.combine(reference_date, datetime.min.time(), tzinfo=PARIS)

def _prepare(session: Session, needs: Sequence[PersonNeed], now: datetime,
             default_programme: str | None, candidates: int
             ) -> tuple[list[Prepared], list[Unassigned], dict[int, str]]:
    """Place, programme and filters of each person (the engine's functions); early reasons."""
    from ..services import (
        DEFAULT_REACH_M,
        asked_within_programme,
        filters_for,
        load_programme,
        programme_problem,
        resolve_place,
    )

    places: dict[Any, Any] = resolve_places(session, [n.question.where for n in needs])
    programmes: dict[str, Any] = {}
    prepared: list[Prepared] = []
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
        if programme is not None:
            problem = programme_problem(programme, on_date)
            if problem:
                early.append(Unassigned(need.key, "programme", problem))
                early_index[i] = "programme"
                continue
        # What was asked (services, topics) that the programme may pay for.
        services, topics, problem = asked_within_programme(q, programme)
        if problem:
            early.append(Unassigned(need.key, "services", problem))
            early_index[i] = "services"
            continue
        f = filters_for(q, now, on_date, programme, services, topics)
        prepared.append(Prepared(i, need, place, programme, f, reach, services, k=candidates,
                                 topics=topics))
    if errors:
        raise InvalidInput(errors={"people": errors})
    return prepared, early, early_index

def _horizon_days(weeks: int) -> int:
    """Days of openings and sessions looked at: the matcher's horizon, or the whole planned
    period when it is longer (3 or 4 weeks)."""
    return max(HORIZON_DAYS, 7 * weeks)


def _horizon(now: datetime, people: list[Prepared], weeks: int) -> tuple[datetime, datetime]:
    start, end = now, now + timedelta(days=_horizon_days(weeks) + 1)
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

    det = Details()
    horizon = _horizon(now, prepared, weeks)
    avail = OpeningCache(now, horizon, period_end=now + timedelta(weeks=weeks))
    todo = prepared
    rounds = 0
    t_candidates = 0.0
    t_solve = 0.0
    choice: list[Option | None] = []
    while True:
        rounds += 1
        t0 = clock.perf_counter()
        fetch_candidates(session, todo)
        load_details(session, det, todo, horizon)
        changed = False
        for p in todo:
            options = options_for(p, det, avail)
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
        windows = _window_capacities(det, avail, default_capacity)
        problem = Problem([p.options for p in prepared], capacity, seats, windows)
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
            by_index[p.index] = _assignment(p, c, det, avail)
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
                    f"qu'il peut recevoir sur {weeks} semaine(s), séances comprises ; elle est "
                    "répartie entre ses ouvertures de la semaine selon leur durée (arrondi au "
                    "supérieur) : une ouverture datée ne reçoit pas plus que sa part ; "
                    "rien n'est réservé (places et capacités lues, non modifiées).",
        "period": f"Seules les ouvertures qui commencent dans la période planifiée "
                  f"({weeks} semaine(s) à partir de la date de référence) sont proposées : la "
                  "capacité est donnée par semaine, une ouverture plus tardive n'est pas de la "
                  "période ; une personne qui indique une date se voit proposer les ouvertures "
                  "de cette date. Les séances restent celles de l'horizon (voir sessions).",
        "duration": "Une ouverture ou une séance ne convient que si la personne est libre "
                    "pendant toute la durée de l'offre (1 h quand elle n'est pas indiquée).",
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
        "sessions": f"Séances avec des places libres dans les {_horizon_days(weeks)} jours "
                    "(ou le jour "
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


def _window_capacities(det: Details, avail: OpeningCache, default_capacity: int | None
                       ) -> dict[Any, int | None]:
    """People per opening window (``candidates.window_capacity``)."""
    from ..services import hours_of

    found: dict[Any, int | None] = {}
    open_minutes: dict[tuple, int] = {}  # by (venue, stop): 7,000 windows, 600 venues
    for key, w in avail.window_by_key.items():
        venue = det.venues[key[0]]
        weekly = venue.weekly_capacity if venue.weekly_capacity is not None \
            else default_capacity
        if weekly is None:
            found[key] = None
            continue
        place = key[:2]
        if place not in open_minutes:
            open_minutes[place] = weekly_open_minutes(hours_of(*place_hours(det, *place)))
        found[key] = window_capacity(weekly, open_minutes[place], w.start, w.end)
    return found


def _assignment(p: Prepared, c: Option, det: Details, avail: OpeningCache) -> Assignment:
    now = avail.now
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
    else:
        note = None
        if c.window is not None:
            w = avail.window_by_key[c.window]
            note = avail.usable_text(*place_hours(det, c.venue_id, c.stop_id),
                                     p.need.question.availability,
                                     person_minutes(p, c.venue_id, det, avail), w.start, w.end)
        note = note or "aux heures d'ouverture"
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
