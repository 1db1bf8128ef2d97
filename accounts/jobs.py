"""Work of this package run by the background worker (core/jobs.py): a source's file
posted to the API, imported by the same importer as ``flask directory import``; the
reminders to confirm a venue's data (``accounts.remind``, every
``PASSERELLE_CONFIRM_REMIND_EVERY_S``, a day: the worker's scheduler enqueues it, no cron),
the same as ``flask accounts remind``."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from flask import current_app

from core import clock, jobs
from extensions import db

from . import journal


def import_file(params: dict[str, Any]) -> dict[str, Any]:
    """Import the file of ``params`` (as posted: source, format, content in base64, complete
    snapshot or not, the token's label) and journal it; the summary is the job's result.
    Idempotent: the importer writes nothing for a file already imported."""
    from directory.importer.service import ImportFailed, run_import

    source, fmt = params["source"], params["format"]
    jobs.progress(0, 1, "import du fichier")
    try:
        outcome = run_import(db.engine, f"api.{fmt}", source, fmt=fmt,
                             data=base64.b64decode(params["content"]),
                             complete_snapshot=params["complete_snapshot"],
                             geocoder=current_app.extensions.get("geocoder"),
                             today=dt.date.fromisoformat(params["today"]),
                             by_user=params["by"])
    except ImportFailed as exc:
        return {"source": source, "ecrit": False, "message": f"Fichier illisible : {exc}.",
                "problemes": []}
    result = outcome.write
    summary = {
        "source": source, "ecrit": outcome.written, "lignes_lues": outcome.rows_read,
        "valides": outcome.valid, "rejetees": outcome.rejected,
        "crees": result.inserted if result else 0, "mis_a_jour": result.updated if result else 0,
        "inchanges": result.unchanged if result else 0, "fermes": result.closed if result else 0,
        "problemes": [{"ligne": p.line, "identifiant": p.source_id, "champ": p.field,
                       "niveau": p.level, "motif": p.reason}
                      for p in outcome.report.sorted()[:1000]],
    }
    journal.append(db.session, journal.Actor("api"), "import par l'API", clock.now(),
                   object_type="source", object_id=source,
                   after={k: v for k, v in summary.items() if k != "problemes"})
    db.session.commit()
    jobs.progress(1, 1, "terminé")
    return summary


def remind(params: dict[str, Any]) -> dict[str, int]:
    """The reminders of the period (idempotent: a venue is reminded at most once a month)."""
    from .commands import run_remind

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    due, sent = run_remind(app, app.config["PASSERELLE_CONFIRM_AFTER_MONTHS"])
    return {"lieux": due, "rappels": sent}


def init_app() -> None:
    jobs.register("accounts.import", import_file, "Import du fichier d'une source (API)")
    jobs.register("accounts.remind", remind, "Rappels de confirmation aux gestionnaires")
    jobs.every("accounts.remind", "PASSERELLE_CONFIRM_REMIND_EVERY_S")
