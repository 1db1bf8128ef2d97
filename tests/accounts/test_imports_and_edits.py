"""Imports and edits together: a field edited by the venue's manager survives the next
import of its source, and the import report lists the conflict (imported vs edited); the
API token runs the same importer; every CLI command is journaled."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from accounts import services, venues
from accounts.journal import Actor
from accounts.models import ApiToken, JournalEntry
from directory.models import Venue
from extensions import db
from tests.accounts.conftest import make_person
from tests.directory.conftest import source  # noqa: F401  (fixture: a source of its own)
from tests.directory.test_import_readers import v1_csv, venue
from tests.directory.test_import_write import run


def _edit_hours(app, source_name: str, hours: str, now) -> int:
    """As the venue's manager would, committed (the importer has its own connection)."""
    with app.app_context(), Session(db.engine) as session:
        lieu = session.scalar(select(Venue).where(Venue.source == source_name))
        venues.set_hours(session, lieu, hours, Actor("web", None, "venue_manager"), now)
        session.commit()
        return lieu.id


def test_import_keeps_the_managers_edit_and_reports_the_conflict(
        app, runner, source, tmp_path, clock, geography):  # noqa: F811
    # With the geography loaded (as in production) the importer completes the commune, so
    # an unchanged re-import is staged again: it must still report nothing.
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1", horaires="Mo-Fr 09:00-12:00")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    lieu_id = _edit_hours(app, source, "Mo-Sa 10:00-13:00", clock.now())

    # The source sends new hours and a new name: the name is taken, the hours are not.
    path.write_bytes(v1_csv(venue(id="1", nom="Médiathèque rénovée", date_maj="2024-06-01",
                                  horaires="Mo-Fr 14:00-18:00")))
    report = tmp_path / "rapport.csv"
    result = run(runner, str(path), "--source", source, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "Conflits avec les modifications des gestionnaires" in result.output
    assert "Mo-Fr 14:00-18:00" in result.output and "Mo-Sa 10:00-13:00" in result.output
    with app.app_context(), db.engine.connect() as connection:
        row = connection.execute(text(
            "SELECT nom, horaires, horaires_osm, horaires_valides, opening_week::text "
            "FROM lieu WHERE id = :i"), {"i": lieu_id}).one()
    assert row.nom == "Médiathèque rénovée"
    assert row.horaires == row.horaires_osm == "Mo-Sa 10:00-13:00" and row.horaires_valides
    assert row.opening_week.startswith("{[600,780)")  # Monday 10:00–13:00, minutes of week
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8"))))
    [conflict] = [r for r in rows if r["niveau"] == "conflit"]
    assert conflict["identifiant"] == "1" and conflict["champ"] == "horaires"
    assert "valeur importée « Mo-Fr 14:00-18:00 » non appliquée" in conflict["motif"]

    # An unchanged re-import writes nothing and reports nothing.
    again = run(runner, str(path), "--source", source)
    assert "Conflits" not in again.output and "0 mis à jour" in again.output


def _job_result(client, response) -> dict:
    from tests.core.job_worker import wait_for

    assert response.status_code == 202, response.get_json()
    assert response.headers["Location"] == response.get_json()["url"]

    def finished():
        state = client.get(response.get_json()["url"]).get_json()
        assert state["state"] != "failed", state
        return state["result"] if state["state"] == "finished" else None

    return wait_for(finished, what="la fin de l'import")


def test_api_token_runs_the_same_importer(app, client, db_session, source, clock,  # noqa: F811
                                         job_worker):
    admin = make_person(db_session, "admin@passerelle.fr", ("administrator", ""))
    token, secret = services.create_api_token(db_session, "annuaire régional", "source",
                                              source, clock.now(), Actor("web", admin.id,
                                                                       "administrator"))
    db_session.commit()
    # Hashed at rest, shown once.
    stored = db_session.get(ApiToken, token.id)
    assert secret not in (stored.token_hash, stored.prefix) and secret.startswith("psl_")

    body = v1_csv(venue(id="1"), venue(id="2", nom="Espace public numérique"))
    url = f"/api/v1/sources/{source}/import"
    assert client.post(url, data=body, content_type="text/csv").status_code == 401
    wrong = client.post(f"/api/v1/sources/{source}-autre/import", data=body,
                        content_type="text/csv", headers={"Authorization": f"Bearer {secret}"})
    assert wrong.status_code == 403
    assert wrong.get_json()["message"] == "Ce jeton d'API ne donne pas accès à cette ressource."
    bad_type = client.post(url, data=b"<xml/>", content_type="application/xml",
                           headers={"Authorization": f"Bearer {secret}"})
    assert bad_type.status_code == 415
    posted = client.post(url, data=body, content_type="text/csv",
                         headers={"Authorization": f"Bearer {secret}"})
    # The worker imports the file: 202 with the job's address, then its result.
    answer = _job_result(client, posted)
    assert answer["crees"] == 2 and answer["ecrit"] is True
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM lieu WHERE source = :s"),
                                  {"s": source}).scalar() == 2
    entry = db_session.scalar(select(JournalEntry).where(
        JournalEntry.action == "import par l'API", JournalEntry.object_id == source))
    assert entry.channel == "api" and entry.after["crees"] == 2

    rejected = client.post(url, data=v1_csv(venue(id="3", latitude="12.0")),
                           content_type="text/csv", headers={"Authorization": f"Bearer {secret}"})
    refused = _job_result(client, rejected)
    assert refused["ecrit"] is False and refused["rejetees"] == 1
    assert any(p["champ"] == "latitude" for p in refused["problemes"])

    services.revoke_api_token(db_session, token.id, clock.now(), Actor("cli"))
    db_session.commit()
    revoked = client.post(url, data=body, content_type="text/csv",
                          headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401
    assert revoked.get_json()["message"] == "Jeton d'API inconnu ou révoqué."


def test_token_cli_shows_the_secret_once(runner, db_session):
    result = runner.invoke(args=["accounts", "token", "create", "--name", "région",
                                 "--source", "nouvelle-aquitaine"])
    assert result.exit_code == 0, result.output
    secret = result.output.split(" : ", 1)[1].split()[0]
    assert secret.startswith("psl_")
    stored = db_session.scalar(select(ApiToken).where(ApiToken.scope == "nouvelle-aquitaine"))
    assert secret not in stored.token_hash
    none = runner.invoke(args=["accounts", "token", "create", "--name", "x"])
    assert none.exit_code != 0 and "Donnez --source ou --structure" in none.output
