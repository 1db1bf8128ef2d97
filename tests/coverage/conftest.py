"""The coverage tests' shared world, computed once per test."""

from __future__ import annotations

import datetime as dt

import pytest

from coverage.refresh import refresh
from coverage.selection import Selection

from .coverage_world import make_world


@pytest.fixture
def world(db_session):
    """The hand-checkable world of coverage_world.py, refreshed over its région."""
    venues = make_world(db_session)
    report = refresh(db_session, Selection(within="reg:991"), detour=1.3,
                     today=dt.date(2026, 6, 1))
    return {"venues": venues, "run_id": report.run_id}
