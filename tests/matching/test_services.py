"""The matcher on a real PostGIS catalogue: hard constraints, distances, widening, polygons,
itinerant stops, sessions, remote offers, hints, and the plan of the candidate query."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyproj import Geod
from sqlalchemy import text

from core.errors import AmbiguousPlace
from matching.question import Availability, Question, Where
from matching.services import Filters, Place, explain, match
from tests import conftest as cat
from tests.conftest import make_small_geography
from tests.matching.world import DEMARCHES, LAT0, LOISIRS, LON0, NOW, PARIS, at

GEOD = Geod(ellps="WGS84")


def geodesic(lon: float, lat: float) -> float:
    return GEOD.inv(LON0, LAT0, lon, lat)[2]


def here(**kwargs) -> Question:
    return Question(where=Where(lat=LAT0, lon=LON0), **kwargs)


@pytest.fixture
def town(db_session):
    """A pass, venues that accept it or not, around (LON0, LAT0)."""
    s = db_session
    prog = cat.programme(s, "pass-test", "Pass Numérique Test")
    v = {}
    v["a"] = cat.venue(s, *at(1), horaires="Tu-Sa 14:00-18:00", nom="A", services=[DEMARCHES])
    v["b"] = cat.venue(s, *at(0, 3), horaires="Mo-Fr 09:00-12:00", nom="B",
                       services=[DEMARCHES, LOISIRS], prise_en_charge_specifique=["Surdité"])
    v["c"] = cat.venue(s, *at(-0.5), horaires="Mo-Su 00:00-24:00", nom="C (sans pass)",
                       services=[DEMARCHES])
    v["d"] = cat.venue(s, *at(2), nom="D (fermé)", services=[DEMARCHES], status="closed")
    v["e"] = cat.venue(s, *at(-6), nom="E (acceptation finie)", services=[DEMARCHES])
    v["f"] = cat.venue(s, *at(0, -4), nom="F (fermé temporairement)", services=[DEMARCHES],
                       status="temporarily_closed", closed_from=dt.date(2026, 11, 20),
                       closed_until=dt.date(2026, 12, 10))
    v["g"] = cat.venue(s, *at(15), nom="G (loin)", services=[LOISIRS])
    for key in "abdfg":
        cat.accept(s, v[key], prog)
    cat.accept(s, v["e"], prog, valid_to=dt.date(2026, 11, 30))
    return prog, v


def names(result) -> list[str]:
    return [r.nom for r in result.results]


def test_hard_constraints_and_exact_distances(db_session, town):
    result = match(here(programme="pass-test", services=(DEMARCHES,)), now=NOW, limit=10,
                   session=db_session)
    assert names(result) == ["A", "B"]
    for r in result.results:
        assert r.distance_m == pytest.approx(geodesic(r.lon, r.lat), abs=0.5)
    a = result.results[0]
    assert a.reasons[:3] == ["accepte le Pass Numérique Test", "à 1,0 km",
                             f"propose « {DEMARCHES} »"]
    assert a.next_slot.text == "ouvert aujourd'hui de 14 h à 18 h"
    assert a.travel_minutes["walk"] == round(a.distance_m / 1000 * 1.3 / 4.5 * 60)
    # Without the pass: C (no acceptance) comes first, closed D and F never.
    everyone = match(here(services=(DEMARCHES,)), now=NOW, limit=10, session=db_session)
    assert names(everyone) == ["C (sans pass)", "A", "B", "E (acceptation finie)"]
    # After the temporary closure, F is back.
    later = match(here(programme="pass-test", availability=Availability(
        on_date=dt.date(2026, 12, 11))), now=NOW, limit=10, session=db_session)
    assert "F (fermé temporairement)" in names(later)


def test_availability_and_relaxation_hints(db_session, town):
    saturday = Availability(days=(5,))
    result = match(here(programme="pass-test", services=(DEMARCHES,), availability=saturday),
                   now=NOW, limit=10, session=db_session)
    assert names(result) == ["A"]
    assert result.results[0].next_slot.text == "ouvert samedi de 14 h à 18 h"
    nothing = match(here(programme="pass-test", services=(DEMARCHES,), support=("Surdité",),
                         availability=saturday, max_distance_m=20_000),
                    now=NOW, limit=10, session=db_session)
    assert nothing.results == []
    assert nothing.hints[:2] == [
        "1 lieu accepte ce pass à moins de 20 km, mais aucun le samedi.",
        "1 lieu accepte ce pass à moins de 20 km, mais aucun n'annonce la prise en charge "
        "« Surdité ».",
    ]


def test_radius_widens_in_steps_and_says_so(db_session, town):
    result = match(here(programme="pass-test"), now=NOW, limit=3, session=db_session)
    assert names(result) == ["A", "B", "G (loin)"]
    assert result.radius_m == 20_000
    assert result.search_message == "Seulement 2 lieux à moins de 10 km ; recherche élargie " \
                                    "à 20 km."
    near = match(here(programme="pass-test", max_distance_m=12_000), now=NOW, limit=3,
                 session=db_session)
    assert names(near) == ["A", "B"] and near.radius_m == 12_000


def test_preferences_reorder_and_are_reported(db_session, town):
    prog, v = town
    cat.offer(db_session, v["b"], DEMARCHES, level=2, format="collective")
    cat.offer(db_session, v["a"], DEMARCHES, level=1)
    result = match(here(programme="pass-test", services=(DEMARCHES,), level=2,
                        formats=("collective",)), now=NOW, limit=10, session=db_session)
    assert names(result) == ["B", "A"]
    assert result.results[1].unmet == ["pas d'offre de niveau 2 (Maîtriser) annoncée",
                                       "pas d'atelier collectif annoncé"]
    assert result.results[0].offers[0].cheques_required == 1


def test_sessions_and_remote_offers(db_session, town):
    prog, v = town
    o = cat.offer(db_session, v["g"], LOISIRS, format="collective", title="Retouche photo")
    thursday = dt.datetime(2026, 12, 3, 14, 0, tzinfo=PARIS)
    cat.seance(db_session, o, thursday, seats=6, taken=6)  # full
    cat.seance(db_session, o, thursday + dt.timedelta(hours=3), seats=6, taken=2)
    cat.offer(db_session, v["b"], LOISIRS, format="remote", title="Visio", cheques=2)
    result = match(here(programme="pass-test", services=(LOISIRS,),
                        availability=Availability(days=(3,), time_from=dt.time(16))),
                   now=NOW, limit=10, session=db_session)
    by_name = {r.nom: r for r in result.results}
    assert set(by_name) == {"G (loin)"}
    slot = by_name["G (loin)"].next_slot
    assert (slot.kind, slot.text) == ("session", "séance jeudi à 17 h (4 places libres)")
    assert [(o.title, o.cheques_required) for o in result.remote] == [("Visio", 2)]


def test_commune_is_a_polygon_and_perimeter_is_respected(db_session):
    s = db_session
    make_small_geography(s)
    prog = cat.programme(s, "pass-gironde", "Pass Numérique Gironde", perimeter_codes=["dep:990"])
    inside = cat.venue(s, -0.6, 44.85, nom="Dans Bordeaux", code_insee="99001")
    merignac = cat.venue(s, -0.70, 44.85, nom="Mérignac", code_insee="99002")
    no_code = cat.venue(s, -0.9, 44.9, nom="Sans code INSEE", code_insee=None)
    perigueux = cat.venue(s, 0.72, 45.18, nom="Périgueux", code_insee="99101")
    for venue in (inside, merignac, no_code, perigueux):
        cat.accept(s, venue, prog)
    result = match(Question(where=Where(commune="99001"), programme="pass-gironde",
                            max_distance_m=300_000), now=NOW, limit=10, session=s)
    assert names(result) == ["Dans Bordeaux", "Mérignac", "Sans code INSEE"]
    assert result.results[0].distance_m == 0
    assert result.results[0].reasons[1] == "dans la commune"
    # Mérignac: distance to the west edge of the Bordeaux square (lon -0.64), not its centre.
    lons = [-0.64] * 1001
    lats = [44.8 + i * 0.1 / 1000 for i in range(1001)]
    edge = min(GEOD.inv([-0.70] * 1001, [44.85] * 1001, lons, lats)[2])
    assert result.results[1].distance_m == pytest.approx(edge, abs=1.0)
    # By the commune's name through the offline geocoder: same polygon.
    try:
        by_name = match(Question(where=Where(address="Bordeaux"), programme="pass-gironde"),
                        now=NOW, limit=1, session=s)
    except AmbiguousPlace as exc:  # the session's real geography has its own Bordeaux
        assert {c["commune_code"] for c in exc.candidates} == {"99001", "33063"}
        assert exc.question == "Quel Bordeaux ?"
        by_name = match(Question(where=Where(commune="99001"), programme="pass-gironde"),
                        now=NOW, limit=1, session=s)
    assert by_name.place.is_polygon and by_name.results[0].distance_m == 0


def test_itinerant_venue_is_matched_through_its_stops(db_session, town):
    prog, v = town
    bus = cat.venue(db_session, *at(60), nom="Bus numérique", itinerance=["Itinérant"],
                    services=[DEMARCHES])
    cat.accept(db_session, bus, prog)
    cat.stop(db_session, bus, *at(0, 2), "Place du marché", horaires="Th 09:00-12:00")
    cat.stop(db_session, bus, *at(30), "Mairie de Loin", horaires="Tu 09:00-12:00",
             position=1)
    result = match(here(programme="pass-test", services=(DEMARCHES,),
                        availability=Availability(days=(3,))), now=NOW, limit=10,
                   session=db_session)
    bus_result = next(r for r in result.results if r.nom == "Bus numérique")
    assert bus_result.stop_label == "Place du marché"
    assert bus_result.distance_m == pytest.approx(geodesic(*at(0, 2)), abs=0.5)
    assert "passe à Place du marché" in bus_result.reasons
    assert bus_result.next_slot.text == "ouvert jeudi de 9 h à 12 h"


def test_pass_validity_and_allowed_services(db_session, town):
    s = db_session
    cat.programme(s, "pass-futur", "Pass Futur", valid_from=dt.date(2027, 1, 1))
    cat.programme(s, "pass-loisirs", "Pass Loisirs", allowed_services=[LOISIRS])
    future = match(here(programme="pass-futur"), now=NOW, session=s)
    assert future.results == []
    assert future.hints == ["Le Pass Futur n'est valable qu'à partir du 1er janvier 2027."]
    narrow = match(here(programme="pass-loisirs", services=(DEMARCHES,)), now=NOW, session=s)
    assert narrow.hints == [f"Le Pass Loisirs ne couvre pas « {DEMARCHES} »."]


def test_nothing_within_reach_names_the_nearest(db_session, town):
    result = match(here(programme="pass-test", services=(LOISIRS,), max_distance_m=2_000),
                   now=NOW, session=db_session)
    assert result.results == []
    assert result.hints == [
        f"1 lieu accepte ce pass à moins de 2 km, mais aucun ne propose « {LOISIRS} ».",
        "Le lieu le plus proche qui convient est à 3,0 km (B, Bordeaux), au-delà de la "
        "distance demandée.",
    ]


def test_candidate_query_uses_the_spatial_index(db_session, town):
    prog, _ = town
    db_session.execute(text(
        "INSERT INTO lieu (source, source_id, nom, commune, geom, services, status) "
        "SELECT 'plan', 'p' || i, 'Lieu ' || i, 'X', "
        "ST_SetSRID(ST_MakePoint(-4.5 + (i % 100) * 0.12, 42.5 + (i / 100) * 0.08), 4326), "
        "ARRAY[:svc], 'open' FROM generate_series(1, 8000) AS i"), {"svc": DEMARCHES})
    db_session.execute(text(
        "INSERT INTO acceptation (lieu_id, programme_id, valid_from, services, source) "
        "SELECT id, :pid, DATE '2026-01-01', '{}', 'manual' FROM lieu WHERE source = 'plan' "
        "AND id % 2 = 0"), {"pid": prog.id})
    db_session.execute(text("ANALYZE lieu"))
    db_session.execute(text("ANALYZE acceptation"))
    place = Place("ici", LAT0, LON0, None, "point", False, f"SRID=4326;POINT({LON0} {LAT0})")
    # Without a programme, every venue by its own index; with one, the programme's places
    # (``match_place``) by theirs, the programme and the topic inside the index condition.
    for filters, index in (
            (Filters(on_date=dt.date(2026, 12, 1)), "idx_lieu_geom"),
            (Filters(on_date=dt.date(2026, 12, 1), programme_id=prog.id,
                     services=(DEMARCHES,), weekly=((1440, 2880),),
                     horizon=(NOW, NOW + dt.timedelta(days=14))), "ix_match_place_knn")):
        plan = explain(db_session, filters, place)
        assert index in plan and "Order By" in plan, plan
        assert "Seq Scan on lieu " not in plan and "Seq Scan on match_place" not in plan, plan
        if index == "ix_match_place_knn":
            assert re.search(r"Index Cond: \(\(programme_id = \d+\) AND \(topic = ", plan), plan


def test_the_scan_cap_is_said(db_session, town, monkeypatch):
    """A very selective question in a dense area stops after MAX_SCAN venues and says so."""
    from matching import services

    prog, _ = town
    # Nearer than A, they accept the pass (the scan walks them) but teach something else.
    for i in range(40):
        cat.accept(db_session, cat.venue(db_session, *at(0.1 * i + 0.05, 0.05),
                                         nom=f"Loisirs {i}", services=[LOISIRS]), prog)
    monkeypatch.setattr(services, "SCAN_FACTOR", 1)
    monkeypatch.setattr(services, "MAX_SCAN", 30)
    question = here(programme="pass-test", services=(DEMARCHES,))
    capped = match(question, now=NOW, limit=1, session=db_session)
    assert [r.nom for r in capped.results] == ["A"]
    assert capped.search_message.startswith("Recherche limitée aux 30 lieux les plus proches")
    monkeypatch.setattr(services, "MAX_SCAN", 50_000)
    full = match(question, now=NOW, limit=1, session=db_session)
    assert [r.nom for r in full.results] == ["A"] and full.search_message is None


def test_an_open_venue_in_a_closure_period_is_not_recommended(db_session, town):
    """``open`` with ``closed_until`` next month (either bound missing) is closed today, as its
    page says (``directory.rules.open_on``): neither the matcher, nor its remote offers, nor
    the cohort propose it (the matcher did before the rule was written once)."""
    from matching.cohort.assignment import PersonNeed, assign_cohort

    prog, v = town
    until_next_month = cat.venue(db_session, *at(0.2), nom="H (fermé jusqu'au mois prochain)",
                                 horaires="Mo-Su 00:00-24:00", services=[DEMARCHES],
                                 status="open", closed_until=dt.date(2027, 1, 10))
    cat.accept(db_session, until_next_month, prog)
    cat.offer(db_session, until_next_month, DEMARCHES, format="remote")
    reopened = cat.venue(db_session, *at(0.3), nom="I (rouvert)", services=[DEMARCHES],
                         horaires="Mo-Su 00:00-24:00", status="open",
                         closed_until=dt.date(2026, 11, 30))
    cat.accept(db_session, reopened, prog)
    q = here(programme="pass-test", services=(DEMARCHES,))
    r = match(q, now=NOW, session=db_session)
    ids = [x.venue_id for x in r.results]
    assert until_next_month.id not in ids
    assert reopened.id in ids and v["a"].id in ids
    assert until_next_month.id not in [o.venue_id for o in r.remote]
    on_reopening = match(here(programme="pass-test", services=(DEMARCHES,),
                              availability=Availability(on_date=dt.date(2027, 1, 11))),
                         now=NOW, session=db_session)
    assert until_next_month.id in [x.venue_id for x in on_reopening.results]

    result = assign_cohort([PersonNeed("P", q)], now=NOW, session=db_session)
    assert result.assignments and result.assignments[0].venue_id != until_next_month.id
    assert result.assignments[0].venue_id == reopened.id


def test_open_now_at_night_gives_the_relaxation_hints(db_session, town):
    """At 23:00 nothing fits "open now" (the filter runs inside the nearest-first scan): the
    hints relax one constraint at a time, "open now" kept for the others."""
    night = dt.datetime(2026, 12, 1, 23, 0, tzinfo=PARIS)
    q = here(programme="pass-test", services=(DEMARCHES,), availability=Availability(now=True),
             max_distance_m=20_000)
    result = match(q, now=night, limit=10, session=db_session)
    day = match(q, now=NOW, limit=10, session=db_session)
    assert result.results == [] and day.results
    # The same hints as when every relaxed search ran whole (measured on the previous matcher).
    assert result.hints == [
        "2 lieux acceptent ce pass à moins de 20 km, mais aucun en ce moment.",
        "1 lieu accepte ce pass à moins de 20 km, mais aucun ne propose « Aide aux démarches "
        "administratives ».",
        "2 lieux proposent ce service à moins de 20 km, mais aucun n'accepte ce pass.",
    ]


def test_good_friday_closes_a_moselle_venue_for_the_matcher_too(db_session):
    """Good Friday is a public holiday in Moselle and Alsace only: the matcher and the cohort
    read a venue's hours with its département's holidays, as its page does."""
    from matching.cohort.assignment import assign_cohort
    from matching.cohort.candidates import PersonNeed

    prog = cat.programme(db_session, "pass-test", "Pass Numérique Test")
    hours = "Mo-Fr 09:00-12:00; PH off"
    metz = cat.venue(db_session, *at(1), horaires=hours, nom="Metz", code_insee="57463",
                     services=[DEMARCHES])
    other = cat.venue(db_session, *at(2), horaires=hours, nom="Ailleurs", code_insee="33063",
                      services=[DEMARCHES])
    for lieu in (metz, other):
        cat.accept(db_session, lieu, prog)
    good_friday = dt.datetime(2026, 4, 3, 10, 0, tzinfo=PARIS)
    q = here(programme="pass-test", services=(DEMARCHES,), availability=Availability(now=True),
             max_distance_m=20_000)
    assert names(match(q, now=good_friday, limit=10, session=db_session)) == ["Ailleurs"]
    assert names(match(q, now=good_friday + dt.timedelta(days=4), limit=10,
                       session=db_session)) == ["Metz", "Ailleurs"]
    result = assign_cohort([PersonNeed("P", q)], now=good_friday, session=db_session)
    assert [a.venue_id for a in result.assignments] == [other.id]


def test_offers_read_after_the_candidate_query_give_the_same_answer(db_session, town,
                                                                     monkeypatch):
    """The candidate query aggregates the offers of its first rows only; the rows built
    beyond read theirs, and their sessions, afterwards: the same answers as with the offers
    of every row."""
    from matching import services
    from matching.api import result_payload

    prog, v = town
    near = cat.venue(db_session, *at(0.5), horaires="Th 16:00-19:00", nom="H",
                     services=[LOISIRS])
    cat.accept(db_session, near, prog)
    # G, found after H, has its slot from a session only (no opening hours).
    photo = cat.offer(db_session, v["g"], LOISIRS, format="collective", title="Retouche photo")
    thursday = dt.datetime(2026, 12, 3, 14, 0, tzinfo=PARIS)
    cat.seance(db_session, photo, thursday + dt.timedelta(hours=3), seats=6, taken=2)
    cat.offer(db_session, v["b"], LOISIRS, title="Tablette", duration=90)
    cat.offer(db_session, v["b"], DEMARCHES, title="Impôts en ligne", level=2)
    cat.offer(db_session, v["a"], DEMARCHES, title="CAF", publics=("seniors",))
    late = []
    read_offers = services._read_offers
    monkeypatch.setattr(services, "_read_offers",
                        lambda *args: late.append(1) or read_offers(*args))
    questions = [
        here(programme="pass-test", services=(LOISIRS,),
             availability=Availability(days=(3,), time_from=dt.time(16))),
        here(programme="pass-test", services=(DEMARCHES, LOISIRS)),
        here(services=(DEMARCHES,), availability=Availability(days=(2, 4))),
    ]
    for q in questions:
        answers = []
        for share in (0.01, 10):
            monkeypatch.setattr(services, "OFFER_ROWS", share)
            answers.append(result_payload(match(q, now=NOW, limit=10, session=db_session)))
        assert answers[0] == answers[1]
        assert any(r["offers"] for r in answers[0]["results"])
    assert late  # the first rows only had their offers in the candidate query


@pytest.mark.parametrize("with_pass", [True, False])
def test_open_now_reads_each_venue_in_its_own_time_zone(db_session, with_pass):
    """"Open now" is the venue's local time: at 14:00 UTC a Martinique venue open 08:00-12:00
    is open (10:00 there), the same hours in Paris time are not (15:00); at 10:30 UTC the
    other way round. With a pass the scan walks ``match_place``, without one every venue."""
    prog = cat.programme(db_session, "pass-test", "Pass Numérique Test")
    hours = "Mo-Su 08:00-12:00"
    local = cat.venue(db_session, -61.06, 14.61, horaires=hours, nom="Heure de Martinique",
                      timezone="America/Martinique", services=[DEMARCHES])
    paris = cat.venue(db_session, -61.07, 14.62, horaires=hours, nom="Heure de Paris",
                      services=[DEMARCHES])
    for lieu in (local, paris):
        cat.accept(db_session, lieu, prog)
    q = Question(where=Where(lat=14.6, lon=-61.05), programme="pass-test" if with_pass else None,
                 services=(DEMARCHES,), availability=Availability(now=True))
    for utc_hour, open_one in ((14, local), (10, paris)):
        moment = dt.datetime(2026, 12, 1, utc_hour, 30, tzinfo=dt.UTC)
        found = match(q, now=moment, limit=10, session=db_session)
        assert [r.venue_id for r in found.results] == [open_one.id], utc_hour
