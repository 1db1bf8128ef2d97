"""Database lifecycle: the local default server, the application database, its extensions."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import subprocess
import time

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# unaccent and pg_trgm serve accent-insensitive and fuzzy name search.
EXTENSIONS = ("postgis", "unaccent", "pg_trgm", "btree_gist")
# psycopg rewrites each statement's ``%(name)s`` placeholders into ``$n`` and caches the result
# only for statements up to 4 kB; the matcher's candidate query (5-7 kB, built once per shape
# of question) was parsed again on every request: ~0.5 ms of Python each (profile of
# bench/match.py). Our statements are a fixed set (bound parameters, no values in the text).
CACHED_STATEMENT_LENGTH = 32 * 1024


def cache_long_statements() -> None:
    """Let psycopg cache the placeholder conversion of statements up to
    :data:`CACHED_STATEMENT_LENGTH` (its own limit is a module setting, read on each call)."""
    from psycopg import _queries

    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", CACHED_STATEMENT_LENGTH) \
            < CACHED_STATEMENT_LENGTH:
        _queries.MAX_CACHED_STATEMENT_LENGTH = CACHED_STATEMENT_LENGTH


def end_read_transaction(session) -> None:
    """End a request's transaction that only read (the matcher's) by COMMIT, not by the
    ROLLBACK that closing the session sends: psycopg deallocates every prepared statement
    at a ROLLBACK (it cannot know what it undid), so the matcher's statements, which psycopg
    prepares after their fifth run on a connection, were parsed and planned again at every
    request. Measured with ``bench/match.py``'s questions in process, in turns: PostgreSQL
    CPU per question 9.1-10.6 ms with ROLLBACK, 6.1-7.1 ms with COMMIT. A COMMIT also keeps
    what the request meant to write (a geocoder's answer cached): only call it once the
    request has succeeded."""
    session.commit()


def conninfo(url: str, dbname: str | None = None) -> dict:
    """psycopg's connection parameters for ``url``, every part of it honoured as libpq and
    the application's engine read it: user, password, host, port, database, and the query's
    parameters (``?host=/var/run/postgresql``, ``?port=5433``, ``?sslmode=require`` …),
    which win over the same part before them. ``dbname`` replaces the database (to reach
    ``postgres``)."""
    parsed = make_url(url)
    info: dict = {"host": parsed.host or "127.0.0.1", "port": parsed.port or 5432,
                  "dbname": parsed.database, "connect_timeout": 5}
    if parsed.username:
        info["user"] = parsed.username
    if parsed.password:
        info["password"] = parsed.password
    for key, value in parsed.query.items():
        info[key] = value[-1] if isinstance(value, tuple) else value
    if dbname:
        info["dbname"] = dbname
    return info


def _server_reachable(url: str) -> bool:
    try:
        with psycopg.connect(**conninfo(url, "postgres")):
            return True
    except psycopg.OperationalError as exc:
        if "does not exist" in str(exc) and _create_own_role():
            return _server_reachable(url)
        return False


def _create_own_role() -> bool:
    """On a fresh Debian server only ``postgres`` exists; give root a superuser role
    so that the socket's peer authentication lets it in."""
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return False
    user = pwd.getpwuid(os.geteuid()).pw_name
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-c",
         f'CREATE ROLE "{user}" SUPERUSER LOGIN'],
        capture_output=True, text=True, check=False)
    return result.returncode == 0


def start_local_clusters() -> list[str]:
    """Start the Debian PostgreSQL clusters that are down; return the ones started."""
    if not shutil.which("pg_lsclusters"):
        return []
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True,
                             text=True, check=False).stdout
    started = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[3] == "down":
            version, name = parts[0], parts[1]
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name,
                            "start"], check=False)
            started.append(f"{version}/{name}")
    return started


def ensure_database(url: str, *, local: bool) -> list[str]:
    """Make ``url``'s database usable; return French lines describing what was done.

    For the local default, a stopped cluster is started and the database created.
    Elsewhere the database must exist; the extensions are created when allowed.
    """
    done: list[str] = []
    if not _server_reachable(url):
        if not local:
            raise RuntimeError("Le serveur PostgreSQL de DATABASE_URL est injoignable.")
        started = start_local_clusters()
        if started:
            done.append("Serveur PostgreSQL démarré : " + ", ".join(started))
        for _ in range(30):
            if _server_reachable(url):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(
                "Aucun serveur PostgreSQL local ne répond sur 127.0.0.1:5432 ; "
                "installez postgresql-15-postgis-3 ou définissez DATABASE_URL."
            )
    dbname = conninfo(url)["dbname"]
    if local:
        with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (dbname,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                done.append(f"Base « {dbname} » créée.")
    with psycopg.connect(**conninfo(url), autocommit=True) as conn:
        for ext in EXTENSIONS:
            present = conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s",
                                   (ext,)).fetchone()
            if not present:
                conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(
                    sql.Identifier(ext)))
                done.append(f"Extension {ext} créée.")
    return done


def drop_database(url: str) -> None:
    dbname = conninfo(url)["dbname"]
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(dbname)))


def create_database(url: str) -> None:
    """Create ``url``'s database (dropping an older one) with its extensions."""
    drop_database(url)
    dbname = conninfo(url)["dbname"]
    with psycopg.connect(**conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    ensure_database(url, local=False)


# Tables that belong to PostGIS and its extensions, not to our models.
EXTENSION_TABLES = frozenset({"spatial_ref_sys", "topology", "layer"})


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic filter: our objects only, spatial columns and indexes as GeoAlchemy2 sees them."""
    from geoalchemy2 import alembic_helpers

    if type_ == "table" and name in EXTENSION_TABLES:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
