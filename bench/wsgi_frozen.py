"""WSGI entry point of the benchmarks only: the application of ``wsgi.py`` on a frozen clock
(``core.clock.FrozenClock``, the only fake of the clock), at the moment given by
``PASSERELLE_BENCH_NOW`` (ISO 8601 with its offset). ``bench/match.py`` serves its HTTP run
with it, so that the questions asked through gunicorn are the mix it times in process (at
the real clock, a night-time run asked its "open now" questions when nothing is open).

    PASSERELLE_BENCH_NOW=2026-12-01T10:30:00+01:00 gunicorn bench.wsgi_frozen:app
"""

import datetime as dt
import os

from app import create_app
from core.clock import FrozenClock

app = create_app(clock=FrozenClock(dt.datetime.fromisoformat(os.environ["PASSERELLE_BENCH_NOW"])))
