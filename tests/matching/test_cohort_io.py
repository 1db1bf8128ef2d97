"""Cohort assignment through the API (POST /api/v1/match/cohort) and the command line
(flask match cohort): round trips, sizes, bad input, personal data refused."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from matching.cohort import api as cohort_api
from tests import conftest as cat
from tests.matching.world import DEMARCHES, at

URL = "/api/v1/match/cohort"


@pytest.fixture
def small(db_session):
    prog = cat.programme(db_session)
    near = cat.venue(db_session, *at(0), nom="=Près", services=[DEMARCHES], weekly_capacity=1)
    far = cat.venue(db_session, *at(5), nom="Loin", services=[DEMARCHES], weekly_capacity=1)
    for v in (near, far):
        cat.accept(db_session, v, prog)
    return near, far


def body(**extra):
    lon, lat = at(0.5)
    return {"reference_date": "2026-12-01", "programme": "pass-test", "people": [
        {"id": "P-1", "lat": lat, "lon": lon},
        {"id": "P-2", "lat": lat, "lon": lon, "services": ["aide-aux-demarches-administratives"]},
        {"id": "P-3", "lat": lat, "lon": lon, "max_distance_m": 1000},
    ], **extra}


def test_api_round_trip(client, small):
    response = client.post(URL, json=body())
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["totals"]["people"] == 3 and data["totals"]["assigned"] == 2
    assert {a["id"] for a in data["assignments"]} == {"P-1", "P-2"}
    assert sorted(a["nom"] for a in data["assignments"]) == ["=Près", "Loin"]
    assert data["unassigned"] == [{"id": "P-3", "code": "full", "reason": (
        "Le seul lieu qui convient à moins de 1 km est complet (capacité de la semaine ou "
        "places des séances).")}]
    assert [(v["load"], v["capacity"]) for v in data["venues"]] == [(1, 1), (1, 1)]
    assert data["reference_date"] == "2026-12-01"
    assert data["assumptions"]["default_capacity"] == 10
    assert data["totals"]["mean_distance_m"] == pytest.approx(
        data["totals"]["total_distance_m"] / 2, abs=0.1)


def test_api_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/match/cohort"]["post"]
    assert {"200", "413", "422"} <= set(operation["responses"])


@pytest.mark.parametrize(("change", "field"), [
    ({"unknown": 1}, "unknown"),
    ({"people": []}, "people"),
    ({"people": [{"id": "A", "lat": 44.8, "lon": -0.5, "colour": "bleu"}]}, "people"),
    ({"people": [{"id": "A", "address": "1 rue X 33000 Bordeaux"}]}, "people"),
    ({"people": [{"id": "A"}]}, "people"),
    ({"people": [{"id": "Jean Dupont", "postal_code": "33000"}]}, "people"),
    ({"people": [{"id": "A", "postal_code": "33000"}, {"id": "A", "postal_code": "33000"}]},
     "people"),
    ({"default_capacity": -1}, "default_capacity"),
    ({"weeks": 9}, "weeks"),
    ({"reference_date": "01/12/2026"}, "reference_date"),
])
def test_api_bad_input_is_422_in_french(client, small, change, field):
    response = client.post(URL, json=body(**change))
    assert response.status_code == 422
    data = response.get_json()
    assert field in data["errors"]
    text = json.dumps(data, ensure_ascii=False)
    for english in ("Unknown field", "Missing data", "Not a valid", "Shorter than", "Must be"):
        assert english not in text


def test_api_refuses_personal_data_by_name(client, small):
    people = [{"id": "A", "postal_code": "33000", "nom": "Dupont", "telephone": "0600000000"}]
    data = client.post(URL, json=body(people=people)).get_json()
    assert set(data["errors"]["people"]["0"]) == {"nom", "telephone"}
    assert "Données personnelles refusées" in data["errors"]["people"]["0"]["nom"][0]


def test_api_unknown_place_names_the_person(client, small):
    response = client.post(URL, json=body(people=[{"id": "A", "postal_code": "00000"}]))
    assert response.status_code == 422
    assert response.get_json()["errors"]["people"]["0"]["postal_code"] == [
        "Code postal inconnu : « 00000 »."]


def test_api_size_caps_are_413(client, small, monkeypatch):
    people = [{"id": f"P{i}", "postal_code": "33000"} for i in range(5001)]
    response = client.post(URL, json={"people": people})
    assert response.status_code == 413
    assert response.get_json()["message"].startswith("Au plus 5\u202f000 personnes")
    monkeypatch.setattr(cohort_api, "MAX_BODY_BYTES", 100)
    response = client.post(URL, json=body())
    assert response.status_code == 413
    assert "dépasse" in response.get_json()["message"]


def test_api_wants_json(client, small):
    response = client.post(URL, data="id,postal_code\nA,33000\n",
                           content_type="text/csv")
    assert response.status_code == 415
    assert response.get_json()["message"] == ("Corps JSON attendu (Content-Type: "
                                              "application/json).")
    response = client.post(URL, data="{pas du json", content_type="application/json")
    assert response.status_code in (400, 422)
    assert response.get_json()["message"]


# --- command line -------------------------------------------------------------------------

def _csv_people(tmp_path, text: str, encoding: str = "utf-8-sig"):
    path = tmp_path / "people.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_cli_csv_round_trip(runner, small, tmp_path):
    lon, lat = at(0.5)
    people = _csv_people(tmp_path, (
        "id;lat;lon;services;max_distance_m\n"
        f"P-1;{str(lat).replace('.', ',')};{str(lon).replace('.', ',')};{DEMARCHES};\n"
        f"P-2;{lat};{lon};aide-aux-demarches-administratives|loisirs-et-creations-numeriques;\n"
        f"P-3;{lat};{lon};;1000\n"))
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["match", "cohort", str(people), "--out", str(out),
                                 "--programme", "pass-test", "--date", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "3 personne(s) : 2 placée(s) (dont 0 à une séance), 1 sans place." in result.output
    assert "Sans place : lieux complets 1." in result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["P-1", "P-2", "P-3"]
    assert [r["statut"] for r in rows] == ["placé", "placé", "sans place"]
    assert "'=Près" in {r["nom"] for r in rows}  # CSV injection neutralised
    assert rows[2]["motif_code"] == "full"


def test_cli_json_round_trip(runner, small, tmp_path):
    path = tmp_path / "people.json"
    path.write_text(json.dumps(body()), encoding="utf-8")
    out = tmp_path / "out.json"
    result = runner.invoke(args=["match", "cohort", str(path), "--out", str(out),
                                 "--default-capacity", "illimitee"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["totals"]["assigned"] == 2
    assert data["assumptions"]["default_capacity"] is None
    assert dt.date.fromisoformat(data["reference_date"]) == dt.date(2026, 12, 1)


@pytest.mark.parametrize(("content", "message"), [
    ("id,postal_code\nA,3300\n", "ligne 2, champ postal_code : Code postal à 5 chiffres."),
    ("id,postal_code,days\nA,33000,lundi\nB,33000,funday\n",
     "ligne 3, champ days : Jour inconnu"),
    ("id,postal_code\nA,33000\nB\n", "ligne 3 : 1 cellules pour 2 colonnes."),
    ("id,nom,postal_code\nA,Dupont,33000\n", "colonne(s) nom : Données personnelles refusées"),
    ("postal_code\n33000\n", "ligne 2, champ id : Champ obligatoire."),
    ("", "fichier vide."),
])
def test_cli_bad_csv(runner, small, tmp_path, content, message):
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["match", "cohort", str(_csv_people(tmp_path, content)),
                                 "--out", str(out)])
    assert result.exit_code == 1
    assert message in result.output
    assert not out.exists()


def test_cli_refuses_other_encodings_and_bad_json(runner, small, tmp_path):
    latin = _csv_people(tmp_path, "id,commune\nPé,33063\n", encoding="latin-1")
    result = runner.invoke(args=["match", "cohort", str(latin), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "n'est pas en UTF-8" in result.output
    bad = tmp_path / "p.json"
    bad.write_text("{\"people\": [", encoding="utf-8")
    result = runner.invoke(args=["match", "cohort", str(bad), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 1 and "JSON illisible" in result.output
    bad.write_text(json.dumps([{"id": "A", "lat": 44.8}]), encoding="utf-8")
    result = runner.invoke(args=["match", "cohort", str(bad), "--out", str(tmp_path / "x.json")])
    assert result.exit_code == 1 and "personne n° 1, champ lon" in result.output


# --- identifiers shaped like personal data (issue 12, item 6) -----------------------------

PERSONAL_IDS = [
    ("Jean Dupont", "un nom et un prénom"), ("DUPONT_Jean", "un nom et un prénom"),
    ("jean.dupont", "un nom et un prénom"), ("Marie-Claire MARTIN", "un nom et un prénom"),
    ("12/03/1985", "une date"), ("1985-03-12", "une date"), ("12.03.85", "une date"),
    ("12031985", "une date"), ("185037512345678", "un numéro de sécurité sociale"),
    ("1 85 03 75 123 456 78", "un numéro de sécurité sociale"),
    ("2-85-03-2A-123-456", "un numéro de sécurité sociale"),
    ("0612345678", "un numéro de téléphone"), ("06.12.34.56.78", "un numéro de téléphone"),
    ("+33 6 12 34 56 78", "un numéro de téléphone"), ("jean.dupont@exemple.fr",
                                                  "une adresse électronique"),
]


@pytest.mark.parametrize(("person_id", "shape"), PERSONAL_IDS)
def test_api_refuses_ids_shaped_like_personal_data(client, small, person_id, shape):
    people = [{"id": "P-0001", "postal_code": "33000"}, {"id": person_id, "postal_code": "33000"}]
    response = client.post(URL, json=body(people=people))
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["people"]["1"]["id"]
    assert message.startswith(f"Identifiant refusé : il ressemble à {shape}")
    assert person_id not in response.get_data(as_text=True)  # never echoed


@pytest.mark.parametrize("person_id", ["P-0001", "B-00042", "cohorte-2026-001", "A1",
                                       "groupe-a", "ID:123456", "REF_2026_0042", "x9"])
def test_pseudonymous_ids_stay_accepted(person_id):
    from matching.cohort.schemas import personal_data_in_id

    assert personal_data_in_id(person_id) is None


@pytest.mark.parametrize(("person_id", "shape"), PERSONAL_IDS[::3])
def test_cli_refuses_ids_shaped_like_personal_data(runner, small, tmp_path, person_id, shape):
    people = tmp_path / "people.json"
    people.write_text(json.dumps([{"id": "P-1", "postal_code": "33000"},
                                  {"id": person_id, "postal_code": "33000"}]), encoding="utf-8")
    out = tmp_path / "out.csv"
    result = runner.invoke(args=["match", "cohort", str(people), "--out", str(out)])
    assert result.exit_code == 1
    assert f"personne n° 2, champ id : Identifiant refusé : il ressemble à {shape}" \
        in result.output
    assert person_id not in result.output
    assert not out.exists()


def test_cli_csv_line_is_named(runner, small, tmp_path):
    people = _csv_people(tmp_path, "id,postal_code\nP-1,33000\n12/03/1985,33000\n")
    result = runner.invoke(args=["match", "cohort", str(people), "--out",
                                 str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "ligne 3, champ id : Identifiant refusé : il ressemble à une date" in result.output
