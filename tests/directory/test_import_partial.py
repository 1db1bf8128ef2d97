"""Partial imports on request (--skip-invalid): valid rows written in one transaction, the
others in a quarantine file of the same format with their reasons."""

from __future__ import annotations

import csv
import json

from tests.directory.test_import_readers import v1_csv, venue
from tests.directory.test_import_write import count, run


def test_one_bad_cell_rejects_the_file_unless_asked_and_then_is_quarantined(app, runner,
                                                                           source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2"),
                            venue(id="3", latitude="41.93414,8", nom="Cellule fautive"),
                            venue(id="4", code_postal="")))
    default = run(runner, str(path), "--source", source)
    assert default.exit_code == 1 and count(app, source) == 0
    result = run(runner, str(path), "--source", source, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "2 créé(s)" in result.output
    quarantine = tmp_path / "lieux.quarantaine.csv"
    assert f"mises en quarantaine dans {quarantine} (2 ligne(s))" in result.output
    assert count(app, source) == 2
    with open(quarantine, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["3", "4"]
    assert rows[0]["latitude"] == "41.93414,8" and rows[0]["nom"] == "Cellule fautive"
    assert "coordonnées illisibles" in rows[0]["motif_rejet"]
    assert "code_postal : champ obligatoire vide" in rows[1]["motif_rejet"]
    # The quarantine file, once corrected, imports as it is (its extra column is ignored).
    rows[0]["latitude"], rows[1]["code_postal"] = "44.84", "33000"
    with open(quarantine, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    again = run(runner, str(quarantine), "--source", source)
    assert again.exit_code == 0, again.output
    assert count(app, source) == 4


def test_a_snapshot_with_skipped_rows_never_closes_their_venues(app, runner, source, tmp_path):
    path = tmp_path / "lieux.json"
    rows = [venue(id=str(i)) for i in range(6)]
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert run(runner, str(path), "--source", source).exit_code == 0
    rows[5]["latitude"] = "quarante-quatre"
    path.write_text(json.dumps(rows[1:]), encoding="utf-8")
    quarantine = tmp_path / "rejets.json"
    result = run(runner, str(path), "--source", source, "--skip-invalid", "--quarantine",
                 str(quarantine), "--complete-snapshot")
    assert result.exit_code == 0, result.output
    assert "1 fermé(s)" in result.output   # id 0 only, not id 5 whose row was rejected
    assert count(app, source, "status = 'closed'") == 1
    assert count(app, source, "status = 'open' AND source_id = '5'") == 1
    kept = json.loads(quarantine.read_text(encoding="utf-8"))
    assert [(r["id"], r["latitude"]) for r in kept] == [("5", "quarante-quatre")]
    assert "coordonnées illisibles" in kept[0]["motif_rejet"]
