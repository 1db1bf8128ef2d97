"""The audit journal: one row appended per write, never updated nor deleted (a trigger
refuses it in PostgreSQL). A venue's history is its journal rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.spreadsheet import neutralise_cell

from .models import ROLE_LABELS_FR, JournalEntry


@dataclass(frozen=True)
class Actor:
    """Who writes: a person acting in a role, a machine's token, or the command line."""

    channel: str  # web | api | cli
    person_id: int | None = None
    role: str | None = None

    @property
    def label_fr(self) -> str:
        if self.role:
            return ROLE_LABELS_FR.get(self.role, self.role)
        return {"cli": "ligne de commande", "api": "jeton d'API"}.get(self.channel, "inconnu")


CLI = Actor("cli")


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def append(session: Session, actor: Actor, action: str, now: dt.datetime, *,
           object_type: str | None = None, object_id: object = None,
           lieu_id: int | None = None, before: dict | None = None,
           after: dict | None = None) -> JournalEntry:
    entry = JournalEntry(at=now, person_id=actor.person_id, actor_role=actor.role,
                         channel=actor.channel, action=action, object_type=object_type,
                         object_id=None if object_id is None else str(object_id),
                         lieu_id=lieu_id, before=_jsonable(before), after=_jsonable(after))
    session.add(entry)
    session.flush()
    return entry


def venue_history(session: Session, lieu_id: int, limit: int = 200) -> list[JournalEntry]:
    return list(session.scalars(
        select(JournalEntry).where(JournalEntry.lieu_id == lieu_id)
        .order_by(JournalEntry.at.desc(), JournalEntry.id.desc()).limit(limit)))


def changes(entry: JournalEntry) -> list[tuple[str, object, object]]:
    """(field, before, after) for each field that differs."""
    before, after = entry.before or {}, entry.after or {}
    return [(k, before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)]


def entries(session: Session, *, since: dt.datetime | None = None,
            lieu_id: int | None = None, limit: int = 500,
            before_id: int | None = None) -> list[JournalEntry]:
    query = select(JournalEntry).order_by(JournalEntry.id.desc()).limit(limit)
    if since is not None:
        query = query.where(JournalEntry.at >= since)
    if lieu_id is not None:
        query = query.where(JournalEntry.lieu_id == lieu_id)
    if before_id is not None:
        query = query.where(JournalEntry.id < before_id)
    return list(session.scalars(query))


CSV_HEADER = ("id", "date", "canal", "personne", "rôle", "action", "objet", "identifiant",
              "lieu", "avant", "après")


def write_csv(rows: Iterable[JournalEntry], out: io.TextIOBase) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for e in rows:
        writer.writerow([e.id, e.at.isoformat(), e.channel, e.person_id or "",
                         ROLE_LABELS_FR.get(e.actor_role or "", ""), neutralise_cell(e.action),
                         e.object_type or "", neutralise_cell(e.object_id or ""),
                         e.lieu_id or "",
                         neutralise_cell(json.dumps(e.before, ensure_ascii=False))
                         if e.before is not None else "",
                         neutralise_cell(json.dumps(e.after, ensure_ascii=False))
                         if e.after is not None else ""])
        count += 1
    return count
