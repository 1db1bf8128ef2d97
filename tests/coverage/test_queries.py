"""Coverage builds its queries with SQLAlchemy Core over the models; ``text()`` holds fixed
statements only, and the few identifiers still written into SQL text (temporary tables,
COPY column lists, ANALYZE) come from closed sets checked here against the models."""

from __future__ import annotations

import ast
from pathlib import Path

import coverage
from coverage import costs, refresh, selection
from coverage.models import (
    CoverageAggregate,
    CoverageMapFeature,
    CoverageMapShape,
    CoverageResult,
    CoverageShape,
)
from geodata.models import Commune

PACKAGE = Path(coverage.__file__).parent
IDENTIFIER = r"[a-z_][a-z0-9_]*"


def _text_calls() -> list[tuple[str, int, ast.expr]]:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "text"):
                found.append((path.name, node.lineno, node.args[0]))
    return found


def test_text_only_holds_fixed_statements():
    calls = _text_calls()
    assert calls, "aucun appel à text() trouvé : le test ne lit plus le bon paquet"
    for module, line, argument in calls:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            continue
        # The one exception: ANALYZE, whose table names come from the models (below).
        assert (module, ast.unparse(argument)) == (
            "refresh.py", "f'ANALYZE {model.__tablename__}'"), f"{module}:{line}"


def test_analyze_statements_name_coverage_tables():
    tables = {CoverageAggregate.__tablename__, CoverageShape.__tablename__,
              CoverageMapShape.__tablename__, CoverageResult.__tablename__,
              CoverageMapFeature.__tablename__}
    assert set(refresh._ANALYZE) == tables
    assert {str(statement) for statement in refresh._ANALYZE.values()} == {
        f"ANALYZE {table}" for table in tables}


def test_staged_result_columns_are_the_model_columns_in_order():
    columns = [c.name for c in CoverageResult.__table__.columns]
    assert list(refresh._RESULT_COLUMNS) == [c for c in columns if c != "properties"]


def test_temporary_tables_are_plain_identifiers():
    import re

    for name in costs._TEMP_TABLES:
        assert re.fullmatch(IDENTIFIER, name)


def test_territory_columns_and_models_exist():
    commune_columns = set(Commune.__table__.columns.keys())
    assert set(selection.MEMBERSHIP.values()) <= commune_columns
    assert set(selection.LEVEL_COLUMNS.values()) <= commune_columns
    assert set(selection.LEVEL_COLUMNS) == set(selection.LEVEL_MODELS)
    for level, model in selection.LEVEL_MODELS.items():
        assert model.__tablename__ == level
        assert {"code", "name", "geom"} <= set(model.__table__.columns.keys())
    assert set(selection.KIND_MODELS) == set(selection.MEMBERSHIP)
