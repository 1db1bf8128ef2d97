"""One import, end to end: fetch, read, validate, write in one transaction (or roll back)."""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from directory.importer import mapping as mapping_module
from directory.importer import readers, validate
from directory.importer.report import Report
from directory.importer.writer import ImportRejected, WriteResult, write

MAX_FETCH_BYTES = 200 * 1024 * 1024
FETCH_TIMEOUT_S = 60


class ImportFailed(Exception):
    """The file cannot be imported at all (unreadable, bad mapping, bad source)."""


@dataclass
class ImportOutcome:
    fmt: str
    rows_read: int = 0
    valid: int = 0
    rejected: int = 0
    report: Report = field(default_factory=Report)
    write: WriteResult | None = None
    written: bool = False       # the transaction was committed
    dry_run: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.report.errors


def fetch(location: str) -> bytes:
    """A local path, or an http(s) URL (nothing else) read with a size cap and a timeout."""
    if location.startswith(("http://", "https://")):
        request = urllib.request.Request(location, headers={"User-Agent": "passerelle-import"})
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            data = response.read(MAX_FETCH_BYTES + 1)
        if len(data) > MAX_FETCH_BYTES:
            raise ImportFailed(f"fichier distant trop gros (plus de "
                               f"{MAX_FETCH_BYTES // 1024 // 1024} Mo)")
        return data
    if "://" in location:
        raise ImportFailed("seules les adresses http:// et https:// sont acceptées")
    path = Path(location)
    if not path.is_file():
        raise ImportFailed(f"fichier introuvable : {location}")
    return path.read_bytes()


def guess_format(location: str) -> str:
    suffix = location.lower().rsplit(".", 1)[-1]
    if suffix == "csv":
        return "standard-v1-csv"
    if suffix == "json":
        return "standard-v1-json"
    raise ImportFailed("format impossible à deviner : précisez --format")


def read_candidates(data: bytes, fmt: str) -> tuple[list[readers.Candidate], list]:
    try:
        if fmt.startswith("mapping:"):
            spec = mapping_module.load(fmt.split(":", 1)[1])
            return spec.read(data)
        if fmt not in readers.FORMATS:
            raise ImportFailed(f"format inconnu « {fmt} » (attendu : "
                               f"{', '.join(readers.FORMATS)} ou mapping:FICHIER)")
        return readers.read(data, fmt)
    except (readers.ReadError, mapping_module.MappingError) as exc:
        raise ImportFailed(str(exc)) from exc


def run_import(engine: Engine, location: str, source: str, *, fmt: str | None = None,
               programme: str | None = None, dry_run: bool = False,
               complete_snapshot: bool = False, geocoder: Any | None = None,
               data: bytes | None = None, today: dt.date) -> ImportOutcome:
    started = time.perf_counter()
    source = (source or "").strip()
    if not source:
        raise ImportFailed("--source est obligatoire (nom stable de la source)")
    fmt = fmt or guess_format(location)
    outcome = ImportOutcome(fmt=fmt, dry_run=dry_run)
    if data is None:
        data = fetch(location)
    candidates, problems = read_candidates(data, fmt)
    outcome.report.extend(problems)
    checked = validate.validate(candidates, today=today)
    outcome.report.extend(checked.problems)
    outcome.rows_read, outcome.valid, outcome.rejected = (checked.rows_read,
                                                          len(checked.records), checked.rejected)
    if outcome.report.errors:
        outcome.seconds = time.perf_counter() - started
        return outcome
    connection = engine.connect()
    try:
        transaction = connection.begin()
        try:
            outcome.write = write(connection, source, checked.records, programme=programme,
                                  complete_snapshot=complete_snapshot, geocoder=geocoder,
                                  today=today)
        except ImportRejected as exc:
            transaction.rollback()
            outcome.report.extend(exc.problems)
            outcome.rejected = len({p.line for p in exc.problems})
            outcome.seconds = time.perf_counter() - started
            return outcome
        except BaseException:
            transaction.rollback()
            raise
        outcome.report.extend(outcome.write.problems)
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
            outcome.written = True
    finally:
        connection.close()
    outcome.seconds = time.perf_counter() - started
    return outcome
