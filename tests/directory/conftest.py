"""Fixtures of the catalogue tests."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from extensions import db


@pytest.fixture
def source(app):
    """A source name of its own: the importer commits through its own connection (as in
    production), so what a test imports is deleted at the end, with its import runs."""
    name = f"test-import-{uuid.uuid4().hex[:10]}"
    yield name
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": name})
        connection.execute(text("DELETE FROM import_run WHERE source = :s"), {"s": name})
