"""Vouchers from local files: [acceptance] with a programme (or --programme) creates
acceptances; the candidates of a report are accepted in bulk."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from extensions import db
from tests.directory.test_import_readers import venue
from tests.directory.test_import_write import run

MAPPING = """
[source]
format = "json"
[coordinates]
x = "longitude"
y = "latitude"
[fields]
id = "id"
nom = "nom"
pivot = "pivot"
commune = "commune"
code_postal = "code_postal"
adresse = "adresse"
date_maj = {{ column = "date_maj", format = "%Y-%m-%d" }}
[acceptance]
columns = ["description"]
pattern = "(?i)\\\\bAPTIC\\\\b|pass num[ée]rique"
{programme}
"""


@pytest.fixture
def programme(app):
    code = f"pass-{uuid.uuid4().hex[:8]}"
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO programme (code, name, perimeter_codes, valid_from)
                                   VALUES (:c, 'Pass test', '{fr}', '2020-01-01')"""), {"c": code})
    yield code
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM programme WHERE code = :c"), {"c": code})


def files(tmp_path, programme_line: str = ""):
    mapping = tmp_path / "m.toml"
    mapping.write_text(MAPPING.format(programme=programme_line), encoding="utf-8")
    data = tmp_path / "lieux.json"
    data.write_text(json.dumps([
        {**venue(id="1"), "description": "Chèques APTIC acceptés"},
        {**venue(id="2"), "description": "Nous prenons le Pass Numérique"},
        {**venue(id="3"), "description": "Ateliers gratuits"},
    ], ensure_ascii=False), encoding="utf-8")
    return mapping, data


def accepted(app, source_name: str, code: str) -> int:
    """Through the test's session: it sees what the import committed and what the
    programme command wrote in the test's transaction."""
    with app.app_context():
        return db.session.execute(text("""
            SELECT count(*) FROM acceptation a JOIN lieu l ON l.id = a.lieu_id
            JOIN programme p ON p.id = a.programme_id
            WHERE l.source = :s AND p.code = :c"""), {"s": source_name, "c": code}).scalar()


def test_a_programme_named_in_the_mapping_creates_acceptances(app, runner, source, programme,
                                                             tmp_path):
    mapping, data = files(tmp_path, f'programme = "{programme}"')
    result = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}")
    assert result.exit_code == 0, result.output
    assert "2 acceptation(s) de programme" in result.output
    assert "Candidats" not in result.output
    assert accepted(app, source, programme) == 2


def test_programme_option_applies_to_a_mapping_too(app, runner, source, programme, tmp_path):
    mapping, data = files(tmp_path)
    result = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}",
                 "--programme", programme)
    assert result.exit_code == 0, result.output
    assert "2 acceptation(s) de programme" in result.output
    assert accepted(app, source, programme) == 2


def test_candidates_of_a_report_are_accepted_in_bulk(app, source, programme, runner,
                                                     tmp_path):
    # The command writes through the test's session (rolled back first, before the
    # source and the programme are deleted: hence the order of the fixtures).
    mapping, data = files(tmp_path)
    report = tmp_path / "rapport.csv"
    result = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}",
                 "--report", str(report))
    assert "Candidats à l'acceptation d'un programme : 2" in result.output
    assert accepted(app, source, programme) == 0
    bulk = runner.invoke(args=["directory", "programme", "accept", programme,
                               "--from-report", str(report)])
    assert bulk.exit_code == 0, bulk.output
    assert "2 candidat(s) dans le rapport : 2 acceptation(s) créée(s)" in bulk.output
    assert accepted(app, source, programme) == 2
    again = runner.invoke(args=["directory", "programme", "accept", programme,
                                "--from-report", str(report)])
    assert "0 acceptation(s) créée(s), 0 mise(s) à jour, 2 inchangée(s)" in again.output
    missing = runner.invoke(args=["directory", "programme", "accept", programme,
                                  "--from-report", str(tmp_path / "absent.csv")])
    assert missing.exit_code == 1 and "Rapport introuvable" in missing.output
    not_a_report = runner.invoke(args=["directory", "programme", "accept", programme,
                                       "--from-report", str(data)])
    assert not_a_report.exit_code == 1 and "n'est pas un rapport d'import" in not_a_report.output
