"""Rate limits per client (Flask-Limiter on the real Redis), statement timeout, config."""

from __future__ import annotations

import pytest

from core.config import load_config
from core.errors import ConfigurationError

COHORT = {"reference_date": "2026-12-01", "people": [{"id": "P-1", "lat": 44.84, "lon": -0.58}]}


def test_heavy_endpoint_answers_429_in_french_json(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSERELLE_RATE_LIMIT_HEAVY", "2/minute")
    statuses = [client.post("/api/v1/match/cohort", json=COHORT).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.post("/api/v1/match/cohort", json=COHORT)
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["status"] == 429
    assert body["message"] == ("Trop de requêtes : ce service admet 2 requêtes par minute par "
                               "client. Réessayez plus tard.")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Another client is not affected.
    other = client.post("/api/v1/match/cohort", json=COHORT,
                        environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200
    assert "Retry-After" not in other.headers


def test_export_page_answers_429_as_french_page(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSERELLE_RATE_LIMIT_EXPORT", "1/minute")
    client.get("/orienter/resultats.csv?lat=44.84&lon=-0.58")
    refused = client.get("/orienter/resultats.csv?lat=44.84&lon=-0.58")
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    page = refused.get_data(as_text=True)
    assert "Trop de requêtes" in page and 'lang="fr"' in page
    assert int(refused.headers["Retry-After"]) > 0


def test_map_data_is_not_counted_as_export(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSERELLE_RATE_LIMIT_EXPORT", "1/minute")
    statuses = {client.get("/api/v1/coverage/region?format=geojson").status_code
                for _ in range(3)}
    assert 429 not in statuses
    client.get("/api/v1/coverage/region?format=csv")
    assert client.get("/api/v1/coverage/region?format=csv").status_code == 429


def test_counters_are_shared_through_redis(app, client, monkeypatch):
    """Two application instances (as two gunicorn workers) count together."""
    from app import create_app

    monkeypatch.setitem(app.config, "PASSERELLE_RATE_LIMIT_HEAVY", "2/minute")
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True,
                        "PASSERELLE_JOBS_NAMESPACE": app.config["PASSERELLE_JOBS_NAMESPACE"],
                        "PASSERELLE_RATE_LIMIT_HEAVY": "2/minute"})
    assert client.post("/api/v1/match/cohort", json=COHORT).status_code == 200
    with other.app_context():
        assert other.test_client().post("/api/v1/match/cohort",
                                        json=COHORT).status_code == 200
        assert other.test_client().post("/api/v1/match/cohort",
                                        json=COHORT).status_code == 429
        from extensions import db

        db.engine.dispose()


def test_statement_timeout_below_web_timeout():
    config = load_config({})
    assert config["PASSERELLE_STATEMENT_TIMEOUT_MS"] < config["PASSERELLE_WEB_TIMEOUT_S"] * 1000
    options = config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"]
    assert f"statement_timeout={config['PASSERELLE_STATEMENT_TIMEOUT_MS']}" in options
    with pytest.raises(ConfigurationError, match="inférieur à PASSERELLE_WEB_TIMEOUT_S"):
        load_config({"PASSERELLE_STATEMENT_TIMEOUT_MS": "40000", "PASSERELLE_WEB_TIMEOUT_S": "30"})
    with pytest.raises(ConfigurationError, match="attendu : 1 ou 0"):
        load_config({"PASSERELLE_RATE_LIMITS_ENABLED": "peut-être"})


def test_statement_over_timeout_is_a_french_503(app, client, db_session, geography):
    """A web request whose query runs past the statement timeout is cancelled by
    PostgreSQL and answered 503 in French (not a 500, not a killed gunicorn worker). The
    query is made to wait on a lock held by another connection, so that it always runs
    past the timeout."""
    from sqlalchemy import text

    from extensions import db

    db_session.execute(text("SET LOCAL statement_timeout = 200"))
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("LOCK TABLE commune IN ACCESS EXCLUSIVE MODE"))
        response = client.get("/api/v1/coverage/suggestions?within=dep:33")
        other.rollback()
    assert response.status_code == 503
    assert response.get_json()["message"].startswith("La demande a dépassé le temps de calcul")
    assert int(response.headers["Retry-After"]) > 0
