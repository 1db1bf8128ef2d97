"""The catalogue's tables enforce what they promise: French points, stable keys, hours
that SQL can filter, an index usable by distance queries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import IntegrityError

from directory.models import Offer, TrainingSession, Venue, VenueStop
from directory.vocabulary import FRENCH_AREAS, french_area_of
from tests.conftest import make_venue, point

TUESDAY = 1 * 1440


def week(*ranges: tuple[int, int]) -> list[Range]:
    return [Range(a, b, bounds="[)") for a, b in ranges]


@pytest.mark.parametrize("lon, lat", [
    (-0.5792, 44.8378),    # Bordeaux
    (9.4500, 42.7000),     # Bastia
    (55.4500, -20.8800),   # Saint-Denis, La Réunion
    (-52.3300, 4.9400),    # Cayenne
    (166.4500, -22.2700),  # Nouméa
    (-149.5700, -17.5400), # Papeete
])
def test_points_in_france_or_overseas_are_accepted(db_session, lon, lat):
    venue = make_venue(db_session, geom=point(lon, lat))
    assert venue.id
    assert french_area_of(lon, lat) is not None


@pytest.mark.parametrize("lon, lat", [
    (-3.7038, 40.4168),    # Madrid
    (44.8378, -0.5792),    # Bordeaux with latitude and longitude swapped
    (2.3522, 48.8566)[::-1],  # Paris swapped
    (13.4050, 52.5200),    # Berlin
    (0.0, 0.0),            # "null island"
])
def test_points_outside_france_are_refused_by_the_database(db_session, lon, lat):
    assert french_area_of(lon, lat) is None
    with pytest.raises(IntegrityError, match="ck_lieu_geom_in_france"), db_session.begin_nested():
        make_venue(db_session, geom=point(lon, lat))


def test_stop_outside_france_is_refused(db_session):
    venue = make_venue(db_session)
    with pytest.raises(IntegrityError, match="ck_lieu_stop_geom_in_france"), \
            db_session.begin_nested():
        db_session.add(VenueStop(lieu_id=venue.id, label="Madrid",
                                 geom=point(-3.7038, 40.4168)))
        db_session.flush()


def test_every_area_box_is_well_formed():
    for name, min_lon, min_lat, max_lon, max_lat in FRENCH_AREAS:
        assert -180 <= min_lon < max_lon <= 180, name
        assert -90 <= min_lat < max_lat <= 90, name


def test_source_and_source_id_are_unique_together(db_session):
    make_venue(db_session, source="charente", source_id="42")
    make_venue(db_session, source="gironde", source_id="42")  # another source: fine
    with pytest.raises(IntegrityError, match="uq_lieu_source_source_id"), db_session.begin_nested():
        make_venue(db_session, source="charente", source_id="42")


def test_source_id_is_required(db_session):
    with pytest.raises(IntegrityError, match="source_id"), db_session.begin_nested():
        make_venue(db_session, source_id=None)


def test_opening_week_overlap_finds_a_venue_open_on_tuesday_afternoon(db_session):
    # Tue 14:00-17:00 and Thu 09:00-12:00.
    open_tuesday = make_venue(db_session, opening_week=week(
        (TUESDAY + 14 * 60, TUESDAY + 17 * 60), (3 * 1440 + 9 * 60, 3 * 1440 + 12 * 60)),
        horaires="Tu 14:00-17:00; Th 09:00-12:00", horaires_osm="Tu 14:00-17:00; Th 09:00-12:00",
        horaires_valides=True)
    mornings = make_venue(db_session, opening_week=week(
        (TUESDAY + 9 * 60, TUESDAY + 12 * 60)))
    make_venue(db_session, opening_week=None)  # unknown hours

    def open_during(start: int, end: int) -> set[int]:
        rows = db_session.scalars(
            select(Venue.id).where(Venue.source == "test").where(
                Venue.opening_week.op("&&")(
                    func.int4multirange(func.int4range(start, end)))))
        return set(rows)

    assert open_during(TUESDAY + 15 * 60, TUESDAY + 16 * 60) == {open_tuesday.id}
    assert open_during(TUESDAY + 11 * 60, TUESDAY + 15 * 60) == {open_tuesday.id, mornings.id}
    # [start, end): closing at 17:00 means not open at 17:00.
    assert open_during(TUESDAY + 17 * 60, TUESDAY + 18 * 60) == set()
    # Containment: open for the whole window.
    whole = db_session.scalars(select(Venue.id).where(Venue.opening_week.op("@>")(
        func.int4range(TUESDAY + 14 * 60, TUESDAY + 16 * 60))))
    assert set(whole) == {open_tuesday.id}


def test_hours_validity_flag_must_agree_with_the_osm_string(db_session):
    with pytest.raises(IntegrityError, match="horaires_valides_consistent"), \
            db_session.begin_nested():
        make_venue(db_session, horaires="le matin", horaires_osm=None,
                   horaires_valides=True)


def test_geography_column_follows_the_point_and_measures_metres(db_session):
    bordeaux = make_venue(db_session, geom=point(-0.5792, 44.8378))
    merignac = make_venue(db_session, geom=point(-0.6446, 44.8386))
    metres = db_session.scalar(
        select(func.ST_Distance(Venue.geog, select(Venue.geog).where(
            Venue.id == merignac.id).scalar_subquery())).where(Venue.id == bordeaux.id))
    # Independent geodesic (WGS 84 ellipsoid).
    from pyproj import Geod
    _, _, expected = Geod(ellps="WGS84").inv(-0.5792, 44.8378, -0.6446, 44.8386)
    assert metres == pytest.approx(expected, rel=1e-3)
    # Moving the point moves the generated geography.
    bordeaux.geom = point(-0.6446, 44.8386)
    db_session.flush()
    db_session.expire(bordeaux)
    assert db_session.scalar(select(func.ST_Distance(Venue.geog, func.ST_GeogFromText(
        "SRID=4326;POINT(-0.6446 44.8386)"))).where(Venue.id == bordeaux.id)) < 1


def test_distance_filter_on_geography_uses_the_spatial_index(db_session):
    for i in range(50):
        make_venue(db_session, geom=point(-0.5 + i * 0.01, 44.8 + (i % 7) * 0.01))
    db_session.execute(text("ANALYZE lieu"))
    db_session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(db_session.scalars(text(
        "EXPLAIN SELECT id FROM lieu WHERE ST_DWithin(geog, "
        "ST_GeogFromText('SRID=4326;POINT(-0.57 44.83)'), :metres)"), {"metres": 5000}))
    assert "idx_lieu_geog" in plan
    knn = "\n".join(db_session.scalars(text(
        "EXPLAIN SELECT id FROM lieu ORDER BY geog <-> "
        "ST_GeogFromText('SRID=4326;POINT(-0.57 44.83)') LIMIT 5")))
    assert "idx_lieu_geog" in knn


def test_full_text_search_in_french(db_session):
    venue = make_venue(db_session, nom="Médiathèque des Capucins",
                       presentation_resume="Ateliers pour apprendre à utiliser une tablette")
    make_venue(db_session, nom="Espace numérique du Lac")
    found = db_session.scalars(select(Venue.id).where(Venue.search_vector.op("@@")(
        func.websearch_to_tsquery("french", "tablettes")))).all()
    assert found == [venue.id]


def test_offer_and_session_constraints(db_session):
    venue = make_venue(db_session)
    offer = Offer(lieu_id=venue.id, code="o1", title="Premiers pas sur tablette",
                  service="Maîtrise des outils numériques du quotidien", level=1,
                  format="collective", duration_minutes=120)
    db_session.add(offer)
    db_session.flush()
    assert offer.languages == ["fr"] and offer.cheques_required == 1
    for bad in ({"level": 4}, {"format": "hybride"}, {"cheques_required": -1}):
        with pytest.raises(IntegrityError), db_session.begin_nested():
            db_session.add(Offer(lieu_id=venue.id, code="bad", title="x",
                                 service="Maîtrise des outils numériques du quotidien",
                                 format=bad.get("format", "individual"),
                                 level=bad.get("level"),
                                 cheques_required=bad.get("cheques_required", 1)))
            db_session.flush()
    import datetime as dt
    start = dt.datetime(2026, 12, 1, 14, tzinfo=dt.UTC)
    with pytest.raises(IntegrityError, match="seats_taken_range"), db_session.begin_nested():
        db_session.add(TrainingSession(offre_id=offer.id, starts_at=start,
                                       ends_at=start + dt.timedelta(hours=2),
                                       seats=8, seats_taken=9))
        db_session.flush()
    with pytest.raises(IntegrityError, match="ends_after_start"), db_session.begin_nested():
        db_session.add(TrainingSession(offre_id=offer.id, starts_at=start,
                                       ends_at=start, seats=8))
        db_session.flush()
