"""Time that fits: an opening or a session suits a person only if they are free there for the
offer's duration (an hour when unknown). The SQL form of the rule (evaluated by PostgreSQL on
real multiranges) agrees with its Python twin over a grid of openings, windows and durations;
the matcher (SQL pre-filter and exact check) and its French reasons follow it."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import Integer, cast, literal, select
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE

from directory import hours as oh
from matching import availability as av
from matching.question import Availability, Question, Where
from matching.services import Filters, Place, candidate_params, candidate_query, match
from tests import conftest as cat
from tests.matching.world import DEMARCHES, LAT0, LON0, PARIS, at

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=PARIS)  # a Sunday: Tuesday is "mardi"
TUESDAY = 1440
WEEK = av.MINUTES_PER_WEEK
FROM_18H = Availability(days=(1,), time_from=dt.time(18))


def _multirange(ranges) -> str:
    return "{" + ",".join(f"[{a},{b})" for a, b in ranges) + "}"


# --------------------------------------------------------------------------- the twins

OPENINGS = (
    [], [(TUESDAY + 1080, TUESDAY + 1110)],  # Tuesday 18:00-18:30
    [(TUESDAY + 1020, TUESDAY + 1140)],  # Tuesday 17:00-19:00
    [(TUESDAY + 600, TUESDAY + 720), (TUESDAY + 1080, TUESDAY + 1170)],
    [(0, 30), (WEEK - 30, WEEK)],  # Sunday 23:30 - Monday 00:30
    [(0, WEEK)],
)
WINDOWS = (
    [(TUESDAY + 1080, TUESDAY + 1440)],  # Tuesday from 18:00
    [(TUESDAY + 840, TUESDAY + 1020), (3 * 1440 + 840, 3 * 1440 + 1020)],
    [(0, 1440), (6 * 1440, WEEK)],  # Monday and Sunday
    [(6 * 1440, WEEK)],  # Sunday only
)


def test_fits_week_sql_and_python_agree(db_session):
    cases = list(itertools.product(OPENINGS + (None,), WINDOWS, (15, 30, 60, 90, 120)))
    for week, window, minutes in cases:
        stmt = select(av.fits_week_sql(
            cast(literal(None if week is None else _multirange(week)), INT4MULTIRANGE),
            cast(literal(_multirange(window)), INT4MULTIRANGE), literal(minutes, Integer)))
        in_sql = db_session.execute(stmt).scalar_one()
        assert in_sql is av.fits_week(week, window, minutes), (week, window, minutes)


def test_fits_week_needs_the_duration_in_a_row():
    tuesday_from_18 = WINDOWS[0]
    assert not av.fits_week(OPENINGS[1], tuesday_from_18, 60)  # 30 minutes
    assert av.fits_week(OPENINGS[1], tuesday_from_18, 30)
    assert av.fits_week(OPENINGS[2], tuesday_from_18, 60)  # 18:00-19:00 of 17:00-19:00
    assert not av.fits_week(OPENINGS[2], tuesday_from_18, 61)
    # Across Sunday -> Monday midnight, when free on both days.
    assert av.fits_week(OPENINGS[4], WINDOWS[2], 60)
    assert not av.fits_week(OPENINGS[4], WINDOWS[3], 60)
    assert av.fits_week(None, tuesday_from_18, 600)  # unknown hours: kept


def test_needed_minutes_sql_and_python_agree(db_session):
    prog = cat.programme(db_session)
    bare = cat.venue(db_session, *at(1), nom="Sans offre")
    mixed = cat.venue(db_session, *at(2), nom="Offres")
    for venue in (bare, mixed):
        cat.accept(db_session, venue, prog)
    cat.offer(db_session, mixed, DEMARCHES, duration=90)
    cat.offer(db_session, mixed, DEMARCHES, duration=None)  # an hour
    cat.offer(db_session, mixed, DEMARCHES, format="remote", duration=20)  # not on site
    from directory.models import Offer

    o = Offer.__table__.alias("o")
    for venue, durations in ((bare, []), (mixed, [90, None])):
        sql = db_session.execute(select(av.needed_minutes_sql(
            [o.c.lieu_id == venue.id, o.c.active, o.c.format != "remote"], o))).scalar_one()
        assert sql == av.needed_minutes(durations) == 60


# --------------------------------------------------------------------------- on real dates

def test_half_an_hour_is_no_slot_for_an_hour():
    """« Libre à partir de 18 h » and « ouvert mardi de 18 h à 18 h 30 »: no match."""
    free = av.free_intervals(FROM_18H, NOW, "Europe/Paris")
    assert av.first_opening(oh.parse("Tu 18:00-18:30"), free, NOW) is None
    assert av.first_opening(oh.parse("Tu 18:00-18:30"), free, NOW, minutes=30).text == \
        "ouvert mardi de 18 h à 18 h 30"
    slot = av.first_opening(oh.parse("Tu 17:00-19:00"), free, NOW)
    assert slot.text == "ouvert mardi de 18 h à 19 h"  # the usable part
    # Without an end, a person free all Sunday and all Monday is free across midnight.
    both = av.free_intervals(Availability(days=(0, 6)), NOW, "Europe/Paris")
    assert av.first_opening(oh.parse("Su 23:30-24:00; Mo 00:00-00:30"), both, NOW) is not None
    sunday = av.free_intervals(Availability(days=(6,)), NOW, "Europe/Paris")
    assert av.first_opening(oh.parse("Su 23:30-24:00; Mo 00:00-00:30"), sunday, NOW) is None


def test_a_session_fits_for_its_duration():
    free = av.free_intervals(FROM_18H, NOW, "Europe/Paris")
    tuesday = dt.datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    whole = av.SessionInfo(1, tuesday, tuesday + dt.timedelta(hours=2), 4)
    assert av.first_session([whole], free, NOW) is None  # misses its first hour
    drop_in = av.SessionInfo(2, tuesday, tuesday + dt.timedelta(hours=2), 4, duration_minutes=60)
    slot = av.first_session([whole, drop_in], free, NOW)
    assert slot.offer_id == 2 and slot.text == "séance mardi de 18 h à 19 h (4 places libres)"
    inside = av.SessionInfo(3, tuesday + dt.timedelta(hours=2), tuesday + dt.timedelta(hours=3),
                            1)
    assert av.first_session([inside], free, NOW).text == "séance mardi à 19 h (1 place libre)"


# --------------------------------------------------------------------------- the matcher

def _question(**kwargs) -> Question:
    return Question(where=Where(lat=LAT0, lon=LON0), programme="pass-test",
                    services=(DEMARCHES,), availability=FROM_18H, **kwargs)


def test_the_matcher_wants_the_duration_in_sql_and_in_python(db_session):
    prog = cat.programme(db_session)
    short = cat.venue(db_session, *at(1), horaires="Tu 18:00-18:30", nom="Court",
                      services=[DEMARCHES])
    long_ = cat.venue(db_session, *at(2), horaires="Tu 17:00-19:00", nom="Long",
                      services=[DEMARCHES])
    quick = cat.venue(db_session, *at(3), horaires="Tu 18:00-18:30", nom="Rapide",
                      services=[DEMARCHES])
    cat.offer(db_session, quick, DEMARCHES, duration=30, title="Question rapide")
    slow = cat.venue(db_session, *at(4), horaires="Tu 17:00-19:00", nom="Lent",
                     services=[DEMARCHES])
    cat.offer(db_session, slow, DEMARCHES, duration=90, title="Atelier long")
    for venue in (short, long_, quick, slow):
        cat.accept(db_session, venue, prog)
    result = match(_question(), now=NOW, limit=10, session=db_session)
    assert [r.nom for r in result.results] == ["Long", "Rapide"]
    assert result.results[0].next_slot.text == "ouvert mardi de 18 h à 19 h"
    assert "ouvert mardi de 18 h à 19 h" in result.results[0].reasons
    assert "ouvert mardi de 18 h à 18 h 30" in result.results[1].reasons
    # The SQL pre-filter alone already leaves out the venues open too briefly.
    f = Filters(on_date=NOW.date(), programme_id=prog.id, national=True,
                services=(DEMARCHES,), weekly=tuple(av.weekly_ranges(FROM_18H)),
                horizon=(NOW, NOW + dt.timedelta(days=15)))
    place = Place("ici", LAT0, LON0, None, "point", False, f"SRID=4326;POINT({LON0} {LAT0})",
                  abs(LAT0))
    rows = db_session.execute(candidate_query(f), candidate_params(f, place, 80_000, 50)).all()
    assert {r.lieu_id for r in rows if r.lieu_id is not None} == {long_.id, quick.id}
