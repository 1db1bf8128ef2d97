"""When a person is free, and the first opening or session of a venue inside that time.

Pure (no Flask, no database). Times are evaluated in the venue's own time zone: a person free
"mardi de 14 h à 17 h" is free at those wall-clock hours wherever the venue is. Opening hours
go through ``directory.hours`` (OSM parser with French public holidays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from directory import hours as oh

from .question import Availability

# How far ahead the next opening or session is looked for (when no date is given).
HORIZON_DAYS = 14
MINUTES_PER_DAY = 1440


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


def free_intervals(availability: Availability, now: datetime, tz: str
                   ) -> list[tuple[datetime, datetime]]:
    """The concrete intervals when the person is free, from ``now`` on, in the zone ``tz``."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    if availability.now:
        return [(local_now, local_now + timedelta(minutes=1))]
    if not availability.given:
        return [(local_now, local_now + timedelta(days=HORIZON_DAYS))]
    if availability.on_date is not None:
        days = [availability.on_date]
    else:
        today = local_now.date()
        days = [today + timedelta(days=i) for i in range(HORIZON_DAYS)]
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
    return result


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minutes) \
        if minutes < MINUTES_PER_DAY else \
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def first_opening(hours: oh.Hours, free: list[tuple[datetime, datetime]], now: datetime,
                  *, is_now: bool = False) -> Slot | None:
    """The first open interval of ``hours`` inside ``free`` (clipped to it)."""
    if not free:
        return None
    if is_now:
        start = free[0][0]
        if not oh.is_open(hours, start):
            return None
        spans = oh.open_intervals(hours, start, start + timedelta(days=2))
        end = spans[0][1] if spans else start + timedelta(minutes=1)
        return Slot(start, end, "opening", f"ouvert en ce moment, jusqu'à {_clock(end)}")
    spans = oh.open_intervals(hours, free[0][0], free[-1][1])
    i = 0
    for ws, we in free:
        while i < len(spans) and spans[i][1] <= ws:
            i += 1
        j = i
        while j < len(spans) and spans[j][0] < we:
            s, e = max(spans[j][0], ws), min(spans[j][1], we)
            if s < e:
                day = oh.relative_day_fr(s.date(), now.astimezone(s.tzinfo).date())
                return Slot(s, e, "opening", f"ouvert {day} de {_clock(s)} à {_clock(e)}")
            j += 1
    return None


def first_session(sessions: Iterable[SessionInfo], free: list[tuple[datetime, datetime]],
                  now: datetime) -> Slot | None:
    """The earliest session with a free seat that starts inside ``free``."""
    if not free:
        return None
    best: SessionInfo | None = None
    for session in sessions:
        if session.seats_free <= 0:
            continue
        start = session.starts_at.astimezone(free[0][0].tzinfo)
        if any(ws <= start < we for ws, we in free) and (
                best is None or (session.starts_at, session.offer_id)
                < (best.starts_at, best.offer_id)):
            best = session
    if best is None:
        return None
    start = best.starts_at.astimezone(free[0][0].tzinfo)
    end = best.ends_at.astimezone(free[0][0].tzinfo)
    seats = f"{best.seats_free} place libre" if best.seats_free == 1 \
        else f"{best.seats_free} places libres"
    text = f"séance {oh.relative_day_fr(start.date(), now.astimezone(start.tzinfo).date())} " \
           f"à {_clock(start)} ({seats})"
    return Slot(start, end, "session", text, seats_free=best.seats_free, offer_id=best.offer_id)




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
