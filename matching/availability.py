"""When a person is free, and the first opening or session of a venue inside that time.

No Flask, no database. Times are evaluated in the venue's own time zone: a person free
"mardi de 14 h à 17 h" is free at those wall-clock hours wherever the venue is. Opening hours
go through ``directory.hours`` (OSM parser with French public holidays).

Time that fits, written once here: an opening or a session fits the person's free time only
if they overlap for at least the offer's duration (:data:`DEFAULT_DURATION_MINUTES` when it
is unknown; a venue's opening needs the shortest of its on-site offers of the requested
services, :func:`needed_minutes`). Half an hour of opening is no slot for a one-hour
workshop. The rule has two forms, like ``directory.rules``: on real dates
(:func:`usable_part`, used by :func:`first_opening` and :func:`first_session`) and on
minutes of the week for the SQL pre-filter (:func:`fits_week_sql`, SQLAlchemy Core over the
``opening_week`` multiranges, and its Python twin :func:`fits_week`; checked equal in
``tests/matching/test_availability.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from directory import hours as oh

from .question import Availability

# How far ahead the next opening or session is looked for (when no date is given).
HORIZON_DAYS = 14
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
# How long a person needs to be received when the offer does not say (a one-hour workshop).
DEFAULT_DURATION_MINUTES = 60


@dataclass(frozen=True)
class Slot:
    """An opening or a session inside the person's availability (aware, venue's zone)."""

    start: datetime
    end: datetime
    kind: str  # "opening" | "session"
    text: str  # French: "ouvert mardi de 14 h à 17 h", "séance jeudi 3 décembre à 14 h…"
    seats_free: int | None = None
    offer_id: int | None = None


@dataclass(frozen=True)
class SessionInfo:
    offer_id: int
    starts_at: datetime
    ends_at: datetime
    seats_free: int
    duration_minutes: int | None = None  # the offer's; None: the whole session


# --------------------------------------------------------------------------- time that fits

def needed_minutes(durations: Iterable[int | None]) -> int:
    """Minutes a person needs at a venue's opening: the shortest of the ``durations`` of its
    on-site offers of the requested services (:data:`DEFAULT_DURATION_MINUTES` for an offer
    without one, and for a venue without such offers)."""
    return min((d or DEFAULT_DURATION_MINUTES for d in durations),
               default=DEFAULT_DURATION_MINUTES)


def needed_minutes_sql(offers: Iterable[ColumnElement[bool]], offer) -> ColumnElement[int]:
    """SQL twin of :func:`needed_minutes` over the rows of ``offer`` (the ``offre`` table or an
    alias) that pass ``offers`` (the venue's active on-site offers of the requested
    services)."""
    o = offer.c
    shortest = (select(func.min(func.coalesce(o.duration_minutes, DEFAULT_DURATION_MINUTES)))
                .where(*offers).scalar_subquery())
    return func.coalesce(shortest, DEFAULT_DURATION_MINUTES)


def session_minutes(session: SessionInfo) -> int:
    """Minutes of a session a person must be free for: the offer's duration when it is
    shorter than the session (a drop-in afternoon), else the whole session."""
    length = int((session.ends_at - session.starts_at).total_seconds() // 60)
    return min(length, session.duration_minutes or length)


def usable_parts(spans: Iterable[tuple[datetime, datetime]],
                 free: list[tuple[datetime, datetime]], minutes: int
                 ) -> Iterator[tuple[tuple[datetime, datetime], tuple[datetime, datetime]]]:
    """Each of the ``spans`` (openings or sessions, in time order) that overlaps one of the
    ``free`` intervals (in time order, adjacent ones joined: :func:`free_intervals`) for at
    least ``minutes`` in a row, with its first such part: ``(span, part)``. One walk through
    both lists."""
    need = timedelta(minutes=minutes)
    i = 0
    for start, end in spans:
        while i < len(free) and free[i][1] <= start:
            i += 1
        j = i
        while j < len(free) and free[j][0] < end:
            s, e = max(start, free[j][0]), min(end, free[j][1])
            if e - s >= need:
                yield (start, end), (s, e)
                break
            j += 1


def usable_part(start: datetime, end: datetime, free: list[tuple[datetime, datetime]],
                minutes: int) -> tuple[datetime, datetime] | None:
    """The first part of ``[start, end)`` inside ``free`` (as :func:`usable_parts`) that
    lasts at least ``minutes``, or None."""
    found = next(usable_parts([(start, end)], free, minutes), None)
    return found[1] if found is not None else None


def join(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted intervals with adjacent or overlapping ones joined (free all Sunday and all
    Monday is free across midnight)."""
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def fits_week(week: Iterable[tuple[int, int]] | None, window: Iterable[tuple[int, int]],
              minutes: int) -> bool:
    """Python twin of :func:`fits_week_sql`: the weekly opening ``week`` (minutes of the
    week, ``[start, end)``; None = unknown, which fits) and the ``window`` overlap for at
    least ``minutes`` in a row, across Sunday → Monday midnight included."""
    if week is None:
        return True
    pieces = []
    for a, b in week:
        for c, d in window:
            s, e = max(a, c), min(b, d)
            if s < e:
                pieces.append((s, e))
    pieces.sort()
    joined: list[list[int]] = []
    for s, e in pieces:
        if joined and s <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], e)
        else:
            joined.append([s, e])
    lengths = [e - s for s, e in joined]
    wrap = sum(e - s for s, e in joined if s == 0 or e == MINUTES_PER_WEEK)
    return max(lengths + [wrap], default=0) >= minutes


def fits_week_sql(week, window, minutes) -> ColumnElement[bool]:
    """The weekly opening ``week`` (an ``int4multirange`` column; NULL = unknown, which fits)
    and the ``window`` (an ``int4multirange``) overlap for at least ``minutes`` (an integer
    expression) in a row: the longest range of their intersection, or the two ranges that
    meet at Sunday → Monday midnight put together."""
    piece = func.unnest(week.op("*")(window)).table_valued("r").render_derived(name="piece")
    r = piece.c.r
    length = func.upper(r) - func.lower(r)
    wrap = func.sum(length).filter(or_(func.lower(r) == 0,
                                       func.upper(r) == literal(MINUTES_PER_WEEK, Integer)))
    longest = select(func.greatest(func.max(length), wrap)).select_from(piece) \
        .scalar_subquery()
    return or_(week.is_(None), and_(week.overlaps(window), longest >= minutes))


def _minutes(value: time | None, default: int) -> int:
    if value is None:
        return default
    if value == time.max:
        return MINUTES_PER_DAY
    return value.hour * 60 + value.minute


def weekly_ranges(availability: Availability) -> list[tuple[int, int]] | None:
    """Minutes-of-the-week ranges [start, end) of the availability, for the SQL pre-filter on
    ``opening_week``; None when there is no weekly constraint ("now" is handled apart)."""
    if not availability.given or availability.now:
        return None
    if availability.on_date is not None:
        days: Iterable[int] = [availability.on_date.weekday()]
    else:
        days = availability.days or range(7)
    start = _minutes(availability.time_from, 0)
    end = _minutes(availability.time_to, MINUTES_PER_DAY)
    return [(d * MINUTES_PER_DAY + start, d * MINUTES_PER_DAY + end) for d in days]


def free_intervals(availability: Availability, now: datetime, tz: str,
                   horizon_days: int = HORIZON_DAYS) -> list[tuple[datetime, datetime]]:
    """The concrete intervals when the person is free, from ``now`` on, in the zone ``tz``, in
    time order, adjacent ones joined, over ``horizon_days`` days (the cohort plans up to
    4 weeks)."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    if availability.now:
        return [(local_now, local_now + timedelta(minutes=1))]
    if not availability.given:
        return [(local_now, local_now + timedelta(days=horizon_days))]
    if availability.on_date is not None:
        days = [availability.on_date]
    else:
        today = local_now.date()
        days = [today + timedelta(days=i) for i in range(horizon_days)]
        if availability.days:
            days = [d for d in days if d.weekday() in availability.days]
    start_min = _minutes(availability.time_from, 0)
    end_min = _minutes(availability.time_to, MINUTES_PER_DAY)
    result = []
    for day in days:
        start = _at(day, start_min, zone)
        end = _at(day, end_min, zone)
        start = max(start, local_now)
        if start < end:
            result.append((start, end))
    return join(result)


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes) \
        if minutes < MINUTES_PER_DAY else \
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def first_opening(hours: oh.Hours, free: list[tuple[datetime, datetime]], now: datetime,
                  *, is_now: bool = False, minutes: int = DEFAULT_DURATION_MINUTES
                  ) -> Slot | None:
    """The first open interval of ``hours`` inside ``free`` for at least ``minutes`` (the
    usable part: clipped to ``free``). "Now" is a moment, not a window: open at it."""
    if not free:
        return None
    if is_now:
        start = free[0][0]
        if not oh.is_open(hours, start):
            return None
        spans = oh.open_intervals(hours, start, start + timedelta(days=2))
        end = spans[0][1] if spans else start + timedelta(minutes=1)
        return Slot(start, end, "opening", f"ouvert en ce moment, jusqu'à {_clock(end)}")
    free = join(free)
    spans = oh.open_intervals(hours, free[0][0], free[-1][1])
    for _, (s, e) in usable_parts(spans, free, minutes):
        day = oh.relative_day_fr(s.date(), now.astimezone(s.tzinfo).date())
        return Slot(s, e, "opening", f"ouvert {day} de {_clock(s)} à {_clock(e)}")
    return None


def first_session(sessions: Iterable[SessionInfo], free: list[tuple[datetime, datetime]],
                  now: datetime) -> Slot | None:
    """The earliest session with a free seat that the person can attend: inside ``free`` for
    at least :func:`session_minutes` (the whole session, or the offer's duration when
    shorter)."""
    if not free:
        return None
    free = join(free)
    zone = free[0][0].tzinfo
    best: SessionInfo | None = None
    best_part: tuple[datetime, datetime] | None = None
    for session in sessions:
        if session.seats_free <= 0 or best is not None and (
                (session.starts_at, session.offer_id) >= (best.starts_at, best.offer_id)):
            continue
        part = usable_part(session.starts_at.astimezone(zone), session.ends_at.astimezone(zone),
                           free, session_minutes(session))
        if part is not None:
            best, best_part = session, part
    if best is None or best_part is None:
        return None
    start = best.starts_at.astimezone(zone)
    end = best.ends_at.astimezone(zone)
    seats = f"{best.seats_free} place libre" if best.seats_free == 1 \
        else f"{best.seats_free} places libres"
    day = oh.relative_day_fr(start.date(), now.astimezone(zone).date())
    s, e = best_part
    when = f"à {_clock(start)}" if (s, e) == (start, end) else f"de {_clock(s)} à {_clock(e)}"
    return Slot(start, end, "session", f"séance {day} {when} ({seats})",
                seats_free=best.seats_free, offer_id=best.offer_id)




def _clock(value: datetime) -> str:
    if value.hour == 0 and value.minute == 0:
        return "minuit"
    return oh.format_time_fr(value.time())


def availability_fr(availability: Availability) -> str:
    """The availability in words, for hints: 'le samedi', 'mardi ou samedi de 14 h à 17 h',
    'maintenant', 'le jeudi 3 décembre'."""
    if availability.now:
        return "en ce moment"
    if availability.on_date is not None:
        when = "le " + oh.format_date_fr(availability.on_date)
    elif availability.days:
        names = [oh.DAY_NAMES_FR[d] for d in availability.days]
        when = ("le " + names[0]) if len(names) == 1 else \
            ", ".join(names[:-1]) + " ou " + names[-1]
    else:
        when = "chaque jour"
    if availability.time_from or availability.time_to:
        start = oh.format_time_fr(availability.time_from or time(0))
        end = "minuit" if availability.time_to in (None, time.max) else \
            oh.format_time_fr(availability.time_to)
        when += f" de {start} à {end}"
    return when
