"""Matching: from a Question to ranked venues with reasons (the SQL side).

1. Resolve where the person is: a point, or a polygon (commune, postal code): venues inside a
   polygon are at distance 0.
2. Hard constraints in SQL (SQLAlchemy Core, composed by the public builders
   :func:`venue_conditions`, :func:`perimeter_condition`, :func:`availability_condition`,
   :func:`eligible_places`, :func:`candidate_query`; the catalogue's rules from
   ``directory.rules``): programme accepted and valid on the date, venue (or stop) in the
   programme's perimeter, one requested service offered and covered by the acceptance and the
   programme, every required support, open on the date, within the reach; a superset
   pre-filter on the weekly opening for the availability.
3. Candidates by the geography index: ``ST_DWithin(geog, :g, reach)`` ordered by the KNN
   operator ``geog <-> :g`` with a LIMIT (index scan in distance order, stops of itinerant
   venues merged in). ``<->`` measures on a sphere: the exact ellipsoidal distance is
   recomputed (``ST_Distance(…, true)``) and more rows are fetched until the sphere/ellipsoid
   difference cannot change the set kept.
4. Exact availability on the few candidates (``directory.hours``, sessions), the radius widened
   in steps until enough venues fit, then the pure ranking (``matching.ranking``).
5. When nothing fits, the same search with one constraint relaxed at a time gives the hints.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4MULTIRANGE, aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, UserDefinedType

from core.errors import InvalidInput
from directory import hours as oh
from directory import rules
from directory.models import (
    Acceptance,
    MatchPlace,
    Offer,
    Programme,
    TrainingSession,
    Venue,
    VenueStop,
)
from directory.services import (
    accepted_programme_codes,
    offer_payers,
    payers_fr,
    payment_fr,
    service_payers,
)
from directory.vocabulary import OFFER_FORMATS, TOPIC_BY_CODE

from . import ranking
from .availability import (
    DEFAULT_DURATION_MINUTES,
    HORIZON_DAYS,
    SessionInfo,
    Slot,
    first_opening,
    first_session,
    fits_week_sql,
    free_intervals,
    needed_minutes,
    needed_minutes_sql,
    weekly_ranges,
)
from .question import DETOUR_FACTOR, TRAVEL_MODES, Availability, Question, Where

# Radius steps of the search, metres; the last one is the default reach.
STEPS_M = (5_000, 10_000, 20_000, 40_000, 80_000)
DEFAULT_REACH_M = STEPS_M[-1]
# Relative sphere/ellipsoid distance difference is below 0.6 %: keep a margin.
SPHERE_MARGIN = 0.01
MAX_FETCH = 5_000
# Rows looked at by the index per candidate wanted (then ×8 while too few pass the filters).
SCAN_FACTOR = 5
# The same, when the scan walks ``match_place`` (:func:`scan_key`): most of its rows pass.
KEYED_SCAN_FACTOR = 1.5
# First scan × this for a service filter, and again for an availability: fewer rows pass
# them, and a second round trip costs more than a larger first scan (bench at 20,000
# venues, with the first n of 3 × k: one query for 98 % of the questions, 58 % before).
SELECTIVE_SCAN = 1.6
# The candidate query aggregates the offers of its first OFFER_ROWS × ``wanted`` rows only;
# a search that builds rows beyond reads theirs (and their sessions) in one more query.
# Bench at 20,000 venues, 400 questions: the search builds up to the 20th-30th row of its
# 60 most of the time, beyond the 30th for 14 % of the questions (the 40th: 2.5 %); the
# same statements cost PostgreSQL ~0.4 ms less each than with the offers of every row (and
# ~1 ms less with the JSON of :func:`_offers_json`: 6.5-6.8 ms against 7.2-8.2), and the
# driver decodes a third fewer.
OFFER_ROWS = 1.5
# Venues looked at, at most, per question (a very selective question in a dense area).
MAX_SCAN = 50_000
# The hints look at this many venues at most: their counts are then lower bounds.
HINT_MAX_SCAN = 5_000
REMOTE_LIMIT = 5
# How far the hints look for the nearest venue that fits everything, metres.
HINT_FAR_M = 300_000
PARIS = ZoneInfo("Europe/Paris")

ASSUMPTIONS = {
    "detour_factor": DETOUR_FACTOR,
    "speeds_kmh": dict(TRAVEL_MODES),
    "distance": "géodésique sur l'ellipsoïde WGS 84 ; 0 dans la commune ou le code postal "
                "demandés",
    "text": "Durées estimées : distance à vol d'oiseau × 1,3 (détours), à 4,5 km/h à pied, "
            "15 km/h à vélo, 20 km/h en transports en commun, 50 km/h en voiture.",
}


# --------------------------------------------------------------------------- result types

@dataclass(frozen=True)
class Place:
    label: str
    lat: float
    lon: float
    commune_code: str | None
    precision: str  # point | address | postal_code | commune
    is_polygon: bool
    geography: str = field(repr=False, default="")  # EWKB hex or EWKT, for SQL
    max_abs_lat: float = 90.0  # largest |latitude| of the place (bounds of the KNN scan)


@dataclass(frozen=True)
class ProgrammeRef:
    id: int
    code: str
    name: str
    valid_from: date
    valid_to: date | None
    allowed_services: tuple[str, ...]
    is_national: bool
    levels: tuple[int, ...] = ()
    eligible_publics: tuple[str, ...] = ()


@dataclass
class OfferMatch:
    offer_id: int
    venue_id: int
    venue_nom: str
    title: str
    service: str
    level: int | None
    format: str
    cheques_required: int
    duration_minutes: int | None
    languages: list[str]
    next_session: Slot | None = None
    topics: list[str] = field(default_factory=list)
    # The asked pass pays for it (directory.rules.covers); None without a pass asked.
    covered: bool | None = None
    payment: str | None = None  # what the pass pays, in French (directory.services)


@dataclass
class VenueMatch:
    rank: int
    venue_id: int
    nom: str
    adresse: str | None
    code_postal: str | None
    commune: str
    lat: float
    lon: float
    stop_id: int | None
    stop_label: str | None
    distance_m: float
    travel_minutes: dict[str, int]
    next_slot: Slot | None
    offers: list[OfferMatch]
    reasons: list[str]
    unmet: list[str]
    score: float
    hours_known: bool
    horaires: str | None
    telephone: list[str]
    site_web: list[str]
    prise_rdv: str | None
    weekly_capacity: int | None
    # How it answers each topic asked (directory.rules.topic_answer: "offer", "declared",
    # "service"); and, when it details no offer, what the pass pays there in French.
    certainty: dict[str, str] = field(default_factory=dict)
    payment: str | None = None


@dataclass
class RemoteOffer(OfferMatch):
    """A remote offer with the ways to reach its venue (nobody travels: a number to call,
    a site, a booking link)."""

    telephone: list[str] = field(default_factory=list)
    courriels: list[str] = field(default_factory=list)
    site_web: list[str] = field(default_factory=list)
    prise_rdv: str | None = None


@dataclass(frozen=True)
class Relaxation:
    """What the same search finds with one of the person's constraints dropped
    (``availability``, ``support``, ``services``, ``programme``: ``count`` venues within the
    reach, a lower bound when ``at_least``), or further away (``distance``: the nearest
    venue that fits everything, up to ``HINT_FAR_M``). ``text`` says it in French."""

    constraint: str
    count: int
    text: str
    at_least: bool = False
    nearest_m: float | None = None
    nearest_venue_id: int | None = None
    nearest_name: str | None = None


@dataclass(frozen=True)
class ProgrammeName:
    code: str
    name: str


@dataclass(frozen=True)
class PerimeterCheck:
    """Is the chosen pass valid where the person is, and which passes are (valid on the
    date, local ones first)."""

    valid_here: bool
    commune_code: str | None
    commune_name: str | None
    valid_programmes: list[ProgrammeName]


@dataclass
class MatchResult:
    place: Place
    programme: ProgrammeRef | None
    results: list[VenueMatch]
    remote: list[OfferMatch]
    radius_m: int
    max_distance_m: int
    steps_m: list[int]
    search_message: str | None
    hints: list[str]
    on_date: date
    assumptions: dict[str, Any] = field(default_factory=lambda: dict(ASSUMPTIONS))
    # Nothing fits: the structured facts behind ``hints`` (the pages' one-click ways out).
    relaxations: list[Relaxation] = field(default_factory=list)
    # With a pass: whether it is valid at the place, and the passes that are.
    perimeter: PerimeterCheck | None = None


# --------------------------------------------------------------------------- the place

# The fixed SQL texts are few: parse each once (bound-parameter scan), not per question.
_text = functools.lru_cache(maxsize=256)(text)


def _point_ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def resolve_place(session: Session, where: Where) -> Place:
    """Where the person is, as a point or a polygon; InvalidInput (422) when unknown."""
    if where.lat is not None and where.lon is not None:
        return Place(f"{where.lat:.5f}, {where.lon:.5f}", where.lat, where.lon, None, "point",
                     False, _point_ewkt(where.lon, where.lat), abs(where.lat))
    if where.commune:
        return _commune_place(session, where.commune, "commune")
    if where.postal_code:
        return _postal_code_place(session, where.postal_code, "postal_code")
    if where.address:
        return _address_place(session, where.address)
    raise InvalidInput(errors={"_schema": ["Où est la personne ?"]})


def commune_places(session: Session, codes: Sequence[str]) -> dict[str, Place]:
    """The places of communes by INSEE code (unknown codes and communes without a shape
    are left out). People know a commune by its postal code, not its INSEE code: the label
    is « Angoulême (16000) »; a city with several postal codes is named with its
    département (« Bordeaux (33) »)."""
    rows = session.execute(text(
        "SELECT code, name, ST_Y(COALESCE(point, ST_PointOnSurface(geom))) AS lat, "
        "ST_X(COALESCE(point, ST_PointOnSurface(geom))) AS lon, "
        "encode(ST_AsEWKB(COALESCE(geom, point)), 'hex') AS g, geom IS NOT NULL AS poly, "
        "greatest(abs(ST_YMin(COALESCE(geom, point))), abs(ST_YMax(COALESCE(geom, point)))) "
        "AS max_abs_lat, departement_code, "
        "ARRAY(SELECT p.code FROM postal_code p WHERE p.commune_code = commune.code) AS cps "
        "FROM commune WHERE code = ANY(:codes)"), {"codes": list(codes)})
    places = {}
    for row in rows:
        if row.g is None:
            continue
        known_by = row.cps[0] if len(row.cps) == 1 else (row.departement_code or row.code)
        places[row.code] = Place(f"{row.name} ({known_by})", row.lat, row.lon, row.code,
                                 "commune", bool(row.poly), row.g, row.max_abs_lat)
    return places


def _commune_place(session: Session, code: str, field_name: str) -> Place:
    place = commune_places(session, [code]).get(code)
    if place is None:
        raise InvalidInput(errors={field_name: [f"Commune inconnue : « {code} »."]})
    return place


def _postal_code_place(session: Session, postal_code: str, field_name: str) -> Place:
    row = session.execute(text(
        "SELECT string_agg(c.name, ', ' ORDER BY c.name) AS names, min(c.code) AS code, "
        "count(*) AS n, encode(ST_AsEWKB(ST_Multi(ST_Union(c.geom))), 'hex') AS g "
        "FROM postal_code p JOIN commune c ON c.code = p.commune_code "
        "WHERE p.code = :pc AND c.geom IS NOT NULL"), {"pc": postal_code}).one()
    if not row.n or row.g is None:
        raise InvalidInput(errors={field_name: [f"Code postal inconnu : « {postal_code} »."]})
    centre = session.execute(text(
        "SELECT ST_Y(p) AS lat, ST_X(p) AS lon, greatest(abs(ST_YMin(g)), abs(ST_YMax(g))) "
        "AS max_abs_lat FROM (SELECT ST_PointOnSurface(CAST(:g AS geometry)) AS p, "
        "CAST(:g AS geometry) AS g) t"), {"g": row.g}).one()
    return Place(f"{postal_code} ({row.names})", centre.lat, centre.lon,
                 row.code if row.n == 1 else None, "postal_code", True, row.g, centre.max_abs_lat)


def _address_place(session: Session, address: str) -> Place:
    from geodata.geocoding import MAX_LIMIT, ask_if_ambiguous, get_geocoder

    answer = get_geocoder().geocode(address, limit=MAX_LIMIT)
    ask_if_ambiguous(answer, address)  # several communes: the person chooses, never us
    if not answer.candidates:
        raise InvalidInput(errors={"address": [
            "Adresse introuvable : précisez la commune ou le code postal."]})
    best = answer.candidates[0]
    if best.precision == "commune" and best.commune_code:
        place = _commune_place(session, best.commune_code, "address")
        return replace(place, label=best.label)
    if best.precision == "postal_code" and best.postal_code:
        return _postal_code_place(session, best.postal_code, "address")  # "33000 (Bordeaux)"
    return Place(best.label, best.lat, best.lon, best.commune_code, "address", False,
                 _point_ewkt(best.lon, best.lat), abs(best.lat))


# --------------------------------------------------------------------------- the programme

# The match's transaction settings (see :func:`match`): (setting, value, column alias). Its
# statements are prepared (the API ends its transactions by COMMIT:
# ``core.database.end_read_transaction``) but always planned for their values: the generic
# plan of the candidate query, which PostgreSQL may choose after five runs, reads the wrong
# rows first (measured: PostgreSQL CPU per question 26.6 ms with generic plans forced, 7.5
# with custom ones).
_SETTINGS = (("jit", "off", "jit"), ("max_parallel_workers_per_gather", "0", "parallel"),
             ("plan_cache_mode", "force_custom_plan", "plans"))
# (column, alias), and the same as a select list.
_SETTING_COLUMNS = tuple((f"set_config('{name}', '{value}', true)", alias)
                         for name, value, alias in _SETTINGS)
_MATCH_SETTINGS = ", ".join(f"{column} AS {alias}" for column, alias in _SETTING_COLUMNS)
# The columns of a programme that make its ProgrammeRef.
_PROGRAMME_COLUMNS = ("id", "code", "name", "valid_from", "valid_to", "allowed_services",
                      "perimeter_codes", "levels", "eligible_publics")


def _programme_ref(row: Any) -> ProgrammeRef:
    """The ProgrammeRef of a mapping with :data:`_PROGRAMME_COLUMNS`."""
    return ProgrammeRef(row["id"], row["code"], row["name"], row["valid_from"],
                        row["valid_to"], tuple(row["allowed_services"] or ()),
                        rules.is_national(row), tuple(row["levels"] or ()),
                        tuple(row["eligible_publics"] or ()))


def _unknown_programme(code: str) -> InvalidInput:
    return InvalidInput(errors={"programme": [f"Programme inconnu : « {code} »."]})


def load_programme(session: Session, code: str) -> ProgrammeRef:
    """The programme ``code`` (the match loads it with its perimeter check and its settings:
    :func:`_programme_at`)."""
    row = session.execute(_text(
        "SELECT " + ", ".join(_PROGRAMME_COLUMNS) + " FROM programme WHERE code = :code"),
        {"code": code}).one_or_none()
    if row is None:
        raise _unknown_programme(code)
    return _programme_ref(row._mapping)


def asked_within_programme(q: Question, programme: ProgrammeRef | None
                           ) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The services and topics asked that the programme may pay for (its
    ``allowed_services``), and, when it pays for none of them, why in French."""
    services, topics = q.services, q.topics
    if programme is None:
        return services, topics, None
    services = tuple(s for s in services if rules.programme_allows(programme, s))
    topics = tuple(t for t in topics
                   if rules.programme_allows(programme, TOPIC_BY_CODE[t].service))
    if q.services and not services or q.topics and not topics:
        asked = [*q.services, *(TOPIC_BY_CODE[t].plain for t in q.topics)]
        return services, topics, (f"Le {programme.name} ne couvre pas "
                                  + " ni ".join(f"« {a} »" for a in asked) + ".")
    return services, topics, None


def programme_problem(programme: ProgrammeRef, on_date: date) -> str | None:
    """Why the pass cannot be used on that date, in French, or None."""
    if rules.programme_valid(programme, on_date):
        return None
    if on_date < programme.valid_from:
        return (f"Le {programme.name} n'est valable qu'à partir du "
                f"{oh.format_date_fr(programme.valid_from, weekday=False)} "
                f"{programme.valid_from.year}.")
    return (f"Le {programme.name} n'est plus valable depuis le "
            f"{oh.format_date_fr(programme.valid_to, weekday=False)} "
            f"{programme.valid_to.year}.")


# --------------------------------------------------------------------------- SQL

@dataclass(frozen=True)
class Filters:
    """The hard constraints as SQL parameters."""

    on_date: date
    programme_id: int | None = None
    national: bool = True
    services: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    weekly: tuple[tuple[int, int], ...] | None = None
    now: datetime | None = None  # "open now" pre-filter
    horizon: tuple[datetime, datetime] | None = None
    # "Open now" inside the scan: ``:m`` then counts only the places open now (few round
    # trips, but the whole box is read when few are open); False: ``:m`` counts the places
    # read, and those not open now are left out just after (a search with its own cap).
    now_in_scan: bool = True


def _multirange(ranges) -> str:
    return "{" + ",".join(f"[{a},{b})" for a, b in ranges) + "}"


class _Geography(UserDefinedType):
    """``CAST(… AS geography)`` exactly as written by hand (GeoAlchemy2's own type renders
    ``geography(GEOMETRY,-1)``, which the planner matches to no index)."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "geography"


class _Geometry(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "geometry"


# The query's parameters (values from :func:`candidate_params`).
_D = bindparam("d", type_=Date)
_PID = bindparam("pid", type_=BigInteger)
_SVC = cast(bindparam("svc", type_=Text), ARRAY(Text))
_TOP = cast(bindparam("top", type_=Text), ARRAY(Text))
_SUPPORT = cast(bindparam("support", type_=Text), ARRAY(Text))
_WEEK = cast(bindparam("w", type_=Text), INT4MULTIRANGE)
_H0 = bindparam("h0", type_=DateTime(timezone=True))
_H1 = bindparam("h1", type_=DateTime(timezone=True))
_NOW = cast(bindparam("now", type_=DateTime(timezone=True)), DateTime(timezone=True))
_G = bindparam("g", type_=Text)
_GEOG = cast(_G, _Geography())
_GEOM = cast(_G, _Geometry())

_LIEU = Venue.__table__
_STOP = VenueStop.__table__
_OFFRE = Offer.__table__
_SEANCE = TrainingSession.__table__
_ACCEPTATION = Acceptance.__table__
_PROGRAMME = Programme.__table__
_MATCH_PLACE = MatchPlace.__table__


def _probe(query: Select, per_row: bool) -> Select:
    """Per-row EXISTS: PostgreSQL strips a constant ``LIMIT 1`` from an EXISTS sub-query and
    may then pull it up into a semi join (measured: a nested loop re-reading the whole
    acceptance table for each candidate, 40-60 ms instead of 3 ms) or hash it over the whole
    table; ``OFFSET 0`` keeps it a sub-plan probed by index for each row."""
    if not per_row:
        return query
    return query.limit(literal_column("1")).offset(literal_column("0"))


def venue_conditions(f: Filters, venue=_LIEU, per_row: bool = False) -> ColumnElement[bool]:
    """Conditions on the venue rows of ``venue`` (the ``lieu`` table, an alias, or a sub-query
    with its columns): open on the date (``directory.rules.open_on_sql``), the programme's
    acceptance valid on the date and covering one requested service that the venue offers,
    an active offer on one requested topic that the programme pays for there
    (``directory.rules.offers_topic_sql``), every required support.

    ``per_row``: for a few rows (the candidates), each EXISTS is an index probe per row
    (:func:`_probe`); without it, for set-wide queries, the planner chooses."""
    parts = [rules.open_on_sql(_D, venue)]
    requested = func.unnest(_SVC).table_valued("sv").render_derived(name="req")
    if f.programme_id is not None:
        a = _ACCEPTATION.alias("a")
        p = _PROGRAMME.alias("pa")
        conditions = [a.c.lieu_id == venue.c.id, a.c.programme_id == _PID,
                      rules.acceptance_valid_sql(_D, a)]
        if f.services:
            conditions.append(exists(select(literal_column("1")).select_from(requested).where(
                rules.acceptance_covers_sql(requested.c.sv, a),
                rules.offers_service_sql(requested.c.sv, venue, per_row=per_row))
                .correlate_except(requested)))
        if f.topics:
            conditions.append(rules.answers_topic_sql(_TOP, venue, programme=p, acceptance=a,
                                                      per_row=per_row))
        source = a.join(p, p.c.id == a.c.programme_id) if f.topics else a
        parts.append(exists(_probe(select(literal_column("1")).select_from(source)
                                   .where(*conditions).correlate_except(a, p), per_row)))
    else:
        if f.services:
            parts.append(exists(select(literal_column("1")).select_from(requested)
                                .where(rules.offers_service_sql(requested.c.sv, venue,
                                                                per_row=per_row))
                                .correlate_except(requested)))
        if f.topics:
            parts.append(rules.answers_topic_sql(_TOP, venue, per_row=per_row))
    if f.support:
        parts.append(venue.c.prise_en_charge_specifique.contains(_SUPPORT))
    return and_(*parts)


def perimeter_condition(f: Filters, code_insee, geom) -> ColumnElement[bool]:
    """The place (a venue's or a stop's commune code and point) lies in the programme's
    perimeter (``directory.rules.in_perimeter_sql``); true without a programme or for a
    national one."""
    if f.programme_id is None or f.national:
        return true()
    p = _PROGRAMME.alias("p")
    return exists(select(literal_column("1")).where(
        p.c.id == _PID, rules.in_perimeter_sql(p, code_insee, geom)).correlate_except(p))


def open_now_condition(week, tz) -> ColumnElement[bool]:
    """The weekly opening ``week`` (minutes of the week in the zone ``tz``) holds "now"
    (``:now``), or is unknown. The minute of the week is given for the default zone
    (``:now_minute``, ``directory.hours.minute_of_week`` computed once in Python): the
    per-row conversion (``timezone()`` and three ``extract``) is only made for venues in
    another zone."""
    local = func.timezone(tz, _NOW)  # now AT TIME ZONE the venue's zone

    def part(field_: str):
        return cast(extract(field_, local), Integer)

    converted = (part("isodow") - 1) * 1440 + part("hour") * 60 + part("minute")
    # ``week @> :now_minute`` on its own (not inside a CASE): PostgreSQL then estimates from
    # the column's statistics how many places are open now. Behind a CASE it guessed 0.5 %,
    # and at 10:30 with 1,000,000 venues read the whole box by bitmap and sorted it (42,000
    # rows, 220 ms) instead of walking the index in distance order to the 144th.
    return or_(week.is_(None),
               and_(tz == oh.DEFAULT_TZ, week.contains(bindparam("now_minute", type_=Integer))),
               and_(tz != oh.DEFAULT_TZ, week.contains(converted)))


def availability_condition(f: Filters, week, tz, venue_id,
                           per_row: bool = False) -> ColumnElement[bool]:
    """Superset pre-filter: unknown hours, a weekly opening that overlaps the availability
    for long enough (``matching.availability.fits_week_sql``: the shortest of the venue's
    on-site offers of the requested services, an hour when unknown), an offer's weekly
    schedule that does for that offer, or a session with free seats in the horizon
    (``per_row``: see :func:`venue_conditions`)."""
    if f.now is not None:
        return open_now_condition(week, tz)
    if f.weekly is None:
        return true()
    o = _OFFRE.alias("o")
    by_service = _asked_offer(f, o)
    od = _OFFRE.alias("od")
    minutes = needed_minutes_sql(
        [od.c.lieu_id == venue_id, od.c.active, od.c.format != "remote", *_asked_offer(f, od)],
        od)
    se = _SEANCE.alias("se")
    return or_(
        fits_week_sql(week, _WEEK, minutes),
        exists(_probe(select(literal_column("1")).where(
            o.c.lieu_id == venue_id, o.c.active, o.c.opening_week.is_not(None),
            fits_week_sql(o.c.opening_week, _WEEK,
                          func.coalesce(o.c.duration_minutes, DEFAULT_DURATION_MINUTES)),
            *by_service).correlate_except(o), per_row)),
        exists(_probe(select(literal_column("1")).select_from(
            o.join(se, se.c.offre_id == o.c.id)).where(
            o.c.lieu_id == venue_id, o.c.active, *by_service, se.c.starts_at >= _H0,
            se.c.starts_at < _H1, se.c.seats_taken < se.c.seats).correlate_except(o, se),
            per_row)))


def _asked_offer(f: Filters, o) -> list[ColumnElement[bool]]:
    """Conditions on an offer row ``o``: one of the services and of the topics asked."""
    return ([o.c.service == any_(_SVC)] if f.services else []) + \
        ([rules.offer_on_topic_sql(_TOP, o)] if f.topics else [])


def eligible_places(f: Filters) -> Select:
    """Venues, and stops of itinerant venues (``lieu_id``, ``stop_id``, ``geog``), that pass
    the venue-level hard constraints for ``f`` wherever they are: the cohort's candidates."""
    lv = _LIEU.alias("l")
    st = _STOP.alias("st")
    s = _STOP.alias("s")
    ls = _LIEU.alias("l")
    return union_all(
        select(lv.c.id.label("lieu_id"), cast(null(), BigInteger).label("stop_id"), lv.c.geog)
        .where(venue_conditions(f, lv),
               ~exists(select(literal_column("1")).where(st.c.lieu_id == lv.c.id)
                       .correlate_except(st)),
               perimeter_condition(f, lv.c.code_insee, lv.c.geom)),
        select(s.c.lieu_id, s.c.id, s.c.geog)
        .select_from(s.join(ls, ls.c.id == s.c.lieu_id))
        .where(venue_conditions(f, ls), perimeter_condition(f, s.c.code_insee, s.c.geom)),
    )


def candidate_query(f: Filters) -> Select:
    """The candidate query: venues and stops of itinerant venues, nearest first.

    ``near``: the ``:m`` nearest venues and stops by the GiST index of ``geom`` alone (an index
    scan in ``geom <-> place`` order, planar distance in degrees, that stops after ``:m``
    rows); the reach (exact ellipsoidal ``ST_DWithin`` on ``geog``) and the hard constraints
    are then applied to those rows only, and ``distance_m`` is the ellipsoidal distance.
    Why not ``ORDER BY geog <-> point`` on ``idx_lieu_geog``: measured 20–40 ms for the 200
    nearest of 20,000 venues against 1 ms on the geometry index. Why not the constraints
    inside the scan: the planner then underestimates the rows that pass them and scans the
    whole radius with a bitmap, then sorts. ``scan_bound`` is the degree distance reached
    when a branch was cut by ``:m`` (NULL otherwise); :func:`metres_below` turns it into a
    distance below which every venue was looked at, and the caller asks for more rows when
    the answer could lie beyond. ``offers`` (the venue's active offers, JSON) is given for
    the first ``:o`` rows only, NULL after them (:func:`_read_offers` reads those).

    Every value is a bound parameter: the statement depends only on which constraints are
    given (cached by ``f``'s shape through :func:`_shape`)."""
    return _candidate_query(_shape(f))


def _shape(f: Filters) -> Filters:
    """``f`` with its values replaced by placeholders: the statement's cache key."""
    return Filters(on_date=date.min, programme_id=None if f.programme_id is None else 0,
                   national=f.national, services=("",) if f.services else (),
                   topics=("",) if f.topics else (),
                   support=("",) if f.support else (),
                   weekly=None if f.weekly is None else (),
                   now=None if f.now is None else datetime.min.replace(tzinfo=UTC),
                   horizon=None, now_in_scan=f.now_in_scan)


# Columns of a venue the hard constraints read (the ``near`` rows of the candidate query).
_NEAR_VENUE_COLUMNS = ("id", "status", "closed_from", "closed_until", "services", "topics",
                       "prise_en_charge_specifique", "code_insee", "geom", "opening_week",
                       "timezone")


def _raw(column):
    """The column as the driver gives it: psycopg already returns lists for arrays, and
    SQLAlchemy's per-item array processing costs ~0.5 ms a question at 20,000 venues."""
    return type_coerce(column, NullType()).label(column.key)


@functools.lru_cache(maxsize=64)
def _candidate_query(f: Filters) -> Select:
    m = bindparam("m", type_=Integer)
    box = func.ST_Expand(_GEOM, bindparam("dx", type_=Float), bindparam("dy", type_=Float))
    if f.programme_id is not None:
        near = _keyed_near(f, box, m)
        branches = []  # one scan, venues and stops together
    else:
        near = _every_near(f, box, m)
        branches = [near.c.stop_id.is_(None)]

    branch = (select(func.max(near.c.knn).label("last_knn"), func.count().label("rows_seen"))
              .group_by(*branches).subquery("branch"))
    # ``near_rows``: rows of the reach's box that passed the scan's own filter ("open now").
    scanned = (select(func.min(branch.c.last_knn).label("scan_bound"),
                      select(func.count()).select_from(near).where(near.c.open_ok)
                      .scalar_subquery().label("near_rows"))
               .where(branch.c.rows_seen >= m).cte("scanned"))

    # The hard constraints are read nearest first and stop at the ``:n``-th row that passes
    # them: ``near`` in the output's order (a sort of ``:m`` small rows), its OFFSET 0 keeps
    # the conditions above the sort (not pushed under it, where every scanned row would be
    # checked), and the same ORDER BY above uses that order without sorting again.
    n = (select(near).where(near.c.open_ok).order_by(near.c.knn, near.c.id, near.c.stop_id)
         .offset(literal_column("0")).subquery("l"))
    st = _STOP.alias("st")
    own_place = and_(
        n.c.stop_id.is_(None),
        ~exists(_probe(select(literal_column("1")).where(st.c.lieu_id == n.c.id)
                       .correlate_except(st), True)),
        perimeter_condition(f, n.c.code_insee, n.c.geom),
        availability_condition(f, n.c.opening_week, n.c.timezone, n.c.id, per_row=True))
    at_stop = and_(
        n.c.stop_id.is_not(None),
        perimeter_condition(f, n.c.stop_code_insee, n.c.stop_geom),
        availability_condition(f, n.c.stop_week, n.c.timezone, n.c.id, per_row=True))
    c = (select(n.c.id.label("lieu_id"), n.c.stop_id, n.c.geog, n.c.knn)
         .where(func.ST_DWithin(n.c.geog, _GEOG, bindparam("reach", type_=Float)),
                venue_conditions(f, n, per_row=True), or_(own_place, at_stop))
         .order_by(n.c.knn, n.c.id, n.c.stop_id)
         .limit(bindparam("n", type_=Integer))
         .cte("c"))

    lieu = _LIEU.alias("l")
    stop = _STOP.alias("st")
    acceptance = _acceptance_services(f, c.c.lieu_id, cast(literal_column("'{}'"),
                                                           ARRAY(Text)))
    offers = _offers_json(c.c.lieu_id)
    # The offers of the first ``:o`` rows only (``OFFER_ROWS``): the caller builds rows
    # nearest first, stops at the ``wanted``-th that fits, and reads the offers of the rows
    # after ``:o`` if it gets there (:func:`_read_offers`). Measured: the aggregate costs
    # PostgreSQL ~0.02 ms a row (1.1 ms of the statement's 6.9 ms with 60 rows) and the
    # driver as much to decode it. The CASE evaluates the sub-query only for those rows.
    rank = func.row_number().over(order_by=(c.c.knn, c.c.lieu_id, c.c.stop_id))
    offers = case((rank <= bindparam("o", type_=Integer), offers), else_=null())
    return (
        select(scanned.c.scan_bound, scanned.c.near_rows, c.c.lieu_id, c.c.stop_id, c.c.knn,
               func.ST_Distance(c.c.geog, _GEOG, true()).label("distance_m"),
               lieu.c.nom, lieu.c.adresse, lieu.c.code_postal, lieu.c.commune,
               func.ST_Y(lieu.c.geom).label("lat"), func.ST_X(lieu.c.geom).label("lon"),
               lieu.c.horaires_osm, lieu.c.timezone, lieu.c.code_insee, _raw(lieu.c.services),
               _raw(lieu.c.topics),
               _raw(lieu.c.publics_specifiquement_adresses).label("publics"),
               _raw(lieu.c.prise_en_charge_specifique).label("support"),
               _raw(lieu.c.modalites_accompagnement).label("modalites"),
               _raw(lieu.c.telephone), _raw(lieu.c.site_web), lieu.c.prise_rdv,
               lieu.c.weekly_capacity,
               stop.c.label.label("stop_label"), stop.c.adresse.label("stop_adresse"),
               func.ST_Y(stop.c.geom).label("stop_lat"),
               func.ST_X(stop.c.geom).label("stop_lon"),
               stop.c.horaires_osm.label("stop_horaires"),
               type_coerce(acceptance, NullType()).label("acc_services"),
               offers.label("offers"))
        .select_from(scanned.outerjoin(c, true())
                     .outerjoin(lieu, lieu.c.id == c.c.lieu_id)
                     .outerjoin(stop, stop.c.id == c.c.stop_id))
        .order_by(c.c.knn, c.c.lieu_id, c.c.stop_id))


def _open_ok(f: Filters, week, tz) -> Any:
    """The ``open_ok`` column of a place read (weekly opening ``week`` in the zone ``tz``):
    open now, or hours unknown; true when "now" is not asked."""
    return (true() if f.now is None else open_now_condition(week, tz)).label("open_ok")


def _open_now_split(f: Filters, week, tz) -> tuple[list, Any]:
    """"Open now" for a scan: (its own filter, the ``open_ok`` column that keeps a place
    read). Inside the scan (``f.now_in_scan``), the filter, and every place read is kept;
    otherwise no filter, and the column says which places read are open now."""
    if f.now is not None and f.now_in_scan:
        return [open_now_condition(week, tz)], true().label("open_ok")
    return [], _open_ok(f, week, tz)


def _every_near(f: Filters, box, m) -> Any:
    """The ``near`` rows of the candidate query without a programme: the ``:m`` nearest
    venues (``lieu``) and the ``:m`` nearest stops (``lieu_stop``), each branch by its own
    GiST index, with the columns the hard constraints read."""
    lv = _LIEU.alias("l")
    knn = lv.c.geom.op("<->", return_type=Float)(_GEOM)
    # "Open now" is cheap per row (no sub-plan) and, in the evening, lets few venues through:
    # inside the scan, ``:m`` counts only venues open now (or with unknown hours) instead of
    # every venue of the reach. A venue with stops is matched at its stops (own branch).
    now_filter, open_ok = _open_now_split(f, lv.c.opening_week, lv.c.timezone)
    venues = (select(lv.c.id, cast(null(), BigInteger).label("stop_id"), lv.c.geog,
                     knn.label("knn"), lv.c.status, lv.c.closed_from, lv.c.closed_until,
                     lv.c.services, lv.c.topics, lv.c.prise_en_charge_specifique,
                     lv.c.code_insee, lv.c.geom, lv.c.opening_week, lv.c.timezone,
                     cast(null(), String).label("stop_code_insee"),
                     cast(null(), _Geometry()).label("stop_geom"),
                     cast(null(), INT4MULTIRANGE).label("stop_week"), open_ok)
              .where(lv.c.geom.op("&&")(box), *now_filter).order_by(knn).limit(m))
    s0 = _STOP.alias("s")
    stop_knn = s0.c.geom.op("<->", return_type=Float)(_GEOM)
    nearest_stops = (select(s0.c.id, s0.c.lieu_id, s0.c.geog, stop_knn.label("knn"),
                            s0.c.code_insee, s0.c.geom, s0.c.opening_week)
                     .where(s0.c.geom.op("&&")(box)).order_by(stop_knn).limit(m)
                     .subquery("s"))
    # OFFSET 0: one primary-key lookup per stop, never a scan of every venue.
    l2 = _LIEU.alias("l2")
    stop_venue = (select(*(l2.c[name] for name in _NEAR_VENUE_COLUMNS))
                  .where(l2.c.id == nearest_stops.c.lieu_id)
                  .offset(literal_column("0")).lateral("l"))
    stops = (select(stop_venue.c.id, nearest_stops.c.id, nearest_stops.c.geog,
                    nearest_stops.c.knn, stop_venue.c.status, stop_venue.c.closed_from,
                    stop_venue.c.closed_until, stop_venue.c.services, stop_venue.c.topics,
                    stop_venue.c.prise_en_charge_specifique, stop_venue.c.code_insee,
                    stop_venue.c.geom, stop_venue.c.opening_week, stop_venue.c.timezone,
                    nearest_stops.c.code_insee, nearest_stops.c.geom,
                    nearest_stops.c.opening_week,
                    _open_ok(f, nearest_stops.c.opening_week, stop_venue.c.timezone))
             .select_from(nearest_stops.join(stop_venue, true())))
    return union_all(venues, stops).cte("near").prefix_with("MATERIALIZED")


def scan_key(f: Filters) -> tuple[int, str] | None:
    """The part of ``match_place`` the candidate query walks for ``f``: the programme's
    places that may answer the topic asked (one topic), or any topic (``''``: several topics,
    or none); None without a programme (every venue and stop, ``lieu`` and ``lieu_stop``)."""
    if f.programme_id is None:
        return None
    return f.programme_id, f.topics[0] if len(f.topics) == 1 else ""


def _keyed_near(f: Filters, box, m) -> Any:
    """The ``near`` rows of the candidate query with a programme: the ``:m`` nearest places of
    ``match_place`` for ``(:pid, :key)`` (:func:`scan_key`), in the order of its GiST index,
    with their venue's columns (and their stop's) read by primary key. The same columns as
    the scan of every venue; the rules are checked on them the same way (``match_place`` is
    a superset)."""
    mp = _MATCH_PLACE.alias("mp")
    knn = mp.c.geom.op("<->", return_type=Float)(_GEOM)
    now_filter, open_ok = _open_now_split(f, mp.c.opening_week, mp.c.timezone)
    keyed = (select(mp.c.lieu_id, mp.c.stop_id, knn.label("knn"), open_ok)
             .where(mp.c.programme_id == cast(_PID, Integer),
                    mp.c.topic == bindparam("key", type_=Text),
                    mp.c.geom.op("&&")(box), *now_filter)
             .order_by(knn).limit(m).subquery("k"))
    # OFFSET 0: one primary-key lookup per row found, never a join over every venue; none
    # for a row left out as not open now (kept, with no venue, for the scan's counts).
    lv = _LIEU.alias("l2")
    venue = (select(lv.c.geog, *(lv.c[name] for name in _NEAR_VENUE_COLUMNS))
             .where(lv.c.id == keyed.c.lieu_id, keyed.c.open_ok)
             .offset(literal_column("0")).lateral("l"))
    st = _STOP.alias("s")
    return (select(venue.c.id, keyed.c.stop_id,
                   func.coalesce(st.c.geog, venue.c.geog).label("geog"), keyed.c.knn,
                   venue.c.status, venue.c.closed_from, venue.c.closed_until, venue.c.services,
                   venue.c.topics, venue.c.prise_en_charge_specifique, venue.c.code_insee,
                   venue.c.geom, venue.c.opening_week, venue.c.timezone,
                   st.c.code_insee.label("stop_code_insee"), st.c.geom.label("stop_geom"),
                   st.c.opening_week.label("stop_week"), keyed.c.open_ok)
            .select_from(keyed.outerjoin(venue, true())
                         .outerjoin(st, st.c.id == keyed.c.stop_id))
            .cte("near").prefix_with("MATERIALIZED"))


def _acceptance_services(f: Filters, venue_id, without) -> ColumnElement:
    """The services of the venue's acceptance of the programme ``:pid`` (what the pass
    covers there), or ``without`` when no programme is asked."""
    if f.programme_id is None:
        return without
    a = _ACCEPTATION.alias("a")
    return (select(a.c.services).where(a.c.lieu_id == venue_id, a.c.programme_id == _PID)
            .scalar_subquery())


def _offers_json(venue_id) -> ColumnElement:
    """The JSON array of the active offers of the venue ``venue_id`` (ordered by id, NULL
    without any), as :func:`_offers_of` and :func:`_build_candidate` read them. ``json_agg``
    of the rows themselves, not of ``json_build_object`` of their columns: the same objects
    (the columns' names are the keys), measured 12.6 µs a venue of 4 offers against 18.6."""
    o = _OFFRE.alias("o")
    x = (select(o.c.id, o.c.title, o.c.service, o.c.topics, o.c.active, o.c.level, o.c.format,
                o.c.cheques_required, o.c.duration_minutes, o.c.languages, o.c.publics)
         .where(o.c.lieu_id == venue_id, o.c.active).correlate_except(o).subquery("x"))
    return select(func.json_agg(aggregate_order_by(x.table_valued(), x.c.id))).scalar_subquery()


def metres_below(degrees: float, max_abs_lat: float) -> float:
    """A lower bound of the geodesic distance (m) of any point at planar distance ``degrees``
    (in lon/lat degrees) or more from a place whose latitudes reach ``max_abs_lat``: a degree
    of latitude is at least 110.57 km, a degree of longitude at least 111.32 km × cos(lat)."""
    lat = min(89.0, max_abs_lat + degrees)
    return degrees * 110_570 * math.cos(math.radians(lat)) * (1 - SPHERE_MARGIN)


def degrees_for(metres: float, max_abs_lat: float) -> float:
    """The planar distance in degrees that :func:`metres_below` certifies as ``metres``."""
    degrees = metres / 110_570
    for _ in range(3):
        lat = min(89.0, max_abs_lat + degrees)
        degrees = metres / (110_570 * math.cos(math.radians(lat)) * (1 - SPHERE_MARGIN))
    return degrees


def candidate_params(f: Filters, place: Place, reach: int, n: int,
                     m: int | None = None, offer_rows: int | None = None) -> dict[str, Any]:
    """The candidate query's values: ``n`` rows out, ``m`` scanned, the offers of the first
    ``offer_rows`` (all by default)."""
    dy = reach / 110_570 * 1.02
    lat = min(89.0, place.max_abs_lat + dy)
    dx = min(360.0, reach / (111_320 * math.cos(math.radians(lat))) * 1.02)
    params: dict[str, Any] = {"g": place.geography, "reach": reach, "n": n,
                              "m": m or SCAN_FACTOR * n,
                              "o": n if offer_rows is None else offer_rows,
                              "d": f.on_date, "dx": dx, "dy": dy}
    if f.programme_id is not None:
        params["pid"] = f.programme_id
        params["key"] = scan_key(f)[1]
    if f.services:
        params["svc"] = list(f.services)
    if f.topics:
        params["top"] = list(f.topics)
    if f.support:
        params["support"] = list(f.support)
    if f.now is not None:
        params["now"] = f.now
        params["now_minute"] = oh.minute_of_week(f.now, oh.DEFAULT_TZ)
    if f.weekly is not None:
        params["w"] = _multirange(f.weekly)
        params["h0"], params["h1"] = f.horizon
    return params


def explain(session: Session, f: Filters, place: Place, reach: int = DEFAULT_REACH_M,
            n: int = 40) -> str:
    """EXPLAIN of the candidate query (for tests and the benchmark)."""
    compiled = candidate_query(f).compile(dialect=session.get_bind().dialect)
    values = compiled.construct_params(candidate_params(f, place, reach, n))
    rows = session.connection().exec_driver_sql("EXPLAIN " + compiled.string, values)
    return "\n".join(r[0] for r in rows)


# --------------------------------------------------------------------------- details

def _sessions(session: Session, offer_ids: list[int], f: Filters) -> dict[int, list]:
    """Sessions with a free seat in the horizon, by offer."""
    found: dict[int, list] = {}
    if not offer_ids or f.horizon is None:
        return found
    for r in session.execute(_text(
            "SELECT offre_id, stop_id, starts_at, ends_at, seats - seats_taken AS free "
            "FROM seance WHERE offre_id = ANY(:ids) AND starts_at >= :h0 AND starts_at < :h1"
            " AND seats_taken < seats ORDER BY starts_at, offre_id"),
            {"ids": offer_ids, "h0": f.horizon[0], "h1": f.horizon[1]}):
        found.setdefault(r.offre_id, []).append(r)
    return found


def _service_covered(service: str, acc_services, programme: ProgrammeRef | None) -> bool:
    """The pass pays for ``service`` at a venue whose acceptance covers ``acc_services``
    (``directory.rules.covers_service``); anything goes without a pass."""
    if programme is None:
        return True
    return rules.covers_service(programme, {"services": acc_services or ()}, service)


def _covered(offer, acc_services, programme: ProgrammeRef | None) -> bool | None:
    """The pass pays for the offer at a venue whose acceptance covers ``acc_services``
    (``directory.rules.covers``: service, level, publics); None without a pass."""
    if programme is None:
        return None
    return _covers(programme, tuple(acc_services or ()), offer["service"], offer["level"],
                   tuple(offer["publics"] or ()))


# The same few (acceptance, service, level, publics) come back for most offers of a question.
@functools.lru_cache(maxsize=4096)
def _covers(programme: ProgrammeRef, acc_services: tuple[str, ...], service: str,
            level: int | None, publics: tuple[str, ...]) -> bool:
    return rules.covers(programme, {"services": acc_services},
                        {"service": service, "level": level, "publics": publics})


def _usable(offer: dict) -> bool:
    """An offer the person can use: paid by the pass asked, or any without a pass."""
    return offer["covered"] is not False


def _offers_of(row, q: Question, programme: ProgrammeRef | None) -> list[dict]:
    """The venue's active offers on what was asked (the topics, the services; all when
    nothing was asked), each with ``covered``: whether the pass pays for it."""
    return [{**o, "covered": _covered(o, row.acc_services, programme)}
            for o in (row.offers or ())
            if (not q.services or o["service"] in q.services)
            and (not q.topics or rules.offer_on_topic(o, q.topics))]


def holiday_departement(code_insee: str | None) -> str | None:
    """The département to give the hours parser when its own public holidays differ from
    the national ones and the time zone does not already say so (Alsace-Moselle), else None
    (which keeps the caches below shared by all other venues)."""
    departement = oh.departement_of_code_insee(code_insee)
    return departement if departement in oh.REGIONAL_HOLIDAY_DEPARTEMENTS else None


@functools.lru_cache(maxsize=4096)
def hours_of(osm: str | None, tz: str, departement: str | None = None) -> oh.Hours | None:
    if not osm:
        return None
    try:
        return oh.parse(osm, tz, departement)
    except (oh.InvalidHours, ValueError):
        return None


# Many venues share the same opening hours: the slot inside an availability is computed
# once per (hours, zone, availability, now).
@functools.lru_cache(maxsize=1024)
def _free(availability: Availability, now: datetime, tz: str) -> tuple:
    return tuple(free_intervals(availability, now, tz))


@functools.lru_cache(maxsize=8192)
def _opening(osm: str, tz: str, free: tuple, now: datetime, is_now: bool,
             departement: str | None = None,
             minutes: int = DEFAULT_DURATION_MINUTES) -> Slot | None:
    return first_opening(hours_of(osm, tz, departement), list(free), now, is_now=is_now,
                         minutes=minutes)


def venue_minutes(offers, services: tuple[str, ...], topics: tuple[str, ...] = ()) -> int:
    """Minutes a person needs at the venue's opening (``matching.availability.needed_minutes``
    over its active on-site ``offers``, of one of ``services`` and on one of ``topics`` when
    some are asked for: :func:`_asked_offer`), as :func:`availability_condition` computes them
    in SQL."""
    return needed_minutes(o["duration_minutes"] for o in offers or ()
                          if o["format"] != "remote"
                          and (not services or o["service"] in services)
                          and (not topics or rules.offer_on_topic(o, topics)))


def _build_candidate(row, sessions: dict[int, list], q: Question,
                     programme: ProgrammeRef | None, now: datetime,
                     with_slot: bool) -> ranking.Candidate:
    """A ranking candidate from a row of the candidate query."""
    offer_rows = _offers_of(row, q, programme)
    usable = [o for o in offer_rows if _usable(o)]
    offered = set(row.services or ()) | {o["service"] for o in usable}
    services = frozenset(s for s in q.services if s in offered
                         and _service_covered(s, row.acc_services, programme))
    acceptance = None if programme is None else {"services": row.acc_services or ()}
    certainty = {t: how for t in q.topics
                 if (how := rules.topic_answer(row, t, row.offers or (), programme=programme,
                                               acceptance=acceptance)) is not None}
    osm = row.stop_horaires if row.stop_id is not None else row.horaires_osm
    departement = holiday_departement(row.code_insee)
    hours = hours_of(osm, row.timezone, departement)
    free = _free(q.availability, now, row.timezone) if with_slot else ()
    offers = []
    session_slots: list[Slot] = []
    for o in offer_rows:
        next_session = None
        if with_slot and not q.availability.now and _usable(o):
            infos = [SessionInfo(o["id"], s.starts_at, s.ends_at, s.free,
                                 o["duration_minutes"])
                     for s in sessions.get(o["id"], ())
                     if row.stop_id is None or s.stop_id in (None, row.stop_id)]
            next_session = first_session(infos, list(free), now)
            if next_session is not None:
                session_slots.append(next_session)
        offers.append(ranking.OfferInfo(
            offer_id=o["id"], venue_id=row.lieu_id, title=o["title"], service=o["service"],
            level=o["level"], format=o["format"], cheques_required=o["cheques_required"],
            duration_minutes=o["duration_minutes"], languages=tuple(o["languages"] or ()),
            publics=tuple(o["publics"] or ()), next_session=next_session,
            topics=tuple(o["topics"] or ()), covered=o["covered"]))
    slot = None
    if with_slot:
        options = list(session_slots)
        if hours is not None:
            services_asked, topics_asked, _ = asked_within_programme(q, programme)
            opening = _opening(osm, row.timezone, free, now, q.availability.now, departement,
                               venue_minutes(row.offers, services_asked, topics_asked))
            if opening is not None:
                options.append(opening)
        if options:
            slot = min(options, key=lambda s: (s.start, s.kind != "opening", s.offer_id or 0))
    return ranking.Candidate(
        venue_id=row.lieu_id, distance_m=row.distance_m, services=services,
        topics=frozenset(certainty), certainty=certainty, offers=offers,
        publics=frozenset(row.publics or ()), support=frozenset(row.support or ()),
        modalites=frozenset(row.modalites or ()), hours_known=hours is not None, slot=slot,
        stop_label=row.stop_label, extra={"row": row})


# --------------------------------------------------------------------------- the search

@dataclass
class _Search:
    pool: list[ranking.Candidate]
    counts: list[int]
    radius: int
    steps: list[int]
    fetched: int
    # Metres within which every venue was looked at, when the scan cap stopped the search
    # before the answer was certain (None: the answer is exact).
    capped_at_m: float | None = None
    # No venue or stop of the reach passed the scan's own filter ("open now"; its box was
    # read whole): the same search with other constraints relaxed finds nothing either, as
    # long as it walks the same places (``scanned``, :func:`scan_key`; None: every venue).
    reach_empty: bool = False
    scanned: tuple[int, str] | None = None


def _search(session: Session, place: Place, f: Filters, q: Question, programme,
            now: datetime, reach: int, limit: int, *, pool_size: int | None = None,
            max_scan: int | None = None) -> _Search:
    """The nearest venues that pass the hard constraints and fit the availability, with the
    radius step used. Rows are looked at nearest first, ``m`` at a time; when the answer
    could lie beyond what was looked at, the scan grows in proportion to the area still
    needed (venues per square degree measured so far). ``max_scan`` caps it (the hints use
    a small cap: their counts may then be lower bounds)."""
    steps = [s for s in STEPS_M if s < reach] + [reach]
    if max_scan is not None and f.now is not None:
        # A search with its own cap (the hints) reads at most that many places, at once: in
        # the evening few are open now, and a scan counting only those read its whole box
        # (0.3-1 s a hint at 1,000,000 venues).
        f = replace(f, now_in_scan=False)
    max_scan = max_scan or MAX_SCAN
    k = pool_size or pool_size_for(limit)
    with_slot = q.availability.given
    # Rows out per candidate wanted: the exact availability check drops some, and the
    # k-th's ellipsoidal distance is certified by rows up to ~1.5 × farther (east-west
    # bound): 3 × k answers in one query most of the time.
    n = 3 * k
    sql = candidate_query(f)
    wanted = max(k, limit)
    offer_rows = math.ceil(OFFER_ROWS * wanted)
    built: dict[tuple[int, int | None], ranking.Candidate | None] = {}
    # Each selective constraint lowers the share of scanned rows that pass: scan more at
    # once rather than in a second round trip. The places of ``match_place`` already accept
    # the programme (and may answer the topic, when one is asked).
    walked = scan_key(f)
    selective = f.services or (f.topics and (walked is None or not walked[1]))
    m = max_scan if not f.now_in_scan else \
        min(max_scan, int((SCAN_FACTOR if walked is None else KEYED_SCAN_FACTOR) * n
                          * (SELECTIVE_SCAN if selective else 1)
                          * (SELECTIVE_SCAN if with_slot else 1)))
    while True:
        raw = session.execute(sql, candidate_params(f, place, reach, n, m,
                                                     offer_rows)).all()
        scanned_deg = raw[0].scan_bound
        if raw[0].near_rows == 0:
            return _Search([], [0] * len(steps), reach, steps, 0, reach_empty=True,
                           scanned=walked)
        bound = math.inf if scanned_deg is None else scanned_deg
        raw = [r for r in raw if r.lieu_id is not None]
        output_full = len(raw) == n
        if output_full:
            bound = min(bound, raw[-1].knn)
        truncated = bound != math.inf
        if truncated:
            bound = metres_below(bound, place.max_abs_lat)
        rows = nearest_per_venue(raw)
        # Rows whose offers the query left out (after its first ``offer_rows``).
        unread = {(r.lieu_id, r.stop_id) for r in raw[offer_rows:]}
        sessions: dict[int, list] = {}
        with_sessions = with_slot and not q.availability.now
        if with_sessions:
            sessions = _sessions(session, _usable_offer_ids(rows, built, unread, q, programme),
                                 f)
        # Nearest first, up to the ``wanted``-th that fits: the pool, the radius and the
        # counts below the radius are the same as with every row; rows built by an earlier
        # round (the same query, fewer rows) are not built again.
        cands = []
        for i, r in enumerate(rows):
            key = (r.lieu_id, r.stop_id)
            if key in built:
                c = built[key]
            else:
                if key in unread:  # the rows left: their offers, and their sessions
                    rows[i:] = _read_offers(session, rows[i:], unread)
                    if with_sessions:
                        sessions.update(_sessions(session, _usable_offer_ids(
                            rows[i:], built, set(), q, programme, unread), f))
                    unread = set()
                    r = rows[i]
                c = _build_candidate(r, sessions, q, programme, now, with_slot)
                c = built[key] = c if ranking.fits_availability(c, q) else None
            if c is not None:
                cands.append(c)
                if len(cands) >= wanted:
                    break
        counts = [sum(1 for c in cands if c.distance_m <= s) for s in steps]
        radius = next((s for s, c in zip(steps, counts, strict=True) if c >= limit), reach)
        pool = [c for c in cands if c.distance_m <= radius][:k]
        pool_end = pool[-1].distance_m if len(pool) == k else radius
        if not truncated or pool_end <= bound:
            return _Search(pool, counts, radius, steps, len(raw))
        if n >= MAX_FETCH and m >= max_scan:
            return _Search(pool, counts, radius, steps, len(raw), capped_at_m=bound)
        scan_cut = scanned_deg is not None and (not output_full or raw[-1].knn >= scanned_deg)
        if scan_cut and m >= max_scan:
            return _Search(pool, counts, radius, steps, len(raw), capped_at_m=bound)
        grown = _next_fetch(n, m, k, raw, cands, scanned_deg, output_full, pool_end, reach,
                            place.max_abs_lat, max_scan)
        if grown == (n, m):  # nothing more can be asked for
            return _Search(pool, counts, radius, steps, len(raw), capped_at_m=bound)
        n, m = grown


class _OffersRead:
    """A row of the candidate query whose offers were read afterwards (:func:`_read_offers`):
    the row's columns, with ``offers``."""

    __slots__ = ("_row", "offers")

    def __init__(self, row, offers):
        self._row = row
        self.offers = offers

    def __getattr__(self, name: str):
        return getattr(self._row, name)


def _read_offers(session: Session, rows: list, unread: set) -> list:
    """``rows`` with the offers of those in ``unread`` (keys ``(lieu_id, stop_id)``) read in
    one query, as the candidate query gives them to its first rows."""
    ids = list({r.lieu_id for r in rows if (r.lieu_id, r.stop_id) in unread})
    found = dict(session.execute(_offers_query(), {"ids": ids}).all())
    return [_OffersRead(r, found.get(r.lieu_id)) if (r.lieu_id, r.stop_id) in unread else r
            for r in rows]


@functools.cache
def _offers_query() -> Select:
    """``(lieu_id, offers)`` of the venues ``:ids``."""
    v = func.unnest(cast(bindparam("ids", type_=NullType()), ARRAY(BigInteger))) \
        .table_valued("id").render_derived(name="v")
    return select(v.c.id, _offers_json(v.c.id))


def _usable_offer_ids(rows, built: dict, unread: set, q: Question, programme,
                      only: set | None = None) -> list[int]:
    """Ids of the usable offers of ``rows`` not yet built and whose offers were read (among
    ``only`` when given): the sessions to read for them."""
    return [o["id"] for r in rows
            if (key := (r.lieu_id, r.stop_id)) not in built and key not in unread
            and (only is None or key in only)
            for o in _offers_of(r, q, programme) if _usable(o)]


def nearest_per_venue(rows) -> list:
    """One row per venue (``lieu_id``): its nearest (a venue with stops is found at each
    stop), ordered by distance then venue id."""
    nearest: dict[int, Any] = {}
    for row in rows:
        kept = nearest.get(row.lieu_id)
        if kept is None or (row.distance_m, row.stop_id or 0) < (kept.distance_m,
                                                                 kept.stop_id or 0):
            nearest[row.lieu_id] = row
    return sorted(nearest.values(), key=lambda r: (r.distance_m, r.lieu_id))


def _next_fetch(n: int, m: int, k: int, raw: list, cands: list, scanned_deg: float | None,
                output_full: bool, pool_end: float, reach: int, max_abs_lat: float,
                max_scan: int) -> tuple[int, int]:
    """The next (output rows, scanned rows) when the answer could lie beyond what was looked
    at: sized in one step for the planar radius that certifies it (fewer round trips).

    ``target``: the planar distance (degrees) the scan and the output must reach.
    :func:`metres_below` certifies, in the worst direction (east-west), fewer metres per
    degree than most rows lie at (north-south): at 48° the disc to scan holds ~1.5 × the
    rows within the metric distance, which the previous doubling steps found one query late.
    Rows grow like the area (the square of the planar radius)."""
    target = degrees_for(pool_end, max_abs_lat)
    if cands and len(cands) < k and scanned_deg is not None:
        # Too few pass so far: the k-th expected at this planar radius (density so far), at
        # most 111.7 km per planar degree away, certified at degrees_for of that.
        expected = scanned_deg * math.sqrt(k / len(cands))
        target = min(target, degrees_for(expected * 111_700, max_abs_lat))
    target *= 1.02
    whole = degrees_for(reach, max_abs_lat) * 1.02
    new_n, new_m = n, m
    if scanned_deg is not None and scanned_deg < target:
        growth = (min(target, whole) / max(scanned_deg, 1e-6)) ** 2 * 1.3
        new_m = min(max_scan, max(int(m * 1.5), int(m * growth)))
        if not output_full:  # the output must hold what the larger scan lets through
            new_n = max(new_n, math.ceil(len(raw) * new_m / m * 1.3))
    if output_full and raw[-1].knn < target:
        growth = (target / max(raw[-1].knn, 1e-6)) ** 2 * 1.3
        new_n = max(new_n, 2 * n, math.ceil(n * growth))
    if (new_n, new_m) == (n, m):  # rounding at the edge: the previous steps
        if output_full:
            new_n = n * 4
        if scanned_deg is not None:
            new_m = min(max_scan, 2 * m)
    return min(MAX_FETCH, new_n), new_m


def pool_size_for(limit: int) -> int:
    """How many nearest fitting venues the ranking looks at (within the radius used)."""
    return max(2 * limit, 20)


def _horizon(av: Availability, now: datetime) -> tuple[datetime, datetime]:
    if av.on_date is not None:
        start = datetime.combine(av.on_date, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
        return max(start, now), start + timedelta(days=3)
    return now, now + timedelta(days=HORIZON_DAYS + 1)


def filters_for(q: Question, now: datetime, on_date: date,
                programme: ProgrammeRef | None, services: tuple[str, ...],
                topics: tuple[str, ...] = ()) -> Filters:
    weekly = weekly_ranges(q.availability)
    return Filters(
        on_date=on_date,
        programme_id=programme.id if programme else None,
        national=programme.is_national if programme else True,
        services=services, topics=topics, support=q.support,
        weekly=tuple(weekly) if weekly is not None else None,
        now=now if q.availability.now else None,
        horizon=_horizon(q.availability, now),
    )


def match(q: Question, *, now: datetime, limit: int = 10, session: Session,
          place: Place | None = None) -> MatchResult:
    """Answer the question: ranked venues with reasons, remote offers, hints. ``place``:
    ``q.where`` already resolved (``resolve_place``), not asked to the geocoder twice."""
    if now.tzinfo is None:
        raise ValueError("now doit être un datetime avec fuseau")
    # The candidate query's estimated cost (many small subplans) crosses jit_above_cost, and
    # compiling it takes ~60 ms, ten times its run time: no JIT for this transaction. No
    # parallel workers either: starting them costs more than the few thousand rows a large
    # scan reads, and on a loaded machine (every web worker busy) they wait for a core.
    # Statements psycopg has prepared (the API ends the match with COMMIT to keep them) are
    # planned for the question's own values each time, as unprepared ones are: a generic
    # plan would not see the place, the reach nor the scan's LIMIT.
    # With a programme, they are set by the programme's query (one round trip less), which
    # checks its perimeter at the place too.
    place = place or resolve_place(session, q.where)
    on_date = q.availability.on_date or now.astimezone(PARIS).date()
    reach = q.reach_m() or DEFAULT_REACH_M
    steps = [s for s in STEPS_M if s < reach] + [reach]
    perimeter = None
    if q.programme:  # with the pass's perimeter check (:func:`perimeter_at`)
        programme, perimeter = _programme_at(session, q.programme, place, on_date)
    else:
        session.execute(_text("SELECT " + _MATCH_SETTINGS))
        programme = None

    def empty(hints: list[str]) -> MatchResult:
        return MatchResult(place, programme, [], [], reach, reach, steps, None, hints, on_date,
                           perimeter=perimeter)

    if programme is not None:
        problem = programme_problem(programme, on_date)
        if problem:
            return empty([problem])
    services, topics, problem = asked_within_programme(q, programme)
    if problem:
        return empty([problem])
    f = filters_for(q, now, on_date, programme, services, topics)
    search = _search(session, place, f, q, programme, now, reach, limit)
    ranked = ranking.rank(search.pool, q, programme_name=programme.name if programme else None,
                          now=now, in_commune=place.is_polygon)[:limit]
    if not q.availability.given:
        ranked = _with_slots(session, ranked, f, q, programme, now, place)
    results = [_venue_match(i + 1, r, programme) for i, r in enumerate(ranked)]
    remote = _remote_offers(session, place, f, q, programme)
    if programme is None:
        _say_who_pays(session, results, remote, on_date)
    relaxations = [] if results else _hints(session, place, f, q, programme, now, reach,
                                            search)
    hints = [r.text for r in relaxations]
    if not results and not hints and (perimeter is None or perimeter.valid_here):
        hints.append("Aucun lieu ne correspond, même en relâchant une contrainte.")
    message = ranking.radius_message(search.steps, search.counts, search.radius, limit) \
        if results else None
    if search.capped_at_m is not None:
        message = (f"Recherche limitée aux {MAX_SCAN:,} lieux les plus proches".replace(",", " ")
                   + f" (environ {ranking.km_fr(round(search.capped_at_m, -2))}) : d'autres "
                   "lieux plus loin peuvent convenir.")
    return MatchResult(place, programme, results, remote, search.radius, reach, search.steps,
                       message, hints, on_date, relaxations=relaxations, perimeter=perimeter)


def _with_slots(session, ranked, f, q, programme, now, place):
    """Next opening/session of the final results when no availability was given."""
    rows = [r.candidate.extra["row"] for r in ranked]
    sessions = _sessions(session, [o["id"] for row in rows
                                   for o in _offers_of(row, q, programme) if _usable(o)], f)
    out = []
    for row, r in zip(rows, ranked, strict=True):
        c = _build_candidate(row, sessions, q, programme, now, True)
        out.append(ranking.Ranked(c, r.score, r.reasons + ([c.slot.text] if c.slot else []),
                                  r.unmet, r.travel_minutes))
    return out


def _offer_match(o: ranking.OfferInfo, venue_nom: str) -> OfferMatch:
    return OfferMatch(o.offer_id, o.venue_id, venue_nom, o.title, o.service, o.level, o.format,
                      o.cheques_required, o.duration_minutes, list(o.languages), o.next_session,
                      list(o.topics), o.covered,
                      None if o.covered is None else payment_fr(o.cheques_required, o.covered))


def _venue_match(rank: int, r: ranking.Ranked, programme: ProgrammeRef | None) -> VenueMatch:
    c = r.candidate
    row = c.extra["row"]
    stop = row.stop_id is not None
    # Answered without an offer: the pass pays for the topic's service there (the hard
    # constraint), the number of cheques is not known.
    unsure = any(how != rules.BY_OFFER for how in c.certainty.values())
    return VenueMatch(
        rank=rank, venue_id=c.venue_id, nom=row.nom,
        adresse=row.stop_adresse if stop and row.stop_adresse else row.adresse,
        code_postal=row.code_postal, commune=row.commune,
        lat=row.stop_lat if stop else row.lat, lon=row.stop_lon if stop else row.lon,
        stop_id=row.stop_id, stop_label=c.stop_label,
        distance_m=round(c.distance_m, 1), travel_minutes=r.travel_minutes, next_slot=c.slot,
        offers=[_offer_match(o, row.nom) for o in c.offers if o.format != "remote"],
        reasons=r.reasons, unmet=r.unmet, score=r.score, hours_known=c.hours_known,
        horaires=row.stop_horaires if stop else row.horaires_osm,
        telephone=list(row.telephone or ()), site_web=list(row.site_web or ()),
        prise_rdv=row.prise_rdv, weekly_capacity=row.weekly_capacity,
        certainty=dict(c.certainty),
        payment=payment_fr(None, True) if unsure and programme is not None else None)


def _say_who_pays(session: Session, results: list[VenueMatch], remote: list[OfferMatch],
                  on_date: date) -> None:
    """No pass asked: each offer's ``payment`` says which of the passes its venue accepts
    pays for it (``directory.services.payers_fr``); None at a venue that accepts none."""
    offers = [o for r in results for o in r.offers] + remote
    # Venues answered without an offer: the passes that pay for the topics' services there.
    unsure = {r.venue_id: [TOPIC_BY_CODE[t].service for t, how in r.certainty.items()
                           if how != rules.BY_OFFER] for r in results}
    unsure = {venue_id: wanted for venue_id, wanted in unsure.items() if wanted}
    accepting = accepted_programme_codes(session, sorted({o.venue_id for o in offers}
                                                         | set(unsure)), on_date)
    payers = offer_payers(session, [o.offer_id for o in offers], on_date)
    for o in offers:
        if accepting.get(o.venue_id):
            o.payment = payers_fr(o.cheques_required,
                                  [name for _, name in payers.get(o.offer_id, [])])
    by_service = service_payers(session, unsure, on_date)
    for r in results:
        if r.venue_id in unsure and accepting.get(r.venue_id):
            r.payment = payers_fr(None, [name for _, name in by_service.get(r.venue_id, [])])


def _remote_offers(session, place, f, q, programme) -> list[RemoteOffer]:
    """Remote offers, listed apart: no distance or opening-hours constraint, the other hard
    constraints kept; the nearest venues' first; with the ways to reach their venue. Driven
    by the offers table (remote offers are few), so its cost does not grow with the number
    of venues."""
    if q.formats and "remote" not in q.formats:
        return []
    remote_f = replace(f, weekly=None, now=None)
    params = candidate_params(remote_f, place, 0, REMOTE_LIMIT * 4)
    found = []
    for r in session.execute(_remote_query(_shape(remote_f)), params):
        covered = _covered(r._mapping, r.acc_services, programme)
        if covered is False:  # remote help the pass does not pay for is not listed
            continue
        found.append(RemoteOffer(
            r.id, r.lieu_id, r.nom, r.title, r.service, r.level, r.format, r.cheques_required,
            r.duration_minutes, list(r.languages or ()), None, list(r.topics or ()), covered,
            None if covered is None else payment_fr(r.cheques_required, covered),
            telephone=list(r.telephone or ()), courriels=list(r.courriels or ()),
            site_web=list(r.site_web or ()), prise_rdv=r.prise_rdv))
    return found[:REMOTE_LIMIT]


@functools.lru_cache(maxsize=64)
def _remote_query(f: Filters) -> Select:
    """Remote offers of venues that pass the hard constraints ``f`` (no place, no hours),
    with their venue's contacts and, given a programme, the services its acceptance covers
    (``acc_services``; NULL without an acceptance): one round trip where the offers, the
    acceptances and the contacts took three.

    The remote offers on what was asked are sorted first (``ro``: cheques, distance, id;
    its OFFSET 0 keeps the venue's conditions above the sort), then the venue's conditions
    (EXISTS probes) are checked in that order until ``:n`` rows pass, instead of for every
    remote offer before sorting. Measured with 500 remote offers at 20,000 venues, a
    question without a topic: 11 ms of PostgreSQL before."""
    o = _OFFRE.alias("o")
    lieu = _LIEU.alias("l")
    knn = lieu.c.geom.op("<->", return_type=Float)(_GEOM)
    ro = (select(*(lieu.c[name] for name in _REMOTE_VENUE_COLUMNS),
                 *(o.c[name].label(f"offer_{name}") for name in _REMOTE_OFFER_COLUMNS),
                 knn.label("knn"))
          .select_from(o.join(lieu, lieu.c.id == o.c.lieu_id))
          .where(o.c.format == "remote", o.c.active, *_asked_offer(f, o))
          .order_by(o.c.cheques_required, knn, o.c.id)
          .offset(literal_column("0")).subquery("ro"))
    acceptance = _acceptance_services(f, ro.c.id, null())
    offer = {name: ro.c[f"offer_{name}"].label(name) for name in _REMOTE_OFFER_COLUMNS}
    return (select(offer["id"], ro.c.id.label("lieu_id"), ro.c.nom, offer["title"],
                   offer["service"], offer["topics"], offer["level"], offer["publics"],
                   offer["format"], offer["cheques_required"], offer["duration_minutes"],
                   offer["languages"], _raw(ro.c.telephone), _raw(ro.c.courriels),
                   _raw(ro.c.site_web), ro.c.prise_rdv,
                   type_coerce(acceptance, NullType()).label("acc_services"))
            .where(venue_conditions(f, ro, per_row=True),
                   perimeter_condition(f, ro.c.code_insee, ro.c.geom))
            .order_by(ro.c.offer_cheques_required, ro.c.knn, ro.c.offer_id)
            .limit(bindparam("n", type_=Integer)))


# The columns of the remote offers' sub-query: its venue's (as :func:`venue_conditions` and
# :func:`perimeter_condition` read them, and its contacts), its offer's (``offer_*``).
_REMOTE_VENUE_COLUMNS = ("id", "nom", "status", "closed_from", "closed_until", "services",
                         "topics", "prise_en_charge_specifique", "code_insee", "geom",
                         "telephone", "courriels", "site_web", "prise_rdv")
_REMOTE_OFFER_COLUMNS = ("id", "title", "service", "topics", "level", "publics", "format",
                         "cheques_required", "duration_minutes", "languages")


def _hints(session, place, f, q, programme, now, reach, search: _Search) -> list[Relaxation]:
    """Nothing fits: the same search with one constraint relaxed at a time (bounded: one
    small search per constraint the person gave). When no venue of the reach is open now
    (``search.reach_empty``), relaxing another constraint that walks the same places finds
    none either: not searched."""
    found: list[Relaxation] = []
    has_programme = programme is not None
    small = 50

    def count(f2: Filters, q2: Question, reach2: int = reach) -> _Search:
        if search.reach_empty and f2.now is not None and reach2 <= reach \
                and search.scanned in (None, scan_key(f2)):
            return _Search([], [], reach2, [], 0, reach_empty=True, scanned=search.scanned)
        return _search(session, place, f2, q2, programme if f2.programme_id else None, now,
                       reach2, small, pool_size=small, max_scan=HINT_MAX_SCAN)

    # (constraint, filters and question without it), for each constraint the person gave.
    relaxed: list[tuple[str, Filters, Question]] = []
    if q.availability.given:
        relaxed.append(("availability", replace(f, weekly=None, now=None),
                        replace(q, availability=Availability())))
    if q.support:
        relaxed.append(("support", replace(f, support=()), replace(q, support=())))
    if f.services:
        relaxed.append(("services", replace(f, services=()), replace(q, services=())))
    if f.topics:
        relaxed.append(("topics", replace(f, topics=()), replace(q, topics=())))
    if has_programme:
        relaxed.append(("programme", replace(f, programme_id=None, national=True), q))
    for constraint, f2, q2 in relaxed:
        s = count(f2, q2)
        at_least = len(s.pool) >= small
        text_ = ranking.hint(constraint, len(s.pool), reach, q, has_programme=has_programme,
                             at_least=at_least)
        if text_:
            found.append(Relaxation(constraint, len(s.pool), text_, at_least))
    if reach < HINT_FAR_M:
        s = _search(session, place, f, q, programme, now, HINT_FAR_M, 1, pool_size=1,
                    max_scan=HINT_MAX_SCAN)
        if s.pool:
            c = s.pool[0]
            name = f"{c.extra['row'].nom}, {c.extra['row'].commune}"
            found.append(Relaxation(
                "distance", 1, ranking.hint("distance", 1, reach, q,
                                            has_programme=has_programme,
                                            nearest_m=c.distance_m, nearest_name=name),
                nearest_m=round(c.distance_m, 1), nearest_venue_id=c.venue_id,
                nearest_name=name))
    return found


# --------------------------------------------------------------------------- ways out

@dataclass(frozen=True)
class PassesHere:
    """The commune of a place and the programmes valid there on a date (local ones
    first): what a beneficiary who does not name a pass can use there."""

    commune_code: str | None
    commune_name: str | None
    programmes: list[ProgrammeName]


def _covering(session: Session, place: Place) -> tuple[str | None, str | None, list]:
    """The commune of the place (its own, else the commune of its point) and the
    programmes whose perimeter covers it, whatever their dates: one round trip
    (:func:`_perimeter_query`)."""
    return _covering_rows(session.execute(_perimeter_query(place.commune_code is not None),
                                          _perimeter_params(place)).all())


def _covering_rows(rows: list) -> tuple[str | None, str | None, list]:
    """(commune code, commune name, covering programmes) of the rows of
    :func:`_perimeter_query` (a row without a programme when none covers the place)."""
    return rows[0].commune_code, rows[0].commune_name, [r for r in rows if r.id is not None]


def _perimeter_params(place: Place) -> dict[str, Any]:
    """The values of :func:`_perimeter_query` for ``place``."""
    params: dict[str, Any] = {"lon": place.lon, "lat": place.lat}
    if place.commune_code is not None:
        params["code"] = place.commune_code
    return params


def passes_here(session: Session, place: Place, on_date: date) -> PassesHere:
    """The programmes valid at the place on ``on_date`` (``rules.in_perimeter_sql`` and
    ``rules.programme_valid``), with the commune they were found for."""
    code, name, covering = _covering(session, place)
    return PassesHere(code, name, _valid_on(covering, on_date))


def _valid_on(programmes: list, on_date: date) -> list[ProgrammeName]:
    return [ProgrammeName(p.code, p.name) for p in programmes
            if rules.programme_valid(p, on_date)]


def perimeter_at(session: Session, place: Place, programme: ProgrammeRef,
                 on_date: date) -> PerimeterCheck:
    """Whether ``programme``'s perimeter covers the place (its commune, else the commune of
    its point, else the point), and the programmes valid there on ``on_date``."""
    return _perimeter_check(programme, *_covering(session, place), on_date)


def _perimeter_check(programme: ProgrammeRef, code: str | None, name: str | None,
                     covering: list, on_date: date) -> PerimeterCheck:
    """The check of ``programme`` at a place of commune ``code`` (``name``) where the
    programmes ``covering`` have it in their perimeter (rows of :func:`_perimeter_query`)."""
    return PerimeterCheck(
        valid_here=any(p.id == programme.id for p in covering),
        commune_code=code, commune_name=name, valid_programmes=_valid_on(covering, on_date))


@functools.cache
def _perimeter_query(by_code: bool) -> Select:
    """The commune of a place (``:code`` when known, else the commune of the point ``:lon``,
    ``:lat``: ``geodata.services.commune_code_at_sql``) with its name, and the programmes
    whose perimeter covers the place (``directory.rules.in_perimeter_sql``) whatever their
    dates, local ones first, national ones last: one row per programme, or one row without
    a programme (``id`` NULL) when none covers it. Only the columns the check reads (never
    the perimeters' geometries)."""
    from geodata.models import Commune
    from geodata.services import commune_code_at_sql

    point = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float),
                                              bindparam("lat", type_=Float)), 4326)
    code = bindparam("code", type_=String) if by_code else commune_code_at_sql(point)
    here = select(code.label("code")).cte("here")
    p = _PROGRAMME.alias("p")
    name = select(Commune.name).where(Commune.code == here.c.code).scalar_subquery()
    return (select(here.c.code.label("commune_code"), name.label("commune_name"), p.c.id,
                   p.c.code, p.c.name, p.c.valid_from, p.c.valid_to)
            .select_from(here.outerjoin(p, rules.in_perimeter_sql(p, here.c.code, point)))
            .order_by(literal(rules.ALL_FRANCE) == any_(p.c.perimeter_codes), p.c.name))


@functools.cache
def _programme_here_query(by_code: bool) -> Select:
    """The match's first statement with a pass: its transaction settings, the programme
    ``:pcode`` (columns ``asked_*``) and :func:`_perimeter_query` for the place, on each of
    its rows; no row when there is no such programme."""
    p = _PROGRAMME.alias("asked")
    asked = select(*(literal_column(column).label(alias) for column, alias in _SETTING_COLUMNS),
                   *(p.c[name].label(f"asked_{name}") for name in _PROGRAMME_COLUMNS)) \
        .where(p.c.code == bindparam("pcode", type_=String)).cte("asked")
    perimeter = _perimeter_query(by_code)
    return (perimeter.add_columns(*(asked.c[f"asked_{name}"] for name in _PROGRAMME_COLUMNS))
            .select_from(perimeter.get_final_froms()[0].join(asked, true())))


def _programme_at(session: Session, code: str, place: Place,
                  on_date: date) -> tuple[ProgrammeRef, PerimeterCheck]:
    """The match's transaction settings, :func:`load_programme` and :func:`perimeter_at`, in
    one round trip."""
    rows = session.execute(_programme_here_query(place.commune_code is not None),
                           {"pcode": code, **_perimeter_params(place)}).all()
    if not rows:
        raise _unknown_programme(code)
    first = rows[0]._mapping
    programme = _programme_ref({name: first[f"asked_{name}"] for name in _PROGRAMME_COLUMNS})
    return programme, _perimeter_check(programme, *_covering_rows(rows), on_date)


__all__ = ["ASSUMPTIONS", "OFFER_FORMATS", "Filters", "MatchResult", "OfferMatch",
           "PerimeterCheck", "Place", "ProgrammeName", "ProgrammeRef", "Relaxation",
           "RemoteOffer", "VenueMatch", "availability_condition", "candidate_params",
           "candidate_query", "eligible_places", "explain", "filters_for", "hours_of", "match",
           "nearest_per_venue", "perimeter_condition", "resolve_place", "venue_conditions"]
