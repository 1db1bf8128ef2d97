"""Where to invest: greedy new sites, capacity gaps; the fragility import."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text

from coverage.selection import Selection
from coverage.suggestions import suggest, town_hall_name
from directory.models import Acceptance
from tests.conftest import make_venue, point, shared_data

from .coverage_world import LON, essai_programme, make_world

TODAY = dt.date(2026, 6, 1)


def _suggest(session, **kwargs):
    selection = Selection(kwargs.pop("programme", None), None,
                          kwargs.pop("within", "dep:991"), "population")
    return suggest(session, selection, detour=1.3, today=TODAY, **kwargs)


def test_greedy_town_hall_covers_the_most_need(db_session):
    make_world(db_session)
    result = _suggest(db_session, k=3, radius_km=20, candidates="townhalls")
    # Uncovered at 20 km today: C (3000) and F (500). C's town hall reaches C and F
    # (11.1 km × 1.3 = 14.5); F's town hall (48.45) reaches F and D but not C (21.7).
    assert result["baseline"]["population_covered"] == 7000
    assert [s["commune_code"] for s in result["sites"]] == ["99103"]  # then nothing to add
    site = result["sites"][0]
    assert site["name"] == "Mairie de Cville" and site["kind"] == "townhall"
    assert site["newly_covered_population"] == 3500 and site["newly_covered_communes"] == 2
    assert site["share_population_covered_after"] == 1.0
    assert (site["lon"], site["lat"]) == (pytest.approx(LON), pytest.approx(48.30))


def test_town_hall_point_is_used_when_known(db_session):
    make_world(db_session)
    # At 10 km, F's town hall (48.45) covers F (5.6 km × 1.3 = 7.2) but not C.
    result = _suggest(db_session, k=5, radius_km=10, candidates="townhalls")
    by_code = {s["commune_code"]: s for s in result["sites"]}
    assert by_code["99105"]["lat"] == pytest.approx(48.45)


def test_capacity_gaps_are_ranked(db_session):
    make_world(db_session)
    result = _suggest(db_session, k=1, radius_km=20, candidates="townhalls")
    gaps = result["capacity_gaps"]
    assert gaps["level"] == "epci" and gaps["reference"] == "territoire"
    # Only one EPCI (A and B), whose accessibility is above the mean: no gap to close.
    assert gaps["territories"] == []
    communes = _suggest(db_session, within="reg:991", k=1, radius_km=20,
                        candidates="townhalls", gap_limit=2)["capacity_gaps"]
    assert communes["level"] == "departement"
    assert [t["rank"] for t in communes["territories"]] == [1, 2]
    first, second = communes["territories"]
    assert first["capacity_gap"] >= second["capacity_gap"] > 0


def test_venue_candidates_are_those_not_accepting(db_session):
    venues = make_world(db_session)
    programme = essai_programme(db_session)
    db_session.add(Acceptance(lieu_id=venues["V1"].id, programme_id=programme.id,
                              valid_from=dt.date(2026, 1, 1)))
    candidate = make_venue(db_session, nom="Médiathèque de C", code_insee="99103",
                           geom=point(LON, 48.31))
    db_session.flush()
    result = _suggest(db_session, programme="pass-essai", k=2, radius_km=20,
                      candidates="venues")
    # Only V1 accepts: D is no longer covered; the médiathèque (in C) covers C and F,
    # V2 lies outside the territory and is not a candidate.
    assert result["baseline"]["population_covered"] == 3000
    assert [s["lieu_id"] for s in result["sites"]] == [candidate.id]
    assert result["sites"][0]["newly_covered_population"] == 3500


def test_suggestions_api_and_cli(client, runner, db_session):
    make_world(db_session)
    response = client.get("/api/v1/coverage/suggestions?within=dep:991&k=2&radius_km=20")
    assert response.status_code == 200
    body = response.get_json()
    assert body["sites"][0]["commune_code"] == "99103"
    assert body["sites"][0]["newly_covered_population"] == 3500
    geo = client.get("/api/v1/coverage/suggestions?within=dep:991&format=geojson")
    assert geo.mimetype == "application/geo+json"
    feature = geo.get_json()["features"][0]
    assert feature["geometry"]["type"] == "Point"
    result = runner.invoke(args=["coverage", "suggest", "--within", "dep:991", "-k", "2"])
    assert result.exit_code == 0, result.output
    assert "1. Mairie de Cville — Cville (99103) : +3\u202f500 personnes couvertes" \
        in result.output
    bad = runner.invoke(args=["coverage", "suggest", "--within", "dep:991",
                              "--candidates", "venues"])
    assert bad.exit_code != 0 and "programme" in bad.output


# --------------------------------------------------------------------------- fragility

HEADER = ("code_insee,nom,departement,region,nb_iris,in_cog2026_as,"
          "SCORE GLOBAL departement 1,SCORE GLOBAL region 1\n")


def _decoupage(tmp_path):
    entries = [
        {"code": "99101", "type": "commune-actuelle"},
        {"code": "99102", "type": "commune-actuelle"},
        {"code": "99190", "type": "commune-deleguee", "chefLieu": "99102"},
        {"code": "99150", "type": "arrondissement-municipal", "commune": "99101"},
    ]
    directory = tmp_path / "decoupage"
    directory.mkdir()
    (directory / "communes.json").write_text(json.dumps(entries), encoding="utf-8")
    return directory


def test_fragility_import_maps_old_codes(runner, db_session, tmp_path):
    path = tmp_path / "ifn.csv"
    path.write_text(HEADER +
                    "99101,A,991,991,1,commune-actuelle,90,80\n"
                    "99102,B,991,991,1,commune-actuelle,90,100\n"
                    "99190,B2,991,991,3,commune-deleguee,90,140\n"
                    "99150,A1,991,991,1,arrondissement-municipal,90,120\n"
                    "99177,X,991,991,1,absent,90,50\n"
                    "99178,Y,991,991,1,commune-actuelle,90,\n", encoding="utf-8")
    result = runner.invoke(args=["coverage", "fragility", "import", str(path),
                                 "--decoupage-dir", str(_decoupage(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "6 lignes lues" in result.output
    assert "1 codes absents du COG 2026 ignorés : 99177" in result.output
    assert "1 lignes sans score ignorées : 99178" in result.output
    assert "2 communes 2026 enregistrées" in result.output
    rows = dict(db_session.execute(text("SELECT commune_code, score FROM fragility_index"))
                .all())
    # IRIS-weighted: B = (100·1 + 140·3) / 4 = 130 ; A = (80 + 120) / 2 = 100.
    assert rows == {"99101": pytest.approx(100.0), "99102": pytest.approx(130.0)}
    again = runner.invoke(args=["coverage", "fragility", "import", str(path), "--column",
                                "SCORE GLOBAL departement 1", "--decoupage-dir",
                                str(_decoupage(tmp_path / "x") if False else
                                    tmp_path / "decoupage")])
    assert again.exit_code == 0, again.output
    assert db_session.execute(text("SELECT count(*) FROM fragility_index")).scalar() == 2


def test_fragility_import_refuses_bad_files(runner, db_session, tmp_path):
    decoupage = _decoupage(tmp_path)
    missing = tmp_path / "bad.csv"
    missing.write_text("code,score\n01001,3\n", encoding="utf-8")
    result = runner.invoke(args=["coverage", "fragility", "import", str(missing),
                                 "--decoupage-dir", str(decoupage)])
    assert result.exit_code != 0 and "colonne « code_insee » absente" in result.output
    word = tmp_path / "word.csv"
    word.write_text(HEADER + "99101,A,991,991,1,commune-actuelle,90,beaucoup\n",
                    encoding="utf-8")
    result = runner.invoke(args=["coverage", "fragility", "import", str(word),
                                 "--decoupage-dir", str(decoupage)])
    assert result.exit_code != 0 and "ligne 2" in result.output
    assert "n'est pas un nombre" in result.output
    absent = runner.invoke(args=["coverage", "fragility", "import", str(tmp_path / "no.csv")])
    assert absent.exit_code != 0 and "introuvable" in absent.output


def test_fragility_import_of_the_shared_file(runner, db_session):
    path = shared_data("fragility", "ifn-communes-2020-mean-of-iris.csv")
    result = runner.invoke(args=["coverage", "fragility", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "34\u202f902 lignes lues" in result.output
    assert "17 codes absents du COG 2026 ignorés" in result.output
    count = db_session.execute(text("SELECT count(*) FROM fragility_index")).scalar()
    assert 34_000 < count <= 34_969
    paris = db_session.execute(text("SELECT iris, jsonb_array_length(source_codes) "
                                    "FROM fragility_index WHERE commune_code = '75056'")).one()
    assert paris[1] == 20 and paris[0] > 20  # the 20 arrondissements, merged


@pytest.mark.parametrize("commune, expected", [
    ("Balizac", "Mairie de Balizac"), ("Aureilhan", "Mairie d'Aureilhan"),
    ("Le Havre", "Mairie du Havre"), ("Les Lilas", "Mairie des Lilas"),
    ("La Rochelle", "Mairie de La Rochelle"), ("Écouen", "Mairie d'Écouen"),
])
def test_town_hall_names(commune, expected):
    assert town_hall_name(commune) == expected


def test_budget_sets_k_and_states_the_gain(client, db_session):
    make_world(db_session)
    url = ("/api/v1/coverage/suggestions?within=dep:991&radius_km=20&budget=250000"
           "&site_cost=100000&site_capacity=20")
    body = client.get(url).get_json()
    assert body["k"] == 2                      # 250 000 € at 100 000 € a site
    scenario = body["scenario"]
    assert scenario["budget"] == 250000 and scenario["site_capacity"] == 20
    assert scenario["newly_covered_population"] == 3500
    # Cville's town hall with 20 a week lifts C and F towards the mean: the gap shrinks.
    assert scenario["capacity_gap_after"] < scenario["capacity_gap_before"]
    assert scenario["capacity_gap_closed"] == pytest.approx(
        scenario["capacity_gap_before"] - scenario["capacity_gap_after"])
    # A site without capacity covers people but closes no capacity gap.
    empty = client.get(url.replace("site_capacity=20", "site_capacity=0")).get_json()
    assert empty["scenario"]["capacity_gap_closed"] == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(("query", "field"), [
    ("budget=1000", "site_cost"),
    ("budget=1000&site_cost=5000", "budget"),
])
def test_budget_errors_are_french(client, db_session, query, field):
    make_world(db_session)
    response = client.get(f"/api/v1/coverage/suggestions?within=dep:991&{query}")
    assert response.status_code in (400, 422)
    body = response.get_json()
    assert field in json.dumps(body["errors"]), body
