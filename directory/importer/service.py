"""One import, end to end: fetch, read, validate, write in one transaction (or roll back),
and record the run (who, file digest, counts, report, before-images for undo)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from directory.importer import mapping as mapping_module
from directory.importer import readers, runs, validate
from directory.importer.report import ERROR, INFO, Problem, Report, to_csv_text
from directory.importer.writer import (
    DEFAULT_MAX_CLOSURE_SHARE,
    ImportRejected,
    WriteResult,
    write,
)

MAX_FETCH_BYTES = 200 * 1024 * 1024
FETCH_TIMEOUT_S = 60
QUARANTINE_REASON = "motif_rejet"

# Columns that tell the two versions of the standard apart (their change log).
V0_MARKERS = {"courriel", "publics_accueillis", "conditions_acces", "labels_nationaux",
              "labels_autres", "cle_ban", "accessibilite"}
V1_MARKERS = {"courriels", "frais_a_charge", "dispositif_programmes_nationaux",
              "publics_specifiquement_adresses", "prise_en_charge_specifique",
              "formations_labels", "autres_formations_labels", "fiche_acces_libre",
              "modalites_acces", "itinerance"}


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
    format_note: str | None = None   # how the format was chosen
    run_id: int | None = None
    quarantined: int = 0
    programme: str | None = None

    @property
    def ok(self) -> bool:
        return self.written or (self.dry_run and self.write is not None)


def fetch(location: str) -> bytes:
    """A local path, or an http(s) URL (nothing else) read with a size cap and a timeout."""
    if location.startswith(("http://", "https://")):
        request = urllib.request.Request(location, headers={"User-Agent": "passerelle-import"})
        try:
            with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
                data = response.read(MAX_FETCH_BYTES + 1)
        except OSError as exc:  # URLError, HTTPError, timeouts
            code = getattr(exc, "code", None)
            why = f"réponse HTTP {code}" if code else "serveur injoignable ou trop lent"
            raise ImportFailed(f"téléchargement impossible de {location} ({why})") from exc
        if len(data) > MAX_FETCH_BYTES:
            raise ImportFailed(f"fichier distant trop gros (plus de "
                               f"{MAX_FETCH_BYTES // 1024 // 1024} Mo)")
        return data
    if "://" in location:
        raise ImportFailed("seules les adresses http:// et https:// sont acceptées")
    path = Path(location)
    if not path.is_file():
        raise ImportFailed(f"fichier introuvable : {location}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"fichier illisible : {location} ({exc.strerror})") from exc


def _columns_of(data: bytes, syntax: str) -> list[str]:
    """Column names of a CSV header or of the objects of a JSON array ([] if unreadable)."""
    try:
        text, _ = readers.decode(data)
        rows = readers.read_json(text) if syntax == "json" else list(readers.read_csv(text))
    except readers.ReadError:
        return []
    seen: dict[str, None] = {}
    if syntax == "csv" and not rows:
        first = text.split("\n", 1)[0]
        try:
            return next(csv.reader([first], delimiter=readers._detect_delimiter(first)))
        except readers.ReadError:
            return [first.strip()] if first.strip() else []
    for row in rows:
        for key in row.data:
            if key != "__extra_cells__":
                seen.setdefault(key, None)
    return list(seen)


def detect_format(location: str, data: bytes, fmt: str | None) -> tuple[str, str | None]:
    """The format given, or guessed from the content (JSON or CSV; v0.1 or v1 by the
    column names), with a French note saying why; a standard format given that the content
    contradicts is kept, with a warning in the note."""
    if fmt:
        if fmt in readers.FORMATS:
            detected, note = detect_format(location, data, None)
            if detected.split("-")[1] != fmt.split("-")[1] and "colonnes" in (note or ""):
                return fmt, (f"attention : --format {fmt} donné, mais le contenu ressemble "
                             f"à {detected} ({note.split('(', 1)[1]}")
        return fmt, None
    start = data.lstrip()[:1]
    syntax = "json" if start in (b"[", b"{") else "csv"
    if start == b"\xef":  # UTF-8 BOM
        syntax = "json" if data[3:].lstrip()[:1] in (b"[", b"{") else "csv"
    columns = set(_columns_of(data, syntax))
    v0, v1 = len(columns & V0_MARKERS), len(columns & V1_MARKERS)
    version = "v0" if v0 > v1 else "v1"
    detected = f"standard-{version}-{syntax}"
    markers = sorted(columns & (V0_MARKERS if version == "v0" else V1_MARKERS))[:3]
    why = f"colonnes {', '.join(markers)}" if markers else "aucune colonne propre à la v0.1"
    suffix = location.lower().rsplit(".", 1)[-1]
    if suffix in ("csv", "json") and suffix != syntax:
        why += f" ; contenu {syntax.upper()} malgré l'extension .{suffix}"
    return detected, f"format détecté d'après le contenu : {detected} ({why})"


def read_candidates(data: bytes, fmt: str) -> tuple[list[readers.Candidate], list,
                                                    mapping_module.Mapping | None]:
    try:
        if fmt.startswith("mapping:"):
            spec = mapping_module.load(fmt.split(":", 1)[1])
            candidates, problems = spec.read(data)
            return candidates, problems, spec
        if fmt not in readers.FORMATS:
            raise ImportFailed(f"format inconnu « {fmt} » (attendu : "
                               f"{', '.join(readers.FORMATS)} ou mapping:FICHIER)")
        candidates, problems = readers.read(data, fmt)
        return candidates, problems, None
    except (readers.ReadError, mapping_module.MappingError) as exc:
        raise ImportFailed(str(exc)) from exc


def _check_rows(data: bytes, fmt: str, candidates: list[readers.Candidate],
                spec: mapping_module.Mapping | None) -> None:
    """0 rows read, or a required column absent from the whole file: refused, naming the
    columns present (a wrong delimiter or a misspelt column, not 600 empty fields)."""
    syntax = spec.format if spec else fmt.rsplit("-", 1)[-1]
    if not candidates:
        present = _columns_of(data, syntax)
        listing = ", ".join(f"« {c} »" for c in present[:40]) or "aucune"
        skipped = (f" (toutes les lignes sont sans {', '.join(spec.skip_without)} : voir "
                   "[source] skip_rows_without)") if spec and spec.skip_without else ""
        raise ImportFailed(f"aucune ligne lue{skipped} ; colonnes présentes : {listing}. "
                           "Vérifiez le séparateur, le format et les noms de colonnes.")
    if spec is not None:
        return
    present = set()
    for candidate in candidates:
        present.update(k for k, v in candidate.values.items() if v not in (None, "", []))
    missing = [f for f in validate.REQUIRED if f not in present]
    if missing:
        columns = _columns_of(data, syntax)
        listing = ", ".join(f"« {c} »" for c in columns[:40]) or "aucune"
        raise ImportFailed(f"colonne(s) obligatoire(s) absente(s) ou vide(s) sur tout le "
                           f"fichier : {', '.join(missing)} ; colonnes présentes : "
                           f"{listing}. Vérifiez le séparateur et le format ({fmt}).")


def write_quarantine(path: str, data: bytes, fmt: str, spec: mapping_module.Mapping | None,
                     reasons: dict[int, str]) -> int:
    """The rejected rows, as they were in the file (same format), with a reason column."""
    syntax = spec.format if spec else fmt.rsplit("-", 1)[-1]
    text, _ = readers.decode(data)
    rows = readers.read_json(text) if syntax == "json" else list(readers.read_csv(
        text, spec.delimiter if spec else None))
    kept = [row for row in rows if row.line in reasons]
    with open(path, "w", encoding="utf-8", newline="") as out:
        if syntax == "json":
            items = [{**{k: v for k, v in row.data.items() if k != "__extra_cells__"},
                      QUARANTINE_REASON: reasons[row.line]} for row in kept]
            json.dump(items, out, ensure_ascii=False, indent=1)
        else:
            header = list(_columns_of(data, "csv"))
            delimiter = (spec.delimiter if spec and spec.delimiter
                         else readers._detect_delimiter(text.split("\n", 1)[0]))
            writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
            writer.writerow(header + [QUARANTINE_REASON])
            for row in kept:
                writer.writerow([row.data.get(h, "") for h in header] + [reasons[row.line]])
    return len(kept)


def run_import(engine: Engine, location: str, source: str, *, fmt: str | None = None,
               programme: str | None = None, dry_run: bool = False,
               complete_snapshot: bool = False, geocoder: Any | None = None,
               data: bytes | None = None, today: dt.date,
               skip_invalid: bool = False, quarantine: str | None = None,
               by_user: str | None = None, confirm_closures: int | None = None,
               max_closure_share: float = DEFAULT_MAX_CLOSURE_SHARE) -> ImportOutcome:
    started = time.perf_counter()
    source = (source or "").strip()
    if not source:
        raise ImportFailed("--source est obligatoire (nom stable de la source)")
    if data is None:
        data = fetch(location)
    fmt, note = detect_format(location, data, fmt)
    outcome = ImportOutcome(fmt=fmt, dry_run=dry_run, format_note=note)
    outcome.report.source = source
    if note:
        outcome.report.add(None, None, note, INFO)
    candidates, problems, spec = read_candidates(data, fmt)
    _check_rows(data, fmt, candidates, spec)
    if programme is None and spec is not None:
        programme = spec.acceptance_programme
    outcome.programme = programme
    outcome.report.extend(problems)
    checked = validate.validate(candidates, today=today)
    outcome.report.extend(checked.problems)
    outcome.rows_read, outcome.valid, outcome.rejected = (checked.rows_read,
                                                          len(checked.records), checked.rejected)
    present_ids = sorted({str(c.values["id"]).strip() for c in candidates
                          if c.values.get("id") not in (None, "")})
    user = runs.current_user(by_user)
    file_digest = runs.digest(data)
    records = checked.records
    if outcome.report.errors and not skip_invalid:
        _record_rejected(engine, outcome, source, user, location, file_digest)
        outcome.seconds = time.perf_counter() - started
        return outcome
    for _attempt in range(2):  # a second time only without rows the writer rejected
        connection = engine.connect()
        try:
            transaction = connection.begin()
            try:
                run_id = runs.start(connection, source=source, by_user=user,
                                    location=location, file_digest=file_digest, fmt=fmt,
                                    status="dry_run" if dry_run else "written")
                outcome.write = write(connection, source, records, programme=programme,
                                      complete_snapshot=complete_snapshot, geocoder=geocoder,
                                      today=today, run_id=run_id, present_ids=present_ids,
                                      confirm_closures=confirm_closures,
                                      max_closure_share=max_closure_share)
            except ImportRejected as exc:
                transaction.rollback()
                lines = {p.line for p in exc.problems if p.line is not None}
                outcome.report.extend(exc.problems)
                if skip_invalid and lines and all(p.line is not None for p in exc.problems):
                    records = [r for r in records if r.line not in lines]
                    outcome.rejected += len(lines)
                    outcome.valid = len(records)
                    continue
                outcome.rejected = max(outcome.rejected, len(lines))
                _record_rejected(engine, outcome, source, user, location, file_digest)
                outcome.seconds = time.perf_counter() - started
                return outcome
            except BaseException:
                transaction.rollback()
                raise
            outcome.report.extend(outcome.write.problems)
            if dry_run:
                transaction.rollback()
            else:
                runs.finish(connection, run_id, counts=_counts(outcome),
                            report=to_csv_text(outcome.report),
                            acceptance_ids=outcome.write.acceptance_ids)
                transaction.commit()
                outcome.written = True
                outcome.run_id = run_id
        finally:
            connection.close()
        break
    if quarantine and outcome.report.errors:
        reasons: dict[int, list[str]] = {}
        for problem in outcome.report.errors:
            if problem.line is not None:
                reasons.setdefault(problem.line, []).append(
                    f"{problem.field or 'ligne'} : {problem.reason}")
        outcome.quarantined = write_quarantine(quarantine, data, fmt, spec,
                                               {k: " ; ".join(v) for k, v in reasons.items()})
    outcome.seconds = time.perf_counter() - started
    return outcome


def _counts(outcome: ImportOutcome) -> dict[str, int]:
    counts = {"lues": outcome.rows_read, "valides": outcome.valid,
              "rejetees": outcome.rejected}
    if outcome.write is not None:
        w = outcome.write
        counts.update(creees=w.inserted, mises_a_jour=w.updated, inchangees=w.unchanged,
                      fermees=w.closed, acceptations=w.acceptances)
    return counts


def _record_rejected(engine: Engine, outcome: ImportOutcome, source: str, user: str,
                     location: str, file_digest: str) -> None:
    """A refused import is recorded too (with its report), in its own transaction."""
    if outcome.dry_run:
        return
    with engine.begin() as connection:
        outcome.run_id = runs.start(connection, source=source, by_user=user,
                                    location=location, file_digest=file_digest,
                                    fmt=outcome.fmt, status="rejected")
        runs.finish(connection, outcome.run_id, counts=_counts(outcome),
                    report=to_csv_text(outcome.report))


__all__ = ["ERROR", "ImportFailed", "ImportOutcome", "Problem", "run_import"]
