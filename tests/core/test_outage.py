"""Database outages against a real PostgreSQL that is stopped and started again (a
throw-away cluster): 503 in French with Retry-After, one log line per outage, /sante in
JSON, and 2xx again on the first request once the server is back."""

from __future__ import annotations

import logging

import pytest

from tests import pg_cluster

# A PostgreSQL cluster or a gunicorn started for the module: `make test-fast` leaves it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outage_app():
    reason = pg_cluster.available()
    if reason:
        pytest.skip(reason)
    from flask_migrate import upgrade

    from app import create_app
    from core.database import create_database
    from extensions import db
    from tests.conftest import jobs_namespace_for_tests

    with pg_cluster.TemporaryCluster() as cluster:
        url = cluster.url("passerelle_outage")
        create_database(url)
        app = create_app({"DATABASE_URL": url, "TESTING": True, "PASSERELLE_LOCAL_DB": False,
                          "PASSERELLE_JOBS_NAMESPACE": jobs_namespace_for_tests() + "-outage",
                          "PASSERELLE_RATE_LIMITS_ENABLED": False})
        with app.app_context():
            upgrade()
        yield app, cluster
        with app.app_context():
            db.engine.dispose()


def _outage_records(caplog):
    return [r for r in caplog.records if r.name == "core.errors"]


def test_database_down_then_back(outage_app, caplog):
    app, cluster = outage_app
    client = app.test_client()
    api, page = "/api/v1/territories/departements", "/lieux/1"
    assert client.get(api).status_code == 200

    cluster.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answers = [client.get(api) for _ in range(5)]
        html = client.get(page)
        health = client.get("/sante")
    for response in answers:
        assert response.status_code == 503
        assert response.get_json()["message"].startswith("La base de données est "
                                                         "momentanément injoignable")
        assert response.headers["Retry-After"] == "5"
    assert html.status_code == 503 and html.mimetype == "text/html"
    assert "La base de données est momentanément injoignable" in html.get_data(as_text=True)
    assert html.headers["Retry-After"] == "5"
    assert health.status_code == 503 and health.mimetype == "application/json"
    state = health.get_json()
    assert state["status"] == "degrade" and state["database"]["ok"] is False
    assert "queue" in state and "worker" in state
    # One line for the whole outage, without a traceback.
    records = _outage_records(caplog)
    assert [r.levelname for r in records] == ["ERROR"], [r.getMessage() for r in records]
    assert records[0].getMessage().startswith("base de données injoignable")
    assert records[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info]

    cluster.start()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        back = client.get(api)  # the first request after the restart succeeds
        assert back.status_code == 200
        assert client.get(page).status_code == 404  # the page answers (no venue 1)
    assert [r.getMessage().split(" après")[0] for r in _outage_records(caplog)] == [
        "base de données de retour"]


def test_health_without_worker_is_503(outage_app):
    app, _cluster = outage_app
    response = app.test_client().get("/sante")
    state = response.get_json()
    assert state["database"] == {"ok": True}
    assert state["queue"]["ok"] is True
    # This app's queue has no worker: the health check says so, in French.
    assert state["worker"]["ok"] is False and "jobs worker" in state["worker"]["message"]
    assert response.status_code == 503


def test_redis_unreachable(app):
    """Without Redis: the rate limits fall back to the process's memory (requests still
    served), work for the queue answers a French 503, /sante says the queue is down."""
    from app import create_app
    from extensions import db

    port = pg_cluster.free_port()  # nothing listens there
    broken = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True,
                         "PASSERELLE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
                         "PASSERELLE_COHORT_SYNC_MAX_PEOPLE": 1})
    client = broken.test_client()
    one = {"reference_date": "2026-12-01", "people": [{"id": "P-1", "lat": 44.84, "lon": -0.58}]}
    assert client.post("/api/v1/match/cohort", json=one).status_code == 200
    two = {**one, "people": [*one["people"], {"id": "P-2", "lat": 44.85, "lon": -0.58}]}
    response = client.post("/api/v1/match/cohort", json=two)
    assert response.status_code == 503
    assert "file des tâches" in response.get_json()["message"]
    assert response.headers["Retry-After"]
    health = client.get("/sante")
    assert health.status_code == 503
    state = health.get_json()
    assert state["database"] == {"ok": True} and state["queue"]["ok"] is False
    with broken.app_context():
        db.engine.dispose()
