"""The benchmarks' WSGI entry point (``bench/wsgi_frozen.py``): the application on the frozen
clock the benchmark names, so that its HTTP run asks the questions it times in process."""

import datetime as dt
import importlib
import sys

from core import clock
from tests.conftest import database_url_for_tests


def test_bench_entry_serves_at_the_benchmark_moment(monkeypatch):
    moment = dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    monkeypatch.setenv("PASSERELLE_BENCH_NOW", moment.isoformat())
    monkeypatch.setenv("DATABASE_URL", database_url_for_tests())
    monkeypatch.delitem(sys.modules, "bench.wsgi_frozen", raising=False)
    app = importlib.import_module("bench.wsgi_frozen").app
    try:
        assert clock.now(app) == moment
        assert clock.today(app) == dt.date(2026, 12, 1)
        with app.test_request_context():
            assert clock.now() == moment  # what the API reads
    finally:
        sys.modules.pop("bench.wsgi_frozen", None)
