"""Candidate venues of each person of a cohort (SQL, then the exact availability).

The matching engine's own hard-constraint query (``matching.services.eligible_places``:
programme accepted and valid on the date, perimeter, service offered and covered, required
support, open on the date — ``directory.rules``) is evaluated once per group of people
sharing those constraints, into a temporary table with a GiST index; then the ``k`` nearest
of each distinct place within the person's reach (KNN, exact ellipsoidal distance, 0 inside a
commune or postal-code polygon), all places in one ``LATERAL`` query; then the exact
availability per person (opening hours through the OSM parser, sessions with free seats), as
``matching.services`` does for one person: an opening or a session fits only if the person is
free there for the offer's duration (``matching.availability``). A person is offered a venue's
opening *windows* (its dated openings in the horizon) that fit their time, each with the
venue's capacity per opening (:func:`window_capacity`), so that nobody is sent to a window
already full. Running the engine's one-place query 2,000 times
would take about 15 ms each: the shared table makes a cohort of 2,000 a matter of seconds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import column, insert, table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from directory import hours as oh
from directory import rules

from ..availability import (
    HORIZON_DAYS,
    SessionInfo,
    first_opening,
    free_intervals,
    session_minutes,
    usable_part,
    usable_parts,
)
from ..question import Availability, Question
from ..services import (
    Place,
    candidate_params,
    commune_places,
    eligible_places,
    holiday_departement,
    hours_of,
    nearest_per_venue,
    venue_minutes,
)
from .solver import Option

DEFAULT_CANDIDATES = 20  # nearest venues per person that pass the hard constraints
SESSIONS_PER_VENUE = 3  # dated sessions offered to one person at one venue (earliest first)


@dataclass(frozen=True)
class PersonNeed:
    """One person of the cohort: a pseudonymous identifier and their question."""

    key: str
    question: Question


@dataclass
class Prepared:
    """A person ready for the search: place, programme, filters, and what was found."""

    index: int
    need: PersonNeed
    place: Any
    programme: Any
    filters: Any
    reach: int
    services: tuple[str, ...]
    k: int = DEFAULT_CANDIDATES
    topics: tuple[str, ...] = ()
    rows: list[Any] = field(default_factory=list)  # nearest row per venue, by distance
    truncated: bool = False
    options: list[Option] = field(default_factory=list)


# --- the engine's hard constraints, for many people at once -------------------------------

# Parameters of the engine's venue-level conditions (``matching.services.eligible_places``).
_GROUP_PARAMS = ("d", "pid", "svc", "top", "support")
# The temporary table of one group's eligible venues and stops (one group at a time).
_ELIGIBLE = table("cohort_eligible", column("lieu_id"), column("stop_id"), column("geog"))


def _group_key(f) -> tuple:
    """People who share the venue-level constraints (programme, date, services, topics,
    support)."""
    return (f.programme_id, f.national, f.on_date, f.services, f.topics, f.support)


def _group_params(f, place) -> dict[str, Any]:
    """The engine's own parameters of the venue-level conditions."""
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
     FROM (SELECT lieu_id, stop_id, geog, geog <-> pl.c AS knn FROM cohort_eligible
            WHERE ST_DWithin(geog, pl.c, pl.reach + pl.radius)
            ORDER BY geog <-> pl.c
            LIMIT pl.n) AS f) AS e
 WHERE e.distance_m <= pl.reach
 ORDER BY pl.j, e.distance_m, e.lieu_id, e.stop_id"""


def _place_key(p: Prepared) -> tuple[str, int, int, bool]:
    polygon = bool(p.place.is_polygon)
    return (p.place.geography, p.reach, (p.k + 10) * (2 if polygon else 1), polygon)


def fetch_candidates(session: Session, people: list[Prepared]) -> None:
    """Fill ``rows`` (nearest row per venue, by distance, at most ``k``) and ``truncated`` of
    each person: the venue-level hard constraints (the engine's own query builder,
    ``matching.services.eligible_places``) once per group of people, into a temporary table
    indexed on the position, then the ``k`` nearest within reach of each distinct place.
    Availability is checked afterwards, exactly, per person (:func:`options_for`)."""
    groups: dict[tuple, list[Prepared]] = {}
    for p in people:
        groups.setdefault(_group_key(p.filters), []).append(p)
    # JIT compilation of these plans costs seconds and saves nothing here.
    session.execute(text("SET LOCAL jit = off"))
    for members in groups.values():
        f = members[0].filters
        session.execute(text("DROP TABLE IF EXISTS cohort_eligible"))
        session.execute(text("CREATE TEMPORARY TABLE cohort_eligible (lieu_id bigint, "
                             "stop_id bigint, geog geography) ON COMMIT DROP"))
        session.execute(insert(_ELIGIBLE).from_select(["lieu_id", "stop_id", "geog"],
                                                      eligible_places(f)),
                        _group_params(f, members[0].place))
        session.execute(text("CREATE INDEX ON cohort_eligible USING gist (geog)"))
        session.execute(text("ANALYZE cohort_eligible"))
        places: dict[tuple[str, int, int, bool], int] = {}
        for p in members:
            places.setdefault(_place_key(p), len(places))
        try:
            rows = session.execute(text(_NEAREST_SQL), {
                "places": json.dumps([{"j": j, "g": g, "reach": reach, "n": n,
                                       "polygon": polygon}
                                      for (g, reach, n, polygon), j in places.items()])}).all()
        except DBAPIError as exc:
            # Its parameters hold where people are: keep them out of tracebacks and logs.
            raise RuntimeError("requête des lieux les plus proches de la cohorte : "
                               f"{type(exc.orig).__name__}") from None
        session.execute(text("DROP TABLE cohort_eligible"))
        by_place: dict[int, list] = {}
        for r in rows:
            by_place.setdefault(r.place, []).append(r)
        for p in members:
            key = _place_key(p)
            raw = by_place.get(places[key], [])
            ordered = nearest_per_venue(raw)
            p.truncated = bool(raw) and raw[0].fetched >= key[2] or len(ordered) > p.k
            p.rows = ordered[:p.k]


# --- details of the candidate venues ------------------------------------------------------

@dataclass
class Details:
    venues: dict[int, Any] = field(default_factory=dict)
    stops: dict[int, Any] = field(default_factory=dict)
    covered: dict[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)
    offers: dict[int, list] = field(default_factory=dict)
    sessions: dict[int, list] = field(default_factory=dict)
    offer_by_id: dict[int, Any] = field(default_factory=dict)
    session_by_id: dict[int, Any] = field(default_factory=dict)


def load_details(session: Session, det: Details, people: list[Prepared],
                  horizon: tuple[datetime, datetime]) -> None:
    venue_ids = sorted({r.lieu_id for p in people for r in p.rows} - set(det.venues))
    stop_ids = sorted({r.stop_id for p in people for r in p.rows if r.stop_id is not None}
                      - set(det.stops))
    programme_ids = sorted({p.programme.id for p in people if p.programme is not None})
    if venue_ids:
        for r in session.execute(text(
                "SELECT id, nom, adresse, code_postal, commune, ST_Y(geom) AS lat, "
                "ST_X(geom) AS lon, horaires_osm, timezone, code_insee, weekly_capacity "
                "FROM lieu "
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
                "SELECT id, lieu_id, title, service, topics, level, publics, active, format, "
                "duration_minutes FROM offre WHERE lieu_id = ANY(:ids) "
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


def weekly_open_minutes(hours: oh.Hours) -> int:
    """Minutes a venue is open in a week (its regular hours)."""
    return sum(b - a for a, b in oh.weekly_intervals(hours))


def window_capacity(weekly: int | None, open_minutes: int, start: datetime,
                    end: datetime) -> int | None:
    """People one opening ``[start, end)`` can take: the venue's capacity per week shared
    over its weekly opening (``open_minutes``, :func:`weekly_open_minutes`) in proportion to
    the opening's length (rounded up; the venue's own capacity for the period still holds).
    None = no limit."""
    if weekly is None:
        return None
    minutes = (end - start).total_seconds() / 60
    if open_minutes <= 0 or minutes >= open_minutes:
        return weekly
    return math.ceil(weekly * minutes / open_minutes)


@dataclass(frozen=True)
class Window:
    """A dated opening of a venue (or stop) in the horizon: ``key`` names it in the flow."""

    key: tuple[int, int | None, datetime]  # (venue, stop, start)
    start: datetime
    end: datetime


class OpeningCache:
    """Per-run caches of the free intervals, of the openings and of the ways a person can be
    received at a venue."""

    def __init__(self, now: datetime, horizon: tuple[datetime, datetime] | None = None,
                 period_end: datetime | None = None):
        self.now = now
        self.horizon = horizon or (now, now + timedelta(days=15))
        # The end of the period planned (``weeks`` × 7 days): the capacity is stated per week,
        # so an opening that starts later is not one of the period's (None: the horizon's).
        self.period_end = period_end
        self._in_period: dict[tuple, list[tuple[datetime, datetime]]] = {}
        self._free: dict[tuple, list] = {}
        self._openings: dict[tuple, list[tuple[datetime, datetime]]] = {}
        self._fitting: dict[tuple, tuple[tuple[datetime, datetime], ...] | None] = {}
        self._window_keys: dict[tuple, tuple] = {}
        self.minutes: dict[tuple, int] = {}
        self.ways: dict[tuple, tuple[str | None, tuple, tuple[int, ...]]] = {}
        self.window_by_key: dict[tuple, Window] = {}
        self.sessions: dict[tuple, list[tuple[datetime, int]]] = {}

    def free(self, av: Availability, tz: str) -> list[tuple[datetime, datetime]]:
        key = (av, tz)
        if key not in self._free:
            days = max(HORIZON_DAYS, (self.horizon[1] - self.now).days)
            self._free[key] = free_intervals(av, self.now, tz, days)
        return self._free[key]

    def openings(self, osm: str, tz: str, departement: str | None
                 ) -> list[tuple[datetime, datetime]]:
        """The openings (whole, not clipped to the horizon's start) that end in the horizon."""
        key = (osm, tz, departement)
        if key not in self._openings:
            hours = hours_of(osm, tz, departement)
            h0, h1 = self.horizon
            self._openings[key] = [] if hours is None else [
                (s, e) for s, e in oh.open_intervals(hours, h0 - timedelta(days=1), h1)
                if e > h0]
        return self._openings[key]

    def period_openings(self, osm: str, tz: str, departement: str | None
                        ) -> list[tuple[datetime, datetime]]:
        """The openings that start in the period planned (:attr:`period_end`)."""
        key = (osm, tz, departement)
        if key not in self._in_period:
            openings = self.openings(osm, tz, departement)
            self._in_period[key] = openings if self.period_end is None else [
                (s, e) for s, e in openings if s < self.period_end]
        return self._in_period[key]

    def windows(self, osm: str, tz: str, departement: str | None, av: Availability,
                minutes: int) -> tuple[tuple[datetime, datetime], ...] | None:
        """The openings a person free at ``av`` can use for ``minutes`` (for "now": the
        opening in progress): those of the period planned, or of the date the person gave;
        None when the hours are unknown."""
        key = (osm, tz, departement, av, minutes)
        if key in self._fitting:
            return self._fitting[key]
        found: tuple[tuple[datetime, datetime], ...] | None = None
        if hours_of(osm, tz, departement) is not None:
            openings = self.openings(osm, tz, departement) if av.on_date is not None \
                else self.period_openings(osm, tz, departement)
            free = self.free(av, tz)
            if av.now:
                found = tuple((s, e) for s, e in openings if s <= free[0][0] < e)
            else:
                found = tuple(span for span, _ in usable_parts(openings, free, minutes))
        self._fitting[key] = found
        return found

    def window_keys(self, venue_id: int, stop_id: int | None,
                    spans: tuple[tuple[datetime, datetime], ...]) -> tuple:
        """The flow's keys of these openings of a venue (or stop), each recorded once.
        ``spans`` is one of :meth:`windows`'s answers, kept by its cache: its identity is a
        cheaper key than its fifteen datetimes."""
        key = (venue_id, stop_id, id(spans))
        if key not in self._window_keys:
            keys = []
            for s, e in spans:
                w = Window((venue_id, stop_id, s), s, e)
                self.window_by_key.setdefault(w.key, w)
                keys.append(w.key)
            self._window_keys[key] = tuple(keys)
        return self._window_keys[key]

    def usable_text(self, osm: str, tz: str, departement: str | None, av: Availability,
                    minutes: int, start: datetime, end: datetime) -> str | None:
        """The part of the opening ``[start, end)`` the person can use, in words ("ouvert
        mardi de 18 h à 19 h")."""
        hours = hours_of(osm, tz, departement)
        if hours is None:
            return None
        free = self.free(av, tz)
        if not av.now:
            free = [(max(ws, start), min(we, end)) for ws, we in free if ws < end and we > start]
        slot = first_opening(hours, free, self.now, is_now=av.now, minutes=minutes)
        return slot.text if slot is not None else None


def place_hours(det: Details, venue_id: int, stop_id: int | None
                ) -> tuple[str | None, str, str | None]:
    """The opening hours of a venue, or of its stop, with the venue's zone and the
    département whose own public holidays apply (``matching.services.hours_of``)."""
    venue = det.venues[venue_id]
    stop = det.stops.get(stop_id) if stop_id is not None else None
    osm = stop.horaires_osm if stop is not None else venue.horaires_osm
    return osm, venue.timezone, holiday_departement(venue.code_insee)


def person_minutes(p: Prepared, venue_id: int, det: Details, avail: OpeningCache) -> int:
    """Minutes the person needs at the venue's opening (``matching.services.venue_minutes``)."""
    key = (venue_id, p.services, p.topics)
    if key not in avail.minutes:
        avail.minutes[key] = venue_minutes([o._mapping for o in det.offers.get(venue_id, ())],
                                           p.services, p.topics)
    return avail.minutes[key]


def _venue_ways(p: Prepared, row, det: Details, avail: OpeningCache
                ) -> tuple[str | None, tuple, tuple[int, ...]]:
    """How a person can be received at a candidate venue (or stop): at an opening ("opening",
    "unknown_hours" or None when no opening fits their time) with the opening windows they can
    use, and the dated sessions with free seats that fit their availability, for an offer of a
    requested service the pass covers."""
    av = p.need.question.availability
    key = (row.lieu_id, row.stop_id, p.programme.id if p.programme else None, p.services,
           p.topics, av)
    cached = avail.ways.get(key)
    if cached is not None:
        return cached
    osm, tz, departement = place_hours(det, row.lieu_id, row.stop_id)
    minutes = person_minutes(p, row.lieu_id, det, avail)
    spans = avail.windows(osm, tz, departement, av, minutes) if osm else None
    kind = "unknown_hours" if spans is None else ("opening" if spans else None)
    windows = avail.window_keys(row.lieu_id, row.stop_id, spans) if spans else ()
    free = avail.free(av, tz)
    fitting = []
    if not av.now:
        for start, sid in _venue_sessions(p, row, det, avail):  # earliest first
            if len(fitting) >= SESSIONS_PER_VENUE:
                break
            s = det.session_by_id[sid]
            info = SessionInfo(s.offre_id, s.starts_at, s.ends_at, s.free,
                               det.offer_by_id[s.offre_id].duration_minutes)
            zone = free[0][0].tzinfo if free else None
            if free and usable_part(s.starts_at.astimezone(zone), s.ends_at.astimezone(zone),
                                    free, session_minutes(info)) is not None:
                fitting.append((start, sid))
    result = (kind, windows, tuple(sid for _, sid in fitting))
    avail.ways[key] = result
    return result


def _venue_sessions(p: Prepared, row, det: Details, avail: OpeningCache
                    ) -> list[tuple[datetime, int]]:
    """Sessions with free seats at a venue (or stop) for an offer of a requested service the
    person's pass covers (``rules.covers``: service, level, publics), on a requested topic,
    whenever they are: (start, id), earliest first."""
    key = (row.lieu_id, row.stop_id, p.programme.id if p.programme else None, p.services,
           p.topics)
    cached = avail.sessions.get(key)
    if cached is not None:
        return cached
    acceptance = None
    if p.programme is not None:
        acceptance = {"services": det.covered.get((row.lieu_id, p.programme.id), ())}
    found = []
    for offer in det.offers.get(row.lieu_id, ()):
        if p.services and offer.service not in p.services:
            continue
        if p.topics and not rules.offer_on_topic(offer, p.topics):
            continue
        if p.programme is not None and not rules.covers(p.programme, acceptance, offer):
            continue
        for s in det.sessions.get(offer.id, ()):
            if row.stop_id is None or s.stop_id in (None, row.stop_id):
                found.append((s.starts_at, s.id))
    found.sort()
    avail.sessions[key] = found
    return found


def options_for(p: Prepared, det: Details, avail: OpeningCache) -> list[Option]:
    options: list[Option] = []
    for rank, row in enumerate(p.rows, start=1):
        kind, windows, sessions = _venue_ways(p, row, det, avail)
        if kind is not None:
            options.append(Option(row.lieu_id, row.distance_m, kind, stop_id=row.stop_id,
                                  rank=rank, windows=windows))
        for sid in sessions:
            options.append(Option(row.lieu_id, row.distance_m, "session", session_id=sid,
                                  stop_id=row.stop_id, rank=rank))
    return options


def resolve_places(session: Session, wheres: Sequence[Any]) -> dict[Any, Any]:
    """``matching.services.resolve_place`` for many communes and postal codes at once (the
    same SQL, grouped; tested equal). Points need no query; unknown codes are left out, for
    ``resolve_place`` to answer with its own error."""
    found: dict[Any, Any] = {}
    communes = sorted({w.commune for w in wheres if w.commune and w.lat is None})
    postal_codes = sorted({w.postal_code for w in wheres
                           if w.postal_code and w.lat is None and not w.commune})
    by_commune = commune_places(session, communes) if communes else {}
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
            if w.commune in by_commune:
                found[w] = by_commune[w.commune]
        elif w.postal_code:
            r = by_postal_code.get(w.postal_code)
            if r is not None and r.n and r.g is not None:
                found[w] = Place(f"{w.postal_code} ({r.names})", r.lat, r.lon,
                                 r.code if r.n == 1 else None, "postal_code", True, r.g,
                                 max_abs_lat=r.max_abs_lat)
    return found
