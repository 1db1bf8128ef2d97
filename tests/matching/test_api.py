"""GET and POST /api/v1/match: JSON, GeoJSON, French 422s, the OpenAPI document."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import PARIS
from tests import conftest as cat

DEMARCHES = "Aide aux démarches administratives"


@pytest.fixture
def pass_and_venues(db_session):
    prog = cat.programme(db_session, "pass-api", "Pass Numérique API")
    near = cat.venue(db_session, -0.57, 44.84, nom="Près", services=[DEMARCHES],
                     horaires="Mo-Su 08:00-20:00")
    far = cat.venue(db_session, -0.50, 44.84, nom="Loin", services=[DEMARCHES])
    for v in (near, far):
        cat.accept(db_session, v, prog, valid_from=dt.date(2020, 1, 1))
    return prog


def test_get_by_query_string(client, pass_and_venues):
    response = client.get("/api/v1/match", query_string={
        "lat": 44.84, "lon": -0.58, "programme": "pass-api",
        "services": "aide-aux-demarches-administratives", "limit": 2})
    assert response.status_code == 200
    body = response.get_json()
    assert [r["nom"] for r in body["results"]] == ["Près", "Loin"]
    first = body["results"][0]
    assert first["distance_m"] == pytest.approx(790, abs=10)
    assert first["reasons"][:2] == ["accepte le Pass Numérique API", "à 790 m"]
    assert first["unmet"] == []
    assert first["next_slot"]["kind"] == "opening"
    assert body["assumptions"]["speeds_kmh"] == {"walk": 4.5, "bike": 15.0, "transit": 20.0,
                                                 "car": 50.0}
    assert body["search"]["radius_m"] == 10_000
    assert body["count"] == 2


@pytest.mark.parametrize(("moment", "slot"), [
    (dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS), "ouvert samedi de 10 h à 12 h"),
    # On the Saturday itself, within the asked hours: what is left of them.
    (dt.datetime(2026, 12, 5, 10, 30, tzinfo=PARIS), "ouvert aujourd'hui de 10 h 30 à 12 h"),
    (dt.datetime(2026, 12, 5, 12, 30, tzinfo=PARIS), "ouvert le samedi 12 décembre de 10 h à 12 h"),
])
def test_post_json_and_geojson(client, pass_and_venues, clock, moment, slot):
    clock.set(moment)
    body = {"lat": 44.84, "lon": -0.58, "programme": "pass-api", "services": [DEMARCHES],
            "days": ["samedi"], "time_from": "10:00", "time_to": "12:00"}
    response = client.post("/api/v1/match", json=body)
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results[0]["next_slot"]["text"] == slot
    assert results[1]["unmet"] == ["horaires inconnus : appelez avant de vous déplacer"]
    geo = client.post("/api/v1/match", json={**body, "output": "geojson"})
    assert geo.status_code == 200 and geo.mimetype == "application/geo+json"
    collection = geo.get_json()
    assert collection["type"] == "FeatureCollection"
    assert collection["features"][0]["geometry"] == {"type": "Point",
                                                     "coordinates": [-0.57, 44.84]}
    assert collection["features"][0]["properties"]["nom"] == "Près"
    by_accept = client.get("/api/v1/match", query_string={"lat": 44.84, "lon": -0.58},
                           headers={"Accept": "application/geo+json"})
    assert by_accept.mimetype == "application/geo+json"


@pytest.mark.parametrize(("method", "payload", "field", "message"), [
    ("get", {"lat": 44.84}, "lon", "Donnez lat et lon ensemble."),
    ("get", {"postal_code": "33000", "foo": "1"}, "foo", "Champ inconnu."),
    ("get", {"lat": 44.84, "lon": -0.58, "level": "9"}, "level", "Niveau 1, 2 ou 3."),
    ("get", {"lat": 44.84, "lon": -0.58, "time_from": "25:00"}, "time_from",
     "Heure attendue au format HH:MM."),
    ("post", {"lat": 44.84, "lon": -0.58, "services": ["Cuisine"]}, "services",
     "Service inconnu"),
    ("post", {"lat": 44.84, "lon": -0.58, "unknown": 1}, "unknown", "Champ inconnu."),
    ("post", {"lat": 44.84, "lon": -0.58, "programme": "pas-de-pass"}, "programme",
     "Programme inconnu : « pas-de-pass »."),
    ("post", {"commune": "00000"}, "commune", "Commune inconnue : « 00000 »."),
    ("post", {"lat": 44.84, "lon": -0.58, "time_from": "17:00", "time_to": "09:00"},
     "time_to", "L'heure de fin doit suivre l'heure de début."),
    ("get", {"lat": 44.84, "lon": -0.58, "time_to": "24:30"}, "time_to", "de 00:00 à 24:00"),
    ("get", {"lat": 44.84, "lon": -0.58, "date": "0001-01-01"}, "date", "entre 2000 et 2100"),
    ("get", {"lat": "nan", "lon": -0.58}, "lat", "NaN"),
])
def test_bad_input_is_a_french_422(client, pass_and_venues, method, payload, field, message):
    if method == "get":
        response = client.get("/api/v1/match", query_string=payload)
    else:
        response = client.post("/api/v1/match", json=payload)
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] == "Les paramètres de la requête sont invalides."
    assert message in " ".join(map(str, body["errors"][field]))


def test_post_needs_a_json_object(client):
    response = client.post("/api/v1/match", data="[1, 2]", content_type="application/json")
    assert response.status_code == 422


def test_openapi_documents_the_match_with_examples(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    path = spec["paths"]["/api/v1/match"]
    assert {"get", "post"} <= set(path)
    get_params = {p["name"] for p in path["get"]["parameters"]}
    assert {"lat", "lon", "programme", "services", "days", "travel_mode"} <= get_params
    post_body = path["post"]["requestBody"]["content"]["application/json"]
    assert post_body["example"]["programme"] == "pass-numerique-gironde"
    ok = path["get"]["responses"]["200"]["content"]
    assert ok["application/json"]["example"]["results"][0]["reasons"]
    assert "application/geo+json" in ok
    assert "4,5 km/h" in spec["tags"][[t["name"] for t in spec["tags"]].index("match")][
        "description"]
