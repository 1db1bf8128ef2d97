"""Fields of a venue edited by its manager, and the import hook that keeps them.

A manager's edit wins over the next import of the venue's source: the importer calls
:func:`keep_edited_fields` on its staging table just before merging, which puts the edited
values back into the staged rows and reports each difference (imported vs edited) as a
``conflit`` line of the import report, for a data steward to settle. The table is
written by the self-service pages (accounts) and read here: directory never imports accounts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, String, UniqueConstraint, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, mapped_column

from extensions import db

from .importer.report import CONFLICT, Problem

# edited field -> the lieu columns it stands for (the first one is compared and reported)
EDITABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "horaires": ("horaires", "horaires_osm", "horaires_valides", "opening_week"),
    "status": ("status",),
    "telephone": ("telephone",),
    "courriels": ("courriels",),
    "site_web": ("site_web",),
    "prise_rdv": ("prise_rdv",),
    "presentation_resume": ("presentation_resume",),
}
FIELD_LABELS_FR = {
    "horaires": "horaires", "status": "statut (ouvert, fermé)", "telephone": "téléphone",
    "courriels": "courriels", "site_web": "site web", "prise_rdv": "prise de rendez-vous",
    "presentation_resume": "présentation",
}


class VenueEditedField(db.Model):
    """A field of a venue last set by its manager rather than by an import."""

    __tablename__ = "lieu_edited_field"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(32))
    edited_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("lieu_id", "field", name="uq_lieu_edited_field_lieu_id"),)


def mark_edited(session: Session, lieu_id: int, field: str, at: dt.datetime) -> None:
    if field not in EDITABLE_FIELDS:
        raise ValueError(f"unknown editable field {field!r}")
    session.execute(text("""
        INSERT INTO lieu_edited_field (lieu_id, field, edited_at) VALUES (:l, :f, :at)
        ON CONFLICT ON CONSTRAINT uq_lieu_edited_field_lieu_id DO UPDATE SET edited_at = :at"""),
        {"l": lieu_id, "f": field, "at": at})


def _show(value) -> str:
    if value is None:
        return "(vide)"
    if isinstance(value, list):
        return " | ".join(value) or "(vide)"
    return str(value)


def keep_edited_fields(connection: Connection, source: str) -> list[Problem]:
    """Restore edited values in the staging table ``import_lieu`` and report conflicts.

    A conflict is reported when the source sends something new: a row staged again with
    the digest already stored (the geography completed it, nothing changed) restores the
    edit silently, so an unchanged re-import reports nothing.

    Plugs into ``directory.importer.writer.write`` after staging and before ``_merge``.
    """
    problems: list[Problem] = []
    for name, columns in EDITABLE_FIELDS.items():
        first = columns[0]
        join = """FROM lieu l JOIN lieu_edited_field e ON e.lieu_id = l.id AND e.field = :f
                  WHERE l.source = :s AND l.source_id = s.source_id"""
        rows = connection.execute(text(f"""
            SELECT s.line, s.source_id, s.{first} AS imported, l.{first} AS edited
            FROM import_lieu s, lieu l JOIN lieu_edited_field e
                 ON e.lieu_id = l.id AND e.field = :f
            WHERE l.source = :s AND l.source_id = s.source_id
              AND s.{first}::text IS DISTINCT FROM l.{first}::text
              AND s.content_hash IS DISTINCT FROM l.content_hash
            ORDER BY s.line"""), {"f": name, "s": source}).all()
        for line, source_id, imported, edited in rows:
            problems.append(Problem(
                line, first,
                f"{FIELD_LABELS_FR[name]} : valeur importée « {_show(imported)} » non "
                f"appliquée, le gestionnaire du lieu l'a modifiée (« {_show(edited)} »)",
                CONFLICT, source_id))
        if rows:
            sets = ", ".join(
                f"{c} = l.{c}::text" if c == "opening_week" else f"{c} = l.{c}"
                for c in columns)
            connection.execute(text(f"UPDATE import_lieu s SET {sets} {join}"),
                               {"f": name, "s": source})
    return problems
