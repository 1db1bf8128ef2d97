"""Referrals (``orientation``): a prescriber sends a person to a venue, an offer or a
session; the venue answers (by signed link or its dashboard); the pass is honoured.

Personal data is confined to a few columns (``first_name``, ``contact_value``,
``availability``, ``note``) that the anonymisation job empties; the journal only ever
records states, ids and counts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db

CONTACT_KINDS = {"telephone": "téléphone", "courriel": "courriel", "sms": "SMS",
                 "prescripteur": "par le prescripteur (pas de contact direct)"}


class Referral(db.Model):
    __tablename__ = "orientation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    prescriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True)
    structure: Mapped[str] = mapped_column(Text, index=True)  # the prescriber's scope
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"), index=True)
    offre_id: Mapped[int | None] = mapped_column(ForeignKey("offre.id", ondelete="SET NULL"))
    seance_id: Mapped[int | None] = mapped_column(
        ForeignKey("seance.id", ondelete="SET NULL"), index=True)
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme.id", ondelete="SET NULL"), index=True)
    cheques_intended: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"),
                                                  default=0)
    # Personal data (emptied by anonymisation).
    first_name: Mapped[str | None] = mapped_column(Text)
    contact_kind: Mapped[str] = mapped_column(String(12))
    contact_value: Mapped[str | None] = mapped_column(Text)
    availability: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    # Consent: who recorded it, when, which text.
    consent_by: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    consent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    consent_version: Mapped[str] = mapped_column(String(16))

    state: Mapped[str] = mapped_column(String(10), server_default=text("'sent'"),
                                       default="sent")
    state_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    refusal_reason: Mapped[str | None] = mapped_column(String(16))
    refusal_text: Mapped[str | None] = mapped_column(Text)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cheques_honoured: Mapped[int | None] = mapped_column(SmallInteger)
    pass_numbers: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"), default=list)
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("state IN ('sent', 'accepted', 'refused', 'expired', 'attended', "
                        "'no_show', 'honoured')", name="state_known"),
        CheckConstraint("contact_kind IN ('telephone', 'courriel', 'sms', 'prescripteur')",
                        name="contact_kind_known"),
        CheckConstraint("state <> 'refused' OR refusal_reason IS NOT NULL",
                        name="refusal_reason_given"),
        CheckConstraint("cheques_intended >= 0", name="cheques_intended_positive"),
        CheckConstraint("cheques_honoured IS NULL OR cheques_honoured >= 0",
                        name="cheques_honoured_positive"),
        Index("ix_orientation_sent", "created_at", postgresql_where=text("state = 'sent'")),
    )


class ReferralLink(db.Model):
    """A signed link sent to the venue to answer one referral (8 days, used once)."""

    __tablename__ = "orientation_lien"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("orientation.id", ondelete="CASCADE"),
                                             index=True)
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    used_for: Mapped[str | None] = mapped_column(String(16))  # the action taken


__all__ = ["CONTACT_KINDS", "Referral", "ReferralLink"]
