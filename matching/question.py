"""The question a beneficiary or a prescriber asks: where, which pass, what, when, how far.

Pure: dataclasses and their parsing from the API fields (a query string or a JSON body,
validated by ``matching.schemas.QuestionSchema``). Errors are ``InvalidInput`` (HTTP 422) with
French messages per field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from core.errors import InvalidInput
from core.text import slug

# Days as the API accepts them -> 0 = Monday … 6 = Sunday.
DAY_CODES: dict[str, int] = {
    **{name: i for i, name in enumerate(
        ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"))},
    **{code: i for i, code in enumerate(("mo", "tu", "we", "th", "fr", "sa", "su"))},
}

# Travel modes: speed in km/h applied to the road-like distance = geodesic × DETOUR_FACTOR.
TRAVEL_MODES: dict[str, float] = {"walk": 4.5, "bike": 15.0, "transit": 20.0, "car": 50.0}
TRAVEL_MODE_LABELS: dict[str, str] = {"walk": "à pied", "bike": "à vélo",
                                      "transit": "en transports en commun",
                                      "car": "en voiture"}
DETOUR_FACTOR = 1.3

# Support values that have a plain-language alias in the API.
SUPPORT_ALIASES = {"mobilite-reduite": "Handicaps moteurs"}


def canonical(value: str, vocabulary: tuple[str, ...]) -> str:
    """The vocabulary value given exactly or by its slug."""
    if value in vocabulary:
        return value
    wanted = slug(value)
    for candidate in vocabulary:
        if slug(candidate) == wanted:
            return candidate
    raise ValueError(value)


@dataclass(frozen=True)
class Where:
    """Where the person is: exactly one of a point, an address, a postal code, a commune."""

    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    postal_code: str | None = None
    commune: str | None = None  # code INSEE: a polygon, venues inside are at distance 0


@dataclass(frozen=True)
class Availability:
    """When the person is free. Empty = any time (then no availability constraint)."""

    days: tuple[int, ...] = ()  # 0 = lundi … 6 = dimanche; empty with times = every day
    time_from: time | None = None
    time_to: time | None = None  # time(0) is not used; 24:00 is time.max
    now: bool = False
    on_date: date | None = None

    @property
    def given(self) -> bool:
        return bool(self.days or self.time_from or self.time_to or self.now or self.on_date)


@dataclass(frozen=True)
class Question:
    where: Where
    programme: str | None = None
    # What the person wants to learn: topic codes (directory.vocabulary.TOPICS), answered by
    # a venue's offer on it. ``services`` (the standard's nine broad ones) is still accepted.
    topics: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    level: int | None = None
    publics: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    availability: Availability = field(default_factory=Availability)
    max_distance_m: int | None = None
    travel_mode: str | None = None
    max_minutes: int | None = None

    @property
    def has_preferences(self) -> bool:
        return bool(self.level or self.publics or self.languages or self.formats
                    or len(self.services) > 1 or len(self.topics) > 1)

    def reach_m(self) -> int | None:
        """The distance limit asked for, in geodesic metres (None = the default search)."""
        if self.max_distance_m is not None:
            return self.max_distance_m
        if self.travel_mode and self.max_minutes:
            km = TRAVEL_MODES[self.travel_mode] * self.max_minutes / 60 / DETOUR_FACTOR
            return max(100, int(km * 1000))
        return None


def parse_time(text: str) -> time:
    """'14:00', '9h', '9h30', '24:00' (= end of day)."""
    match = re.match(r"^([01]?\d|2[0-4])[:hH]([0-5]\d)?$", text.strip())
    if not match:
        raise ValueError(text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour == 24:
        if minute:
            raise ValueError(text)
        return time.max
    return time(hour, minute)


def question_from_loaded(data: Mapping[str, Any]) -> Question:
    """Build the Question from the output of ``QuestionSchema().load``."""
    from directory.vocabulary import (
        OFFER_FORMATS,
        PRISE_EN_CHARGE_SPECIFIQUE,
        PUBLICS_SPECIFIQUEMENT_ADRESSES,
        SERVICES,
        topic_of,
    )

    errors: dict[str, list[str]] = {}
    times: dict[str, time | None] = {}
    for name in ("time_from", "time_to"):
        try:
            times[name] = parse_time(data[name]) if data.get(name) else None
        except ValueError:
            times[name] = None
            errors[name] = ["Heure attendue au format HH:MM (de 00:00 à 24:00)."]
    time_from, time_to = times["time_from"], times["time_to"]
    if time_from and time_to and time_from >= time_to:
        errors["time_to"] = ["L'heure de fin doit suivre l'heure de début."]
    if errors:
        raise InvalidInput(errors=errors)

    def unique(values) -> tuple:
        return tuple(dict.fromkeys(values))

    support = [SUPPORT_ALIASES.get(slug(v), v) for v in data.get("support") or ()]
    return Question(
        where=Where(lat=data.get("lat"), lon=data.get("lon"), address=data.get("address"),
                    postal_code=data.get("postal_code"),
                    commune=data["commune"].upper() if data.get("commune") else None),
        programme=data.get("programme"),
        topics=unique(topic_of(v).code for v in data.get("topics") or ()),
        services=unique(canonical(v, SERVICES) for v in data.get("services") or ()),
        level=data.get("level"),
        publics=unique(canonical(v, PUBLICS_SPECIFIQUEMENT_ADRESSES)
                       for v in data.get("publics") or ()),
        support=unique(canonical(v, PRISE_EN_CHARGE_SPECIFIQUE) for v in support),
        languages=unique(data.get("languages") or ()),
        formats=unique(canonical(v, OFFER_FORMATS) for v in data.get("formats") or ()),
        availability=Availability(
            days=tuple(sorted({DAY_CODES[d.lower()] for d in data.get("days") or ()})),
            time_from=time_from, time_to=time_to, now=bool(data.get("now")),
            on_date=data.get("date")),
        max_distance_m=data.get("max_distance_m"),
        travel_mode=data.get("travel_mode"),
        max_minutes=data.get("max_minutes"),
    )
