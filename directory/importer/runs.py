"""Import runs: who imported what (file digest, counts, report), and how to undo it.

Every import that reaches the database records a run (``import_run``). A run that wrote
keeps the *before-image* of every venue it touched (``import_run_row``: the whole row as
JSON, or nothing for a venue it created) and the acceptances it created, so that
``directory import undo RUN`` puts back exactly what was there: created venues deleted,
updated or closed venues restored, acceptances removed — in one transaction. A run is not
undone when a later run touched the same venues (its own before-images would be lost),
unless forced.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

RUN_STATUSES = ("written", "rejected", "dry_run", "undone")
STATUS_FR = {"written": "écrit", "rejected": "rejeté", "dry_run": "simulation",
             "undone": "annulé"}


class ImportRun(db.Model):
    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(Text, index=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    by_user: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    file_digest: Mapped[str | None] = mapped_column(String(64))
    format: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    counts: Mapped[dict] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    report: Mapped[str | None] = mapped_column(Text)  # the CSV report
    acceptance_ids: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), server_default=text("'{}'::bigint[]"))
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('written', 'rejected', 'dry_run', 'undone')",
                        name="status_known"),
    )


class ImportRunRow(db.Model):
    __tablename__ = "import_run_row"

    run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id", ondelete="CASCADE"),
                                        primary_key=True)
    source_id: Mapped[str] = mapped_column(Text, primary_key=True)
    lieu_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(10))  # inserted | updated | closed
    before: Mapped[dict | None] = mapped_column(JSONB)  # NULL for a venue the run created

    __table_args__ = (
        CheckConstraint("action IN ('inserted', 'updated', 'closed')", name="action_known"),
        Index("ix_import_run_row_source_id", "source_id"),
    )


class UndoRefused(Exception):
    """French message: why the run cannot be undone."""


def current_user(given: str | None = None) -> str:
    if given and given.strip():
        return given.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "inconnu"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start(connection: Connection, *, source: str, by_user: str, location: str | None,
          file_digest: str | None, fmt: str | None, status: str = "written") -> int:
    return connection.execute(text("""
        INSERT INTO import_run (source, by_user, location, file_digest, format, status)
        VALUES (:source, :by, :location, :digest, :fmt, :status) RETURNING id"""),
        {"source": source, "by": by_user, "location": location, "digest": file_digest,
         "fmt": fmt, "status": status}).scalar_one()


def finish(connection: Connection, run_id: int, *, counts: dict[str, Any], report: str,
           status: str | None = None, acceptance_ids: list[int] | None = None) -> None:
    connection.execute(text("""
        UPDATE import_run SET counts = CAST(:counts AS jsonb), report = :report,
               status = COALESCE(:status, status),
               acceptance_ids = COALESCE(CAST(:acc AS bigint[]), acceptance_ids)
        WHERE id = :id"""),
        {"counts": json.dumps(counts), "report": report, "status": status,
         "acc": acceptance_ids, "id": run_id})


# The row as it was, geometry as EWKT text (read back by jsonb_populate_record).
BEFORE_IMAGE_SQL = ("(to_jsonb(l) - 'geom' - 'geog' - 'search_vector' || "
                    "jsonb_build_object('geom', ST_AsEWKT(l.geom)))")


def capture_staged(connection: Connection, run_id: int, source: str) -> None:
    """Before-images of the staged rows the merge will insert or change."""
    connection.execute(text(f"""
        INSERT INTO import_run_row (run_id, source_id, lieu_id, action, before)
        SELECT :run, t.source_id, l.id,
               CASE WHEN l.id IS NULL THEN 'inserted' ELSE 'updated' END,
               CASE WHEN l.id IS NULL THEN NULL ELSE {BEFORE_IMAGE_SQL} END
        FROM import_lieu t
        LEFT JOIN lieu l ON l.source = :source AND l.source_id = t.source_id
        WHERE l.content_hash IS DISTINCT FROM t.content_hash
        ON CONFLICT DO NOTHING"""), {"run": run_id, "source": source})


def capture_closing(connection: Connection, run_id: int, source: str,
                    present_ids: list[str]) -> None:
    connection.execute(text(f"""
        INSERT INTO import_run_row (run_id, source_id, lieu_id, action, before)
        SELECT :run, l.source_id, l.id, 'closed', {BEFORE_IMAGE_SQL}
        FROM lieu l WHERE l.source = :source AND l.status <> 'closed'
          AND NOT (l.source_id = ANY(:ids))
        ON CONFLICT DO NOTHING"""), {"run": run_id, "source": source, "ids": present_ids})


@dataclass
class RunLine:
    id: int
    source: str
    started_at: dt.datetime
    by_user: str
    status: str
    file_digest: str | None
    counts: dict
    rows: int
    location: str | None


def list_runs(connection: Connection, source: str | None = None,
              limit: int = 50) -> list[RunLine]:
    rows = connection.execute(text("""
        SELECT r.id, r.source, r.started_at, r.by_user, r.status, r.file_digest, r.counts,
               (SELECT count(*) FROM import_run_row w WHERE w.run_id = r.id), r.location
        FROM import_run r
        WHERE CAST(:source AS text) IS NULL OR r.source = :source
        ORDER BY r.id DESC LIMIT :limit"""), {"source": source, "limit": limit}).all()
    return [RunLine(*row) for row in rows]


def _writable_columns(connection: Connection) -> list[str]:
    return list(connection.execute(text("""
        SELECT column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'lieu'
          AND is_generated = 'NEVER' AND column_name <> 'id'
        ORDER BY ordinal_position""")).scalars())


@dataclass
class UndoResult:
    deleted: int = 0
    restored: int = 0
    acceptances: int = 0


def undo(connection: Connection, run_id: int, *, by_user: str,
         force: bool = False) -> UndoResult:
    """Put back every row the run touched, inside the caller's transaction."""
    run = connection.execute(text(
        "SELECT id, source, status FROM import_run WHERE id = :id FOR UPDATE"),
        {"id": run_id}).one_or_none()
    if run is None:
        raise UndoRefused(f"import n° {run_id} introuvable (voir « directory import runs »)")
    if run.status == "undone":
        raise UndoRefused(f"l'import n° {run_id} a déjà été annulé")
    if run.status != "written":
        raise UndoRefused(f"l'import n° {run_id} n'a rien écrit (statut "
                          f"{STATUS_FR.get(run.status, run.status)}) : rien à annuler")
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('import:' || :s))"),
                       {"s": run.source})
    later = connection.execute(text("""
        SELECT r.id, count(*) FROM import_run r
        JOIN import_run_row w ON w.run_id = r.id
        JOIN import_run_row mine ON mine.run_id = :id AND mine.source_id = w.source_id
        WHERE r.id > :id AND r.source = :source AND r.status = 'written'
        GROUP BY r.id ORDER BY r.id"""), {"id": run_id, "source": run.source}).all()
    if later and not force:
        listing = ", ".join(f"n° {r} ({n} lieu(x))" for r, n in later)
        raise UndoRefused(f"des imports plus récents ont modifié les mêmes lieux ({listing}) : "
                          "annulez-les d'abord, ou forcez avec --force (leurs changements "
                          "sur ces lieux seront perdus)")
    result = UndoResult()
    acceptance_ids = connection.execute(text(
        "SELECT acceptance_ids FROM import_run WHERE id = :id"), {"id": run_id}).scalar()
    if acceptance_ids:
        result.acceptances = connection.execute(text(
            "DELETE FROM acceptation WHERE id = ANY(:ids)"), {"ids": acceptance_ids}).rowcount
    result.deleted = connection.execute(text("""
        DELETE FROM lieu l USING import_run_row w
        WHERE w.run_id = :id AND w.action = 'inserted'
          AND l.source = :source AND l.source_id = w.source_id"""),
        {"id": run_id, "source": run.source}).rowcount
    columns = _writable_columns(connection)
    listed = ", ".join(columns)
    result.restored = connection.execute(text(f"""
        UPDATE lieu l SET ({listed}) = (
            SELECT {listed} FROM jsonb_populate_record(NULL::lieu, w.before))
        FROM import_run_row w
        WHERE w.run_id = :id AND w.action <> 'inserted' AND w.lieu_id = l.id"""),
        {"id": run_id}).rowcount
    connection.execute(text("""
        UPDATE import_run SET status = 'undone', undone_at = now(), undone_by = :by
        WHERE id = :id"""), {"id": run_id, "by": by_user})
    return result
