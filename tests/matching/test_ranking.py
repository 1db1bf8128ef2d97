"""The pure parts of the matcher: question parsing, availability, ranking and wording."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug.datastructures import MultiDict

from core.errors import InvalidInput
from directory import hours as oh
from matching import availability as av
from matching import ranking
from matching.question import Availability, Question, Where
from matching.schemas import parse_question

PARIS = ZoneInfo("Europe/Paris")
# Tuesday 1 December 2026, 10:00 in Paris.
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
HERE = Where(lat=44.84, lon=-0.58)


def cand(venue_id: int, distance_m: float, **kwargs) -> ranking.Candidate:
    return ranking.Candidate(venue_id=venue_id, distance_m=distance_m,
                             services=frozenset(kwargs.pop("services", ())), **kwargs)


def offer(service="Aide aux démarches administratives", level=None, fmt="individual",
          languages=("fr",)) -> ranking.OfferInfo:
    return ranking.OfferInfo(1, 1, "Atelier", service, level, fmt, 1, 60, languages, ())


# --------------------------------------------------------------------------- question

def test_parse_question_from_query_string_lists_slugs_and_aliases():
    q = parse_question(MultiDict([
        ("postal_code", "33000"), ("services", "aide-aux-demarches-administratives"),
        ("services", "Loisirs et créations numériques"), ("days", "mardi,SA"),
        ("time_from", "14:00"), ("time_to", "17h"), ("support", "mobilite-reduite"),
        ("formats", "collective"), ("level", "2")]))
    assert q.where == Where(postal_code="33000")
    assert q.services == ("Aide aux démarches administratives",
                          "Loisirs et créations numériques")
    assert q.availability.days == (1, 5)
    assert q.availability.time_from == time(14) and q.availability.time_to == time(17)
    assert q.support == ("Handicaps moteurs",)
    assert q.level == 2 and q.formats == ("collective",)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "_schema", "Où est la personne"),
    ({"lat": 44.8}, "lon", "ensemble"),
    ({"lat": 44.8, "lon": -0.5, "postal_code": "33000"}, "_schema", "Un seul lieu"),
    ({"postal_code": "3300"}, "postal_code", "5 chiffres"),
    ({"postal_code": "33000", "services": ["Cuisine"]}, "services", "Service inconnu"),
    ({"postal_code": "33000", "days": ["funday"]}, "days", "Jour inconnu"),
    ({"postal_code": "33000", "level": 4}, "level", "Niveau 1, 2 ou 3"),
    ({"postal_code": "33000", "now": True, "date": "2026-12-01"}, "now", "ne vont pas"),
    ({"postal_code": "33000", "travel_mode": "walk"}, "max_minutes", "vont ensemble"),
    ({"postal_code": "33000", "colour": "red"}, "colour", "Champ inconnu"),
    ({"postal_code": "33000", "time_from": "17:00", "time_to": "14:00"}, "time_to",
     "doit suivre"),
    ({"postal_code": "33000", "lat": "abc"}, "lat", "Nombre attendu"),
])
def test_parse_question_refuses_bad_input_in_french(data, field, message):
    with pytest.raises(InvalidInput) as caught:
        parse_question(data)
    assert caught.value.status == 422
    assert message in " ".join(map(str, caught.value.errors[field]))


def test_reach_from_travel_mode_states_the_assumptions():
    q = Question(where=HERE, travel_mode="bike", max_minutes=26)
    # 26 min at 15 km/h = 6.5 km of road = 5 km geodesic with a detour factor of 1.3.
    assert q.reach_m() == 5000
    assert Question(where=HERE, max_distance_m=1234).reach_m() == 1234
    assert Question(where=HERE).reach_m() is None


# --------------------------------------------------------------------------- availability

def test_weekly_ranges_of_days_times_and_date():
    a = Availability(days=(1, 5), time_from=time(14), time_to=time(17))
    assert av.weekly_ranges(a) == [(1440 + 840, 1440 + 1020), (5 * 1440 + 840, 5 * 1440 + 1020)]
    assert av.weekly_ranges(Availability(on_date=date(2026, 12, 6))) == [(6 * 1440, 7 * 1440)]
    assert av.weekly_ranges(Availability()) is None
    assert av.weekly_ranges(Availability(now=True)) is None


def test_first_opening_inside_the_availability_and_its_sentence():
    hours = oh.parse("Tu-Sa 09:00-12:00,14:00-18:00; PH off")
    free = av.free_intervals(Availability(days=(1, 3), time_from=time(14), time_to=time(17)),
                             NOW, "Europe/Paris")
    slot = av.first_opening(hours, free, NOW)
    assert slot.start == datetime(2026, 12, 1, 14, 0, tzinfo=PARIS)
    assert slot.end == datetime(2026, 12, 1, 17, 0, tzinfo=PARIS)
    assert slot.text == "ouvert aujourd'hui de 14 h à 17 h"
    later = av.first_opening(hours, av.free_intervals(Availability(days=(3,)), NOW,
                                                      "Europe/Paris"), NOW)
    assert later.text == "ouvert jeudi de 9 h à 12 h"


def test_first_opening_respects_public_holidays_on_a_date():
    hours = oh.parse("Mo-Fr 09:00-17:00; PH off")
    christmas = av.free_intervals(Availability(on_date=date(2026, 12, 25)), NOW, "Europe/Paris")
    assert av.first_opening(hours, christmas, NOW) is None
    day_after = av.free_intervals(Availability(on_date=date(2026, 12, 24)), NOW, "Europe/Paris")
    assert av.first_opening(hours, day_after, NOW).text == \
        "ouvert le jeudi 24 décembre de 9 h à 17 h"


def test_open_now():
    hours = oh.parse("Tu 09:00-12:30")
    free = av.free_intervals(Availability(now=True), NOW, "Europe/Paris")
    assert av.first_opening(hours, free, NOW, is_now=True).text == \
        "ouvert en ce moment, jusqu'à 12 h 30"
    closed = oh.parse("We 09:00-12:30")
    assert av.first_opening(closed, free, NOW, is_now=True) is None


def test_first_session_needs_a_free_seat_inside_the_availability():
    free = av.free_intervals(Availability(days=(3,)), NOW, "Europe/Paris")
    thursday = datetime(2026, 12, 3, 14, tzinfo=PARIS)
    sessions = [av.SessionInfo(1, thursday - timedelta(days=1), thursday, 5),  # Wednesday
                av.SessionInfo(2, thursday, thursday + timedelta(hours=2), 0),  # full
                av.SessionInfo(3, thursday + timedelta(hours=1), thursday + timedelta(hours=3), 1)]
    slot = av.first_session(sessions, free, NOW)
    assert slot.offer_id == 3 and slot.seats_free == 1
    assert slot.text == "séance jeudi à 15 h (1 place libre)"


# --------------------------------------------------------------------------- ranking

def test_without_availability_or_preference_results_come_by_distance_then_id():
    q = Question(where=HERE)
    ranked = ranking.rank([cand(3, 900.0), cand(1, 250.0), cand(2, 900.0)], q,
                          programme_name=None, now=NOW)
    assert [r.candidate.venue_id for r in ranked] == [1, 2, 3]
    assert [r.score for r in ranked] == [0.25, 0.9, 0.9]


def test_unmet_preferences_weigh_like_extra_kilometres():
    q = Question(where=HERE, level=2, formats=("collective",))
    near = cand(1, 1000.0, offers=[offer(level=1)])
    fits = cand(2, 2500.0, offers=[offer(level=2, fmt="collective")])
    ranked = ranking.rank([near, fits], q, programme_name="Pass Numérique Gironde", now=NOW)
    assert [r.candidate.venue_id for r in ranked] == [2, 1]
    assert ranked[1].unmet == ["pas d'offre de niveau 2 (Maîtriser) annoncée",
                               "pas d'atelier collectif annoncé"]
    assert ranked[1].score == pytest.approx(1 + 2 * ranking.UNMET_PENALTY_KM)
    assert ranked[0].reasons[:2] == ["accepte le Pass Numérique Gironde", "à 2,5 km"]
    assert "offre de niveau 2 (Maîtriser)" in ranked[0].reasons


def test_availability_excludes_known_closed_and_ranks_unknown_hours_lower():
    q = Question(where=HERE, availability=Availability(days=(5,)))
    slot = av.Slot(NOW + timedelta(days=4), NOW + timedelta(days=4, hours=3), "opening",
                   "ouvert samedi de 10 h à 13 h")
    open_ = cand(1, 3000.0, hours_known=True, slot=slot)
    closed = cand(2, 100.0, hours_known=True, slot=None)
    unknown = cand(3, 2000.0, hours_known=False)
    ranked = ranking.rank([open_, closed, unknown], q, programme_name=None, now=NOW)
    assert [r.candidate.venue_id for r in ranked] == [3, 1]
    assert ranked[0].unmet == ["horaires inconnus : appelez avant de vous déplacer"]
    assert ranked[1].reasons[-1] == "ouvert samedi de 10 h à 13 h"
    assert ranked[1].score == pytest.approx(3 + 4 * ranking.WAIT_PENALTY_KM_PER_DAY)


def test_services_support_languages_publics_reasons():
    q = Question(where=HERE, services=("Aide aux démarches administratives",
                                       "Loisirs et créations numériques"),
                 support=("Surdité",), languages=("en",), publics=("Seniors",))
    c = cand(1, 0.0, services={"Aide aux démarches administratives"},
             support=frozenset({"Surdité", "Langues étrangères (anglais)"}))
    r = ranking.assess(c, q, programme_name=None, now=NOW, in_commune=True)
    assert r.reasons == ["dans la commune", "propose « Aide aux démarches administratives »",
                         "prise en charge : Surdité", "en anglais"]
    assert r.unmet == ["ne propose pas « Loisirs et créations numériques »",
                       "pas d'accueil spécifique : Seniors"]


@pytest.mark.parametrize(("metres", "text"), [
    (0, "à 10 m"), (348, "à 350 m"), (2300, "à 2,3 km"), (9960, "à 10,0 km"),
    (23_400, "à 23 km")])
def test_distance_wording(metres, text):
    assert ranking.distance_fr(metres) == text


def test_travel_minutes_use_the_stated_speeds_and_detour():
    minutes = ranking.travel_minutes(4_000)
    assert minutes == {"walk": round(5.2 / 4.5 * 60), "bike": 21, "transit": 16, "car": 6}
    assert ranking.travel_minutes(0) == {"walk": 0, "bike": 0, "transit": 0, "car": 0}


def test_travel_minutes_only_where_they_make_sense():
    # Beyond 5 km nobody is told to walk (it read « 13 h 41 à pied »).
    assert "walk" not in ranking.travel_minutes(10_000)
    assert ranking.travel_minutes(10_000)["transit"] == 39
    # 810 m by bus is never « 3 min »: waiting and walking to the stops.
    near = ranking.travel_minutes(810)
    assert near["transit"] == 10 and near["walk"] == round(0.81 * 1.3 / 4.5 * 60)


def test_radius_message_and_hints_wording():
    steps = [5000, 10000, 20000, 40000, 80000]
    assert ranking.radius_message(steps, [0, 0, 4, 9, 9], 20000, 3) == \
        "Aucun lieu à moins de 10 km ; recherche élargie à 20 km."
    assert ranking.radius_message(steps, [2, 4, 9, 9, 9], 10000, 3) == \
        "Seulement 2 lieux à moins de 5 km ; recherche élargie à 10 km."
    assert ranking.radius_message(steps, [5, 5, 5, 5, 5], 5000, 3) is None
    q = Question(where=HERE, availability=Availability(days=(5,)), support=("Surdité",))
    assert ranking.hint("availability", 3, 20000, q, has_programme=True) == \
        "3 lieux acceptent ce pass à moins de 20 km, mais aucun le samedi."
    assert ranking.hint("support", 1, 80000, q, has_programme=True) == \
        "1 lieu accepte ce pass à moins de 80 km, mais aucun n'annonce la prise en charge " \
        "« Surdité »."
    assert ranking.hint("availability", 0, 20000, q, has_programme=True) is None


def test_capped_hint_counts_say_at_least():
    q = Question(where=HERE, availability=Availability(days=(5,)))
    assert ranking.hint("availability", 50, 80000, q, has_programme=True, at_least=True) == \
        "Au moins 50 lieux acceptent ce pass à moins de 80 km, mais aucun le samedi."
