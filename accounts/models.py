"""People, their roles, sign-in sessions, one-time links, API tokens, claims, acceptance
requests and the append-only audit journal.

Secrets (session cookies, one-time links, API tokens) are random 256-bit values: only their
SHA-256 is stored, so a copy of the database lets no one in. Passwords are argon2id hashes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db

# role -> what its scope designates (None: no scope)
ROLES: dict[str, str | None] = {
    "administrator": None,
    "programme_manager": "programme",  # programme.id
    "venue_manager": "venue",  # lieu.id
    "prescriber": "structure",  # the prescribing structure's SIRET or name
    "planner": "territory",  # "dep:33", "reg:75", "epci:…", "com:…" or "fr"
}
ROLE_LABELS_FR = {
    "administrator": "administrateur",
    "programme_manager": "gestionnaire de programme",
    "venue_manager": "gestionnaire du lieu",
    "prescriber": "prescripteur",
    "planner": "planificateur",
}
TOKEN_PURPOSES = ("signin", "reset", "invite", "claim")


def _now_column() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Person(db.Model):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Stored lower-cased; unique.
    email: Mapped[str] = mapped_column(Text, unique=True)
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id; NULL = link only
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"), default=False)
    created_at: Mapped[dt.datetime] = _now_column()

    roles: Mapped[list[RoleGrant]] = relationship(back_populates="person",
                                                  cascade="all, delete-orphan")

    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lower"),)


class RoleGrant(db.Model):
    """One role of a person, for one scope (a programme, a venue, a structure, a territory)."""

    __tablename__ = "role_grant"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           index=True)
    role: Mapped[str] = mapped_column(String(24))
    scope: Mapped[str] = mapped_column(Text, server_default=text("''"), default="")
    created_at: Mapped[dt.datetime] = _now_column()

    person: Mapped[Person] = relationship(back_populates="roles")

    __table_args__ = (
        UniqueConstraint("person_id", "role", "scope", name="uq_role_grant_person_id"),
        CheckConstraint("role IN ('administrator', 'programme_manager', 'venue_manager', "
                        "'prescriber', 'planner')", name="role_known"),
        CheckConstraint("(role = 'administrator') = (scope = '')", name="scope_given"),
        Index("ix_role_grant_role_scope", "role", "scope"),
    )


class LoginSession(db.Model):
    """A signed-in browser; the cookie carries the secret whose SHA-256 is ``token_hash``."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           index=True)
    method: Mapped[str] = mapped_column(String(16))  # password | link | invite | reset | oidc
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class OneTimeToken(db.Model):
    """A single-use link sent by e-mail: sign-in, password reset, invitation, claim."""

    __tablename__ = "one_time_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           index=True)
    claim_id: Mapped[int | None] = mapped_column(
        ForeignKey("venue_claim.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("purpose IN ('signin', 'reset', 'invite', 'claim')",
                        name="purpose_known"),
    )


class LoginAttempt(db.Model):
    """Sign-in attempts, for throttling per account and per address (kept one day)."""

    __tablename__ = "login_attempt"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # SHA-256 of the lower-cased e-mail typed (the account need not exist).
    account_key: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(Text)
    success: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_login_attempt_account_key_at", "account_key", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )


class ApiToken(db.Model):
    """A machine's token, scoped to an import source or a structure; shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # first characters, to recognise it
    scope_type: Mapped[str] = mapped_column(String(12))  # source | structure
    scope: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[dt.datetime] = _now_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("scope_type IN ('source', 'structure')", name="scope_type_known"),
    )


class VenueClaim(db.Model):
    """A person asks to manage an imported venue; confirmed by a link sent to the venue's
    public e-mail, or by a manager of a programme the venue accepts."""

    __tablename__ = "venue_claim"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"),
                                           index=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"),
                                         index=True)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"),
                                        default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'refused')", name="status_known"),
    )


class AcceptanceRequest(db.Model):
    """A venue asks to accept a programme; the programme's manager approves or refuses."""

    __tablename__ = "acceptance_request"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"),
                                         index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"),
                                              index=True)
    requested_by: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"),
                                        default="pending")
    reason: Mapped[str | None] = mapped_column(Text)  # the manager's reason (refusal)
    decided_by: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status_known"),
        CheckConstraint("status <> 'refused' OR reason IS NOT NULL", name="refusal_reason"),
        Index("ix_acceptance_request_pending", "lieu_id", "programme_id", unique=True,
              postgresql_where=text("status = 'pending'")),
    )


class JournalEntry(db.Model):
    """The audit journal: appended to on every write; a trigger refuses UPDATE, DELETE and
    TRUNCATE, so not even the application's own database role can rewrite history."""

    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Who: a person (id kept, never the name or e-mail), a token, or the command line.
    person_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor_role: Mapped[str | None] = mapped_column(String(24))  # the role acted as
    channel: Mapped[str] = mapped_column(String(4))  # web | api | cli
    action: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str | None] = mapped_column(Text)
    object_id: Mapped[str | None] = mapped_column(Text)
    lieu_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)

    __table_args__ = (
        CheckConstraint("channel IN ('web', 'api', 'cli')", name="channel_known"),
        Index("ix_journal_lieu_id_at", "lieu_id", "at"),
        Index("ix_journal_at", "at"),
    )


__all__ = ["AcceptanceRequest", "ApiToken", "JournalEntry", "LoginAttempt", "LoginSession",
           "OneTimeToken", "Person", "RoleGrant", "VenueClaim"]

