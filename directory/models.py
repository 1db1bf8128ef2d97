"""The catalogue: venues (lieux), their stops, offers and sessions, voucher programmes and
their acceptance by venues.

Column names of the national standard "Lieux de médiation numérique" v1.0.2 keep their French
names; everything we add has an English name. The full description, with the conventions
other modules rely on, is in docs/CATALOGUE.md and the README.

Conventions:
- ``|``-list fields of the standard are ``text[]`` (never NULL, ``{}`` when empty).
- ``opening_week`` is an ``int4multirange`` of minutes of the week in the venue's local
  time, ``[start, end)`` with 0 = Monday 00:00 and 10080 = the next Monday 00:00.
- ``geom`` is a Point in EPSG:4326; ``geog`` is the same point as a stored generated
  ``geography`` column with its own GiST index, for distances in metres (ST_DWithin, <->).
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4MULTIRANGE, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db

from .vocabulary import french_area_check_sql

# Generated columns: the text must be what PostgreSQL gives back, modulo spaces and
# parentheses, or the models == migrations check would see a difference.
GEOGRAPHY_OF_GEOM = "(geom)::geography"
SEARCH_VECTOR = (
    "((setweight(to_tsvector('french'::regconfig, COALESCE(nom, ''::text)), 'A'::\"char\") || "
    "setweight(to_tsvector('french'::regconfig, COALESCE(commune, ''::text)), 'B'::\"char\")) || "
    "setweight(to_tsvector('french'::regconfig, COALESCE(presentation_resume, ''::text)), "
    "'C'::\"char\")) || "
    "setweight(to_tsvector('french'::regconfig, COALESCE(presentation_detail, ''::text)), "
    "'D'::\"char\")"
)


def _text_list(**kwargs) -> Mapped[list[str]]:
    """A ``|``-list of the standard: text[], never NULL."""
    return mapped_column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]"),
                         default=list, **kwargs)


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now(),
                         onupdate=func.now())


class Venue(db.Model):
    """A digital-inclusion venue (``lieu``), one row per (source, source_id)."""

    __tablename__ = "lieu"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # The stable import key: which import source (e.g. "demo", "charente", "cartographie
    # nationale") and the standard's `id` within it.
    source: Mapped[str] = mapped_column(Text)
    source_id: Mapped[str] = mapped_column(Text)

    # --- Fields of the standard v1.0.2, same names --------------------------------------
    pivot: Mapped[str | None] = mapped_column(Text)  # SIRET, RNA or RIDET
    nom: Mapped[str] = mapped_column(Text)
    commune: Mapped[str] = mapped_column(Text)
    code_postal: Mapped[str | None] = mapped_column(String(5))
    code_insee: Mapped[str | None] = mapped_column(String(5), index=True)
    adresse: Mapped[str | None] = mapped_column(Text)
    complement_adresse: Mapped[str | None] = mapped_column(Text)
    # latitude/longitude of the standard are stored as geom (see below).
    typologie: Mapped[list[str]] = _text_list()
    telephone: Mapped[list[str]] = _text_list()
    courriels: Mapped[list[str]] = _text_list()
    site_web: Mapped[list[str]] = _text_list()
    # The standard's `horaires` exactly as received (valid OSM or free text); see also
    # horaires_osm, horaires_valides and opening_week.
    horaires: Mapped[str | None] = mapped_column(Text)
    presentation_resume: Mapped[str | None] = mapped_column(Text)
    presentation_detail: Mapped[str | None] = mapped_column(Text)
    # The standard's own `source` field (who produced the data); renamed because `source`
    # is our import source. Exported back as `source`.
    source_donnees: Mapped[str | None] = mapped_column(Text)
    itinerance: Mapped[list[str]] = _text_list()
    structure_parente: Mapped[str | None] = mapped_column(Text)
    date_maj: Mapped[dt.date | None] = mapped_column(Date)
    services: Mapped[list[str]] = _text_list()
    publics_specifiquement_adresses: Mapped[list[str]] = _text_list()
    prise_en_charge_specifique: Mapped[list[str]] = _text_list()
    frais_a_charge: Mapped[list[str]] = _text_list()
    dispositif_programmes_nationaux: Mapped[list[str]] = _text_list()
    formations_labels: Mapped[list[str]] = _text_list()
    autres_formations_labels: Mapped[list[str]] = _text_list()
    modalites_acces: Mapped[list[str]] = _text_list()
    modalites_accompagnement: Mapped[list[str]] = _text_list()
    fiche_acces_libre: Mapped[str | None] = mapped_column(Text)
    prise_rdv: Mapped[str | None] = mapped_column(Text)
    # What the venue says it teaches, in codes of vocabulary.TOPICS: its v0.1 services, or
    # what its presentation names under one of its services (importer). Answers a topic
    # only while the venue lists no active offer (directory.rules.topic_answer).
    topics: Mapped[list[str]] = _text_list()

    # --- Location -----------------------------------------------------------------------
    # NULL only when no position could be found (then the venue is flagged and unmatchable).
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=True), nullable=True)
    geog = mapped_column(Geography("POINT", 4326, spatial_index=True),
                         Computed(GEOGRAPHY_OF_GEOM, persisted=True), nullable=True)
    # address | commune | postal_code: how precisely geom locates the venue.
    location_precision: Mapped[str | None] = mapped_column(String(16))
    # Import warnings: a JSON list of {"code": ..., "message": ..., "field": ...}.
    flags: Mapped[list] = mapped_column(JSONB, nullable=False,
                                        server_default=text("'[]'::jsonb"), default=list)

    # --- Normalised opening hours --------------------------------------------------------
    # The validated OSM opening_hours string (normalised), NULL when missing or invalid.
    horaires_osm: Mapped[str | None] = mapped_column(Text)
    horaires_valides: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                   server_default=text("false"), default=False)
    # Minutes of the week, local time, [start, end), 0 = Monday 00:00.
    opening_week = mapped_column(INT4MULTIRANGE, nullable=True)
    timezone: Mapped[str] = mapped_column(Text, server_default=text("'Europe/Paris'"),
                                          default="Europe/Paris")

    # --- Status and capacity -------------------------------------------------------------
    status: Mapped[str] = mapped_column(String(20), server_default=text("'open'"),
                                        default="open")
    closed_from: Mapped[dt.date | None] = mapped_column(Date)
    closed_until: Mapped[dt.date | None] = mapped_column(Date)
    closure_reason: Mapped[str | None] = mapped_column(Text)  # shown with the closure
    # Accompaniments per week; NULL = unknown.
    weekly_capacity: Mapped[int | None] = mapped_column(Integer)

    # --- Bookkeeping ----------------------------------------------------------------------
    # When a person responsible for the venue last confirmed its data, and in which role
    # (the role's French label, never a name): shown on the public page.
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_by_role: Mapped[str | None] = mapped_column(Text)
    # Hash of the imported content, so that an unchanged row is not rewritten.
    content_hash: Mapped[str | None] = mapped_column(Text)
    search_vector = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR, persisted=True),
                                  nullable=True)
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()

    stops: Mapped[list[VenueStop]] = relationship(
        back_populates="venue", cascade="all, delete-orphan", order_by="VenueStop.position")
    offers: Mapped[list[Offer]] = relationship(
        back_populates="venue", cascade="all, delete-orphan", order_by="Offer.id")
    acceptances: Mapped[list[Acceptance]] = relationship(
        back_populates="venue", cascade="all, delete-orphan")

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_lieu_source_source_id"),
        CheckConstraint(french_area_check_sql("geom"), name="geom_in_france"),
        CheckConstraint("status IN ('open', 'temporarily_closed', 'closed')",
                        name="status_known"),
        CheckConstraint("closed_until IS NULL OR closed_from IS NULL "
                        "OR closed_until >= closed_from", name="closure_dates_ordered"),
        CheckConstraint("weekly_capacity IS NULL OR weekly_capacity >= 0",
                        name="weekly_capacity_positive"),
        CheckConstraint("location_precision IS NULL OR location_precision IN "
                        "('address', 'commune', 'postal_code')",
                        name="location_precision_known"),
        CheckConstraint("horaires_valides = (horaires_osm IS NOT NULL)",
                        name="horaires_valides_consistent"),
        Index("ix_lieu_services", "services", postgresql_using="gin"),
        Index("ix_lieu_topics", "topics", postgresql_using="gin"),
        Index("ix_lieu_publics_specifiquement_adresses", "publics_specifiquement_adresses",
              postgresql_using="gin"),
        Index("ix_lieu_prise_en_charge_specifique", "prise_en_charge_specifique",
              postgresql_using="gin"),
        Index("ix_lieu_opening_week", "opening_week", postgresql_using="gist"),
        Index("ix_lieu_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_lieu_updated_at_id", "updated_at", "id"),
    )


class VenueStop(db.Model):
    """A stop of an itinerant venue (bus, van…): its own place and hours."""

    __tablename__ = "lieu_stop"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"), default=0)
    label: Mapped[str] = mapped_column(Text)
    code_insee: Mapped[str | None] = mapped_column(String(5), index=True)
    adresse: Mapped[str | None] = mapped_column(Text)
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=True), nullable=False)
    geog = mapped_column(Geography("POINT", 4326, spatial_index=True),
                         Computed(GEOGRAPHY_OF_GEOM, persisted=True), nullable=True)
    horaires: Mapped[str | None] = mapped_column(Text)
    horaires_osm: Mapped[str | None] = mapped_column(Text)
    opening_week = mapped_column(INT4MULTIRANGE, nullable=True)

    venue: Mapped[Venue] = relationship(back_populates="stops")

    __table_args__ = (
        CheckConstraint(french_area_check_sql("geom"), name="geom_in_france"),
        Index("ix_lieu_stop_opening_week", "opening_week", postgresql_using="gist"),
    )


class Offer(db.Model):
    """A training offer of a venue (``offre``)."""

    __tablename__ = "offre"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"), index=True)
    # The offer's identifier in its import file, unique within the venue.
    code: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text, index=True)  # a value of vocabulary.SERVICES
    # What one learns there: codes of vocabulary.TOPICS (data·inclusion's thematiques), each
    # under one service; a venue with active offers answers a topic only through one.
    topics: Mapped[list[str]] = _text_list()
    level: Mapped[int | None] = mapped_column(SmallInteger)  # 1..3, NULL = any level
    format: Mapped[str] = mapped_column(String(12))  # vocabulary.OFFER_FORMATS
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    # Cheques a beneficiary gives for it (0 = free, no cheque needed).
    cheques_required: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"),
                                                  default=1)
    languages: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, server_default=text("'{fr}'::text[]"),
        default=lambda: ["fr"])
    publics: Mapped[list[str]] = _text_list()
    # Recurring schedule (OSM opening_hours string) and its minutes of the week.
    horaires: Mapped[str | None] = mapped_column(Text)
    opening_week = mapped_column(INT4MULTIRANGE, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"), default=True)
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()

    venue: Mapped[Venue] = relationship(back_populates="offers")
    sessions: Mapped[list[TrainingSession]] = relationship(
        back_populates="offer", cascade="all, delete-orphan",
        order_by="TrainingSession.starts_at")

    __table_args__ = (
        UniqueConstraint("lieu_id", "code", name="uq_offre_lieu_id_code"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 3", name="level_range"),
        CheckConstraint("format IN ('individual', 'collective', 'remote', 'autonomous')",
                        name="format_known"),
        CheckConstraint("duration_minutes IS NULL OR duration_minutes > 0",
                        name="duration_positive"),
        CheckConstraint("cheques_required >= 0", name="cheques_required_positive"),
        Index("ix_offre_opening_week", "opening_week", postgresql_using="gist"),
        Index("ix_offre_topics", "topics", postgresql_using="gin"),
        # Remote offers are listed apart from any distance: found without a table scan.
        Index("ix_offre_remote_service", "service",
              postgresql_where=text("format = 'remote' AND active")),
    )


class TrainingSession(db.Model):
    """A dated session of an offer (``seance``), with seats."""

    __tablename__ = "seance"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    offre_id: Mapped[int] = mapped_column(ForeignKey("offre.id", ondelete="CASCADE"))
    # For an itinerant venue: the stop where the session takes place.
    stop_id: Mapped[int | None] = mapped_column(
        ForeignKey("lieu_stop.id", ondelete="SET NULL"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    seats: Mapped[int] = mapped_column(Integer)
    seats_taken: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)

    offer: Mapped[Offer] = relationship(back_populates="sessions")

    __table_args__ = (
        UniqueConstraint("offre_id", "starts_at", name="uq_seance_offre_id_starts_at"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("seats > 0", name="seats_positive"),
        CheckConstraint("seats_taken BETWEEN 0 AND seats", name="seats_taken_range"),
    )


class Programme(db.Model):
    """A voucher programme (a funder's deployment of a pass)."""

    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stable public identifier, lower-case slug (e.g. "pass-numerique-gironde").
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str | None] = mapped_column(Text)  # émetteur des chèques
    funder: Mapped[str | None] = mapped_column(Text)  # commanditaire / financeur
    description: Mapped[str | None] = mapped_column(Text)
    # Territory codes: "fr" (all of France), "reg:75", "dep:33", "epci:243300316",
    # "com:33063".
    perimeter_codes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # Union of the territories' polygons, computed at create/update; NULL for "fr".
    perimeter = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True),
                              nullable=True)
    # INSEE codes of the communes in the perimeter, computed with it; empty for "fr".
    perimeter_communes: Mapped[list[str]] = _text_list()
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)  # inclusive; NULL = open-ended
    eligible_publics: Mapped[list[str]] = _text_list()  # empty = everyone
    allowed_services: Mapped[list[str]] = _text_list()  # empty = every service
    levels: Mapped[list[int]] = mapped_column(
        ARRAY(SmallInteger), nullable=False, server_default=text("'{1,2,3}'::smallint[]"),
        default=lambda: [1, 2, 3])
    cheque_value_cents: Mapped[int] = mapped_column(Integer, server_default=text("1000"),
                                                    default=1000)
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()

    acceptances: Mapped[list[Acceptance]] = relationship(
        back_populates="programme", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("cardinality(perimeter_codes) > 0", name="perimeter_not_empty"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="dates_ordered"),
        CheckConstraint("cheque_value_cents >= 0", name="cheque_value_positive"),
        Index("ix_programme_perimeter_communes", "perimeter_communes", postgresql_using="gin"),
    )


class Acceptance(db.Model):
    """A venue qualified for a programme (``acceptation``), with its dates and services."""

    __tablename__ = "acceptation"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"),
                                              index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    # Inclusive; NULL = until the programme ends. A revocation sets it to the day before
    # the revocation date (so it can be valid_from - 1: never valid).
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    services: Mapped[list[str]] = _text_list()  # empty = all the programme allows
    qualification_reference: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8), server_default=text("'manual'"),
                                        default="manual")  # import | manual | label
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()

    venue: Mapped[Venue] = relationship(back_populates="acceptances")
    programme: Mapped[Programme] = relationship(back_populates="acceptances")

    __table_args__ = (
        UniqueConstraint("lieu_id", "programme_id", name="uq_acceptation_lieu_id_programme_id"),
        CheckConstraint("source IN ('import', 'manual', 'label')", name="source_known"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from - 1",
                        name="dates_ordered"),
    )


class TopicService(db.Model):
    """Each topic of the vocabulary and its service (``directory.vocabulary.TOPICS``), for
    the database's own use: :class:`MatchPlace`'s refresh (a trigger) needs it. Written by
    the migrations; ``tests/directory/test_match_place.py`` fails when it differs from the
    vocabulary (a vocabulary change then needs a migration that rewrites it)."""

    __tablename__ = "topic_service"

    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    service: Mapped[str] = mapped_column(Text)


class MatchPlace(db.Model):
    """Where the matcher looks first: a superset, per programme and topic, of the venues (or
    stops of itinerant venues) that may answer it, with their point. Derived from ``lieu``,
    ``lieu_stop``, ``acceptation``, ``offre`` and ``topic_service`` and kept up to date by
    triggers on those tables (migration ``0013_match_place``): never written by the
    application.

    A row ``(programme, topic)`` exists for each place of a venue (a venue without stops, or
    each of its stops) not ``closed``, with an acceptance of the programme whatever its dates
    and services, and for ``topic`` = '' (any topic) or each topic the venue could answer
    (``directory.rules.answers_topic``, whatever the programme pays): one of its active
    offers', or, without an active offer, a declared one or one of a declared service. The
    rules are then checked exactly on the rows found (``matching.services``): the index
    only spares the search the venues that cannot answer, walked in distance order by the
    GiST index ``ix_match_place_knn`` (``btree_gist`` for the two keys)."""

    __tablename__ = "match_place"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programme.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(Text)
    lieu_id: Mapped[int] = mapped_column(ForeignKey("lieu.id", ondelete="CASCADE"), index=True)
    stop_id: Mapped[int | None] = mapped_column(ForeignKey("lieu_stop.id", ondelete="CASCADE"),
                                                index=True)
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=False)
    # The place's weekly opening and the venue's zone: the "open now" filter of the scan.
    opening_week = mapped_column(INT4MULTIRANGE, nullable=True)
    timezone: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_match_place_knn", "programme_id", "topic", "geom", postgresql_using="gist"),
    )


__all__ = ["Acceptance", "MatchPlace", "Offer", "Programme", "TopicService", "TrainingSession",
           "Venue", "VenueStop"]
