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
    """The demo catalogue of Nouvelle-Aquitaine, rolled back after the module."""
    from directory import demo

    with transactional_session(app) as session:
        demo.load_demo(session, reference_date=dt.date(2026, 12, 1), region_code="75", seed=7)
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
    re.escape(request_guard.NUL_MESSAGE),  # 400: strings of the document may hold any character
    r"^Identifiant refusé : il ressemble à",  # a cohort id shaped like personal data
    r"^Identifiant en double dans la cohorte",
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
    response = case.call(app=app)
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
