"""coverage refresh on a hand-checkable world (tests/geodata/coverage_world.py)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from geopy.distance import geodesic
from sqlalchemy import text

from core.errors import InvalidInput
from coverage.costs import pairs_within_python
from coverage.refresh import refresh
from coverage.runs import KEEP_RUNS_PER_SELECTION
from coverage.selection import Selection
from directory.models import Acceptance, Offer, VenueStop
from tests.conftest import make_venue, point

from .coverage_world import COMMUNES, LON, TERRITORY, essai_programme, make_world

TODAY = dt.date(2026, 6, 1)


def _results(session, run_id: int) -> dict[str, dict]:
    rows = session.execute(text("SELECT * FROM coverage_result WHERE run_id = :r"),
                           {"r": run_id}).mappings().all()
    return {r["commune_code"]: dict(r) for r in rows}


def _aggregates(session, run_id: int) -> dict[tuple[str, str], dict]:
    rows = session.execute(text("SELECT * FROM coverage_aggregate WHERE run_id = :r"),
                           {"r": run_id}).mappings().all()
    return {(r["level"], r["code"]): dict(r) for r in rows}


def _refresh(session, within="dep:991", **kwargs):
    selection = Selection(kwargs.pop("programme", None), kwargs.pop("service", None),
                          within, kwargs.pop("need", "population"))
    return refresh(session, selection, detour=kwargs.pop("detour", 1.3),
                   today=TODAY, **kwargs)


def test_coverage_shares_by_hand(db_session):
    make_world(db_session)
    report = _refresh(db_session)
    assert report.communes == 5
    assert report.population == 10500
    # 10 km: A (2.9) and D (7.2, by V2 beyond the border); 20 km: + B (11.6); 30 km: + F.
    assert report.covered_population == {10.0: 5000, 20.0: 7000, 30.0: 7500}
    results = _results(db_session, report.run_id)
    assert set(results) == set(TERRITORY)  # E (dep 992) only served the catchments
    flags = {code: (r["covered_10km"], r["covered_20km"], r["covered_30km"])
             for code, r in results.items()}
    assert flags == {"99101": (True, True, True), "99102": (False, True, True),
                     "99103": (False, False, False), "99104": (True, True, True),
                     "99105": (False, False, True)}
    assert results["99103"]["nearest_lieu_id"] is None
    assert results["99103"]["nearest_cost_km"] is None
    assert report.unknown_capacity == 1 and report.venues == 2


def test_costs_are_ellipsoidal_geodesic_times_detour(db_session):
    venues = make_world(db_session)
    report = _refresh(db_session, detour=1.5)
    results = _results(db_session, report.run_id)
    expected = geodesic((48.02, LON), (48.10, LON)).km * 1.5  # geopy: Karney on WGS 84
    assert results["99102"]["nearest_lieu_id"] == venues["V1"].id
    assert results["99102"]["nearest_cost_km"] == pytest.approx(expected, abs=1e-6)


def test_fca_values_and_gap_by_hand(db_session):
    make_world(db_session)
    report = _refresh(db_session)
    r = _results(db_session, report.run_id)
    # 2SFCA (20 km): V1 serves A + B (3000) → 10/3000; V2 serves D + E (9000) → 1/9000.
    assert r["99101"]["a_2sfca"] == pytest.approx(10 / 3000)
    assert r["99102"]["a_2sfca"] == pytest.approx(10 / 3000)
    assert r["99104"]["a_2sfca"] == pytest.approx(1 / 9000)  # E's demand counts (border)
    assert r["99103"]["a_2sfca"] == 0.0 and r["99105"]["a_2sfca"] == 0.0
    # E2SFCA steps: V1: A·1 + B·0.68 = 2360; V2: D·1 + E·1 + F·0.22 = 9110.
    expected = {"99101": 10 / 2360, "99102": 0.68 * 10 / 2360, "99103": 0.0,
                "99104": 1 / 9110, "99105": 0.22 / 9110}
    for code, value in expected.items():
        assert r[code]["a_e2sfca_step"] == pytest.approx(value, rel=1e-12)
    population = {code: COMMUNES[code][1] for code in TERRITORY}
    mean = sum(population[c] * expected[c] for c in TERRITORY) / sum(population.values())
    assert report.reference_mean == pytest.approx(mean, rel=1e-12)
    assert report.reference == "territoire"
    for code in TERRITORY:
        assert r[code]["capacity_gap"] == pytest.approx(
            population[code] * max(0.0, mean - expected[code]), rel=1e-12, abs=1e-12)
    run = db_session.execute(text("SELECT reference, reference_mean, parameters, stats "
                                  "FROM coverage_run WHERE id = :id"),
                             {"id": report.run_id}).one()
    assert run.reference == "territoire" and run.reference_mean == pytest.approx(mean)
    assert run.parameters["detour_factor"] == 1.3
    assert run.stats["venues_unknown_capacity"] == 1


def test_border_venue_covers_border_commune(db_session):
    venues = make_world(db_session)
    report = _refresh(db_session)
    d = _results(db_session, report.run_id)["99104"]
    assert d["covered_10km"] and d["nearest_lieu_id"] == venues["V2"].id
    # Without the border effect (the venue beyond the border dropped), D would be uncovered:
    db_session.execute(text("UPDATE lieu SET status = 'closed' WHERE id = :id"),
                       {"id": venues["V2"].id})
    again = _results(db_session, _refresh(db_session).run_id)["99104"]
    assert not again["covered_30km"]


def test_aggregates_sum_correctly(db_session):
    make_world(db_session)
    report = _refresh(db_session, within="reg:991")
    assert report.reference == "territoire"
    results = _results(db_session, report.run_id)
    aggregates = _aggregates(db_session, report.run_id)
    assert set(results) == set(COMMUNES)
    france = aggregates[("france", "FR")]
    regions = [a for (level, _), a in aggregates.items() if level == "region"]
    departements = [a for (level, _), a in aggregates.items() if level == "departement"]
    assert {a["code"] for a in departements} == {"991", "992"}
    for column in ("population", "need", "population_covered_10km", "population_covered_20km",
                   "population_covered_30km", "need_covered_30km", "capacity_gap",
                   "communes", "communes_uncovered_30km"):
        assert france[column] == pytest.approx(sum(a[column] for a in regions))
        assert france[column] == pytest.approx(sum(a[column] for a in departements))
    for column in ("population", "need", "capacity_gap"):
        assert france[column] == pytest.approx(sum(r[column] for r in results.values()))
    for a in aggregates.values():
        for t in (10, 20, 30):
            assert 0 <= a[f"population_covered_{t}km"] <= a["population"]
    assert france["population"] == 15500
    # E (5000) and D (4000) at 10 km, A too: 10 000; EPCI: A covered, B not at 10 km.
    assert france["population_covered_10km"] == 10000
    epci = aggregates[("epci", "999999991")]
    assert (epci["population"], epci["population_covered_10km"],
            epci["population_covered_20km"]) == (3000, 1000, 3000)
    weighted = sum(r["need"] * r["a_e2sfca_step"] for r in results.values()) / 15500
    assert france["mean_accessibility"] == pytest.approx(weighted)
    # population-weighted mean distance to the nearest venue, over people with one.
    reached = [r for r in results.values() if r["nearest_cost_km"] is not None]
    assert france["mean_nearest_km"] == pytest.approx(
        sum(r["population"] * r["nearest_cost_km"] for r in reached)
        / sum(r["population"] for r in reached))


def test_sql_and_python_costs_agree(db_session):
    make_world(db_session)
    python = _results(db_session, _refresh(db_session, engine="python").run_id)
    sql = _results(db_session, _refresh(db_session, engine="sql").run_id)
    for code in TERRITORY:
        for column in ("a_2sfca", "a_e2sfca_step", "a_e2sfca_gauss", "a_3sfca"):
            assert sql[code][column] == pytest.approx(python[code][column], rel=1e-9)
        if python[code]["nearest_cost_km"] is not None:
            assert sql[code]["nearest_cost_km"] == pytest.approx(
                python[code]["nearest_cost_km"], abs=1e-6)


def test_programme_service_and_dates_select_the_supply(db_session):
    venues = make_world(db_session)
    programme = essai_programme(db_session,
                                allowed_services=["Aide aux démarches administratives"])
    # V1 accepts today; V2's acceptance ended before TODAY.
    db_session.add_all([
        Acceptance(lieu_id=venues["V1"].id, programme_id=programme.id,
                   valid_from=dt.date(2026, 1, 1)),
        Acceptance(lieu_id=venues["V2"].id, programme_id=programme.id,
                   valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 5, 31)),
    ])
    db_session.flush()
    report = _refresh(db_session, programme="pass-essai")
    assert report.venues == 1 and report.covered_population[10.0] == 1000
    # A service the programme does not allow: no venue at all.
    none = _refresh(db_session, programme="pass-essai",
                    service="Loisirs et créations numériques")
    assert none.venues == 0 and none.covered_population[30.0] == 0
    # Service offered through an active offer, programme allowing it.
    db_session.add(Offer(lieu_id=venues["V1"].id, code="o1", title="Démarches",
                         service="Aide aux démarches administratives", format="individual"))
    db_session.flush()
    offered = _refresh(db_session, programme="pass-essai",
                       service="Aide aux démarches administratives")
    assert offered.venues == 1
    with pytest.raises(InvalidInput, match="Programme « inconnu » inconnu"):
        _refresh(db_session, programme="inconnu")
    with pytest.raises(InvalidInput, match="Service"):
        _refresh(db_session, service="Jardinage")


def test_temporarily_closed_and_itinerant_venues(db_session):
    venues = make_world(db_session)
    db_session.execute(text("UPDATE lieu SET status = 'temporarily_closed', "
                            "closed_from = :a, closed_until = :b WHERE id = :id"),
                       {"a": TODAY - dt.timedelta(days=3), "b": TODAY + dt.timedelta(days=3),
                        "id": venues["V1"].id})
    report = _refresh(db_session)
    assert report.venues == 1 and report.covered_population[10.0] == 4000
    # A bus with two stops, capacity 6: 3 per stop; its stop at C's point covers C.
    bus = make_venue(db_session, nom="Bus numérique", code_insee="99103", geom=None,
                     weekly_capacity=6)
    db_session.add_all([
        VenueStop(lieu_id=bus.id, position=0, label="Place de C", geom=point(LON, 48.30)),
        VenueStop(lieu_id=bus.id, position=1, label="Loin", geom=point(LON, 47.0)),
    ])
    db_session.flush()
    report = _refresh(db_session)
    assert report.stops == 1 and report.venues == 2  # the far stop is beyond reach
    results = _results(db_session, report.run_id)
    assert results["99103"]["covered_10km"]
    assert results["99103"]["nearest_lieu_id"] == bus.id
    assert results["99103"]["capacity_10km"] == pytest.approx(3.0)


@pytest.mark.parametrize("closed_from, closed_until, counted", [
    (None, TODAY + dt.timedelta(days=30), False),   # open, closed until next month
    (TODAY - dt.timedelta(days=1), None, False),    # open, closed since yesterday, no end
    (None, TODAY - dt.timedelta(days=1), True),     # the closure ended yesterday
    (TODAY + dt.timedelta(days=1), None, True),     # closes tomorrow
])
def test_a_closure_period_with_one_bound_counts_whatever_the_status(
        db_session, closed_from, closed_until, counted):
    venues = make_world(db_session)
    venues["V1"].status = "open"
    venues["V1"].closed_from, venues["V1"].closed_until = closed_from, closed_until
    db_session.flush()
    report = _refresh(db_session)
    assert report.venues == (2 if counted else 1)
    assert report.covered_population[10.0] == (5000 if counted else 4000)


def test_a_revoked_acceptance_without_end_date_accepts_nothing(db_session):
    """directory.rules: a revocation written by hand (revoked_at, no valid_to) ends it."""
    venues = make_world(db_session)
    programme = essai_programme(db_session)
    acceptance = Acceptance(lieu_id=venues["V1"].id, programme_id=programme.id,
                            valid_from=dt.date(2026, 1, 1))
    db_session.add(acceptance)
    db_session.flush()
    assert _refresh(db_session, programme="pass-essai").venues == 1
    acceptance.revoked_at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    db_session.flush()
    assert _refresh(db_session, programme="pass-essai").venues == 0


def test_need_weights_fragility_and_illectronisme(db_session):
    make_world(db_session)
    with pytest.raises(InvalidInput, match="fragilité"):
        _refresh(db_session, need="fragility")
    db_session.execute(text(
        "INSERT INTO fragility_index (commune_code, score, source_codes, iris, column_name) "
        "VALUES ('99101', 200, '[]', 1, 't'), ('99104', 50, '[]', 1, 't')"))
    report = _refresh(db_session, need="fragility")
    r = _results(db_session, report.run_id)
    assert r["99101"]["need"] == 2000 and r["99104"]["need"] == 2000
    assert r["99102"]["need"] == 2000  # no index: counted at 100
    assert report.without_fragility == 3
    # need covered at 10 km: A (2000) + D (2000) over 2000+2000+3000+2000+500.
    assert report.covered_need[10.0] == 4000 and report.need == 9500
    illectronisme = _results(db_session, _refresh(db_session, need="illectronisme").run_id)
    assert illectronisme["99101"]["need"] == pytest.approx(1000 * 0.154 * 2.0)
    assert illectronisme["99103"]["need"] == pytest.approx(3000 * 0.154)


def test_runs_are_pruned_per_selection(db_session):
    make_world(db_session)
    ids = [_refresh(db_session).run_id for _ in range(KEEP_RUNS_PER_SELECTION + 2)]
    other = _refresh(db_session, within="reg:991").run_id
    kept = db_session.execute(text("SELECT id FROM coverage_run ORDER BY id")).scalars().all()
    assert kept == ids[-KEEP_RUNS_PER_SELECTION:] + [other]


def test_bad_selection_is_refused(db_session):
    make_world(db_session)
    with pytest.raises(InvalidInput, match="Territoire inconnu"):
        _refresh(db_session, within="dep:998")
    with pytest.raises(InvalidInput, match="non reconnu"):
        _refresh(db_session, within="canton:12")
    with pytest.raises(InvalidInput, match="détour"):
        _refresh(db_session, detour=0.5)


@pytest.mark.slow  # ≈ 20 s: a brute-force geodesic over every pair
def test_python_pairs_match_a_brute_force_geodesic():
    rng = np.random.default_rng(5)
    d_lon, d_lat = rng.uniform(-1, 1, 300), rng.uniform(44, 46, 300)
    s_lon, s_lat = rng.uniform(-1, 1, 200), rng.uniform(44, 46, 200)
    di, sj, km = pairs_within_python(d_lon, d_lat, s_lon, s_lat, 23.0)
    found = {(int(i), int(j)): k for i, j, k in zip(di, sj, km, strict=True)}
    expected = {}
    for i in range(300):
        for j in range(200):
            distance = geodesic((d_lat[i], d_lon[i]), (s_lat[j], s_lon[j])).km
            if distance <= 23.0:
                expected[(i, j)] = distance
    assert set(found) == set(expected) and len(found) > 100
    for key, distance in expected.items():
        assert found[key] == pytest.approx(distance, abs=1e-6)


def test_refresh_command_prints_french_counts(runner, db_session):
    make_world(db_session)
    result = runner.invoke(args=["coverage", "refresh", "--within", "dep:991"])
    assert result.exit_code == 0, result.output
    assert "5 communes" in result.output
    assert "capacité inconnue pour 1 lieux" in result.output
    assert "Couverts à 10 km : 5\u202f000 habitants (47,6 %)" in result.output
    assert "Durées : lecture" in result.output
    bad = runner.invoke(args=["coverage", "refresh", "--within", "dep:998"])
    assert bad.exit_code != 0 and "Territoire inconnu" in bad.output
