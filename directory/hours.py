"""Opening hours of venues: parsing, evaluation and French wording.

A pure module (no Flask, no database) over the OpenStreetMap ``opening_hours`` syntax, evaluated
by the ``opening_hours`` module of the ``opening-hours-py`` package.

Every expression is evaluated in the venue's own time zone and with the French public-holiday
calendar (``country="FR"``): without them the parser silently ignores ``PH off`` and shows
venues open on Christmas day. The parser only knows the national calendar; the regional
holidays come from the ``holidays`` package (:func:`public_holidays`): Good Friday and
26 December in Moselle, Bas-Rhin and Haut-Rhin (given by the venue's ``departement``), the
abolition-of-slavery days and the others overseas (given by the time zone, or the
département). For such a venue, each rule whose day selector names ``PH`` is repeated, right
after itself, for the regional dates of :data:`HOLIDAY_YEARS` (``PH off`` → ``2026 Apr 03,
2026 Dec 26 off``), so that ``PH`` rules also apply on them. ``SH`` (school holidays) is
parsed but never matches.

Datetimes: an aware datetime is converted to the venue's time zone; a naive one is read as the
venue's local wall-clock time. Results follow the input: naive in, naive local out; aware in,
aware out in the venue's time zone.

Weekly intervals (for SQL, stored as an ``int4multirange``): minutes of the week, 0 = Monday
00:00, 10080 = next Monday 00:00, half-open ``[start, end)``. They are computed over the
*reference year*: the ISO weeks of 2025 that contain no French public holiday and no change of
UTC offset in the venue's time zone. ``weekly_intervals(h)`` is their **union** (the venue is open
at that slot in at least one reference week: a superset, safe for a SQL pre-filter whose
candidates are then checked on real dates with :func:`is_open` / :func:`next_opening`);
``weekly_intervals(h, every_week=True)`` is their **intersection** (open at that slot every
reference week). ``Hours.regular`` says whether both agree, i.e. whether the SQL filter is exact
apart from public holidays. Expressions tied to other years (``2024 Mo 10:00-12:00``) have no
weekly intervals in the reference year. An "unknown" state counts as not open everywhere.
A weekly filter must be computed in each venue's own zone: use :func:`week_window` for "free on
Tuesday 14:00–17:00" and :func:`minute_of_week` with the venue's zone for "open now".

Import support: :func:`days_to_osm` turns per-day columns into OSM syntax and
:func:`text_to_osm` free French text that names its days ("lundi au samedi de 10h à 18h");
both follow a strict grammar and raise :class:`InvalidHours` quoting what they do not
understand, so that the importer keeps the text and flags it. Nothing is ever guessed.

Known defect worked around: opening-hours-py 2.1.4 gives wrong ``intervals()`` for a fallback
rule without selector (``Mo-Fr 09:00-12:00 || unknown``); see :func:`_fallback_intervals`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package
from opening_hours import OpeningHours, ParserError, State

from core.text import (  # noqa: F401  (the French wording of hours, used through this module)
    DAY_NAMES_FR,
    MONTH_NAMES_FR,
    format_date_fr,
    format_time_fr,
    join_fr,
    relative_day_fr,
    strip_accents,
)

__all__ = [
    "DEFAULT_TZ",
    "MINUTES_PER_WEEK",
    "Hours",
    "InvalidHours",
    "cell_to_ranges",
    "days_to_osm",
    "text_to_osm",
    "describe_day",
    "describe_next_opening",
    "describe_week",
    "departement_of_code_insee",
    "format_date_fr",
    "format_time_fr",
    "is_open",
    "is_public_holiday",
    "public_holidays",
    "minute_of_week",
    "next_opening",
    "open_intervals",
    "parse",
    "reference_weeks",
    "timezone_for_code_insee",
    "timezone_for_departement",
    "timezone_for_postal_code",
    "week_window",
    "weekly_intervals",
]

DEFAULT_TZ = "Europe/Paris"
COUNTRY = "FR"
MINUTES_PER_DAY = 1440
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
REFERENCE_YEAR = 2025

OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


class InvalidHours(ValueError):
    """An opening-hours text that cannot be used as it is; the message is French."""

    def __init__(
        self,
        message_fr: str,
        *,
        text: str | None = None,
        day: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message_fr)
        self.message_fr = message_fr
        self.text = text
        self.day = day
        self.detail = detail  # the parser's own (English) explanation, for logs


# --------------------------------------------------------------------------- time zones

_TZ_BY_DEPARTEMENT = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
    "977": "America/St_Barthelemy",
    "978": "America/Marigot",
    "986": "Pacific/Wallis",
    "987": "Pacific/Tahiti",
    "988": "Pacific/Noumea",
}
# Saint-Barthélemy and Saint-Martin kept the Guadeloupe postal prefix 971.
_TZ_BY_POSTAL_CODE = {"97133": "America/St_Barthelemy", "97150": "America/Marigot"}


def timezone_for_departement(code: str) -> str:
    """IANA time zone of a département or overseas collectivity code ('33', '2A', '974')."""
    return _TZ_BY_DEPARTEMENT.get(str(code).strip().upper(), DEFAULT_TZ)


def departement_of_code_insee(code_insee: str | None) -> str | None:
    """Département or overseas collectivity of a commune ('57463' → '57', '97411' → '974')."""
    code = str(code_insee or "").strip().upper()
    if not code:
        return None
    return code[:3] if code.startswith(("97", "98")) else code[:2]


def timezone_for_code_insee(code_insee: str) -> str:
    """IANA time zone of a commune from its code INSEE ('97411' → Indian/Reunion)."""
    return timezone_for_departement(departement_of_code_insee(code_insee) or "")


def timezone_for_postal_code(postal_code: str) -> str:
    """IANA time zone of a postal code ('97400' → Indian/Reunion, '97133' → St_Barthelemy)."""
    code = str(postal_code).strip()
    if code in _TZ_BY_POSTAL_CODE:
        return _TZ_BY_POSTAL_CODE[code]
    return timezone_for_departement(code[:3]) if code.startswith(("97", "98")) else DEFAULT_TZ


# --------------------------------------------------------------------------- public holidays

# Subdivisions of the ``holidays`` package's French calendar, by département or collectivity.
_HOLIDAY_SUBDIVISION = {
    "57": "57", "67": "6AE", "68": "6AE",  # Alsace-Moselle
    "971": "971", "972": "972", "973": "973", "974": "974", "976": "976",
    "975": "PM", "977": "BL", "978": "MF", "986": "WF", "987": "PF", "988": "NC",
}  # fmt: skip
_DEPARTEMENT_BY_TZ = {tz: code for code, tz in _TZ_BY_DEPARTEMENT.items()}
# Départements whose own holidays the time zone does not tell (overseas ones it does):
# the metropolitan keys of the table above, Alsace-Moselle.
REGIONAL_HOLIDAY_DEPARTEMENTS = frozenset(code for code in _HOLIDAY_SUBDIVISION
                                          if code not in _TZ_BY_DEPARTEMENT)
# Years for which regional holidays are written into a venue's expression (see the docstring).
HOLIDAY_YEARS = range(REFERENCE_YEAR - 1, REFERENCE_YEAR + 16)


def holiday_subdivision(tz: str = DEFAULT_TZ, departement: str | None = None) -> str | None:
    """The ``holidays`` subdivision of a venue: from its département when given ('57', '974'),
    else from its time zone (overseas only); None for the national calendar alone."""
    code = str(departement).strip().upper() if departement else _DEPARTEMENT_BY_TZ.get(tz)
    return _HOLIDAY_SUBDIVISION.get(code or "")


@functools.lru_cache(maxsize=32)
def public_holidays(subdivision: str | None = None) -> holidays_package.HolidayBase:
    """French public holidays, national and those of ``subdivision``, names in French."""
    return holidays_package.France(subdiv=subdivision, years=HOLIDAY_YEARS, language="fr")


@functools.lru_cache(maxsize=32)
def _regional_dates(subdivision: str | None) -> str:
    """The regional holidays of :data:`HOLIDAY_YEARS` as an OSM date list ('' if none)."""
    if subdivision is None:
        return ""
    national = public_holidays(None)
    days = sorted(d for d in public_holidays(subdivision) if d not in national)
    return ",".join(f"{d.year} {d.strftime('%b')} {d.day:02d}" for d in days)


_DAYS = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?|PH|SH"
_PH_RULE = re.compile(rf"^(?:(?:{_DAYS}),)*PH(?:,(?:{_DAYS}))*\s+(?P<rest>\S.*)$")


def _with_regional_holidays(osm: str, subdivision: str | None) -> str:
    """``osm`` with each ``PH`` rule repeated for the regional holidays (see the docstring).
    Expressions with fallback rules (``||``) or quoted comments are left as they are."""
    dates = _regional_dates(subdivision)
    if not dates or "PH" not in osm or "||" in osm or '"' in osm:
        return osm
    rules = []
    for rule in osm.split(";"):
        rules.append(rule)
        match = _PH_RULE.match(rule.strip())
        if match:
            rules.append(f" {dates} {match.group('rest')}")
    return ";".join(rules)


@functools.lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"fuseau horaire inconnu : {tz!r}") from exc


# --------------------------------------------------------------------------- parsing

_PARSER_POSITION = re.compile(r"-->\s*(\d+):(\d+)")


def _split_fallback(osm: str) -> list[str]:
    """The rules around each fallback separator "||", ignoring quoted comments."""
    pieces, current, quoted, i = [], [], False, 0
    while i < len(osm):
        if osm[i] == '"':
            quoted = not quoted
        elif not quoted and osm.startswith("||", i):
            pieces.append("".join(current).strip())
            current, i = [], i + 2
            continue
        current.append(osm[i])
        i += 1
    pieces.append("".join(current).strip())
    return pieces


@dataclass(frozen=True)
class Hours:
    """A validated OSM opening-hours expression attached to the venue's time zone.

    ``osm`` is the text exactly as given (only surrounding whitespace removed by :func:`parse`);
    it is never rewritten. ``canonical`` is the parser's own rendering, for display only.
    """

    osm: str
    tz: str = DEFAULT_TZ
    departement: str | None = None  # for Alsace-Moselle's holidays (overseas: from ``tz``)
    _oh: OpeningHours = field(init=False, repr=False, compare=False, hash=False)
    _given: OpeningHours = field(init=False, repr=False, compare=False, hash=False)  # as given
    # The rules of a fallback expression ("A || B"), each parsed alone; see _raw_intervals.
    _parts: tuple[OpeningHours, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        zone = _zone(self.tz)
        expression = _with_regional_holidays(
            self.osm, holiday_subdivision(self.tz, self.departement))
        try:
            oh = OpeningHours(self.osm, timezone=zone, country=COUNTRY)
        except (ParserError, SyntaxError) as exc:
            detail = str(exc)
            where = _PARSER_POSITION.search(detail)
            position = f" (erreur au caractère {where.group(2)})" if where else ""
            shown = self.osm if len(self.osm) <= 200 else self.osm[:200] + "…"
            if not self.osm:
                message = "horaires vides"
            else:
                message = (
                    f"horaires non conformes à la syntaxe OpenStreetMap : « {shown} »{position}"
                )
            raise InvalidHours(message, text=self.osm, detail=detail) from None
        object.__setattr__(self, "_given", oh)
        if expression != self.osm:
            oh = OpeningHours(expression, timezone=zone, country=COUNTRY)
        object.__setattr__(self, "_oh", oh)
        parts: tuple[OpeningHours, ...] = ()
        pieces = _split_fallback(self.osm)
        if len(pieces) > 1:
            parts = tuple(OpeningHours(p, timezone=zone, country=COUNTRY) for p in pieces)
        object.__setattr__(self, "_parts", parts)

    def __reduce__(self):
        return (type(self), (self.osm, self.tz, self.departement))

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.tz)

    @property
    def canonical(self) -> str:
        return str(self._given)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(str(w) for w in self._given.warnings)

    @property
    def regular(self) -> bool:
        """True when every reference week has the same opening (see the module docstring)."""
        union, common = _weekly(self.osm, self.tz)
        return union == common


def parse(osm: str, tz: str = DEFAULT_TZ, departement: str | None = None) -> Hours:
    """Validate an OSM opening_hours string; raises :class:`InvalidHours` (French message).

    Only surrounding whitespace is removed: the string is never corrected.
    An unknown time zone raises ``ValueError`` (a programming error, not bad data).
    """
    if not isinstance(osm, str):
        raise InvalidHours("horaires absents ou illisibles", text=None)
    return Hours(osm.strip(), tz, departement)


# --------------------------------------------------------------------------- evaluation


def _wall(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time made valid: a time skipped by a clock change moves forward (02:30 on
    the spring-forward night is 03:30), which the parser requires."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(_UTC).astimezone(zone)


def _local(hours: Hours, at: datetime) -> datetime:
    """``at`` as an aware datetime in the venue's zone (naive = venue wall-clock time)."""
    if at.tzinfo is None or at.utcoffset() is None:
        at = at.replace(tzinfo=hours.zone)
    return at.astimezone(_UTC).astimezone(hours.zone)


def _out(value: datetime, naive: bool) -> datetime:
    return value.replace(tzinfo=None) if naive else value


def _is_naive(at: datetime) -> bool:
    return at.tzinfo is None or at.utcoffset() is None


def is_open(hours: Hours, at: datetime) -> bool:
    """Whether the venue is open at ``at`` (an "unknown" state counts as not open)."""
    return bool(hours._oh.is_open(_local(hours, at)))


def _raw_intervals(hours: Hours, start: datetime, end: datetime):
    """(start, end, state, comment) over [start, end), aware in the venue's zone."""
    if hours._parts:
        yield from _fallback_intervals(hours, start, end)
        return
    for s, e, state, comment in hours._oh.intervals(start, end):
        if e is None:  # the library leaves the last interval open-ended when unbounded
            e = end
        yield max(s, start), min(e, end), state, comment


def _fallback_intervals(hours: Hours, start: datetime, end: datetime):
    """Intervals of an expression with a fallback rule ("Mo-Fr 09:00-12:00 || unknown").

    opening-hours-py 2.1.4 answers ``state()`` correctly for these, but its ``next_change()``
    and ``intervals()`` treat a fallback without selector as never changing (one interval over
    the whole range). The state can only change where one of the rules taken alone changes or
    at midnight (when the rule that applies to the day switches), so the state is read at
    each of those instants.
    """
    points = {start, end}
    for part in hours._parts:
        for s, e, _state, _comment in part.intervals(start, end):
            points.update(p for p in (s, e) if p is not None and start < p < end)
    day = start.date() + timedelta(days=1)
    while day <= end.date():
        midnight = _wall(day, time(0), hours.zone)
        if start < midnight < end:
            points.add(midnight)
        day += timedelta(days=1)
    ordered = sorted(points)
    current = None
    for a, b in zip(ordered, ordered[1:], strict=False):
        state, comment = hours._oh.state(a)
        if current and current[2] == state and current[3] == comment:
            current[1] = b
            continue
        if current:
            yield tuple(current)
        current = [a, b, state, comment]
    if current:
        yield tuple(current)


def _open_with_comments(hours: Hours, start: datetime, end: datetime):
    """Merged open intervals with their comment, aware in the venue's zone."""
    merged: list[list] = []
    for s, e, state, comment in _raw_intervals(hours, start, end):
        if state != State.OPEN or s >= e:
            continue
        if merged and merged[-1][1] >= s and merged[-1][2] == comment:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e, comment])
    return [(s, e, c) for s, e, c in merged]


def open_intervals(hours: Hours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The open intervals within [start, end), adjacent ones merged, in the venue's local time."""
    naive = _is_naive(start)
    s, e = _local(hours, start), _local(hours, end)
    if s >= e:
        return []
    result: list[tuple[datetime, datetime]] = []
    for a, b, _ in _open_with_comments(hours, s, e):
        if result and result[-1][1] >= a:
            result[-1] = (result[-1][0], max(result[-1][1], b))
        else:
            result.append((a, b))
    return [(_out(a, naive), _out(b, naive)) for a, b in result]


def next_opening(hours: Hours, after: datetime, within_days: int = 14) -> datetime | None:
    """``after`` itself if open then, else the start of the next open interval within
    ``within_days`` days, else None."""
    if is_open(hours, after):
        return after
    start = _local(hours, after)
    for s, _e, state, _c in _raw_intervals(hours, start, start + timedelta(days=within_days)):
        if state == State.OPEN:
            return _out(s, _is_naive(after))
    return None


def is_public_holiday(day: date, tz: str = DEFAULT_TZ, departement: str | None = None) -> bool:
    """Whether ``day`` is a public holiday where the venue is: national, plus the regional
    ones of its département (Alsace-Moselle) or overseas territory (from ``tz``)."""
    return day in public_holidays(holiday_subdivision(tz, departement))


# --------------------------------------------------------------------------- weekly intervals

Ranges = tuple[tuple[int, int], ...]


@functools.lru_cache(maxsize=32)
def reference_weeks(tz: str = DEFAULT_TZ) -> tuple[date, ...]:
    """Mondays of the ISO weeks of the reference year used for weekly intervals: no French
    public holiday, and no change of UTC offset in ``tz`` (so that wall-clock minutes of the
    week are well defined)."""
    zone = _zone(tz)
    monday = date.fromisocalendar(REFERENCE_YEAR, 1, 1)
    weeks = []
    while monday.isocalendar()[0] == REFERENCE_YEAR:
        days = [monday + timedelta(days=i) for i in range(7)]
        start = _wall(monday, time(0), zone)
        end = _wall(monday + timedelta(days=7), time(0), zone)
        if start.utcoffset() == end.utcoffset() and not any(is_public_holiday(d, tz) for d in days):
            weeks.append(monday)
        monday += timedelta(days=7)
    return tuple(weeks)


def _merge(ranges) -> Ranges:
    out: list[list[int]] = []
    for s, e in sorted(ranges):
        if s >= e:
            continue
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return tuple((s, e) for s, e in out)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if s < e:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return _merge(out)


def _wall_minutes(value: datetime, origin: date) -> int:
    return (value.date() - origin).days * MINUTES_PER_DAY + value.hour * 60 + value.minute


# Selectors that make an expression differ from one week to another; comments are removed first.
_VARYING = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|week|easter|sunrise|sunset|dawn|dusk)"
    r"|\d{4}|\[",
    re.IGNORECASE,
)
_COMMENT = re.compile(r'"[^"]*"')


@functools.lru_cache(maxsize=4096)
def _weekly(osm: str, tz: str) -> tuple[Ranges, Ranges]:
    """(union, intersection) of the weekly open ranges over the reference weeks."""
    hours = Hours(osm, tz)
    weeks = reference_weeks(tz)
    if not _VARYING.search(_COMMENT.sub("", hours.canonical)):
        # Same opening every PH-free week: one week is enough (about 10 times faster).
        weeks = weeks[:1]
    return _fold_weeks(hours, weeks)


def _fold_weeks(hours: Hours, weeks: tuple[date, ...]) -> tuple[Ranges, Ranges]:
    zone = hours.zone
    origin = weeks[0]
    start = _wall(origin, time(0), zone)
    end = _wall(weeks[-1] + timedelta(days=7), time(0), zone)
    per_week: dict[int, list[tuple[int, int]]] = {(w - origin).days // 7: [] for w in weeks}
    for s, e, state, _c in _raw_intervals(hours, start, end):
        if state != State.OPEN:
            continue
        a, b = _wall_minutes(s, origin), _wall_minutes(e, origin)
        first, last = a // MINUTES_PER_WEEK, (b - 1) // MINUTES_PER_WEEK
        for k in range(first, last + 1):
            if k in per_week:
                base = k * MINUTES_PER_WEEK
                per_week[k].append((max(a, base) - base, min(b, base + MINUTES_PER_WEEK) - base))
    merged = [_merge(r) for r in per_week.values()]
    union = _merge(r for week in merged for r in week)
    common = merged[0]
    for week in merged[1:]:
        common = _intersect(common, week)
    return union, common


def weekly_intervals(hours: Hours, every_week: bool = False) -> list[tuple[int, int]]:
    """Typical weekly opening as minute-of-week ranges [start, end), 0 = Monday 00:00.

    Union over the reference weeks (default), or, with ``every_week=True``, the slots open in
    every reference week. Adjacent ranges are merged; an opening across Sunday→Monday midnight
    appears as two ranges, ``(…, 10080)`` and ``(0, …)``; "24/7" gives ``[(0, 10080)]``.
    """
    union, common = _weekly(hours.osm, hours.tz)
    return list(common if every_week else union)


def minute_of_week(at: datetime, tz: str | None = None) -> int:
    """Minute of the week (0 = Monday 00:00) of ``at``'s wall clock; with ``tz``, an aware
    ``at`` is first converted to that zone (to compare with a venue's weekly intervals)."""
    if tz is not None and not _is_naive(at):
        at = at.astimezone(_zone(tz))
    return at.weekday() * MINUTES_PER_DAY + at.hour * 60 + at.minute


def week_window(weekday: int, start: time, end: time) -> list[tuple[int, int]]:
    """Minute-of-week ranges of a window on a weekday (0 = Monday), e.g. Tuesday 14:00–17:00 →
    ``[(2280, 2460)]``, to test against weekly intervals (SQL: ``opening_week && window``).

    ``end`` at or before ``start`` runs past midnight (``time(0)`` = midnight); a Sunday
    window past midnight continues on Monday and gives two ranges.
    """
    if not 0 <= weekday <= 6:
        raise ValueError(f"jour de la semaine hors de 0–6 : {weekday}")
    a = weekday * MINUTES_PER_DAY + start.hour * 60 + start.minute
    length = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) % MINUTES_PER_DAY
    b = a + (length or MINUTES_PER_DAY)
    if b <= MINUTES_PER_WEEK:
        return [(a, b)]
    return [(0, b - MINUTES_PER_WEEK), (a, MINUTES_PER_WEEK)]


# --------------------------------------------------------------------------- French wording


def _format_minutes(minutes: int, *, end: bool = False) -> str:
    minutes %= MINUTES_PER_DAY
    if end and minutes == 0:
        return "minuit"
    return format_time_fr(time(minutes // 60, minutes % 60))


def describe_day(hours: Hours, day: date, today: date | None = None) -> str:
    """One day in plain French: "ouvert aujourd'hui de 9 h à 12 h et de 14 h à 18 h 30",
    "fermé aujourd'hui", "ouvert mardi de 14 h à 17 h", "fermé le 25 décembre (jour férié)".

    ``today`` gives relative words (aujourd'hui, demain, the weekday within the week);
    without it the date is spelt out.
    """
    zone = hours.zone
    day_start = _wall(day, time(0), zone)
    day_end = _wall(day + timedelta(days=1), time(0), zone)
    window = _open_with_comments(hours, day_start - timedelta(days=1), day_end + timedelta(days=1))
    # merge regardless of comments to get true extents, keeping the first comment
    pieces: list[list] = []
    for s, e, c in window:
        if pieces and pieces[-1][1] >= s:
            pieces[-1][1] = max(pieces[-1][1], e)
            pieces[-1][2] = pieces[-1][2] or c
        else:
            pieces.append([s, e, c])
    pieces = [p for p in pieces if p[0] < day_end and p[1] > day_start]
    holiday = is_public_holiday(day, hours.tz, hours.departement)
    when = relative_day_fr(day, today)
    if holiday and when not in ("aujourd'hui", "demain"):
        when = "le " + format_date_fr(day, weekday=False)
    suffix = " (jour férié)" if holiday else ""
    if not pieces:
        unknown = [
            c for s, e, st, c in _raw_intervals(hours, day_start, day_end) if st == State.UNKNOWN
        ]
        if unknown:
            note = next((c for c in unknown if c), "")
            return f"horaires à confirmer {when}{suffix}" + (f" ({note})" if note else "")
        return f"fermé {when}{suffix}"
    texts = []
    for s, e, comment in pieces:
        if s <= day_start and e >= day_end:
            text = "toute la journée"
        elif s < day_start:
            text = f"jusqu'à {_format_minutes(e.hour * 60 + e.minute, end=True)}"
        else:
            end_text = _format_minutes(e.hour * 60 + e.minute, end=True)
            text = f"de {format_time_fr(s.time())} à {end_text}"
        texts.append(text + (f" ({comment})" if comment else ""))
    return f"ouvert {when}{suffix} {join_fr(texts)}"


def describe_week(hours: Hours) -> list[tuple[str, str]]:
    """Seven (day name, hours) rows from the weekly intervals: ("lundi", "9 h – 12 h, 14 h –
    18 h 30") or ("mardi", "fermé"). An opening past midnight is shown on the day it starts
    ("22 h – 2 h"); a day open at that time only in some weeks says "(certaines semaines)"."""
    union, common = _weekly(hours.osm, hours.tz)
    rows = []
    for d in range(7):
        texts = _day_texts(_wrap(union), d)
        if not texts:
            rows.append((DAY_NAMES_FR[d], "fermé"))
            continue
        text = ", ".join(texts)
        if texts != _day_texts(_wrap(common), d):
            text += " (certaines semaines)"
        rows.append((DAY_NAMES_FR[d], text))
    return rows


def _wrap(ranges: Ranges) -> list[tuple[int, int]]:
    """Join a range ending on Sunday midnight with the one starting Monday 00:00."""
    ranges = list(ranges)
    if len(ranges) >= 2 and ranges[0][0] == 0 and ranges[-1][1] == MINUTES_PER_WEEK:
        first = ranges.pop(0)
        last = ranges.pop()
        ranges.append((last[0], MINUTES_PER_WEEK + first[1]))
    return ranges


def _day_texts(ranges: list[tuple[int, int]], d: int) -> list[str]:
    lo, hi = d * MINUTES_PER_DAY, (d + 1) * MINUTES_PER_DAY
    texts = []
    for s, e in ranges:
        if e - s >= MINUTES_PER_WEEK:
            texts.append("24 h/24")
            continue
        for shift in (0, MINUTES_PER_WEEK):  # a wrapped range seen from Monday
            a, b = s - shift, e - shift
            if b <= lo or a >= hi:
                continue
            if a <= lo and b >= hi:
                texts.append("24 h/24")
            elif a >= lo and b - a < MINUTES_PER_DAY:
                texts.append(f"{_format_minutes(a)} – {_format_minutes(b, end=True)}")
            elif a >= lo:
                texts.append(f"{_format_minutes(a)} – minuit")
            elif b < hi and b - a >= MINUTES_PER_DAY:
                texts.append(f"0 h – {_format_minutes(b, end=True)}")
    return texts


def describe_next_opening(hours: Hours, after: datetime, within_days: int = 14) -> str:
    """The next opening in words: « ouvert en ce moment, jusqu'à 18 h 30 », « prochaine
    ouverture : jeudi 28 novembre à 9 h » or « aucune ouverture prévue dans les 14 prochains
    jours »."""
    local = _local(hours, after)
    if is_open(hours, after):
        spans = open_intervals(hours, local, local + timedelta(days=within_days))
        if spans and spans[0][1] < local + timedelta(days=within_days):
            end = spans[0][1]
            end_text = _format_minutes(end.hour * 60 + end.minute, end=True)
            if end.date() != local.date() and not (
                end.hour == 0 and end.minute == 0 and end.date() == local.date() + timedelta(1)
            ):
                end_text = f"{format_date_fr(end.date())} à {end_text}"
            return f"ouvert en ce moment, jusqu'à {end_text}"
        return "ouvert en ce moment"
    start = next_opening(hours, local, within_days)
    if start is None:
        return f"aucune ouverture prévue dans les {within_days} prochains jours"
    delta = (start.date() - local.date()).days
    when = {0: "aujourd'hui", 1: "demain"}.get(delta) or format_date_fr(start.date())
    return f"prochaine ouverture : {when} à {format_time_fr(start.time())}"


# --------------------------------------------------------------------------- import support

_DAY_KEYS = {
    **{name: i for i, name in enumerate(DAY_NAMES_FR)},
    **{name[:3]: i for i, name in enumerate(DAY_NAMES_FR)},
    **{code.lower(): i for i, code in enumerate(OSM_DAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}
_CLOSED_WORDS = {"", "-", "–", "ferme", "fermee", "fermeture", "non", "closed", "off"}
_ALL_DAY = re.compile(r"^24\s*h?\s*/\s*24\s*h?$")

# one clock time: 9h, 9 h 30, 09:00, 9h00, 9.30, 14 (bare hour, only as a range start)
_T = r"(\d{1,2})\s*(?:(?:h|:|\.)\s*(\d{2}(?!\s*h))?)?"
_RANGE = re.compile(
    rf"(?:de\s+|entre\s+)?{_T}\s*(?:-|–|—|jusqu'?a|au|a|>)\s*{_T}",
    re.IGNORECASE,
)
_FILLER = re.compile(r"^(?:\s|[,;/+&]|\bet\b|\bpuis\b|\bpuis de\b|\bde\b)*$", re.IGNORECASE)


def _fold(text: str) -> str:
    text = strip_accents(text)
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()


def _clock(hour: str, minute: str | None) -> int:
    h, m = int(hour), int(minute or 0)
    if h > 24 or m > 59 or (h == 24 and m):
        raise ValueError
    return h * 60 + m


def cell_to_ranges(text: str) -> list[tuple[int, int]]:
    """Minute-of-day ranges of one day's cell ("9h-12h / 14h-18h", "de 9h à 12h", "fermé" → []).

    Raises ``ValueError`` when any part of the cell is not understood.
    """
    folded = _fold(text)
    if folded in _CLOSED_WORDS:
        return []
    if _ALL_DAY.match(folded):
        return [(0, MINUTES_PER_DAY)]
    ranges: list[tuple[int, int]] = []
    position = 0
    for match in _RANGE.finditer(folded):
        if not _FILLER.match(folded[position : match.start()]):
            raise ValueError(folded[position : match.start()])
        start, end = _clock(match.group(1), match.group(2)), _clock(match.group(3), match.group(4))
        has_unit = bool(re.search(r"\d\s*(h|:|\.)", match.group(0)))
        if not has_unit or end <= start:
            raise ValueError(match.group(0))
        ranges.append((start, end))
        position = match.end()
    if not ranges or not _FILLER.match(folded[position:]):
        raise ValueError(folded[position:])
    ranges.sort()
    for (_, e1), (s2, _) in zip(ranges, ranges[1:], strict=False):
        if s2 < e1:
            raise ValueError("chevauchement")
    return ranges


def _osm_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def days_to_osm(mapping: Mapping[str, str | None], public_holidays: str | None = None) -> str:
    """Per-day columns → a validated OSM string.

    ``{"lundi": "9h-12h / 14h-18h", "mardi": "9h-12h / 14h-18h", "mercredi": "09:00 - 12:30"}``
    → ``"Mo-Tu 09:00-12:00,14:00-18:00; We 09:00-12:30"``. Identical consecutive days are
    grouped (and groups with the same hours joined with ","); missing or empty days are closed.
    ``public_holidays="off"`` appends ``; PH off`` (the columns themselves say nothing of
    holidays, so nothing is assumed by default). Raises :class:`InvalidHours` naming the day
    and the text of a cell that cannot be understood, or when no day is open.
    """
    per_day: dict[int, tuple[tuple[int, int], ...]] = {}
    for key, value in mapping.items():
        day = _DAY_KEYS.get(_fold(str(key)).rstrip("."))
        if day is None:
            raise InvalidHours(f"jour inconnu : « {key} »", text=str(key), day=str(key))
        if day in per_day:
            raise InvalidHours(f"jour donné deux fois : « {key} »", text=str(key), day=str(key))
        text = "" if value is None else str(value)
        try:
            per_day[day] = tuple(cell_to_ranges(text))
        except ValueError:
            raise InvalidHours(
                f"horaires du {DAY_NAMES_FR[day]} non compris : « {text.strip()} »",
                text=text,
                day=DAY_NAMES_FR[day],
            ) from None
    return _compose(per_day, public_holidays, text=str(dict(mapping)))


def _compose(
    per_day: Mapping[int, tuple[tuple[int, int], ...]],
    public_holidays: str | None,
    text: str,
    quoted: bool = False,
) -> str:
    if not any(per_day.values()):
        message = "aucun jour d'ouverture dans les horaires"
        raise InvalidHours(message + (f" : « {text.strip()} »" if quoted else ""), text=text)
    # runs of identical consecutive days
    runs: list[tuple[int, int, tuple]] = []
    for d in range(7):
        ranges = per_day.get(d, ())
        if runs and runs[-1][1] == d - 1 and runs[-1][2] == ranges:
            runs[-1] = (runs[-1][0], d, ranges)
        else:
            runs.append((d, d, ranges))
    groups: dict[tuple, list[str]] = {}
    for first, last, ranges in runs:
        if not ranges:
            continue
        span = OSM_DAYS[first] if first == last else f"{OSM_DAYS[first]}-{OSM_DAYS[last]}"
        groups.setdefault(ranges, []).append(span)
    rules = [
        ",".join(spans) + " " + ",".join(f"{_osm_time(s)}-{_osm_time(e)}" for s, e in ranges)
        for ranges, spans in groups.items()
    ]
    if public_holidays:
        rules.append(f"PH {public_holidays}")
    osm = "; ".join(rules)
    parse(osm)  # must hold by construction; fails loudly otherwise
    return osm


_DAY_WORD = r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)s?"
_DAY_SPEC = re.compile(
    rf"\btous les jours\b"
    rf"|\b(?:(?:du|le|les)\s+)?{_DAY_WORD}\b"
    rf"(?:\s*(?:,|\bet\b|\bau\b|\ba\b|-)\s*(?:(?:le|les)\s+)?{_DAY_WORD}\b)*"
)
_DAY_TOKEN = re.compile(rf"({_DAY_WORD})|\b(au|a)\b|(-)")
# Parts of the day a text may name beside its times; checked against them, then dropped.
_PARTS_OF_DAY = {
    "matin": lambda s, e: s < 720 and e <= 840,
    "apres-midi": lambda s, e: s >= 720,
    "apres midi": lambda s, e: s >= 720,
    "soir": lambda s, e: s >= 1020,
}
_PART_OF_DAY = re.compile(r"\b(matin|apres-midi|apres midi|soir)\b")


def _spec_days(spec: str) -> list[int]:
    if spec.startswith("tous les jours"):
        return list(range(7))
    days: list[int] = []
    pending_range = False
    for day_word, to_word, dash in _DAY_TOKEN.findall(spec):
        if day_word:
            day = DAY_NAMES_FR.index(day_word.rstrip("s"))
            if pending_range and days:
                first = days[-1]
                days.extend((first + i) % 7 for i in range(1, (day - first) % 7 + 1))
            else:
                days.append(day)
            pending_range = False
        elif to_word or dash:
            pending_range = True
    return days


def text_to_osm(text: str, public_holidays: str | None = None) -> str:
    """Free French text naming days and times → a validated OSM string.

    Understands what local files actually contain: "lundi au samedi de 10h à 18h", "Lundi,
    Mardi et Vendredi de 9H30 à 10H30 puis 11h à 12H et Vendredi de 14h à 15H", "mardi matin
    9h-10h30", "le lundi et le mardi de 17H30 à 19H30, le mercredi de 10h à 12H". Anything else
    ("tous les 15 jours", "sur rendez-vous", a time without a day) raises :class:`InvalidHours`
    quoting the text, so that the importer keeps the text and flags it.
    """
    raw = "" if text is None else str(text)
    folded = _fold(raw)

    def refuse(reason: str) -> InvalidHours:
        return InvalidHours(f"horaires non compris ({reason}) : « {raw.strip()} »", text=raw)

    specs = list(_DAY_SPEC.finditer(folded))
    if not specs:
        raise refuse("aucun jour de la semaine")
    if folded[: specs[0].start()].strip(" ,;.:"):
        raise refuse(f"texte avant le premier jour : « {folded[: specs[0].start()].strip()} »")
    per_day: dict[int, list[tuple[int, int]]] = {}
    for i, spec in enumerate(specs):
        end = specs[i + 1].start() if i + 1 < len(specs) else len(folded)
        times = folded[spec.end() : end].strip(" ,;.:")
        times = re.sub(r"(?:\s|,)*\bet\b$", "", times).strip(" ,;.:")
        parts = _PART_OF_DAY.findall(times)
        times = _PART_OF_DAY.sub(" ", times).strip(" ,;.:")
        if not times:
            raise refuse(f"pas d'heure pour « {spec.group(0)} »")
        try:
            ranges = cell_to_ranges(times)
        except ValueError:
            raise refuse(f"« {times} »") from None
        if not ranges and parts:
            raise refuse(f"« {' '.join(parts)} » sans heure")
        for part in parts:
            if not all(_PARTS_OF_DAY[part](s, e) for s, e in ranges):
                raise refuse(f"« {part} » ne correspond pas aux heures")
        for day in _spec_days(spec.group(0)):
            per_day.setdefault(day, []).extend(ranges)
    merged: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, ranges in per_day.items():
        ranges = sorted(set(ranges))
        for (_, e1), (s2, _) in zip(ranges, ranges[1:], strict=False):
            if s2 < e1:
                raise refuse(f"horaires qui se chevauchent le {DAY_NAMES_FR[day]}")
        merged[day] = tuple(ranges)
    return _compose(merged, public_holidays, text=raw, quoted=True)
