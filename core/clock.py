"""The application's clock: one per application, created by the factory, read by the API,
the pages and the commands through ``now()`` and ``today()``; services get "now" as an
argument. Tests give the factory a ``FrozenClock`` (the only fake of the clock)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask, current_app

# The day of a request or command ("today", programme validity, acceptance counts) is the
# day in metropolitan France; overseas venues convert with their own zone where it matters.
PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """The real clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock(Clock):
    """A clock that stays where it is set."""

    def __init__(self, moment: dt.datetime) -> None:
        self.set(moment)

    def set(self, moment: dt.datetime) -> None:
        _check_aware(moment)
        self.moment = moment

    def now(self) -> dt.datetime:
        return self.moment


def _check_aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("l'horloge de l'application doit donner une date avec fuseau")
    return moment


def init_app(app: Flask, clock: Clock | None = None) -> None:
    """Give the application its clock (the real one unless ``clock`` is given)."""
    app.extensions["clock"] = clock if clock is not None else Clock()


def now(app: Flask | None = None) -> dt.datetime:
    """The application's current time, aware (inside an application context)."""
    app = app if app is not None else current_app
    return _check_aware(app.extensions["clock"].now())


def today(app: Flask | None = None) -> dt.date:
    """The application's current day in Paris."""
    return now(app).astimezone(PARIS).date()
