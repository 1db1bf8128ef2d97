"""Small builders of test catalogues for the matcher (on top of tests/directory/factories)."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.dialects.postgresql import Range

from directory import hours as oh
from directory.models import Acceptance, Offer, Programme, TrainingSession, VenueStop
from tests.directory.factories import make_venue, point

_codes = itertools.count(1)


def week(osm: str | None, tz: str = "Europe/Paris"):
    if not osm:
        return None
    return [Range(a, b, bounds="[)") for a, b in oh.weekly_intervals(oh.parse(osm, tz))]


def venue(session, lon: float, lat: float, *, horaires: str | None = None, **fields):
    """A venue at (lon, lat) with valid OSM hours (or none)."""
    values = {"geom": point(lon, lat), "horaires": horaires, "horaires_osm": horaires,
              "horaires_valides": horaires is not None, "opening_week": week(horaires)}
    values.update(fields)
    return make_venue(session, **values)


def programme(session, code: str = "pass-test", name: str = "Pass Numérique Test", *,
              perimeter_codes=("fr",), valid_from=dt.date(2026, 1, 1), valid_to=None,
              allowed_services=()):
    from directory.programmes import save_programme

    prog, _ = save_programme(session, code=code, name=name, perimeter_codes=perimeter_codes,
                             valid_from=valid_from, valid_to=valid_to,
                             allowed_services=allowed_services)
    return prog


def accept(session, lieu, prog: Programme, *, valid_from=dt.date(2026, 1, 1), valid_to=None,
           services=()):
    acc = Acceptance(lieu_id=lieu.id, programme_id=prog.id, valid_from=valid_from,
                     valid_to=valid_to, services=list(services))
    session.add(acc)
    session.flush()
    return acc


def offer(session, lieu, service: str, *, level=None, format="individual", cheques=1,
          languages=("fr",), publics=(), horaires=None, title=None):
    n = next(_codes)
    o = Offer(lieu_id=lieu.id, code=f"offre-{n}", title=title or f"Atelier {n}", service=service,
              level=level, format=format, cheques_required=cheques, languages=list(languages),
              publics=list(publics), horaires=horaires, opening_week=week(horaires))
    session.add(o)
    session.flush()
    return o


def seance(session, o: Offer, starts_at: dt.datetime, *, hours=2, seats=8, taken=0, stop=None):
    s = TrainingSession(offre_id=o.id, starts_at=starts_at,
                        ends_at=starts_at + dt.timedelta(hours=hours), seats=seats,
                        seats_taken=taken, stop_id=stop.id if stop is not None else None)
    session.add(s)
    session.flush()
    return s


def stop(session, lieu, lon: float, lat: float, label: str, *, horaires=None, position=0,
         code_insee=None):
    s = VenueStop(lieu_id=lieu.id, position=position, label=label, geom=point(lon, lat),
                  horaires=horaires, horaires_osm=horaires, opening_week=week(horaires),
                  code_insee=code_insee)
    session.add(s)
    session.flush()
    return s
