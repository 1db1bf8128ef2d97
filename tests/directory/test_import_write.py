"""The importer against PostGIS: one transaction, idempotence, geography, duplicates.

The import commits through its own connection (as in production), so each test uses a
source name of its own and deletes what it wrote.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from extensions import db
from tests.conftest import ROOT, shared_data
from tests.directory.test_import_readers import v1_csv, venue

MAPPINGS = ROOT / "directory" / "mappings"


def count(app, source: str, where: str = "true") -> int:
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM lieu WHERE source = :s AND {where}"),
                                  {"s": source}).scalar()


def run(runner, *args: str):
    return runner.invoke(args=["directory", "import", *args])


def written(result) -> str:
    return next(line for line in result.output.splitlines() if line.startswith("Lignes écrites"))


def test_charente_v0_imports_188_venues_then_writes_nothing_again(app, runner, source):
    path = str(shared_data("venues", "standard-v0", "20230711-charente.json"))
    first = run(runner, path, "--source", source, "--format", "standard-v0-json")
    assert first.exit_code == 0, first.output
    assert "188 lieu(x) valide(s), 0 ligne(s) rejetée(s)" in first.output
    assert "188 créé(s)" in first.output
    assert count(app, source) == 188
    with app.app_context(), db.engine.connect() as connection:
        stamp = connection.execute(text("SELECT max(updated_at) FROM lieu WHERE source = :s"),
                                   {"s": source}).scalar()
    again = run(runner, path, "--source", source, "--format", "standard-v0-json")
    assert again.exit_code == 0, again.output
    assert "0 créé(s), 0 mis à jour, 188 inchangé(s)" in again.output
    assert written(again).startswith("Lignes écrites : 0 ")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("SELECT max(updated_at) FROM lieu WHERE source = :s"),
                                  {"s": source}).scalar() == stamp


def test_standard_v1_example_imports(app, runner, source):
    path = str(shared_data("standard", "exemple-valide-v1.csv"))
    result = run(runner, path, "--source", source)
    assert result.exit_code == 0, result.output
    with app.app_context(), db.engine.connect() as connection:
        row = connection.execute(text("""
            SELECT nom, services, telephone, horaires_osm, horaires_valides, ST_Y(geom),
                   opening_week IS NOT NULL, source_donnees, location_precision
            FROM lieu WHERE source = :s"""), {"s": source}).one()
    assert row[0] == "Anonymal" and len(row[1]) == 3 and row[2] == ["+33180059880"]
    assert row[3] == "Mo-Fr 09:00-12:00,14:00-18:30; Sa 08:30-12:00" and row[4] is True
    assert row[5] == pytest.approx(43.52609) and row[6] is True
    assert (row[7], row[8]) == ("Hubik", "address")


def test_one_venue_outside_france_rejects_the_whole_file(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2"),
                            venue(id="3", latitude="40.4168", longitude="-3.7038"),
                            venue(id="4")))
    report = tmp_path / "rapport.csv"
    result = run(runner, str(path), "--source", source, "--report", str(report))
    assert result.exit_code != 0
    assert "ligne 4" in result.output and "hors de France" in result.output
    assert "rien n'a été écrit" in result.output
    assert count(app, source) == 0
    assert "4,3,latitude,erreur," in report.read_text(encoding="utf-8")


def test_dry_run_checks_everything_and_writes_nothing(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2")))
    result = run(runner, str(path), "--source", source, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "2 créé(s)" in result.output and "Simulation" in result.output
    assert count(app, source) == 0


def test_changed_rows_only_are_updated_and_a_snapshot_closes_the_missing(app, runner, source,
                                                                        tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2"), venue(id="3")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2", nom="Nouveau nom",
                                                  date_maj="2024-05-01")))
    partial = run(runner, str(path), "--source", source)
    assert "0 créé(s), 1 mis à jour, 1 inchangé(s), 0 fermé(s)" in partial.output
    assert count(app, source, "status = 'closed'") == 0  # not a complete snapshot
    # 1 of 3 is more than the default 20 %: refused without the exact number.
    refused = run(runner, str(path), "--source", source, "--complete-snapshot")
    assert refused.exit_code == 1 and "--confirm-closures 1" in refused.output
    assert count(app, source, "status = 'closed'") == 0
    snapshot = run(runner, str(path), "--source", source, "--complete-snapshot",
                   "--confirm-closures", "1")
    assert "0 mis à jour, 2 inchangé(s), 1 fermé(s)" in snapshot.output
    assert count(app, source) == 3  # closed, not deleted
    assert count(app, source, "status = 'closed' AND source_id = '3'") == 1
    # It comes back: reopened.
    path.write_bytes(v1_csv(venue(id="1"), venue(id="2", nom="Nouveau nom",
                                                  date_maj="2024-05-01"), venue(id="3")))
    back = run(runner, str(path), "--source", source, "--complete-snapshot")
    assert "1 mis à jour" in back.output and count(app, source, "status = 'open'") == 3


def test_duplicate_ids_in_a_file_follow_the_stated_rule(app, runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1", nom="Récent", date_maj="2024-06-01"),
                            venue(id="1", nom="Ancien", date_maj="2023-06-01")))
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0 and "1 créé(s)" in result.output
    assert count(app, source, "nom = 'Récent'") == 1


def test_likely_duplicates_across_sources_are_flagged_not_merged(app, runner, source,
                                                                 tmp_path):
    other = source + "-autre"
    path = tmp_path / "a.csv"
    path.write_bytes(v1_csv(venue(id="x", nom="Médiathèque Mériadeck", pivot="21330063500017"),
                            venue(id="y", nom="Espace numérique du Lac", pivot="00000000000000",
                                  latitude="44.8800", longitude="-0.5700")))
    assert run(runner, str(path), "--source", other).exit_code == 0
    try:
        path.write_bytes(v1_csv(
            venue(id="1", nom="Bibliothèque Mériadeck", pivot="21330063500017",
                  latitude="44.84", longitude="-0.58"),                    # same SIRET
            venue(id="2", nom="Espace numerique du lac", pivot="00000000000000",
                  latitude="44.8802", longitude="-0.5701"),                # ~25 m, same name
            venue(id="3", nom="Autre lieu", pivot="00000000000000",
                  latitude="44.8801", longitude="-0.5700")))              # near, other name
        result = run(runner, str(path), "--source", source)
        assert result.exit_code == 0, result.output
        assert "doublon(s) probable(s) signalé(s)" in result.output
        assert count(app, source) == 3 and count(app, other) == 2  # nothing merged
        # Only the other source's venues matter here (the session database may hold more).
        with app.app_context(), db.engine.connect() as connection:
            reasons = dict(connection.execute(text("""
                SELECT source_id, string_agg(f->>'message', ' ; ')
                FROM lieu, jsonb_array_elements(flags) f
                WHERE source = :s AND f->>'code' = 'doublon_probable'
                  AND f->>'message' LIKE '%' || :other || '%'
                GROUP BY source_id"""), {"s": source, "other": other}).all())
        assert sorted(reasons) == ["1", "2"]
        assert "même SIRET 21330063500017" in reasons["1"]
        assert " m, nom proche" in reasons["2"]
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": other})


def test_v0_pass_markers_become_acceptances_of_the_named_programme(app, runner, source):
    code = f"pass-{uuid.uuid4().hex[:8]}"
    path = str(shared_data("venues", "standard-v0", "20231003-bus-france-services-charente.json"))
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("""INSERT INTO programme (code, name, perimeter_codes, valid_from)
                                   VALUES (:c, 'Pass test', '{fr}', '2020-01-01')"""), {"c": code})
    try:
        without = run(runner, path, "--source", source, "--format", "standard-v0-json",
                      "--dry-run")
        assert "Candidats à l'acceptation d'un programme : 12" in without.output
        result = run(runner, path, "--source", source, "--format", "standard-v0-json",
                     "--programme", code)
        assert result.exit_code == 0, result.output
        assert "12 acceptation(s) de programme" in result.output
        again = run(runner, path, "--source", source, "--format", "standard-v0-json",
                    "--programme", code)
        assert written(again).startswith("Lignes écrites : 0 ")
        unknown = run(runner, path, "--source", source, "--format", "standard-v0-json",
                      "--programme", "nexiste-pas")
        assert unknown.exit_code != 0 and "inconnu" in unknown.output
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DELETE FROM programme WHERE code = :c"), {"c": code})


def test_gironde_file_lands_in_gironde_with_swaps_and_aptic_candidates(app, runner, source,
                                                                        geography, tmp_path):
    path = str(shared_data("venues", "raw", "gironde.json"))
    report = tmp_path / "rapport.csv"
    result = run(runner, path, "--source", source, "--format",
                 f"mapping:{MAPPINGS / 'gironde.toml'}", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "Candidats à l'acceptation d'un programme : 7" in result.output
    in_gironde = count(app, source, """EXISTS (SELECT 1 FROM departement d
                                               WHERE d.code = '33' AND ST_Covers(d.geom, geom))""")
    assert in_gironde >= 340
    assert count(app, source, "flags @> '[{\"code\": \"coordonnees_inversees\"}]'") == 347
    assert count(app, source, "code_insee LIKE '33%'") == 347  # point-in-polygon
    assert count(app, source, "code_postal IS NULL") == 0       # 26 derived from the commune
    lines = report.read_text(encoding="utf-8")
    assert lines.count("inversées") >= 347 and lines.count(",candidat,") == 7


def test_maine_et_loire_points_are_inside_maine_et_loire(app, runner, source, geography):
    path = str(shared_data("venues", "raw", "maine-et-loire.json"))
    result = run(runner, path, "--source", source, "--format",
                 f"mapping:{MAPPINGS / 'maine-et-loire.toml'}")
    assert result.exit_code == 0, result.output
    total = count(app, source)
    assert total == 240
    inside = count(app, source, """EXISTS (SELECT 1 FROM departement d
                                           WHERE d.code = '49' AND ST_Covers(d.geom, geom))""")
    assert inside == total
    assert count(app, source, "status = 'closed'") == 18


def test_missing_coordinates_are_geocoded_offline_with_low_precision(app, runner, source,
                                                                     geography, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1", commune="Talence", code_postal="33400",
                                  latitude="", longitude=""),
                            venue(id="2", commune="Nulle part", code_postal="99999",
                                  latitude="", longitude="")))
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    assert "1 géocodé(s)" in result.output
    assert count(app, source, "source_id = '1' AND location_precision = 'commune' "
                              "AND code_insee = '33522' AND geom IS NOT NULL") == 1
    assert count(app, source, "source_id = '2' AND geom IS NULL "
                              "AND flags @> '[{\"code\": \"sans_position\"}]'") == 1


def test_a_point_far_from_its_declared_commune_is_flagged(app, runner, source, geography,
                                                          tmp_path):
    path = tmp_path / "lieux.csv"
    # Declared in Bordeaux (33063), placed in Arcachon.
    path.write_bytes(v1_csv(venue(id="1", code_insee="33063", latitude="44.6586",
                                  longitude="-1.1689"),
                            venue(id="2", code_insee="33063")))
    result = run(runner, str(path), "--source", source)
    assert "1 point(s) hors de leur commune" in result.output
    assert count(app, source, "flags @> '[{\"code\": \"hors_commune\"}]'") == 1


def test_the_import_transaction_has_timeouts_and_a_name(app):
    from directory.importer.writer import configure_connection

    with app.app_context(), db.engine.connect() as connection, connection.begin():
        configure_connection(connection, "essai")
        settings = connection.execute(text("""
            SELECT current_setting('statement_timeout'),
                   current_setting('idle_in_transaction_session_timeout'),
                   current_setting('application_name')""")).one()
    assert settings == ("2min", "30s", "passerelle-import:essai")
    with app.app_context(), db.engine.connect() as connection:  # SET LOCAL: not kept
        assert connection.execute(text("SHOW statement_timeout")).scalar() != "2min"


def test_only_http_urls_are_fetched(monkeypatch, tmp_path):
    import io

    from directory.importer import service

    with pytest.raises(service.ImportFailed, match="http"):
        service.fetch("ftp://exemple.fr/lieux.csv")
    with pytest.raises(service.ImportFailed, match="introuvable"):
        service.fetch(str(tmp_path / "absent.csv"))
    asked = []

    def fake_urlopen(request, timeout):  # the network boundary, faked
        asked.append((request.full_url, timeout))
        return io.BytesIO(b"id,nom\n")

    monkeypatch.setattr(service.urllib.request, "urlopen", fake_urlopen)
    assert service.fetch("https://exemple.fr/lieux.csv") == b"id,nom\n"
    assert asked == [("https://exemple.fr/lieux.csv", service.FETCH_TIMEOUT_S)]
