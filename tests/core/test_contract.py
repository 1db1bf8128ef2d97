"""The API's contract is its code (issue 12, item 5): schemathesis drives every operation of
``/api/v1/openapi.json`` with all its checks against the application (WSGI) on the test
database holding the demo catalogue of Nouvelle-Aquitaine; bounded and derandomized."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app import create_app
from core import request_guard
from tests.conftest import database_url_for_tests, transactional_session

MAX_EXAMPLES = 25  # per operation and phase: 21 operations stay well under 3 minutes


@pytest.fixture(scope="module")
def demo_world(app, geography):
    """The demo catalogue of Nouvelle-Aquitaine and a coverage run of La Réunion's communes
    and of the whole of France (so that the coverage operations answer 200 too), rolled back
    after the module."""
    from coverage.refresh import refresh
    from coverage.selection import Selection
    from directory import demo

    with transactional_session(app) as session:
        day = dt.date(2026, 12, 1)
        demo.load_demo(session, reference_date=day, region_code="75", seed=7)
        for within in ("dep:974", "fr"):
            refresh(session, Selection(within=within), detour=1.3, today=day)
        session.commit()
        yield session


def published_spec() -> dict:
    """The document the API publishes (building it needs no database)."""
    app = create_app({"DATABASE_URL": database_url_for_tests(), "PASSERELLE_LOCAL_DB": False})
    return app.test_client().get("/api/v1/openapi.json").get_json()


SPEC = published_spec()

# schemathesis.pytest.from_fixture does not run under pytest 9 (it writes Node._nodeid):
# the schema is loaded from the document and each case is sent to the test application.
schema = schemathesis.openapi.from_dict(SPEC)

# All checks run. One departure: a schema-valid request answered 422 because it breaks a
# rule that OpenAPI 3.0 cannot state for query parameters, and that the operation documents
# in words, is not a failure of positive_data_acceptance. Each rule is one French message:
DOCUMENTED_RULES = re.compile("|".join([
    r"^Un seul lieu de départ à la fois",  # address | postal_code | commune | lat/lon
    r"^Un seul filtre de territoire à la fois",
    r"^Donnez lat et lon ensemble",
    r"^(Commune|Département|Région|Epci|EPCI) inconnu",  # a well-formed code naming nothing
    r"^Aucun programme ne porte le code",
    r"^Code postal inconnu",
    r"^Territoire inconnu",
    r"^Aucune commune localisée dans",  # a territory whose communes are not loaded
    r"^Programme « .* » inconnu",
    r"^Programme inconnu : ",
    r"^Où est la personne \? Donnez",  # none of the places of departure
    r"^travel_mode et max_minutes vont ensemble",
    r"^Donnez max_distance_m ou travel_mode \+ max_minutes, pas les deux",
    r"^« now » et « date » ne vont pas ensemble",
    r"^Indiquez tolerance ou zoom, pas les deux",
    r"^Indiquez au moins un critère de recherche",
    r"^Le tri par pertinence demande une recherche q",
    r"^Curseur invalide",  # an opaque cursor made up rather than taken from `next`
    r"^Obligatoire avec candidates=venues",
    r"^Obligatoire au niveau commune \(sauf avec bbox\)",
    r"^Adresse introuvable",  # an address the geocoder does not know
    r"^bbox invalide|^bbox mal ordonnée|^Les (longitudes|latitudes) de bbox",  # ranges
    # 400: the document's strings may hold any character, PostgreSQL's text no NUL.
    re.escape(request_guard.NUL_MESSAGE), re.escape(request_guard.NUL_JSON_MESSAGE),
    r"^Identifiant refusé : il ressemble à",  # a cohort id shaped like personal data
    r"^Identifiant en double dans la cohorte",
    # a name made of punctuation only: "at least one letter or digit" needs \p{L} classes,
    # which the document's regular expressions (ECMA 262 as read by the tools) do not share
    r"^Le nom recherché \(q\) ne contient ni lettre ni chiffre",
    r"^Obligatoire avec budget",  # site_cost goes with budget
    r"^Ne paie aucun site à ce coût",  # a budget below the cost of one site
]), re.DOTALL)
SEEN_RULES: set[str] = set()


def messages(value) -> list[str]:
    if isinstance(value, dict):
        return [m for item in value.values() for m in messages(item)]
    if isinstance(value, list):
        return [m for item in value for m in messages(item)]
    return [str(value)]


def documented_rejection(response) -> bool:
    if response.status_code not in (400, 422):
        return False
    body = response.json()
    found = messages(body.get("errors") or {}) or [body.get("message", "")]
    if all(DOCUMENTED_RULES.search(m) for m in found):
        SEEN_RULES.update(found)
        return True
    return False


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case, app, demo_world):
    # The WSGI test client does not decompress: ask for the identity (the map's gzip is
    # tested with the map).
    response = case.call(app=app, headers={"Accept-Encoding": "identity"})
    excluded = [positive_data_acceptance] if documented_rejection(response) else []
    case.validate_response(response, excluded_checks=excluded)


def published_examples(spec: dict) -> list[tuple[str, str, object]]:
    """(method, URL, JSON body or None) of every example the document publishes: request
    bodies' examples and the example URLs written in the operations' descriptions."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # shared by the path's operations
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "example" in body:
                found.append((method.upper(), path, body["example"]))
            text = operation.get("description", "")
            for url in re.findall(r"Exemple : `(/api/v1/[^`]+)`", text):
                found.append((method.upper(), re.sub(r"\s+", "", url), None))
    return found


EXAMPLES = published_examples(SPEC)


def test_the_document_publishes_the_examples_of_match_and_cohort():
    assert {(m, u.split("?")[0]) for m, u, _ in EXAMPLES} >= {
        ("GET", "/api/v1/match"), ("POST", "/api/v1/match"), ("POST", "/api/v1/match/cohort")}


@pytest.mark.parametrize(("method", "url", "body"), EXAMPLES,
                         ids=[f"{m} {u.split('?')[0]}" for m, u, _ in EXAMPLES])
def test_every_published_example_is_accepted(app, demo_world, method, url, body):
    response = app.test_client().open(url, method=method, json=body)
    assert 200 <= response.status_code < 300, response.get_json()


# --- the defects the fuzzing found, one test each ------------------------------------------

def test_error_schema_is_what_is_sent(client):
    import jsonschema

    error = SPEC["components"]["schemas"]["Error"]
    assert error["properties"]["status"]["type"] == "integer"
    assert {"request_id", "errors"} <= set(error["properties"])
    for url in ("/api/v1/nulle-part", "/api/v1/match?lat=100&lon=0",
                "/api/v1/programmes/inconnu"):
        body = client.get(url).get_json()
        jsonschema.validate(body, error)
        assert body["request_id"]
    # Every error answer of every operation refers to it.
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    ref = response.get("$ref") or \
                        response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.rsplit("/", 1)[-1] in ("Error", "UNPROCESSABLE_ENTITY",
                                                      "DEFAULT_ERROR"), (path, status)


def test_every_answer_content_type_is_documented():
    content = {(path, status): set(response.get("content", {}))
               for path, operations in SPEC["paths"].items()
               for method, operation in operations.items() if method != "parameters"
               for status, response in operation["responses"].items()}
    assert content[("/api/v1/coverage/{level}", "200")] == {"application/geo+json", "text/csv"}
    assert content[("/api/v1/coverage/map/{level}", "200")] == {"application/geo+json"}
    assert content[("/api/v1/coverage/suggestions", "200")] == {"application/json",
                                                                 "application/geo+json"}
    assert "application/geo+json" in content[("/api/v1/venues", "200")]
    assert "application/geo+json" in content[("/api/v1/match", "200")]


def test_tolerance_zero_is_the_full_polygon(client, geography):
    full = client.get("/api/v1/territories/communes/33063?geometry=true&tolerance=0")
    assert full.status_code == 200
    simplified = client.get("/api/v1/territories/communes/33063?geometry=true&tolerance=0.01")
    assert len(str(full.get_json()["geometry"])) > len(str(simplified.get_json()["geometry"]))
    parameter = next(p for p in SPEC["paths"]["/api/v1/territories/communes/{code}"]["get"][
        "parameters"] if p["name"] == "tolerance")
    assert parameter["schema"]["minimum"] == 0 and not parameter["schema"].get(
        "exclusiveMinimum")


def test_empty_bbox_means_no_extent(client):
    assert client.get("/api/v1/venues?bbox=").status_code == 200
    body = client.get("/api/v1/coverage/region?bbox=").get_json()
    assert "bbox" not in body.get("errors", {})  # 404 here: no coverage run in this database


def test_integers_are_integers(client):
    response = client.post("/api/v1/match/cohort", json={
        "default_capacity": 2.5, "people": [{"id": "P-1", "postal_code": "33000"}]})
    assert response.status_code == 422
    assert response.get_json()["errors"]["default_capacity"] == ["Nombre entier attendu."]
    response = client.get("/api/v1/venues?limit=99999999999999999999")
    assert response.status_code == 422
    assert response.get_json()["errors"]["limit"] == ["Nombre trop grand."]
