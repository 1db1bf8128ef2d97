"""Jinja filters: the French wording of ``core.text`` registered once by the factory; a
package adds its own through ``add_filters`` in its ``init_app``, and a name is never
registered twice (no filter silently replaces another)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask

from . import text

FILTERS: dict[str, Callable] = {
    "capfirst": text.capfirst,
    "fr_date": text.date_fr,
    "fr_datetime": text.datetime_fr,
    "weekday_fr": text.weekday_fr,
    "duration_fr": text.duration_fr,
    "language_fr": text.language_fr,
    "euros": text.euros_fr,
    "number_fr": text.number_fr,
    "share_fr": text.share_fr,
    "distance_fr": text.distance_fr,
    "km_fr": text.km_fr,
}


def add_filters(app: Flask, filters: Mapping[str, Callable]) -> None:
    """Register ``filters``; a name already taken is a programming error."""
    taken = sorted(set(filters) & set(app.extensions.setdefault("passerelle_filters", set())))
    if taken:
        raise RuntimeError(f"filtres Jinja déjà enregistrés : {', '.join(taken)}")
    app.extensions["passerelle_filters"].update(filters)
    app.jinja_env.filters.update(filters)


def init_app(app: Flask) -> None:
    add_filters(app, FILTERS)
