"""Cohort assignment on a real PostGIS catalogue: the optimum where the nearest choice is
worse, hard constraints and capacities on seeded random cohorts (checked against an
independent geodesic, a greedy baseline and an exact assignment by scipy), sessions and seats,
the reasons of the unassigned, and no personal data in the logs."""

from __future__ import annotations

import datetime as dt
import logging
import random

import numpy as np
import pytest
from pyproj import Geod
from scipy.optimize import linear_sum_assignment

from matching.cohort import solver
from matching.cohort.assignment import PersonNeed, assign_cohort
from matching.schemas import parse_question
from tests import conftest as cat
from tests.matching.world import DEMARCHES, LOISIRS, NOW, PARIS, at

GEOD = Geod(ellps="WGS84")


def geodesic(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def person(key: str, where: tuple[float, float], **fields) -> PersonNeed:
    return PersonNeed(key, parse_question({"lon": where[0], "lat": where[1], **fields}))


def assign(db_session, needs, **kwargs):
    kwargs.setdefault("default_capacity", 2)
    return assign_cohort(needs, now=NOW, session=db_session, **kwargs)


def test_solver_finds_the_optimum_where_the_nearest_choice_is_worse(db_session):
    prog = cat.programme(db_session)
    v1 = cat.venue(db_session, *at(0), nom="V1", services=[DEMARCHES], weekly_capacity=1)
    v2 = cat.venue(db_session, *at(3.5), nom="V2", services=[DEMARCHES], weekly_capacity=1)
    for v in (v1, v2):
        cat.accept(db_session, v, prog)
    # B comes first and is nearest to V1: greedy gives B→V1 (0.5 km) + A→V2 (4.5 km).
    needs = [person("B", at(0.5), programme="pass-test"),
             person("A", at(-1), programme="pass-test")]
    result = assign(db_session, needs)
    got = {a.key: a.nom for a in result.assignments}
    assert got == {"B": "V2", "A": "V1"}
    assert result.totals["total_distance_m"] == pytest.approx(4000, abs=15)
    assert result.totals["assigned"] == 2 and result.unassigned == []
    loads = {v.nom: (v.load, v.capacity, v.capacity_known) for v in result.venues}
    assert loads == {"V1": (1, 1, True), "V2": (1, 1, True)}
    for a in result.assignments:
        assert a.distance_m == pytest.approx(geodesic((a.lon, a.lat), at(0.5 if a.key == "B"
                                                                         else -1)), abs=0.5)


@pytest.fixture
def random_catalogue(db_session):
    """Ten venues with random services, capacities, acceptance and support."""
    rng = random.Random(7)
    prog = cat.programme(db_session)
    venues = []
    for i in range(10):
        where = at(rng.uniform(-10, 10), rng.uniform(-10, 10))
        services = rng.choice([[DEMARCHES], [LOISIRS], [DEMARCHES, LOISIRS]])
        v = cat.venue(db_session, *where, nom=f"L{i}", services=services,
                      weekly_capacity=rng.choice([None, 0, 1, 2, 3, 5]),
                      prise_en_charge_specifique=["Surdité"] if rng.random() < 0.3 else [],
                      status="closed" if i == 9 else "open")
        accepted = i % 4 != 3
        if accepted:
            cat.accept(db_session, v, prog)
        venues.append({"id": v.id, "where": where, "services": set(services),
                       "capacity": v.weekly_capacity, "accepted": accepted and i != 9,
                       "support": set(v.prise_en_charge_specifique)})
    return venues


def _eligible(p: dict, v: dict) -> float | None:
    """The distance when the venue passes the person's hard constraints (independently of the
    engine), else None."""
    if not v["accepted"] or (p["services"] and not set(p["services"]) & v["services"]):
        return None
    if p["support"] and not set(p["support"]) <= v["support"]:
        return None
    d = geodesic(p["where"], v["where"])
    return d if d <= p["max"] else None


@pytest.mark.parametrize("seed", range(4))
def test_random_cohorts_respect_constraints_and_beat_greedy(db_session, random_catalogue,
                                                            seed):
    rng = random.Random(seed)
    venues = {v["id"]: v for v in random_catalogue}
    default_capacity = 2
    people = []
    for i in range(40):
        p = {"key": f"P{i}", "where": at(rng.uniform(-12, 12), rng.uniform(-12, 12)),
             "services": rng.choice([[], [DEMARCHES], [LOISIRS]]),
             "support": ["Surdité"] if rng.random() < 0.15 else [],
             "max": rng.choice([3_000, 8_000, 15_000, 80_000])}
        people.append(p)
    needs = [person(p["key"], p["where"], programme="pass-test", services=p["services"],
                    support=p["support"], max_distance_m=p["max"]) for p in people]
    result = assign(db_session, needs, default_capacity=default_capacity)
    by_key = {p["key"]: p for p in people}

    def cap(v):
        return default_capacity if v["capacity"] is None else v["capacity"]

    # Hard constraints and capacities.
    load: dict[int, int] = {}
    for a in result.assignments:
        p, v = by_key[a.key], venues[a.venue_id]
        d = _eligible(p, v)
        assert d is not None, (a.key, a.nom)
        assert a.distance_m == pytest.approx(d, abs=0.5)
        load[a.venue_id] = load.get(a.venue_id, 0) + 1
    for vid, n in load.items():
        assert n <= cap(venues[vid])
    assert len(result.assignments) + len(result.unassigned) == len(people)

    # Greedy baseline (the cohort's order, nearest venue with room).
    room = {vid: cap(v) for vid, v in venues.items()}
    greedy_total, greedy_placed = 0.0, 0
    for p in people:
        options = sorted((d, vid) for vid, v in venues.items()
                         if (d := _eligible(p, v)) is not None and room[vid] > 0)
        if options:
            d, vid = options[0]
            room[vid] -= 1
            greedy_total += d
            greedy_placed += 1
    total = sum(a.distance_m for a in result.assignments)
    assert len(result.assignments) >= greedy_placed
    if len(result.assignments) == greedy_placed:
        assert total <= greedy_total + 1e-6

    # The exact optimum (scipy on the matrix of people × capacity slots).
    slots = [vid for vid, v in venues.items() for _ in range(cap(v))]
    big = 1e9
    matrix = np.full((len(people), len(slots) + len(people)), big * 10)
    for i, p in enumerate(people):
        for j, vid in enumerate(slots):
            d = _eligible(p, venues[vid])
            if d is not None:
                matrix[i, j] = d
        matrix[i, len(slots) + i] = big  # unassigned
    rows, cols = linear_sum_assignment(matrix)
    placed = [(r, c) for r, c in zip(rows, cols, strict=True) if c < len(slots)]
    assert len(result.assignments) == len(placed)
    assert total == pytest.approx(sum(matrix[r, c] for r, c in placed), abs=len(people))
    # Deterministic.
    again = assign(db_session, needs, default_capacity=default_capacity)
    assert [(a.key, a.venue_id) for a in again.assignments] == \
        [(a.key, a.venue_id) for a in result.assignments]


def test_sessions_seats_and_availability(db_session):
    prog = cat.programme(db_session)
    # Open on weekday mornings; a Saturday workshop with one free seat.
    v = cat.venue(db_session, *at(1), nom="Atelier", horaires="Mo-Fr 09:00-12:00",
                  services=[DEMARCHES], weekly_capacity=5)
    cat.accept(db_session, v, prog)
    o = cat.offer(db_session, v, DEMARCHES, format="collective", title="Mes démarches")
    saturday = dt.datetime(2026, 12, 5, 10, 0, tzinfo=PARIS)
    s = cat.seance(db_session, o, saturday, seats=8, taken=7)
    cat.seance(db_session, o, saturday + dt.timedelta(days=7), seats=8, taken=8)  # full
    needs = [person("S1", at(0), programme="pass-test", days=["samedi"]),
             person("S2", at(0.2), programme="pass-test", days=["samedi"]),
             person("M1", at(0.4), programme="pass-test", days=["lundi"], time_from="09:00",
                    time_to="11:00"),
             person("D1", at(0.1), programme="pass-test", days=["dimanche"])]
    result = assign(db_session, needs)
    got = {a.key: a for a in result.assignments}
    # One seat for S1 (1 km away) and S2 (800 m away): the total is least with S2.
    assert set(got) == {"S2", "M1"}
    assert got["S2"].kind == "session" and got["S2"].session.session_id == s.id
    assert got["S2"].session.text == "séance samedi à 10 h : Mes démarches"
    assert got["M1"].kind == "opening" and got["M1"].session is None
    assert got["M1"].note == "à 600 m ; ouvert lundi de 9 h à 11 h"
    reasons = {u.key: (u.code, u.reason) for u in result.unassigned}
    assert reasons["S1"][0] == "full"
    assert reasons["S1"][1] == ("Le seul lieu qui convient à moins de 80 km est complet "
                                "(capacité de la semaine ou places des séances).")
    assert reasons["D1"] == ("availability", (
        "1 lieu convient à moins de 80 km, mais aucun n'est ouvert ni n'a de séance avec des "
        "places libres le dimanche."))
    assert result.venues[0].load == 2 and result.venues[0].sessions == 1


def test_unassigned_reasons(db_session):
    prog = cat.programme(db_session, valid_to=dt.date(2027, 12, 31))
    cat.programme(db_session, "pass-fini", "Pass Fini", valid_to=dt.date(2026, 6, 30))
    cat.programme(db_session, "pass-loisirs", "Pass Loisirs", allowed_services=[LOISIRS])
    v = cat.venue(db_session, *at(0), nom="Seul", services=[DEMARCHES], weekly_capacity=1)
    cat.accept(db_session, v, prog)
    needs = [person("ok", at(0.1), programme="pass-test"),
             person("plein", at(0.2), programme="pass-test"),
             person("loin", at(30), programme="pass-test", max_distance_m=5000),
             person("fini", at(0), programme="pass-fini"),
             person("service", at(0), programme="pass-loisirs", services=[DEMARCHES]),
             person("sourd", at(0), programme="pass-test", support=["Surdité"])]
    result = assign(db_session, needs)
    assert [a.key for a in result.assignments] == ["ok"]
    reasons = {u.key: (u.code, u.reason) for u in result.unassigned}
    assert [u.key for u in result.unassigned] == ["plein", "loin", "fini", "service", "sourd"]
    assert reasons["plein"][0] == "full"
    assert reasons["loin"] == ("no_venue", "Aucun lieu n'accepte le Pass Numérique Test pour "
                                           "ce besoin à moins de 5 km.")
    assert reasons["fini"] == ("programme", "Le Pass Fini n'est plus valable depuis le "
                                            "30 juin 2026.")
    assert reasons["service"] == ("services", f"Le Pass Loisirs ne couvre pas « {DEMARCHES} ».")
    assert reasons["sourd"][0] == "no_venue"
    assert result.totals["unassigned_by_reason"] == {"programme": 1, "services": 1,
                                                     "no_venue": 2, "full": 1}


def test_unknown_capacity_assumption_and_weeks(db_session):
    prog = cat.programme(db_session)
    v = cat.venue(db_session, *at(0), nom="Inconnue", services=[DEMARCHES])
    cat.accept(db_session, v, prog)
    needs = [person(f"P{i}", at(0.1 * i), programme="pass-test") for i in range(5)]
    assert assign(db_session, needs, default_capacity=2).totals["assigned"] == 2
    two_weeks = assign(db_session, needs, default_capacity=2, weeks=2)
    assert two_weeks.totals["assigned"] == 4
    assert two_weeks.venues[0].capacity == 4 and not two_weeks.venues[0].capacity_known
    assert two_weeks.totals["venues_with_assumed_capacity"] == 1
    assert "2 personne(s) par semaine" in two_weeks.assumptions["unknown_capacity"]
    unlimited = assign(db_session, needs, default_capacity=None)
    assert unlimited.totals["assigned"] == 5 and unlimited.venues[0].capacity is None


def test_candidates_widen_for_people_left_out(db_session):
    prog = cat.programme(db_session)
    for i in range(4):  # four small venues near the start, one with room further away
        cat.accept(db_session, cat.venue(db_session, *at(i * 0.1), nom=f"Près {i}",
                                         services=[DEMARCHES], weekly_capacity=1), prog)
    cat.accept(db_session, cat.venue(db_session, *at(20), nom="Loin", services=[DEMARCHES],
                                     weekly_capacity=10), prog)
    needs = [person(f"P{i}", at(0), programme="pass-test") for i in range(6)]
    result = assign(db_session, needs, candidates=2)
    assert result.totals["assigned"] == 6
    assert result.totals["candidate_rounds"] >= 2
    assert sum(1 for a in result.assignments if a.nom == "Loin") == 2


def test_polygon_place_is_at_distance_zero(db_session, geography):
    prog = cat.programme(db_session)
    v = cat.venue(db_session, -0.5792, 44.8378, nom="Mairie", services=[DEMARCHES],
                  code_insee="33063", weekly_capacity=3)
    cat.accept(db_session, v, prog)
    needs = [PersonNeed("C", parse_question({"commune": "33063", "programme": "pass-test"})),
             PersonNeed("CP", parse_question({"postal_code": "33000",
                                              "programme": "pass-test"}))]
    result = assign(db_session, needs)
    assert [(a.key, a.distance_m) for a in result.assignments] == [("C", 0.0), ("CP", 0.0)]
    assert result.assignments[0].note.startswith("dans la commune")


def test_no_personal_data_in_logs(db_session, caplog):
    prog = cat.programme(db_session)
    cat.accept(db_session, cat.venue(db_session, *at(0), services=[DEMARCHES]), prog)
    canary = "CANARI-7f3a9"
    with caplog.at_level(logging.DEBUG):
        result = assign(db_session, [person(canary, at(0.3), programme="pass-test")])
    assert result.assignments[0].key == canary
    assert caplog.records  # the assignment does log (counts)
    assert all(canary not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("seed", range(3))
def test_without_capacity_limits_everyone_gets_the_engines_nearest(db_session, seed):
    """Same hard constraints as /api/v1/match: with no capacity limit, each person's venue is
    the nearest of the engine's results (availability included)."""
    from matching.services import match

    rng = random.Random(100 + seed)
    prog = cat.programme(db_session)
    hours = [None, "Mo-Fr 09:00-12:00", "Tu-Sa 14:00-18:00", "Sa 09:00-12:00"]
    for i in range(12):
        v = cat.venue(db_session, *at(rng.uniform(-8, 8), rng.uniform(-8, 8)), nom=f"L{i}",
                      horaires=rng.choice(hours),
                      services=rng.choice([[DEMARCHES], [LOISIRS], [DEMARCHES, LOISIRS]]),
                      prise_en_charge_specifique=["Surdité"] if rng.random() < 0.3 else [])
        if rng.random() < 0.75:
            cat.accept(db_session, v, prog, services=rng.choice([(), (LOISIRS,)]))
    fields_of = []
    for _ in range(15):
        f = {"programme": "pass-test", "max_distance_m": rng.choice([4000, 9000, 30000])}
        if rng.random() < 0.6:
            f["services"] = [rng.choice([DEMARCHES, LOISIRS])]
        if rng.random() < 0.5:
            f["days"] = [rng.choice(["mardi", "samedi", "dimanche"])]
        if rng.random() < 0.2:
            f["support"] = ["Surdité"]
        fields_of.append((at(rng.uniform(-9, 9), rng.uniform(-9, 9)), f))
    needs = [person(f"P{i}", where, **f) for i, (where, f) in enumerate(fields_of)]
    result = assign(db_session, needs, default_capacity=None)
    got = {a.key: a for a in result.assignments}
    for need in needs:
        engine = match(need.question, now=NOW, limit=50, session=db_session).results
        if not engine:
            assert need.key not in got
            continue
        nearest = min(engine, key=lambda r: (r.distance_m, r.venue_id))
        assert need.key in got, need.key
        assert got[need.key].distance_m == pytest.approx(nearest.distance_m, abs=0.2)
        assert got[need.key].venue_id in {r.venue_id for r in engine}


def test_a_failing_query_does_not_carry_positions(db_session, monkeypatch):
    import traceback

    from matching.cohort import candidates

    prog = cat.programme(db_session)
    cat.accept(db_session, cat.venue(db_session, *at(0), services=[DEMARCHES]), prog)
    monkeypatch.setattr(candidates, "_NEAREST_SQL",
                        candidates._NEAREST_SQL.replace("LIMIT", "LIMT"))
    canary = (-0.5712345, 44.8412345)
    with pytest.raises(RuntimeError) as info:
        assign(db_session, [person("P", canary, programme="pass-test")])
    text_ = "".join(traceback.format_exception(info.value))
    assert "SyntaxError" in text_
    assert "0.5712345" not in text_ and "44.8412345" not in text_


def test_places_resolved_in_bulk_equal_the_engines(db_session, geography):
    from sqlalchemy import text

    from matching.cohort.candidates import resolve_places
    from matching.question import Where
    from matching.services import resolve_place

    shared = db_session.execute(text(
        "SELECT p.code FROM postal_code p JOIN commune c ON c.code = p.commune_code "
        "WHERE c.geom IS NOT NULL GROUP BY p.code HAVING count(*) > 1 ORDER BY p.code "
        "LIMIT 2")).scalars().all()
    assert shared
    wheres = [Where(commune="33063"), Where(commune="42218"), Where(postal_code="33000"),
              Where(postal_code="97400"), *(Where(postal_code=pc) for pc in shared),
              Where(lat=44.8, lon=-0.5), Where(commune="99999"), Where(postal_code="00000")]
    found = resolve_places(db_session, wheres)
    assert set(found) == set(wheres[:-3])
    for where, place in found.items():
        assert place == resolve_place(db_session, where)


def _accepting(db_session, *specs):
    """Venues that accept the test pass, each from (km east, name, hours, weekly capacity)."""
    prog = cat.programme(db_session)
    venues = []
    for km, nom, hours, capacity in specs:
        v = cat.venue(db_session, *at(km), nom=nom, horaires=hours, services=[DEMARCHES],
                      weekly_capacity=capacity)
        cat.accept(db_session, v, prog)
        venues.append(v)
    return venues


def test_a_window_never_takes_more_than_its_share_of_the_week(db_session):
    """Four people free on the same Tuesday afternoon; the nearest venue takes 4 people a week
    over two openings of two hours: 2 in that Tuesday's opening, the others go farther."""
    near, far = _accepting(db_session, (0.5, "Près", "Tu,Th 14:00-16:00", 4),
                           (5, "Loin", "Tu 14:00-18:00", 10))
    needs = [person(f"P{i}", at(0.1 * i), programme="pass-test", date="2026-12-08")
             for i in range(4)]
    result = assign(db_session, needs)
    assert result.totals["assigned"] == 4
    by_venue = {}
    for a in result.assignments:
        by_venue.setdefault(a.venue_id, []).append(a)
    assert len(by_venue[near.id]) == 2 and len(by_venue[far.id]) == 2
    assert {a.note.split(" ; ")[1] for a in by_venue[near.id]} == {
        "ouvert le mardi 8 décembre de 14 h à 16 h"}
    assert solver.violations(result.problem, result.choice) == []
    windows = {}
    for c in result.choice:
        windows[c.window] = windows.get(c.window, 0) + 1
    assert all(n <= result.problem.window_capacity[w] for w, n in windows.items())
    # Planned over two weeks, people free on Tuesdays fit the nearest venue (two windows of 2).
    spread = [person(f"Q{i}", at(0.1 * i), programme="pass-test", days=["mardi"],
                     time_from="14:00", time_to="16:00") for i in range(4)]
    result = assign(db_session, spread, weeks=2)
    assert {a.venue_id for a in result.assignments} == {near.id}
    assert len({c.window for c in result.choice}) == 2


def test_openings_offered_are_those_of_the_period_planned(db_session):
    """The capacity is stated per week: planned over one week (from Tuesday 1 December,
    10 h), the people free on Tuesdays have this Tuesday's opening only, not the next
    Tuesday's (8 December, 14 h, after the week); over two weeks, both. A person who gives the
    date of 8 December keeps that date's opening."""
    near, far = _accepting(db_session, (0.5, "Près", "Tu,Th 14:00-16:00", 4),
                           (5, "Loin", "Tu 14:00-18:00", 10))
    spread = [person(f"Q{i}", at(0.1 * i), programme="pass-test", days=["mardi"],
                     time_from="14:00", time_to="16:00") for i in range(4)]
    week = assign(db_session, spread)
    assert week.totals["assigned"] == 4
    assert sorted(a.venue_id for a in week.assignments) == [near.id] * 2 + [far.id] * 2
    assert {c.window[2] for c in week.choice} == {dt.datetime(2026, 12, 1, 14, 0, tzinfo=PARIS)}
    assert all(w[2] < NOW + dt.timedelta(weeks=1) for w in week.problem.window_capacity)
    assert "1 semaine(s)" in week.assumptions["period"]
    two = assign(db_session, spread, weeks=2)
    assert {a.venue_id for a in two.assignments} == {near.id}
    assert {c.window[2] for c in two.choice} == {dt.datetime(2026, 12, d, 14, 0, tzinfo=PARIS)
                                                 for d in (1, 8)}
    dated = assign(db_session, [person("D", at(0), programme="pass-test", date="2026-12-08")])
    assert [(a.venue_id, a.note.split(" ; ")[1]) for a in dated.assignments] == [
        (near.id, "ouvert le mardi 8 décembre de 14 h à 16 h")]
    # Over four weeks the openings of the 3rd and 4th weeks are offered too (past the
    # matcher's 14-day horizon): 4 Tuesdays of 2 people each hold the 8 people at « Près ».
    crowd = [person(f"R{i}", at(0.1 * (i % 4)), programme="pass-test", days=["mardi"],
                    time_from="14:00", time_to="16:00") for i in range(8)]
    month = assign(db_session, crowd, weeks=4)
    assert {c.window[2] for c in month.choice if c.window} >= {
        dt.datetime(2026, 12, d, 14, 0, tzinfo=PARIS) for d in (15, 22)}
    assert "28 jours" in month.assumptions["sessions"]


def test_the_cohort_wants_the_offers_duration(db_session):
    """« Libre à partir de 18 h » is no time for « ouvert mardi de 18 h à 18 h 30 »."""
    short, long_ = _accepting(db_session, (0.5, "Court", "Tu 18:00-18:30", 5),
                              (3, "Long", "Tu 17:00-19:00", 5))
    needs = [person("A", at(0), programme="pass-test", days=["mardi"], time_from="18:00")]
    result = assign(db_session, needs)
    assert [(a.venue_id, a.note) for a in result.assignments] == [
        (long_.id, "à 3,0 km ; ouvert aujourd'hui de 18 h à 19 h")]
    quick = cat.offer(db_session, short, DEMARCHES, duration=30, title="Question rapide")
    assert quick.duration_minutes == 30
    result = assign(db_session, needs)
    assert [(a.venue_id, a.note) for a in result.assignments] == [
        (short.id, "à 500 m ; ouvert aujourd'hui de 18 h à 18 h 30")]
