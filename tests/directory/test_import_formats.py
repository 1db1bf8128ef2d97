"""Formats: v0.1 or v1 told from the content (and said); the export with our extensions
makes a round trip that loses nothing (position precision, flags, programmes)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from directory.importer import service
from extensions import db
from tests.conftest import shared_data
from tests.directory.test_import_readers import v1_csv, venue
from tests.directory.test_import_write import count, run


@pytest.mark.parametrize(("content", "name", "expected"), [
    (b'[{"id": "1", "courriel": "a@b.fr", "conditions_acces": "Gratuit"}]', "x.json",
     "standard-v0-json"),
    (b'[{"id": "1", "courriels": "a@b.fr", "frais_a_charge": "Gratuit"}]', "x.json",
     "standard-v1-json"),
    (b"id,nom,courriel,labels_nationaux\n1,A,a@b.fr,\n", "lieux.txt", "standard-v0-csv"),
    (b"\xef\xbb\xbfid;nom;courriels;itinerance\n1;A;a@b.fr;\n", "lieux", "standard-v1-csv"),
    (b'  [{"id": "1", "publics_accueillis": "Adultes"}]', "export.csv", "standard-v0-json"),
])
def test_the_version_and_syntax_are_read_from_the_content(content, name, expected):
    fmt, note = service.detect_format(name, content, None)
    assert fmt == expected
    assert note.startswith(f"format détecté d'après le contenu : {expected}")
    if name.endswith(".csv") and "json" in expected:
        assert "contenu JSON malgré l'extension .csv" in note


def test_a_format_given_against_the_content_is_said():
    content = b'[{"id": "1", "courriel": "a@b.fr", "conditions_acces": "Gratuit"}]'
    fmt, note = service.detect_format("x.json", content, "standard-v1-json")
    assert fmt == "standard-v1-json"
    assert note.startswith("attention : --format standard-v1-json donné, mais le contenu "
                           "ressemble à standard-v0-json (colonnes conditions_acces, courriel")
    assert service.detect_format("x.json", content, "standard-v0-json") == (
        "standard-v0-json", None)


def test_a_v0_file_without_format_imports_as_v0_and_says_so(app, runner, source, tmp_path):
    original = shared_data("venues", "standard-v0", "20231003-bus-france-services-charente.json")
    path = tmp_path / "lieux.json"      # a .json file: was read as v1 and refused before
    path.write_bytes(original.read_bytes())
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    assert "Format détecté d'après le contenu : standard-v0-json (colonnes" in result.output
    assert "12 lieu(x) valide(s), 0 ligne(s) rejetée(s)" in result.output
    assert count(app, source) == 12


def rows_of(app, source_name: str) -> dict:
    with app.app_context(), db.engine.connect() as connection:
        return {r[0]: r[1:] for r in connection.execute(text("""
            SELECT source_id, location_precision,
                   ARRAY(SELECT f->>'code' FROM jsonb_array_elements(flags) f ORDER BY 1),
                   round(ST_X(geom)::numeric, 6), round(ST_Y(geom)::numeric, 6), code_insee
            FROM lieu WHERE source = :s"""), {"s": source_name}).all()}


@pytest.mark.parametrize("fmt", ["standard-v1-csv", "standard-v1-json"])
def test_a_round_trip_with_extensions_loses_nothing(app, runner, source, geography, tmp_path,
                                                    fmt):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(
        venue(id="centre", commune="Talence", code_postal="33400", latitude="",
              longitude=""),                                        # geocoded: commune centre
        venue(id="inverse", latitude="-0.5792", longitude="44.8378"),  # swapped, corrected
        venue(id="ancien", date_maj="1970-01-01"),                  # implausible date
        venue(id="simple")))
    assert run(runner, str(path), "--source", source).exit_code == 0
    first = rows_of(app, source)
    assert first["centre"][0] == "commune" and first["centre"][1] == ["position_approchee"]
    assert first["inverse"][1] == ["coordonnees_inversees"]
    out = tmp_path / ("export." + fmt.rsplit("-", 1)[1])
    exported = runner.invoke(args=["directory", "export", "--format", fmt, "--source", source,
                                   "--out", str(out), "--with-extensions"])
    assert exported.exit_code == 0, exported.output
    copy = source + "-copie"
    try:
        result = run(runner, str(out), "--source", copy)
        assert result.exit_code == 0, result.output
        second = rows_of(app, copy)
        for source_id, (precision, flags, lon, lat, insee) in first.items():
            again = second[source_id]
            assert again[0] == precision and again[2:] == (lon, lat, insee), source_id
            # The same flags, plus "likely duplicate" of the original source's venue.
            assert [f for f in again[1] if f != "doublon_probable"] == flags, source_id
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": copy})
            connection.execute(text("DELETE FROM import_run WHERE source = :s"), {"s": copy})


def test_bad_extension_values_are_reported_not_fatal(app, runner, source, tmp_path):
    path = tmp_path / "lieux.json"
    path.write_text(json.dumps([{**venue(id="1"), "x_location_precision": "rue",
                                 "x_flags": "pas du json"}]), encoding="utf-8")
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    assert "précision « rue » inconnue" in result.output or "x_location_precision" in \
        result.output
    assert count(app, source, "location_precision = 'address' AND flags = '[]'") == 1
