"""The catalogue's rules, written once: is a venue open on a day, does it accept a programme
on a day, does a programme pay for an offer.

Each rule has two forms that must agree (``tests/directory/test_rules.py`` checks them
against real PostGIS rows over every combination of their inputs):

- ``*_sql``: a SQLAlchemy Core boolean expression over the columns of a FROM clause (the
  table, an alias, a sub-query or a CTE with the same column names), for queries that
  filter many rows; never NULL, so that ``NOT rule`` means what it says;
- the Python twin of the same name without ``_sql``, on loaded objects or row mappings
  (anything with the attributes, or a mapping with the keys).

The matcher, the cohort, coverage, the venue page and the venues API call these; a copy of
a rule elsewhere is a bug (three copies disagreed on ``open`` with ``closed_until`` in the
future: the page said closed, coverage left the venue out, the matcher recommended it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    Date,
    Text,
    and_,
    any_,
    case,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from .models import Acceptance, Offer, Programme, Venue
from .vocabulary import BY_DECLARED, BY_OFFER, BY_SERVICE, TOPIC_ANSWERS, TOPIC_BY_CODE, TOPICS

ALL_FRANCE = "fr"  # the perimeter code of a national programme

Day = dt.date | ColumnElement


def _day(day: Day) -> ColumnElement:
    return literal(day, Date) if isinstance(day, dt.date) else day


def _get(obj: Any, name: str) -> Any:
    if type(obj) is dict:  # the usual mapping, without the ABC check (hot in the matcher)
        return obj[name]
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def _columns(source) -> Any:
    """The column collection of a table, alias, sub-query or CTE; a mapped class's table."""
    if hasattr(source, "__table__"):
        source = source.__table__
    return source.c


# --------------------------------------------------------------------------- open on a day

def open_on_sql(day: Day, venue=Venue) -> ColumnElement[bool]:
    """The venue is open on ``day``: not ``closed``, and not inside a closure period.

    A closure period is set by the dates (either bound may be missing: from the beginning,
    until further notice) whatever the status says, or by ``temporarily_closed`` alone (no
    dates: closed until further notice). ``temporarily_closed`` with dates that do not
    contain the day is open on that day."""
    c = _columns(venue)
    d = _day(day)
    has_period = or_(c.status == "temporarily_closed", c.closed_from.is_not(None),
                     c.closed_until.is_not(None))
    inside = and_(or_(c.closed_from.is_(None), c.closed_from <= d),
                  or_(c.closed_until.is_(None), d <= c.closed_until))
    return and_(c.status != "closed", not_(and_(has_period, inside)))


def open_on(venue: Any, day: dt.date) -> bool:
    """Python twin of :func:`open_on_sql`."""
    status = _get(venue, "status")
    closed_from, closed_until = _get(venue, "closed_from"), _get(venue, "closed_until")
    if status == "closed":
        return False
    has_period = (status == "temporarily_closed" or closed_from is not None
                  or closed_until is not None)
    inside = ((closed_from is None or closed_from <= day)
              and (closed_until is None or day <= closed_until))
    return not (has_period and inside)


# --------------------------------------------------------------------------- accepts

def programme_valid_sql(day: Day, programme=Programme) -> ColumnElement[bool]:
    """The programme runs on ``day`` (``valid_to`` inclusive, NULL = open-ended)."""
    p = _columns(programme)
    d = _day(day)
    return and_(p.valid_from <= d, or_(p.valid_to.is_(None), d <= p.valid_to))


def programme_valid(programme: Any, day: dt.date) -> bool:
    """Python twin of :func:`programme_valid_sql`."""
    valid_to = _get(programme, "valid_to")
    return _get(programme, "valid_from") <= day and (valid_to is None or day <= valid_to)


def acceptance_valid_sql(day: Day, acceptance=Acceptance) -> ColumnElement[bool]:
    """The acceptance holds on ``day``: within its dates, and not revoked.

    A revocation (``directory.programmes.revoke``) ends the acceptance by setting
    ``valid_to`` to the day before it takes effect; ``revoked_at`` records when it was
    decided. A revoked row without an end date (written by hand) accepts nothing."""
    a = _columns(acceptance)
    d = _day(day)
    return and_(a.valid_from <= d, or_(a.valid_to.is_(None), d <= a.valid_to),
                or_(a.revoked_at.is_(None), a.valid_to.is_not(None)))


def acceptance_valid(acceptance: Any, day: dt.date) -> bool:
    """Python twin of :func:`acceptance_valid_sql`."""
    valid_to = _get(acceptance, "valid_to")
    return (_get(acceptance, "valid_from") <= day and (valid_to is None or day <= valid_to)
            and (_get(acceptance, "revoked_at") is None or valid_to is not None))


def in_perimeter_sql(programme, code_insee, geom) -> ColumnElement[bool]:
    """A place (its commune code, its point) lies in the programme's perimeter: a national
    programme covers everything; else the declared commune decides when there is one (the
    commune list computed with the perimeter), the point when there is none."""
    p = _columns(programme)
    local = case((code_insee.is_not(None), code_insee == any_(p.perimeter_communes)),
                 else_=func.ST_Covers(p.perimeter, geom))
    return or_(literal(ALL_FRANCE) == any_(p.perimeter_codes), func.coalesce(local, false()))


def is_national(programme: Any) -> bool:
    return ALL_FRANCE in (_get(programme, "perimeter_codes") or ())


def in_perimeter(programme: Any, code_insee: str | None,
                 lon_lat: tuple[float, float] | None) -> bool:
    """Python twin of :func:`in_perimeter_sql`; ``programme.perimeter`` a geometry element
    (as loaded) or a shapely geometry."""
    if is_national(programme):
        return True
    if code_insee is not None:
        return code_insee in (_get(programme, "perimeter_communes") or ())
    perimeter = _get(programme, "perimeter")
    if perimeter is None or lon_lat is None:
        return False
    from shapely.geometry import Point

    if not hasattr(perimeter, "covers"):
        from geoalchemy2.shape import to_shape

        perimeter = to_shape(perimeter)
    return bool(perimeter.covers(Point(*lon_lat)))


def accepts_sql(day: Day, acceptance=Acceptance, programme=Programme, *, code_insee=None,
                geom=None) -> ColumnElement[bool]:
    """The venue of ``acceptance`` accepts ``programme`` on ``day``: acceptance and programme
    valid, and the place (``code_insee``/``geom``, the venue's or a stop's) in the perimeter.
    The caller joins the acceptance to its venue and programme."""
    parts = [acceptance_valid_sql(day, acceptance), programme_valid_sql(day, programme)]
    if code_insee is not None or geom is not None:
        parts.append(in_perimeter_sql(programme,
                                      code_insee if code_insee is not None else literal(None),
                                      geom))
    return and_(*parts)


def accepts(acceptance: Any, programme: Any, day: dt.date, *, code_insee: str | None = None,
            lon_lat: tuple[float, float] | None = None, check_place: bool = True) -> bool:
    """Python twin of :func:`accepts_sql` (``check_place=False``: without the perimeter)."""
    return (acceptance_valid(acceptance, day) and programme_valid(programme, day)
            and (not check_place or in_perimeter(programme, code_insee, lon_lat)))


# --------------------------------------------------------------------------- offers

def offers_service_sql(service, venue=Venue, *, per_row: bool = False) -> ColumnElement[bool]:
    """The venue offers ``service``: declared in its ``services``, or through an active offer.

    ``per_row``: the offer's EXISTS ends with ``LIMIT 1 OFFSET 0``, which keeps it an index
    probe per row (PostgreSQL strips a constant ``LIMIT 1`` and may pull the sub-query up
    into a join over the whole offer table; ``OFFSET 0`` prevents it), for queries that look
    at a few rows (the matcher's candidates)."""
    v = _columns(venue)
    o = Offer.__table__.alias("o")
    probe = (select(literal_column("1"))
             .where(o.c.lieu_id == v.id, o.c.active, o.c.service == service)
             .correlate_except(o))
    if per_row:
        probe = probe.limit(literal_column("1")).offset(literal_column("0"))
    return or_(service == any_(v.services), exists(probe))


def offers_service(venue: Any, service: str, offers: Any = None) -> bool:
    """Python twin of :func:`offers_service_sql`; ``offers`` the venue's offers (default:
    ``venue.offers``, loaded)."""
    if service in (_get(venue, "services") or ()):
        return True
    offers = _get(venue, "offers") if offers is None else offers
    return any(_get(o, "active") and _get(o, "service") == service for o in offers)


# --------------------------------------------------------------------------- covers

def programme_allows_sql(service, programme=Programme) -> ColumnElement[bool]:
    """The programme pays for ``service`` (its ``allowed_services``; empty = all)."""
    p = _columns(programme)
    return or_(func.cardinality(p.allowed_services) == 0, service == any_(p.allowed_services))


def programme_allows(programme: Any, service: str) -> bool:
    """Python twin of :func:`programme_allows_sql`."""
    allowed = _get(programme, "allowed_services") or ()
    return not allowed or service in allowed


def acceptance_covers_sql(service, acceptance=Acceptance) -> ColumnElement[bool]:
    """The venue's qualification covers ``service`` (its ``services``; empty = all the
    programme allows)."""
    a = _columns(acceptance)
    return or_(func.cardinality(a.services) == 0, service == any_(a.services))


def acceptance_covers(acceptance: Any, service: str) -> bool:
    """Python twin of :func:`acceptance_covers_sql`; ``acceptance`` None = not accepted."""
    if acceptance is None:
        return False
    covered = _get(acceptance, "services") or ()
    return not covered or service in covered


def covers_service_sql(service, programme=Programme, acceptance=Acceptance
                       ) -> ColumnElement[bool]:
    """The programme pays for ``service`` at the venue of ``acceptance``: allowed by the
    programme and covered by the acceptance."""
    return and_(programme_allows_sql(service, programme),
                acceptance_covers_sql(service, acceptance))


def covers_service(programme: Any, acceptance: Any, service: str) -> bool:
    """Python twin of :func:`covers_service_sql`."""
    return programme_allows(programme, service) and acceptance_covers(acceptance, service)


def covers_sql(programme=Programme, acceptance=Acceptance, offer=Offer) -> ColumnElement[bool]:
    """The programme pays for the offer at its venue: its service (:func:`covers_service_sql`),
    its level (an offer for any level, NULL, is covered) and its publics (an offer for
    everyone, or a programme for everyone, is covered; else they must share one)."""
    p, o = _columns(programme), _columns(offer)
    return and_(
        covers_service_sql(o.service, programme, acceptance),
        or_(o.level.is_(None), func.cardinality(p.levels) == 0, o.level == any_(p.levels)),
        or_(func.cardinality(p.eligible_publics) == 0, func.cardinality(o.publics) == 0,
            p.eligible_publics.op("&&")(o.publics)),
    )


def covers(programme: Any, acceptance: Any, offer: Any) -> bool:
    """Python twin of :func:`covers_sql`."""
    if not covers_service(programme, acceptance, _get(offer, "service")):
        return False
    level = _get(offer, "level")
    levels = _get(programme, "levels") or ()
    if level is not None and levels and level not in levels:
        return False
    eligible = _get(programme, "eligible_publics") or ()
    publics = _get(offer, "publics") or ()
    return not eligible or not publics or bool(set(eligible) & set(publics))


# --------------------------------------------------------------------------- offers a topic

def _topics(topics) -> ColumnElement:
    """A text[] expression: a SQL expression as given, a Python list as a bound array."""
    if isinstance(topics, list | tuple):
        return literal(list(topics), ARRAY(Text))
    return topics


def offer_on_topic_sql(topics, offer=Offer) -> ColumnElement[bool]:
    """The offer is active and carries one of ``topics`` (a text[]: ``&&`` is what the GIN
    index ``ix_offre_topics`` answers)."""
    o = _columns(offer)
    return and_(o.active, o.topics.op("&&")(_topics(topics)))


def offer_on_topic(offer: Any, topics: Any) -> bool:
    """Python twin of :func:`offer_on_topic_sql`."""
    return bool(_get(offer, "active")) and bool(set(_get(offer, "topics") or ())
                                               & set(topics))


def offers_topic_sql(topics, venue=Venue, *, programme=None, acceptance=None,
                     per_row: bool = False) -> ColumnElement[bool]:
    """The venue has an active offer on one of ``topics`` (what :func:`answers_topic_sql`
    asks first: a venue with offers is never answered for by its broad ``services``). Given
    ``programme`` and ``acceptance`` (the venue's acceptance of it, both in the caller's
    FROM), an offer the programme pays for there (:func:`covers_sql`: service, level,
    publics).

    ``per_row``: see :func:`offers_service_sql`."""
    v = _columns(venue)
    o = Offer.__table__.alias("ot")
    conditions = [o.c.lieu_id == v.id, offer_on_topic_sql(topics, o)]
    if programme is not None:
        conditions.append(covers_sql(programme, acceptance, o))
    probe = select(literal_column("1")).where(*conditions).correlate_except(o)
    if per_row:
        probe = probe.limit(literal_column("1")).offset(literal_column("0"))
    return exists(probe)


def offers_topic(venue: Any, topics: Any, offers: Any = None, *, programme: Any = None,
                 acceptance: Any = None) -> bool:
    """Python twin of :func:`offers_topic_sql`; ``offers`` the venue's offers (default:
    ``venue.offers``, loaded)."""
    offers = _get(venue, "offers") if offers is None else offers
    return any(offer_on_topic(o, topics)
               and (programme is None or covers(programme, acceptance, o)) for o in offers)


# --------------------------------------------------------------------------- answers a topic

def _topic_services():
    """Each topic and its v1.0.2 service, as rows ``ts(topic, service)`` (two bound arrays
    unnested together: a VALUES list would keep SQLAlchemy from caching the statement)."""
    return (func.unnest(literal([t.code for t in TOPICS], ARRAY(Text)),
                        literal([t.service for t in TOPICS], ARRAY(Text)))
            .table_valued("topic", "service").render_derived(name="ts"))


def answers_topic_sql(topics, venue=Venue, *, programme=None, acceptance=None,
                      per_row: bool = False) -> ColumnElement[bool]:
    """The venue answers one of ``topics`` (:func:`topic_answer`): through an active offer
    on it (:func:`offers_topic_sql`, paid by ``programme`` when given); or, when it lists no
    active offer at all, through its declared ``topics`` or the topic's service in its
    ``services``, which ``programme`` then pays for there (:func:`covers_service_sql`: no
    level or public is known without an offer).

    ``per_row``: see :func:`offers_service_sql`."""
    v = _columns(venue)
    o = Offer.__table__.alias("oa")
    any_offer = select(literal_column("1")).where(o.c.lieu_id == v.id, o.c.active) \
        .correlate_except(o)
    ts = _topic_services()
    conditions = [ts.c.topic == any_(_topics(topics)),
                  or_(ts.c.topic == any_(v.topics), ts.c.service == any_(v.services))]
    if programme is not None:
        conditions.append(covers_service_sql(ts.c.service, programme, acceptance))
    declared = select(literal_column("1")).select_from(ts).where(*conditions) \
        .correlate_except(ts)
    if per_row:
        any_offer = any_offer.limit(literal_column("1")).offset(literal_column("0"))
    return or_(offers_topic_sql(topics, venue, programme=programme, acceptance=acceptance,
                                per_row=per_row),
               and_(~exists(any_offer), exists(declared)))


def topic_answer(venue: Any, topic: str, offers: Any = None, *, programme: Any = None,
                 acceptance: Any = None) -> str | None:
    """How the venue answers ``topic``: ``BY_OFFER``, ``BY_DECLARED``, ``BY_SERVICE``, or
    None. Python twin of :func:`answers_topic_sql` for one topic; ``offers`` the venue's
    offers (default: ``venue.offers``, loaded)."""
    offers = _get(venue, "offers") if offers is None else offers
    if offers_topic(venue, [topic], offers, programme=programme, acceptance=acceptance):
        return BY_OFFER
    found = TOPIC_BY_CODE.get(topic)
    if found is None or any(_get(o, "active") for o in offers):
        return None  # a venue that details its offers answers only through them
    if programme is not None and not covers_service(programme, acceptance, found.service):
        return None
    if topic in (_get(venue, "topics") or ()):
        return BY_DECLARED
    if found.service in (_get(venue, "services") or ()):
        return BY_SERVICE
    return None


def answers_topic(venue: Any, topics: Any, offers: Any = None, *, programme: Any = None,
                  acceptance: Any = None) -> bool:
    """Python twin of :func:`answers_topic_sql`."""
    return any(topic_answer(venue, t, offers, programme=programme, acceptance=acceptance)
               is not None for t in topics)


__all__ = [
    "ALL_FRANCE", "BY_DECLARED", "BY_OFFER", "BY_SERVICE", "TOPIC_ANSWERS",
    "acceptance_covers", "acceptance_covers_sql", "acceptance_valid",
    "acceptance_valid_sql", "accepts", "accepts_sql", "answers_topic", "answers_topic_sql",
    "covers", "covers_service",
    "covers_service_sql", "covers_sql", "in_perimeter", "in_perimeter_sql", "is_national",
    "offer_on_topic", "offer_on_topic_sql", "offers_service", "offers_service_sql",
    "offers_topic", "offers_topic_sql", "open_on", "open_on_sql", "programme_allows",
    "programme_allows_sql", "programme_valid", "programme_valid_sql", "topic_answer",
]
