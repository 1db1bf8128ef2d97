"""The audit journal: appended on every write (web, API, CLI), refused UPDATE, DELETE and
TRUNCATE by PostgreSQL itself, read and exported by administrators."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from accounts import journal
from accounts.journal import Actor
from accounts.models import JournalEntry
from extensions import db
from tests.accounts.conftest import make_person, sign_in


@pytest.mark.parametrize("statement", [
    "UPDATE journal SET action = 'effacé'",
    "DELETE FROM journal",
    "TRUNCATE journal",
])
def test_the_database_refuses_to_rewrite_the_journal(app, statement, clock):
    # The application's own role (the one of DATABASE_URL), which owns the table.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO journal (at, channel, action) VALUES (now(), 'cli', 'essai')"))
    with app.app_context(), pytest.raises(DBAPIError) as exc, db.engine.begin() as connection:
        connection.execute(text(statement))
    assert "le journal d'audit est en ajout seul" in str(exc.value)
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text(
            "SELECT count(*) FROM journal WHERE action = 'essai'")).scalar() >= 1


def test_every_cli_command_is_journaled(runner, db_session):
    result = runner.invoke(args=["directory", "programme", "list"])
    assert result.exit_code == 0, result.output
    entry = db_session.scalar(select(JournalEntry).order_by(JournalEntry.id.desc()))
    assert entry.channel == "cli"
    assert entry.action == "commande « directory programme list » terminée"
    failed = runner.invoke(args=["accounts", "token", "revoke", "999999"])
    assert failed.exit_code != 0 and "Aucun jeton" in failed.output
    entry = db_session.scalar(select(JournalEntry).order_by(JournalEntry.id.desc()))
    assert entry.action == "commande « accounts token revoke » erreur"


def test_administrators_read_and_export_the_journal(app, client, db_session, clock):
    make_person(db_session, "admin@passerelle.fr", ("administrator", ""))
    journal.append(db_session, Actor("web", None, "venue_manager"), "=HYPERLINK(\"x\")",
                   clock.now(), object_type="lieu", object_id=1,
                   before={"horaires": None}, after={"horaires": "Mo 09:00-12:00"})
    sign_in(client, "admin@passerelle.fr")
    page = client.get("/admin/journal")
    assert page.status_code == 200 and "Mo 09:00-12:00" in page.get_data(as_text=True)
    export = client.get("/admin/journal.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    mine = [r for r in rows if "HYPERLINK" in r["action"]]
    assert mine and mine[0]["action"].startswith("'=")  # CSV injection neutralised
    assert mine[0]["rôle"] == "gestionnaire du lieu"
    assert any(r["action"] == "connexion" for r in rows)  # the sign-in itself
