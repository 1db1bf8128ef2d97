"""Demo data over real territories (the session ``geography`` fixture: Gironde and a few
other départements): deterministic, idempotent, plausible."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from directory import demo
from directory import hours as hours_module
from directory.models import Acceptance, Offer, Programme, TrainingSession, Venue, VenueStop
from directory.vocabulary import SERVICES, TYPOLOGIES

REFERENCE = dt.date(2026, 11, 26)


@pytest.fixture
def loaded(geography, db_session):
    result = demo.load_demo(db_session, reference_date=REFERENCE, region_code="75", seed=7)
    return result


def test_demo_refuses_to_run_without_territories(runner, geography):
    result = runner.invoke(args=["demo", "load", "--region", "27"])  # no commune loaded
    assert result.exit_code == 1
    assert "n'est pas chargée" in result.output
    assert "flask --app app geodata load" in result.output


def test_demo_is_idempotent_and_deterministic(geography, db_session, loaded):
    assert loaded.venues_created > 300 and loaded.rows_written > 0
    first = db_session.execute(select(Venue.source_id, Venue.nom, Venue.content_hash)
                               .order_by(Venue.source_id)).all()
    again = demo.load_demo(db_session, reference_date=REFERENCE, region_code="75", seed=7)
    assert again.rows_written == 0
    assert again.venues_unchanged == loaded.venues_created
    assert "Aucune écriture" in again.summary()
    # The same arguments plan exactly the same catalogue.
    planned_a, _ = demo.plan(db_session, "75", REFERENCE, 7)
    planned_b, _ = demo.plan(db_session, "75", REFERENCE, 7)
    assert [v.content() for v in planned_a] == [v.content() for v in planned_b]
    assert len(planned_a) == len(first)
    # Another reference date moves sessions only; another seed gives another catalogue.
    next_day, _ = demo.plan(db_session, "75", REFERENCE + dt.timedelta(days=1), 7)
    assert [v.source_id for v in next_day] == [v.source_id for v in planned_a]
    assert [v.values["nom"] for v in next_day] == [v.values["nom"] for v in planned_a]
    other_seed, _ = demo.plan(db_session, "75", REFERENCE, 8)
    assert [v.values["nom"] for v in other_seed] != [v.values["nom"] for v in planned_a]


def test_demo_cli_second_run_writes_nothing(runner, geography):
    result = runner.invoke(args=["demo", "load", "--date", "2026-11-26"])
    assert result.exit_code == 0, result.output
    assert "Lieux de démonstration" in result.output and "créés" in result.output
    result = runner.invoke(args=["demo", "load", "--date", "2026-11-26"])
    assert result.exit_code == 0, result.output
    assert "Aucune écriture : la démonstration était déjà à jour." in result.output


def test_demo_venues_are_at_town_halls_and_in_proportion_to_population(db_session, loaded):
    rows = db_session.execute(text(
        "SELECT c.code, c.population, count(l.id) FROM commune c "
        "LEFT JOIN lieu l ON l.code_insee = c.code AND l.source = 'demo' "
        "AND NOT 'Itinérant' = ANY(l.itinerance) "
        "WHERE c.region_code = '75' GROUP BY c.code, c.population")).all()
    for code, population, count in rows:
        expected = population / demo.INHABITANTS_PER_VENUE
        assert int(expected) <= count <= int(expected) + 1, code
    bordeaux = next(count for code, _, count in rows if code == "33063")
    assert bordeaux >= 50
    # The first venue of each commune is at its town hall; every venue is in its commune
    # (town halls may sit up to 2 km outside a simplified polygon).
    at_town_hall = db_session.scalar(text(
        "SELECT count(*) FROM lieu l JOIN commune c ON c.code = l.code_insee "
        "WHERE l.source = 'demo' AND l.source_id LIKE '%-01' "
        "AND ST_Equals(l.geom, COALESCE(c.town_hall_point, c.point))"))
    firsts = db_session.scalar(text(
        "SELECT count(*) FROM lieu WHERE source = 'demo' AND source_id LIKE '%-01'"))
    assert at_town_hall == firsts > 200
    outside = db_session.scalar(text(
        "SELECT count(*) FROM lieu l JOIN commune c ON c.code = l.code_insee "
        "WHERE l.source = 'demo' AND NOT ST_DWithin(l.geog, c.geom::geography, 2500)"))
    assert outside == 0


def test_demo_content_is_valid_and_varied(db_session, loaded):
    venues = db_session.scalars(select(Venue).where(Venue.source == "demo")).all()
    typologies = {v.typologie[0] for v in venues}
    assert typologies <= set(TYPOLOGIES) and len(typologies) >= 8
    for venue in venues:
        assert set(venue.services) <= set(SERVICES) and venue.services
        hours = hours_module.parse(venue.horaires_osm, venue.timezone)
        assert [(r.lower, r.upper) for r in venue.opening_week] == \
            hours_module.weekly_intervals(hours)
        assert venue.horaires_valides and venue.nom and venue.pivot.isdigit()
    statuses = {v.status for v in venues}
    assert statuses == {"open", "temporarily_closed"}
    closed = [v for v in venues if v.status == "temporarily_closed"]
    assert all(v.closed_from <= REFERENCE <= v.closed_until for v in closed)
    capacities = [v.weekly_capacity for v in venues]
    assert None in capacities and max(c or 0 for c in capacities) > 20
    itinerant = [v for v in venues if "Itinérant" in v.itinerance]
    assert itinerant and all(len(v.stops) == 5 for v in itinerant)
    stop_outside = db_session.scalar(text(
        "SELECT count(*) FROM lieu_stop s JOIN commune c ON c.code = s.code_insee "
        "WHERE NOT ST_DWithin(s.geog, c.geom::geography, 2500)"))
    assert stop_outside == 0 and db_session.scalar(
        select(func.count()).select_from(VenueStop)) == 5 * len(itinerant)


def test_demo_sessions_follow_the_reference_date_and_offer_hours(db_session, loaded):
    sessions = db_session.execute(
        select(TrainingSession, Offer.horaires, Venue.timezone)
        .join(Offer, Offer.id == TrainingSession.offre_id)
        .join(Venue, Venue.id == Offer.lieu_id)).all()
    assert len(sessions) > 100
    start_limit = dt.datetime.combine(REFERENCE, dt.time(), tzinfo=dt.UTC)
    for session_, osm, tz in sessions:
        assert start_limit < session_.starts_at
        assert session_.starts_at.date() <= REFERENCE + dt.timedelta(days=28)
        assert 0 <= session_.seats_taken <= session_.seats
        # The session lies within the offer's recurring schedule.
        assert hours_module.is_open(hours_module.parse(osm, tz), session_.starts_at)
    full = [s for s, _, _ in sessions if s.seats_taken == s.seats]
    assert 0 < len(full) < len(sessions)


def test_demo_programmes_have_perimeters_and_accepting_venues_inside(db_session, loaded):
    programmes = db_session.scalars(select(Programme).order_by(Programme.code)).all()
    codes = [p.code for p in programmes]
    assert codes == ["cheque-numerique-bordeaux-metropole", "pass-numerique-gironde",
                     "pass-numerique-nouvelle-aquitaine"]
    assert [p.perimeter_codes for p in programmes] == [["epci:243300316"], ["dep:33"],
                                                       ["reg:75"]]
    for programme in programmes:
        accepted = db_session.scalar(select(func.count()).select_from(Acceptance).where(
            Acceptance.programme_id == programme.id))
        in_perimeter = db_session.scalar(text(
            "SELECT count(*) FROM lieu WHERE source = 'demo' AND code_insee = ANY(:communes)"),
            {"communes": programme.perimeter_communes})
        assert 0.2 * in_perimeter < accepted < 0.8 * in_perimeter, programme.code
        outside = db_session.scalar(text(
            "SELECT count(*) FROM acceptation a JOIN lieu l ON l.id = a.lieu_id "
            "JOIN programme p ON p.id = a.programme_id "
            "WHERE p.id = :p AND NOT ST_DWithin(p.perimeter::geography, l.geog, 2500)"),
            {"p": programme.id})
        assert outside == 0
        assert programme.valid_from <= REFERENCE <= programme.valid_to


def test_benchmark_generator_is_deterministic_and_valid():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import generate_venues

    communes = [("33063", "Bordeaux", 260_000, "33000", -0.5792, 44.8378),
                ("97411", "Saint-Denis", 150_000, "97400", 55.4481, -20.8823),
                ("23096", "Guéret", 13_000, "23000", 1.8716, 46.1714)]
    rows = list(generate_venues.generate(communes, 500, seed=3, source_name="bench"))
    again = list(generate_venues.generate(communes, 500, seed=3, source_name="bench"))
    assert rows == again and len({r["id"] for r in rows}) == 500
    by_commune = {c[0]: sum(r["code_insee"] == c[0] for r in rows) for c in communes}
    # In proportion to population (260 : 150 : 13), within sampling noise.
    assert by_commune["33063"] > by_commune["97411"] > by_commune["23096"] > 0
    for row in rows:
        tz = hours_module.timezone_for_code_insee(row["code_insee"])
        hours_module.parse(row["horaires"], tz)  # raises if invalid
        assert set(row["services"].split("|")) <= set(SERVICES)
        from directory.vocabulary import french_area_of
        assert french_area_of(float(row["longitude"]), float(row["latitude"]))
