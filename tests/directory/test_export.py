"""Export: the standard v1.0.2 CSV validates with frictionless; exporting then importing
the same source writes nothing; spreadsheet formulas are neutralised."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import text

from directory.exporter import EXTENSION_FIELDS
from directory.vocabulary import STANDARD_FIELDS
from extensions import db
from tests.conftest import ROOT, shared_data
from tests.directory.test_import_readers import v1_csv, venue

MAPPINGS = ROOT / "directory" / "mappings"


@pytest.fixture
def source(app):
    name = f"test-export-{uuid.uuid4().hex[:10]}"
    yield name
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": name})


@pytest.fixture
def imported(runner, source):
    """The Charente v0.1 file and a row with spreadsheet formulas, in one source."""
    path = str(shared_data("venues", "standard-v0", "20230711-charente.json"))
    result = runner.invoke(args=["directory", "import", path, "--source", source,
                                 "--format", "standard-v0-json"])
    assert result.exit_code == 0, result.output
    return source


def export(runner, source, fmt, out, *extra):
    result = runner.invoke(args=["directory", "export", "--format", fmt, "--source", source,
                                 "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


def frictionless_errors(path, extensions: bool) -> list:
    """Errors of ``path`` against the standard's Table Schema (its fields and key)."""
    from frictionless import Resource, Schema

    descriptor = json.loads(shared_data("standard", "schema-v1.0.2.json").read_text("utf-8"))
    fields = {"fields": descriptor["fields"], "primaryKey": descriptor["primaryKey"]}
    if extensions:
        # Our x_… columns are extra to the schema; every standard column is still checked
        # (and the test asserts the header holds them all, in order).
        fields["fieldsMatch"] = "subset"
    resource = Resource(path=path.name, basepath=str(path.parent),
                        schema=Schema.from_descriptor(fields))
    report = resource.validate()
    return [(error.type, error.note) for task in report.tasks for error in task.errors]


def test_standard_csv_export_validates_against_the_schema(runner, imported, tmp_path):
    strict = tmp_path / "strict.csv"
    export(runner, imported, "standard-v1-csv", strict)   # the default: the standard only
    assert frictionless_errors(strict, extensions=False) == []
    assert strict.read_text(encoding="utf-8").splitlines()[0].split(",") == \
        list(STANDARD_FIELDS)

    extended = tmp_path / "extended.csv"
    export(runner, imported, "standard-v1-csv", extended, "--with-extensions")
    header = extended.read_text(encoding="utf-8").splitlines()[0].split(",")
    # Every standard column in the standard's order, then our documented extensions only.
    assert tuple(header) == STANDARD_FIELDS + EXTENSION_FIELDS
    assert frictionless_errors(extended, extensions=True) == []
    rows = list(csv.DictReader(io.StringIO(extended.read_text(encoding="utf-8"))))
    assert len(rows) == 188


@pytest.mark.parametrize("fmt", ["standard-v1-csv", "standard-v1-json"])
def test_export_then_import_of_the_same_source_writes_nothing(runner, imported, tmp_path, fmt):
    out = tmp_path / f"export.{fmt[-4:].strip('-')}"
    export(runner, imported, fmt, out)
    result = runner.invoke(args=["directory", "import", str(out), "--source", imported,
                                 "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "0 créé(s), 0 mis à jour, 188 inchangé(s)" in result.output
    assert "Lignes écrites : 0 " in result.output


def test_gironde_export_reimports_without_writing(runner, source, geography, tmp_path):
    path = str(shared_data("venues", "raw", "gironde.json"))
    assert runner.invoke(args=["directory", "import", path, "--source", source, "--format",
                               f"mapping:{MAPPINGS / 'gironde.toml'}"]).exit_code == 0
    out = tmp_path / "gironde.csv"
    export(runner, source, "standard-v1-csv", out)
    again = runner.invoke(args=["directory", "import", str(out), "--source", source])
    assert "0 créé(s), 0 mis à jour, 347 inchangé(s)" in again.output, again.output


def test_csv_cells_that_look_like_formulas_are_neutralised(runner, source, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(nom="=HYPERLINK(\"http://x\")", adresse="+1 rue du Test",
                                  complement_adresse="-2", structure_parente="@SUM(A1)",
                                  telephone="+33557657539")))
    assert runner.invoke(args=["directory", "import", str(path),
                               "--source", source]).exit_code == 0
    out = tmp_path / "export.csv"
    export(runner, source, "standard-v1-csv", out)
    row = next(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["nom"] == "'=HYPERLINK(\"http://x\")"
    assert row["adresse"] == "'+1 rue du Test"
    assert row["structure_parente"] == "'@SUM(A1)"
    assert row["complement_adresse"] == "-2"          # a plain number stays a number
    assert row["telephone"] == "+33557657539"         # the standard requires "+33…"
    assert row["longitude"] == "-0.5792"
    again = runner.invoke(args=["directory", "import", str(out), "--source", source])
    assert "Lignes écrites : 0 " in again.output, again.output


def test_geojson_and_data_inclusion_exports(runner, imported, tmp_path):
    geojson = tmp_path / "lieux.geojson"
    export(runner, imported, "geojson", geojson, "--with-extensions")
    collection = json.loads(geojson.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 188
    feature = collection["features"][0]
    lon, lat = feature["geometry"]["coordinates"]
    assert -1 < lon < 1 and 45 < lat < 46.2  # Charente, lon/lat order (RFC 7946)
    assert isinstance(feature["properties"]["services"], list)
    assert "x_pass_programmes" in feature["properties"]

    inclusion = tmp_path / "structures.json"
    export(runner, imported, "data-inclusion", inclusion)
    structures = json.loads(inclusion.read_text(encoding="utf-8"))
    assert len(structures) == 188
    assert all(s["siret"] != "00000000000000" for s in structures)  # placeholder dropped
    assert {"id", "nom", "commune", "date_maj", "labels_nationaux"} <= set(structures[0])
