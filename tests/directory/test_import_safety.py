"""Safety of the importer: files that read nothing, snapshots that would close a source,
runs recorded and undone (against PostGIS, through the command line)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from extensions import db
from tests.directory.test_import_readers import v1_csv, venue
from tests.directory.test_import_write import count, run


def runs_of(app, source_name: str) -> list[tuple]:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text("""
            SELECT id, status, by_user, file_digest, counts FROM import_run
            WHERE source = :s ORDER BY id"""), {"s": source_name}).all()


def test_a_header_without_rows_is_refused_with_the_columns_present(runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_text("id;nom;commune\n", encoding="utf-8")
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 1
    assert "aucune ligne lue" in result.output and "« commune »" in result.output


def test_misnamed_required_columns_are_named_once_not_per_row(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    header = "Identifiant,SIRET,nom,commune,code_postal,adresse,date_maj"
    rows = [{"Identifiant": str(i), "SIRET": "43493312300029", **venue()} for i in range(50)]
    path.write_bytes(v1_csv(*rows, header=header))
    result = run(runner, str(path), "--source", source, "--format", "standard-v1-csv")
    assert result.exit_code == 1
    assert "colonne(s) obligatoire(s) absente(s) ou vide(s) sur tout le fichier : id, pivot" \
        in result.output
    assert "colonnes présentes : « Identifiant », « SIRET »" in result.output
    assert "champ obligatoire vide" not in result.output
    assert count(app, source) == 0


def test_a_misspelt_column_in_a_mapping_is_named_with_the_columns_present(runner, source,
                                                                          tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text("""
[source]
format = "csv"
skip_rows_without = ["NOM_STRUCUTRE"]
[fields]
id = "ref"
nom = "NOM_STRUCTURE"
""", encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("ref;NOM_STRUCTURE\n1;EPN\n", encoding="utf-8")
    result = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}")
    assert result.exit_code == 1
    assert "« NOM_STRUCUTRE » ([source] skip_rows_without)" in result.output
    assert "colonnes présentes : « ref », « NOM_STRUCTURE »" in result.output


def test_a_snapshot_closing_too_much_needs_the_exact_number(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(*(venue(id=str(i)) for i in range(10))))
    assert run(runner, str(path), "--source", source).exit_code == 0
    path.write_bytes(v1_csv(*(venue(id=str(i)) for i in range(7))))
    refused = run(runner, str(path), "--source", source, "--complete-snapshot")
    assert refused.exit_code == 1
    assert "fermerait 3 lieu(x) sur 10 ouverts" in refused.output
    assert "plus de 20%" in refused.output.replace("\u00a0", "")
    wrong = run(runner, str(path), "--source", source, "--complete-snapshot",
                "--confirm-closures", "2")
    assert wrong.exit_code == 1 and "ne correspond pas" in wrong.output
    assert count(app, source, "status = 'closed'") == 0
    # A higher share set for this run lets it through without confirmation.
    allowed = run(runner, str(path), "--source", source, "--complete-snapshot",
                  "--max-closure-share", "30")
    assert allowed.exit_code == 0, allowed.output
    assert count(app, source, "status = 'closed'") == 3
    # Two of seven (29 %) more: confirmed by their exact number.
    path.write_bytes(v1_csv(*(venue(id=str(i)) for i in range(5))))
    confirmed = run(runner, str(path), "--source", source, "--complete-snapshot",
                    "--confirm-closures", "2")
    assert confirmed.exit_code == 0, confirmed.output
    assert count(app, source, "status = 'closed'") == 5


def test_every_import_is_recorded_with_who_digest_counts_and_report(app, runner, source,
                                                                     tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2")))
    result = run(runner, str(path), "--source", source, "--by", "Camille Martin")
    assert result.exit_code == 0, result.output
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2", latitude="40.4", longitude="-3.7")))
    assert run(runner, str(path), "--source", source).exit_code == 1
    (first, status, by, digest, counts), (second, status2, by2, _, _) = runs_of(app, source)
    assert (status, by, len(digest)) == ("written", "Camille Martin", 64)
    assert counts["creees"] == 2 and counts["lues"] == 2
    assert status2 == "rejected" and by2  # the OS user
    listing = runner.invoke(args=["directory", "import", "runs", "--source", source])
    assert listing.exit_code == 0
    assert f"n° {second}" in listing.output and "rejeté" in listing.output
    assert f"n° {first}" in listing.output and "Camille Martin" in listing.output
    assert digest[:12] in listing.output
    with app.app_context(), db.engine.connect() as connection:
        report = connection.execute(text("SELECT report FROM import_run WHERE id = :i"),
                                    {"i": second}).scalar()
    assert "hors de France" in report


def snapshot_of(app, source_name: str) -> dict:
    with app.app_context(), db.engine.connect() as connection:
        return {row[0]: row[1:] for row in connection.execute(text("""
            SELECT source_id, nom, status, ST_AsText(geom), flags, content_hash, horaires_osm,
                   telephone, date_maj
            FROM lieu WHERE source = :s"""), {"s": source_name}).all()}


def test_undo_puts_back_every_row_the_run_touched(app, runner, source, tmp_path):
    code = f"pass-{uuid.uuid4().hex[:8]}"
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO programme (code, name, perimeter_codes, valid_from)
                                   VALUES (:c, 'Pass test', '{fr}', '2020-01-01')"""), {"c": code})
    try:
        path = tmp_path / "lieux.csv"
        path.write_bytes(v1_csv(venue(id="1"), venue(id="2", horaires="Mo-Fr 09:00-12:00"),
                                venue(id="3"), venue(id="4"), venue(id="5"), venue(id="6")))
        assert run(runner, str(path), "--source", source).exit_code == 0
        before = snapshot_of(app, source)
        path.write_bytes(v1_csv(
            venue(id="1"),
            venue(id="2", nom="Renommé", horaires="Sa 10:00-12:00", latitude="44.85",
                  date_maj="2024-06-01", x_pass_programmes=code),
            venue(id="4"), venue(id="5"), venue(id="6"), venue(id="7", nom="Nouveau"),
            header=",".join(list(venue()) + ["horaires", "x_pass_programmes"])))
        changed = run(runner, str(path), "--source", source, "--complete-snapshot")
        assert changed.exit_code == 0, changed.output
        assert "1 créé(s), 1 mis à jour, 4 inchangé(s), 1 fermé(s), 1 acceptation" \
            in changed.output
        run_id = runs_of(app, source)[-1][0]
        assert snapshot_of(app, source) != before
        undone = runner.invoke(args=["directory", "import", "undo", str(run_id)])
        assert undone.exit_code == 0, undone.output
        assert ("1 lieu(x) créé(s) supprimé(s), 2 lieu(x) remis dans leur état d'avant, "
                "1 acceptation(s) retirée(s)") in undone.output
        assert snapshot_of(app, source) == before
        assert runs_of(app, source)[-1][1] == "undone"
        again = runner.invoke(args=["directory", "import", "undo", str(run_id)])
        assert again.exit_code == 1 and "déjà été annulé" in again.output
        # Re-importing the first file after the undo writes nothing: hashes are back too.
        path.write_bytes(v1_csv(venue(id="1"), venue(id="2", horaires="Mo-Fr 09:00-12:00"),
                                venue(id="3"), venue(id="4"), venue(id="5"), venue(id="6")))
        same = run(runner, str(path), "--source", source)
        assert "0 créé(s), 0 mis à jour, 6 inchangé(s)" in same.output
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DELETE FROM programme WHERE code = :c"), {"c": code})


def test_undo_is_refused_when_a_later_run_touched_the_same_rows(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    path.write_bytes(v1_csv(venue(id="1", nom="Deux", date_maj="2024-05-01"), venue(id="2")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    path.write_bytes(v1_csv(venue(id="1", nom="Trois", date_maj="2024-06-01"), venue(id="2")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    first, second, third = (r[0] for r in runs_of(app, source))
    refused = runner.invoke(args=["directory", "import", "undo", str(second)])
    assert refused.exit_code == 1
    assert f"n° {third} (1 lieu(x))" in refused.output and "--force" in refused.output
    assert count(app, source, "nom = 'Trois'") == 1
    forced = runner.invoke(args=["directory", "import", "undo", str(second), "--force"])
    assert forced.exit_code == 0, forced.output
    assert count(app, source, "nom = 'Médiathèque' AND source_id = '1'") == 1
    unknown = runner.invoke(args=["directory", "import", "undo", "999999999"])
    assert unknown.exit_code == 1 and "introuvable" in unknown.output
    assert first
