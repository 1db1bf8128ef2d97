"""A database that cannot answer, seen from the command line and from the web: a French
error naming what happened, never a traceback. Unreachable server (a port where nothing
listens) and a real deadlock between two transactions (PostgreSQL cancels one)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

import psycopg
import pytest
from sqlalchemy import text

from core import errors
from core.cli import database_error
from core.database import conninfo
from tests.conftest import jobs_namespace_for_tests


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def unreachable_app():
    from app import create_app

    port = _closed_port()
    app = create_app({"DATABASE_URL": f"postgresql+psycopg://root@127.0.0.1:{port}/absente",
                      "TESTING": True, "PASSERELLE_LOCAL_DB": False,
                      "PASSERELLE_DB_CONNECT_TIMEOUT_S": 2,
                      "PASSERELLE_JOBS_NAMESPACE": jobs_namespace_for_tests() + "-absente"})
    return app, port


@pytest.mark.parametrize("command", [
    ["directory", "programme", "list"],
    ["directory", "export", "--format", "geojson"],
    ["accounts", "remind"],
])
def test_a_command_without_its_database_says_so_in_french(unreachable_app, command):
    app, port = unreachable_app
    result = app.test_cli_runner().invoke(args=command)
    assert result.exit_code == 1, result.output
    assert (f"Erreur : base de données injoignable (127.0.0.1:{port}, base absente) : "
            "vérifiez que PostgreSQL tourne et la variable DATABASE_URL") in result.output
    assert "Traceback" not in result.output and "OperationalError" not in result.output


def _deadlock(app) -> Exception:
    """The error PostgreSQL gives the transaction it cancels when two wait for each other
    (advisory locks taken in opposite orders), raised through SQLAlchemy as in a request.
    This side waits last and checks for deadlocks first (after 50 ms of waiting, the other
    after 1 s): it is the one cancelled."""
    from extensions import db

    other = psycopg.connect(**conninfo(app.config["DATABASE_URL"]))
    waiting = threading.Event()

    def wait_for_first():  # until the deadlock is resolved, by cancelling the other side
        waiting.set()
        with contextlib.suppress(psycopg.errors.DeadlockDetected):
            other.execute("SELECT pg_advisory_xact_lock(912001)")

    caught = None
    try:
        with app.app_context(), db.engine.connect() as conn:
            conn.execute(text("SET deadlock_timeout = '50ms'"))
            conn.execute(text("SELECT pg_advisory_xact_lock(912001)"))
            other.execute("SELECT pg_advisory_xact_lock(912002)")
            waiter = threading.Thread(target=wait_for_first)
            waiter.start()
            waiting.wait(5)
            # Until the other side waits for the first lock: this side's only deadlock check
            # (50 ms after it starts waiting) then finds the cycle.
            for _ in range(500):
                if conn.execute(text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                     "WHERE pid = :pid"), {"pid": other.info.backend_pid}
                                ).scalar():
                    break
                time.sleep(0.01)
            try:
                conn.execute(text("SELECT pg_advisory_xact_lock(912002)"))
            except Exception as exc:  # noqa: BLE001 - the error under test
                caught = exc
            conn.rollback()
            waiter.join(10)
    finally:
        other.rollback()
        other.close()
    assert caught is not None, "PostgreSQL n'a pas détecté l'interblocage"
    return caught


def test_a_deadlock_is_a_conflict_to_retry_not_an_outage(app, caplog):
    exc = _deadlock(app)
    assert isinstance(exc.orig, psycopg.errors.DeadlockDetected)
    assert errors.database_failure(exc) == errors.CONFLICT_MESSAGE
    error = database_error(exc, app.config["DATABASE_URL"])
    assert error is not None and "relancez la commande" in error.message

    caplog.clear()
    with caplog.at_level(logging.INFO), app.test_request_context("/api/v1/lieux/1",
                                                                 method="PATCH"):
        response = app.make_response(app.handle_user_exception(exc))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["message"] == errors.CONFLICT_MESSAGE
    # Not an outage: no "database unreachable" line, and the next one would still be logged.
    assert errors.outage.since is None
    messages = [r.getMessage() for r in caplog.records if r.name == "core.errors"]
    assert messages == ["transaction annulée par la base (DeadlockDetected) : réponse 503, "
                        "à réessayer"], messages
    assert not [r for r in caplog.records if r.exc_info]
