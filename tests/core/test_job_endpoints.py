"""Endpoints that hand large work to the worker: 202 + Location, the job's URL, then the
same request answers 200 with the cached result, equal to the synchronous answer."""

from __future__ import annotations

import re

import pytest

from tests.core.job_worker import wait_for

COHORT_URL = "/api/v1/match/cohort"


def _follow(client, response):
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert response.headers["Location"] == body["url"]
    assert body["url"].startswith("/api/v1/jobs/")
    assert body["state"] in ("queued", "started", "finished")

    def finished():
        state = client.get(body["url"]).get_json()
        assert state["state"] != "failed", state
        return state if state["state"] == "finished" else None

    return wait_for(finished, what="la fin de la tâche")


def _without_timings(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "timings"}


def test_large_cohort_runs_as_a_job(app, client, job_worker, monkeypatch):
    people = [{"id": f"P-{i}", "lat": 44.84 + i / 1000, "lon": -0.58} for i in range(4)]
    body = {"reference_date": "2026-12-01", "people": people}
    synchronous = client.post(COHORT_URL, json=body)
    assert synchronous.status_code == 200
    monkeypatch.setitem(app.config, "PASSERELLE_COHORT_SYNC_MAX_PEOPLE", 3)
    done = _follow(client, client.post(COHORT_URL, json=body))
    assert done["progress"] == {"done": 4, "total": 4, "message": "terminé"}
    assert _without_timings(done["result"]) == _without_timings(synchronous.get_json())
    again = client.post(COHORT_URL, json=body)
    assert again.status_code == 200
    assert again.get_json() == done["result"]


def test_large_suggestions_run_as_a_job(app, client, geography, job_worker, monkeypatch):
    url = "/api/v1/coverage/suggestions?within=dep:33&k=2&radius_km=10&gap_limit=3"
    synchronous = client.get(url)
    assert synchronous.status_code == 200, synchronous.get_json()
    monkeypatch.setitem(app.config, "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES", 10)
    done = _follow(client, client.get(url))
    assert done["result"] == synchronous.get_json()
    assert done["result_url"] == url
    cached = client.get(url)
    assert cached.status_code == 200 and cached.get_json() == synchronous.get_json()
    geojson = client.get(url + "&format=geojson")  # the same job serves both formats
    assert geojson.status_code == 200 and geojson.mimetype == "application/geo+json"
    assert len(geojson.get_json()["features"]) == len(synchronous.get_json()["sites"])


JSON = {"Accept": "application/json, application/geo+json"}


def _refresh_token(client) -> str:
    """The CSRF token the map page gives its script (only to those who may recompute)."""
    page = client.get("/carte").get_data(as_text=True)
    match = re.search(r'data-csrf-token="([^"]+)"', page)
    assert match, "pas de jeton pour « Recalculer » dans la page"
    return match.group(1)


def test_refresh_is_no_longer_an_api_route(client):
    assert client.post("/api/v1/coverage/refresh?within=dep:33").status_code in (404, 405)


def test_refresh_is_refused_to_those_without_the_role(app, client, db_session, geography):
    from tests.accounts.conftest import make_person, sign_in

    url = "/carte/recalculer?within=dep:33"
    anonymous = client.post(url, headers=JSON)
    assert anonymous.status_code == 302 and "/connexion" in anonymous.headers["Location"]
    make_person(db_session, "gestion@essai.fr", ("prescriber", "CCAS d'essai"))
    sign_in(client, "gestion@essai.fr")
    refused = client.post(url, headers=JSON)
    assert refused.status_code == 403
    assert refused.get_json()["message"] == ("Accès refusé : votre rôle ne permet pas cette "
                                             "action.")
    assert 'id="carte-recalculer"' not in client.get("/carte").get_data(as_text=True)


def test_refresh_is_refused_outside_the_planners_territory(app, client, db_session,
                                                          geography):
    from tests.accounts.conftest import make_person, sign_in

    make_person(db_session, "plan@essai.fr", ("planner", "dep:33"))
    sign_in(client, "plan@essai.fr")
    token = _refresh_token(client)
    wider = client.post("/carte/recalculer?within=reg:75",
                        headers={**JSON, "X-CSRFToken": token})
    assert wider.status_code == 403
    assert "ne porte pas sur Nouvelle-Aquitaine" in wider.get_json()["message"]
    # Without the page's token: refused before anything runs.
    assert client.post("/carte/recalculer?within=dep:33", headers=JSON).status_code == 400


@pytest.mark.parametrize("query, field", [("within=dep:98", "within"),
                                          ("within=dep:33&method=autre", "method")])
def test_web_refresh_refuses_bad_input_in_french(app, client, db_session, geography,
                                                 query, field):
    from tests.accounts.conftest import make_person, sign_in

    make_person(db_session, "admin@essai.fr", ("administrator", ""))
    sign_in(client, "admin@essai.fr")
    response = client.post(f"/carte/recalculer?{query}",
                           headers={**JSON, "X-CSRFToken": _refresh_token(client)})
    assert response.status_code == 422
    body = response.get_json()
    assert field in body.get("errors", {}) or "Territoire inconnu" in body["message"]


@pytest.fixture
def committed_by_worker(app):
    """Remove afterwards the run and the map shapes that the worker committed (it writes
    outside the test's rolled-back transaction)."""
    from sqlalchemy import text

    from extensions import db

    tables = ("coverage_shape", "coverage_map_shape")
    with app.app_context(), db.engine.connect() as conn:
        shapes = {table: set(conn.execute(text(f"SELECT level, code FROM {table}")).all())
                  for table in tables}
        runs = set(conn.execute(text("SELECT id FROM coverage_run")).scalars())
    yield
    with app.app_context(), db.engine.begin() as conn:
        for table in tables:
            for level, code in set(conn.execute(text(f"SELECT level, code FROM {table}"))
                                   .all()) - shapes[table]:
                conn.execute(text(f"DELETE FROM {table} WHERE level = :l AND code = :c"),
                             {"l": level, "c": code})
        for run_id in set(conn.execute(text("SELECT id FROM coverage_run")).scalars()) - runs:
            conn.execute(text("DELETE FROM coverage_run WHERE id = :id"), {"id": run_id})


def test_web_refresh_runs_as_a_job(app, client, db_session, geography, job_worker,
                                   committed_by_worker):
    from tests.accounts.conftest import make_person, sign_in

    make_person(db_session, "plan@essai.fr", ("planner", "reg:75"))
    sign_in(client, "plan@essai.fr")
    done = _follow(client, client.post("/carte/recalculer?within=dep:33", headers={
        **JSON, "X-CSRFToken": _refresh_token(client)}))
    assert done["progress"]["done"] == done["progress"]["total"] == 6
    result = done["result"]
    assert result["within"] == "dep:33" and result["communes"] > 500
    # The run is stored (committed by the job) and listed by the API.
    runs = client.get("/api/v1/coverage/runs").get_json()["runs"]
    assert result["run_id"] in [run["id"] for run in runs]
