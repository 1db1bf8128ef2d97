"""Settings every process must read the same way (issue 12, item 6): every part of
DATABASE_URL, query parameters included, and one secret key shared by all processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app import create_app
from core.database import conninfo

ROOT = Path(__file__).resolve().parents[2]


def test_conninfo_honours_every_part_of_the_url():
    info = conninfo("postgresql+psycopg://ana:secret@db.example:5433/passerelle"
                    "?port=6543&host=/var/run/postgresql&sslmode=require"
                    "&application_name=migrations")
    assert info == {"host": "/var/run/postgresql", "port": "6543", "dbname": "passerelle",
                    "user": "ana", "password": "secret", "sslmode": "require",
                    "application_name": "migrations", "connect_timeout": 5}
    assert conninfo("postgresql+psycopg:///base?host=127.0.0.1&port=5433", "postgres") == {
        "host": "127.0.0.1", "port": "5433", "dbname": "postgres", "connect_timeout": 5}
    assert conninfo("postgresql+psycopg://h/base")["port"] == 5432


def _url_with_query_port(app, port: int) -> str:
    url = make_url(app.config["DATABASE_URL"])
    query = {k: v for k, v in url.query.items() if k not in ("host", "port")}
    return url.set(host=None, port=None, query={**query, "host": "127.0.0.1",
                                                 "port": str(port)}).render_as_string(
        hide_password=False)


def init_db(app) -> object:
    """``flask init-db`` of ``app``, its connections closed afterwards."""
    from extensions import db

    try:
        return app.test_cli_runner().invoke(args=["init-db"])
    finally:
        with app.app_context():
            db.engine.dispose()


def test_init_db_uses_the_port_given_in_the_query(app, tmp_path):
    """A closed port in ``?port=`` must not migrate the server listening on 5432."""
    closed = _url_with_query_port(app, 1)
    other = create_app({"DATABASE_URL": closed, "PASSERELLE_LOCAL_DB": False,
                        "PASSERELLE_INSTANCE_PATH": str(tmp_path)})
    result = init_db(other)
    assert result.exit_code == 1
    assert "Le serveur PostgreSQL de DATABASE_URL est injoignable." in result.output


def test_init_db_reaches_the_server_named_in_the_query(app, tmp_path):
    url = _url_with_query_port(app, 5432)
    other = create_app({"DATABASE_URL": url, "PASSERELLE_LOCAL_DB": False,
                        "PASSERELLE_INSTANCE_PATH": str(tmp_path)})
    result = init_db(other)
    assert result.exit_code == 0, result.output
    assert "Base à jour (migrations appliquées)." in result.output


@pytest.fixture
def no_key_in_environment(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("PASSERELLE_SECRET_KEY", raising=False)


def test_secret_key_is_generated_once_and_shared(app, tmp_path, no_key_in_environment):
    settings = {"DATABASE_URL": app.config["DATABASE_URL"], "PASSERELLE_LOCAL_DB": False,
                "PASSERELLE_INSTANCE_PATH": str(tmp_path / "instance")}
    first, second = create_app(settings), create_app(settings)
    key_file = tmp_path / "instance" / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == \
        key_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Another process (a gunicorn worker, the command line) reads the same key.
    script = ("from app import create_app; import sys; print(create_app({'DATABASE_URL': "
              "sys.argv[1], 'PASSERELLE_LOCAL_DB': False, 'PASSERELLE_INSTANCE_PATH': "
              "sys.argv[2]}).config['SECRET_KEY'])")
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",
                                                            "PASSERELLE_SECRET_KEY")}
    env["PYTHONPATH"] = str(ROOT)
    output = subprocess.run([sys.executable, "-c", script, settings["DATABASE_URL"],
                             settings["PASSERELLE_INSTANCE_PATH"]], env=env, cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == first.config["SECRET_KEY"]


@pytest.mark.parametrize("variable", ["SECRET_KEY", "PASSERELLE_SECRET_KEY"])
def test_secret_key_from_the_environment(app, tmp_path, monkeypatch, no_key_in_environment,
                                         variable):
    monkeypatch.setenv(variable, "clé-de-production")
    other = create_app({"DATABASE_URL": app.config["DATABASE_URL"],
                        "PASSERELLE_INSTANCE_PATH": str(tmp_path)})
    assert other.config["SECRET_KEY"] == "clé-de-production"
    assert not (tmp_path / "secret_key").exists()
