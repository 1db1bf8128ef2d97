import logging

import pytest

from core.access import public
from core.config import load_config
from core.errors import ConfigurationError, NotFound


def test_home_page_speaks_to_the_three_users(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    for audience in ("Pass Numérique", "orientez", "territoire"):
        assert audience in page


def test_unknown_page_is_a_french_html_page(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page introuvable" in response.get_data(as_text=True)


def test_unknown_api_route_is_french_json(client):
    response = client.get("/api/v1/nulle-part")
    assert response.status_code == 404
    assert response.is_json
    body = response.get_json()
    assert body["status"] == 404
    assert body["message"] == "La ressource demandée est introuvable."
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.fixture
def fresh_app(app):
    """An application that has served nothing yet, so a test may add a route to it."""
    from app import create_app

    return create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True})


def test_application_errors_carry_their_status(fresh_app):
    app = fresh_app

    @app.get("/api/v1/_test_error")
    @public
    def _raise():
        raise NotFound("Aucune commune ne porte ce code.")

    response = app.test_client().get("/api/v1/_test_error")
    assert response.status_code == 404
    assert response.get_json()["message"] == "Aucune commune ne porte ce code."


def test_request_id_is_kept_when_safe_and_logged(fresh_app, caplog):
    app = fresh_app
    client = app.test_client()

    @app.get("/_test_log")
    @public
    def _log():
        logging.getLogger("tests").info("ligne de test")
        return "ok"

    with caplog.at_level(logging.INFO, logger="tests"):
        response = client.get("/_test_log", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert any(getattr(r, "request_id", None) == "abc-123" for r in caplog.records)

    unsafe = client.get("/", headers={"X-Request-ID": "<script>"})
    assert unsafe.headers["X-Request-ID"] != "<script>"


def test_health_checks_the_database(client, job_worker):
    """Database, queue and a worker up: 200, each part in JSON."""
    response = client.get("/sante")
    assert response.status_code == 200 and response.mimetype == "application/json"
    state = response.get_json()
    assert state["status"] == "ok" and state["database"] == {"ok": True}
    assert state["queue"]["ok"] is True
    assert state["worker"]["ok"] is True and state["worker"]["count"] == 1


def test_config_names_the_bad_variable():
    with pytest.raises(ConfigurationError, match="PASSERELLE_GEOCODER_TIMEOUT_S"):
        load_config({"PASSERELLE_GEOCODER_TIMEOUT_S": "vite"})
    with pytest.raises(ConfigurationError, match="PASSERELLE_GEOCODER"):
        load_config({"PASSERELLE_GEOCODER": "google"})


def test_config_defaults_to_the_local_database():
    config = load_config({})
    assert config["PASSERELLE_LOCAL_DB"] is True
    assert "/passerelle" in config["SQLALCHEMY_DATABASE_URI"]
    given = load_config({"DATABASE_URL": "postgresql://u@h/x"})
    assert given["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/x"
    assert given["PASSERELLE_LOCAL_DB"] is False


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    validate(response.get_json())


def test_malformed_json_body_is_answered_in_french(client):
    # webargs rejects the body before any schema runs; its message is translated.
    response = client.post("/api/v1/match", data="{pas du json",
                           content_type="application/json")
    assert response.status_code == 400
    body = response.get_json()
    assert body["message"] == "La requête est mal formée."
    assert body["errors"] == {"json": ["Corps JSON illisible."]}


def test_pages_carry_security_headers_and_a_strict_policy(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert "img-src 'self' data:;" in policy  # no basemap configured: nothing else


def test_policy_admits_the_configured_basemap_only(app):
    from app import create_app

    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True,
                        "PASSERELLE_BASEMAP_URL": "https://{s}.tuiles.example.net/{z}/{x}/{y}.png"})
    policy = other.test_client().get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tuiles.example.net;" in policy


def test_gunicorn_serves_the_wsgi_module(app, tmp_path):
    """``gunicorn wsgi:app`` (the production entry point) answers the home page."""
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn, "gunicorn est une dépendance d'exécution (pyproject.toml)"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, DATABASE_URL=app.config["DATABASE_URL"], PYTHONPATH=str(root))
    server = subprocess.Popen([gunicorn, "-w", "1", "-b", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        log = []
        for line in server.stderr:  # gunicorn logs each step; wait for the worker
            log.append(line)
            if "Booting worker" in line:
                break
        assert server.poll() is None, "".join(log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as answer:
            assert answer.status == 200
            assert "Pass Numérique" in answer.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
