"""Every real file of ../shared/data/venues imports with 0 rejections (formats detected
from the content for the standard files), and undoing the import leaves nothing."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, shared_data
from tests.directory.test_import_write import count, run

MAPPINGS = ROOT / "directory" / "mappings"
FILES = {
    "charente": (("standard-v0", "20230711-charente.json"), None, 188),
    "bus": (("standard-v0", "20231003-bus-france-services-charente.json"), None, 12),
    "nouvelle-caledonie": (("standard-v0", "20240320-nouvelle-caledonie.json"), None, 90),
    "gironde": (("raw", "gironde.json"), "gironde.toml", 347),
    "maine-et-loire": (("raw", "maine-et-loire.json"), "maine-et-loire.toml", 240),
    "la-creuse": (("raw", "la-creuse.json"), "la-creuse.toml", 91),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_shared_real_files_import_with_no_rejection_and_undo_cleanly(app, runner, source,
                                                                     geography, name):
    parts, mapping, expected = FILES[name]
    path = str(shared_data("venues", *parts))
    args = ["--format", f"mapping:{MAPPINGS / mapping}"] if mapping else []
    result = run(runner, path, "--source", source, *args)
    assert result.exit_code == 0, result.output
    assert f"{expected} lieu(x) valide(s), 0 ligne(s) rejetée(s)" in result.output
    assert count(app, source) == expected
    if not mapping:
        assert "Format détecté d'après le contenu : standard-v0-json" in result.output
    run_id = result.output.split("import n° ")[1].split(" ")[0]
    undone = runner.invoke(args=["directory", "import", "undo", run_id])
    assert undone.exit_code == 0, undone.output
    assert count(app, source) == 0
