"""Venue queries behind the read API and the venue page.

Plain arguments in, plain dicts out (French field names of the national standard for the
standard's fields); errors are ``core.errors`` classes with French messages. "Now" is always
an argument: the web layer takes it from the application's clock (``core.clock.now()``)
so that tests can fix the time.

Lists use keyset pagination: the cursor is an opaque URL-safe base64 of the last row's sort
key, ``["id", id]``, ``["updated_at", iso, id]`` or ``["relevance", rank, id]``; a page is
``rows after the cursor in sort order``, so pages never overlap or skip rows even when many
rows share the same ``updated_at``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, false, func, literal_column, or_, select, tuple_, union
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.orm import Session

from core import geojson
from core.errors import InvalidInput, NotFound
from core.text import format_date_fr, format_time_fr
from directory import hours as hours_mod
from directory import rules
from directory.importer.validate import FLAG_DUPLICATE
from directory.models import Acceptance, Offer, Programme, TrainingSession, Venue, VenueStop
from directory.vocabulary import (
    LEVELS,
    OFFER_FORMAT_LABELS,
    SERVICES,
    VENUE_STATUS_LABELS,
)
from geodata.models import Commune, Departement, Epci, Region

DEFAULT_STATUSES: tuple[str, ...] = ("open", "temporarily_closed")
DEFAULT_LIMIT = 50
SESSION_WINDOW_DAYS = 60
NEXT_OPENING_DAYS = 14
MAX_SESSIONS = 200
MAX_BIGINT = 2**63 - 1

# Standard v1.0.2 fields copied as they are (lists stay lists; the standard's own `source`
# field is stored and given back as `source_donnees`, `source` being our import source).
STANDARD_FIELDS: tuple[str, ...] = (
    "pivot", "nom", "commune", "code_postal", "code_insee", "adresse", "complement_adresse",
    "typologie", "telephone", "courriels", "site_web", "horaires", "presentation_resume",
    "presentation_detail", "source_donnees", "itinerance", "structure_parente", "date_maj",
    "services", "publics_specifiquement_adresses", "prise_en_charge_specifique",
    "frais_a_charge", "dispositif_programmes_nationaux", "formations_labels",
    "autres_formations_labels", "modalites_acces", "modalites_accompagnement",
    "fiche_acces_libre", "prise_rdv",
)

# filter name -> (model, column of `commune` holding membership, French label)
TERRITORY_FILTERS = {
    "commune": (Commune, None, "commune"),
    "departement": (Departement, "departement_code", "département"),
    "region": (Region, "region_code", "région"),
    "epci": (Epci, "epci_code", "EPCI"),
}

SORTS = ("id", "updated_at", "relevance")


# --------------------------------------------------------------------------- list


@dataclass
class VenueQuery:
    """Filters, order and page of a venue list; empty = no restriction."""

    bbox: tuple[float, float, float, float] | None = None
    commune: str | None = None
    departement: str | None = None
    region: str | None = None
    epci: str | None = None
    programme: str | None = None
    on_date: dt.date | None = None
    services: Sequence[str] = ()
    publics: Sequence[str] = ()
    q: str | None = None
    modified_since: dt.datetime | None = None
    statuses: Sequence[str] = DEFAULT_STATUSES
    sources: Sequence[str] = ()
    sort: str | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT

    def effective_sort(self) -> str:
        if self.sort:
            return self.sort
        if self.q:
            return "relevance"
        if self.modified_since is not None:
            return "updated_at"
        return "id"


@dataclass
class VenuePage:
    items: list[dict]
    next_cursor: str | None
    sort: str


def encode_cursor(key: Sequence) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple:
    """The sort key stored in ``cursor``; InvalidInput if it is not one of ours for ``sort``."""
    invalid = InvalidInput(errors={"cursor": [
        "Curseur invalide : reprenez le lien « next » de la page précédente."]})
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(key, list) or not key or key[0] != sort:
        raise InvalidInput(errors={"cursor": [
            "Ce curseur appartient à une autre recherche (tri différent) : reprenez le "
            "lien « next » de la page précédente."]})
    try:
        if sort == "id" and len(key) == 2:
            return (_bigint(key[1]),)
        if sort == "updated_at" and len(key) == 3:
            moment = dt.datetime.fromisoformat(key[1])
            if moment.tzinfo is None:
                raise ValueError
            return (moment, _bigint(key[2]))
        if sort == "relevance" and len(key) == 3:
            if isinstance(key[1], bool) or not isinstance(key[1], int | float):
                raise ValueError
            return (float(key[1]), _bigint(key[2]))
    except (TypeError, ValueError):
        raise invalid from None
    raise invalid


def _bigint(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_BIGINT:
        raise ValueError
    return value


def _territory_condition(session: Session, name: str, code: str):
    model, column, label = TERRITORY_FILTERS[name]
    if session.get(model, code) is None:
        raise InvalidInput(errors={name: [f"{label.capitalize()} inconnu(e) : « {code} »."]})
    shape = select(model.geom).where(model.code == code).scalar_subquery()
    if column is None:
        members = [code]
    else:
        members = select(Commune.code).where(getattr(Commune, column) == code)
    # A point counts only when the commune is unknown: the declared code wins otherwise.
    # A union of id lists, each branch able to use its own index (code_insee, GiST).
    inside = union(
        select(Venue.id).where(Venue.code_insee.in_(members)),
        select(Venue.id).where(Venue.code_insee.is_(None),
                               func.ST_Covers(shape, Venue.geom)),
        select(VenueStop.lieu_id).where(VenueStop.code_insee.in_(members)),
        select(VenueStop.lieu_id).where(VenueStop.code_insee.is_(None),
                                        func.ST_Covers(shape, VenueStop.geom)),
    )
    return Venue.id.in_(inside)


def _programme_condition(session: Session, code: str, on_date: dt.date,
                         services: Sequence[str]):
    programme = session.scalar(select(Programme).where(Programme.code == code.lower()))
    if programme is None:
        raise InvalidInput(errors={"programme": [
            f"Aucun programme ne porte le code « {code} »."]})
    if not rules.programme_valid(programme, on_date):
        return false()
    conditions = [Acceptance.lieu_id == Venue.id, Acceptance.programme_id == programme.id,
                  rules.acceptance_valid_sql(on_date)]
    if services:
        # The venue must offer one of the requested services AND accept the pass for it.
        wanted = [s for s in services if rules.programme_allows(programme, s)]
        if not wanted:
            return false()
        conditions.append(or_(*[
            and_(Venue.services.contains([s]), rules.acceptance_covers_sql(s))
            for s in wanted]))
    return exists().where(*conditions)


def list_venues(session: Session, query: VenueQuery, today: dt.date) -> VenuePage:
    """One page of venues matching ``query``; ``today`` dates programme validity."""
    on_date = query.on_date or today
    sort = query.effective_sort()
    if sort == "relevance" and not query.q:
        raise InvalidInput(errors={"sort": ["Le tri par pertinence demande une recherche q."]})
    conditions = []
    if query.bbox is not None:
        envelope = func.ST_MakeEnvelope(*query.bbox, 4326)
        conditions.append(Venue.id.in_(union(
            select(Venue.id).where(func.ST_Intersects(Venue.geom, envelope)),
            select(VenueStop.lieu_id).where(func.ST_Intersects(VenueStop.geom, envelope)))))
    for name in TERRITORY_FILTERS:
        code = getattr(query, name)
        if code:
            conditions.append(_territory_condition(session, name, code))
    if query.programme:
        conditions.append(_programme_condition(session, query.programme, on_date,
                                               query.services))
    if query.services:
        conditions.append(Venue.services.overlap(list(query.services)))
    if query.publics:
        conditions.append(Venue.publics_specifiquement_adresses.overlap(list(query.publics)))
    if query.modified_since is not None:
        conditions.append(Venue.updated_at >= query.modified_since)
    if query.statuses:
        conditions.append(Venue.status.in_(list(query.statuses)))
    if query.sources:
        conditions.append(Venue.source.in_(list(query.sources)))

    # Plain columns, not ORM objects: a page of 500 is read twice as fast, and neither the
    # search vector nor the geography travels.
    columns = [*_summary_columns(), func.ST_X(Venue.geom).label("lon"),
               func.ST_Y(Venue.geom).label("lat")]
    rank = None
    if query.q:
        tsquery = func.websearch_to_tsquery(literal_column("'french'::regconfig"), query.q)
        conditions.append(Venue.search_vector.op("@@")(tsquery))
        # double precision so that the value written in the cursor compares exactly
        rank = func.ts_rank(Venue.search_vector, tsquery).cast(DOUBLE_PRECISION)
        columns.append(rank.label("rank"))

    statement = select(*columns).where(*conditions)
    if sort == "id":
        statement = statement.order_by(Venue.id)
    elif sort == "updated_at":
        statement = statement.order_by(Venue.updated_at, Venue.id)
    else:
        statement = statement.order_by(rank.desc(), Venue.id)
    if query.cursor:
        key = decode_cursor(query.cursor, sort)
        if sort == "id":
            statement = statement.where(Venue.id > key[0])
        elif sort == "updated_at":
            statement = statement.where(tuple_(Venue.updated_at, Venue.id) > tuple_(*key))
        else:
            statement = statement.where(or_(rank < key[0],
                                            and_(rank == key[0], Venue.id > key[1])))
    rows = session.execute(statement.limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    programmes = accepted_programme_codes(session, [r.id for r in rows], on_date)
    items = []
    for row in rows:
        values = row._mapping
        items.append(venue_summary(values, values["lon"], values["lat"],
                                   programmes.get(values["id"], [])))
    next_cursor = None
    if more and rows:
        last = rows[-1]
        if sort == "id":
            next_cursor = encode_cursor(["id", last.id])
        elif sort == "updated_at":
            next_cursor = encode_cursor(["updated_at", last.updated_at.isoformat(), last.id])
        else:
            next_cursor = encode_cursor(["relevance", last.rank, last.id])
    return VenuePage(items=items, next_cursor=next_cursor, sort=sort)


def _summary_columns() -> list:
    return [getattr(Venue, name) for name in SUMMARY_FIELDS]


def accepted_programme_codes(session: Session, venue_ids: Sequence[int],
                             on_date: dt.date) -> dict[int, list[str]]:
    """Codes of the programmes each venue accepts on ``on_date`` (both still valid)."""
    if not venue_ids:
        return {}
    rows = session.execute(
        select(Acceptance.lieu_id, Programme.code)
        .join(Programme, Programme.id == Acceptance.programme_id)
        .where(Acceptance.lieu_id.in_(list(venue_ids)), rules.acceptance_valid_sql(on_date),
               rules.programme_valid_sql(on_date))
        .order_by(Acceptance.lieu_id, Programme.code))
    result: dict[int, list[str]] = {}
    for venue_id, code in rows:
        result.setdefault(venue_id, []).append(code)
    return result


def offer_payers(session: Session, offer_ids: Sequence[int],
                 on_date: dt.date) -> dict[int, list[tuple[str, str]]]:
    """For each offer, the programmes (code, name) that pay for it at its venue on
    ``on_date``: accepted there (acceptance and programme valid) and covering it
    (``rules.covers_sql``: service, level, publics). Offers no pass pays for are absent."""
    if not offer_ids:
        return {}
    rows = session.execute(
        select(Offer.id, Programme.code, Programme.name)
        .join(Acceptance, Acceptance.lieu_id == Offer.lieu_id)
        .join(Programme, Programme.id == Acceptance.programme_id)
        .where(Offer.id.in_(list(offer_ids)), rules.acceptance_valid_sql(on_date),
               rules.programme_valid_sql(on_date), rules.covers_sql())
        .order_by(Offer.id, Programme.name))
    result: dict[int, list[tuple[str, str]]] = {}
    for offer_id, code, name in rows:
        result.setdefault(offer_id, []).append((code, name))
    return result


def cheques_fr(count: int) -> str:
    return "1 chèque" if count == 1 else f"{count} chèques"


# Said instead of a number of cheques where no offer gives it (a venue that details none).
UNKNOWN_CHEQUES_FR = "(à confirmer avec le lieu)"


def payment_fr(cheques_required: int | None, covered: bool) -> str:
    """What the person's pass pays for one offer: « payé par votre pass : 1 chèque » or
    « non couvert par ce pass » (never a price in cheques for what it does not pay);
    ``cheques_required`` None (no offer says it): « payé par votre pass (à confirmer avec
    le lieu) »."""
    if not covered:
        return "non couvert par ce pass"
    if cheques_required is None:
        return f"payé par votre pass {UNKNOWN_CHEQUES_FR}"
    if not cheques_required:
        return "gratuit, sans chèque"
    return f"payé par votre pass : {cheques_fr(cheques_required)}"


def payers_fr(cheques_required: int | None, names: Sequence[str]) -> str:
    """The same when the person named no pass, at a venue that accepts some: which of
    them pays (« payé par le Pass Numérique Gironde : 1 chèque »)."""
    if not names:
        return "non couvert par les pass acceptés ici"
    payers = " ou ".join(f"le {n}" for n in names)
    if cheques_required is None:
        return f"payé par {payers} {UNKNOWN_CHEQUES_FR}"
    if not cheques_required:
        return "gratuit, sans chèque"
    return f"payé par {payers} : {cheques_fr(cheques_required)}"


def service_payers(session: Session, wanted: Mapping[int, Sequence[str]],
                   on_date: dt.date) -> dict[int, list[tuple[str, str]]]:
    """For each venue of ``wanted`` (venue id → services), the programmes (code, name)
    accepted there on ``on_date`` that pay for one of its services there
    (``rules.covers_service``: without an offer, no level or public is known)."""
    if not wanted:
        return {}
    rows = session.execute(
        select(Acceptance.lieu_id, Acceptance.services.label("acceptance_services"),
               Programme.code, Programme.name, Programme.allowed_services)
        .join(Programme, Programme.id == Acceptance.programme_id)
        .where(Acceptance.lieu_id.in_(list(wanted)), rules.acceptance_valid_sql(on_date),
               rules.programme_valid_sql(on_date))
        .order_by(Acceptance.lieu_id, Programme.name)).all()
    result: dict[int, list[tuple[str, str]]] = {}
    for row in rows:
        acceptance = {"services": row.acceptance_services}
        if any(rules.covers_service(row, acceptance, s) for s in wanted[row.lieu_id]):
            result.setdefault(row.lieu_id, []).append((row.code, row.name))
    return result


SUMMARY_FIELDS: tuple[str, ...] = (
    "id", "source", "source_id", *STANDARD_FIELDS, "location_precision", "status",
    "closed_from", "closed_until", "horaires_osm", "horaires_valides", "flags", "updated_at")


# Import diagnostics for the catalogue's keepers only: a probable duplicate names a venue of
# another source and its identifiers there. The import report and the database keep them.
INTERNAL_FLAGS = frozenset({FLAG_DUPLICATE})


def public_flags(flags: list[dict] | None) -> list[dict]:
    """The import warnings a venue shows publicly (the API): internal diagnostics left out."""
    return [f for f in flags or () if f.get("code") not in INTERNAL_FLAGS]


def venue_summary(venue, lon: float | None, lat: float | None,
                  programmes: list[str]) -> dict:
    """The list representation of a venue: the standard's fields (French names) and ours.

    ``venue`` is a Venue or a mapping of SUMMARY_FIELDS (a row's ``_mapping``)."""
    get = venue.__getitem__ if hasattr(venue, "keys") else venue.__getattribute__
    item: dict = {}
    for name in SUMMARY_FIELDS:
        value = get(name)
        item[name] = list(value) if isinstance(value, list) else value
    item["flags"] = public_flags(item["flags"])
    item.update({"latitude": lat, "longitude": lon, "programmes": programmes})
    return item


def geojson_feature(item: dict) -> dict:
    """A venue as a GeoJSON Feature (RFC 7946: [longitude, latitude])."""
    return geojson.feature(item["id"], geojson.point(item.get("longitude"), item.get("latitude")),
                           item)


# --------------------------------------------------------------------------- one venue


def _parse_hours(osm: str | None, tz: str, code_insee: str | None) -> hours_mod.Hours | None:
    """The venue's hours, with the holidays of its time zone and département."""
    if not osm:
        return None
    try:
        return hours_mod.parse(osm, tz, hours_mod.departement_of_code_insee(code_insee))
    except hours_mod.InvalidHours:
        return None


def _closure(venue: Venue, today: dt.date) -> tuple[bool, str | None]:
    """(closed today, French sentence) from the status and the closure dates."""
    if venue.status == "closed":
        return True, "Ce lieu a fermé définitivement."
    if rules.open_on(venue, today):
        return False, None
    reason = f" ({venue.closure_reason})" if venue.closure_reason else ""
    if venue.closed_until is not None:
        until = format_date_fr(venue.closed_until)
        return True, f"Fermé temporairement jusqu'au {until} inclus{reason}."
    return True, f"Fermé temporairement{reason}."


def _week_rows(parsed: hours_mod.Hours | None) -> list[dict]:
    if parsed is None:
        return []
    return [{"day": day, "hours": text} for day, text in hours_mod.describe_week(parsed)]


def _hours_block(venue: Venue, now: dt.datetime) -> dict:
    """open_now, next_opening and the hours in words, in the venue's time zone."""
    zone = ZoneInfo(venue.timezone or hours_mod.DEFAULT_TZ)
    local = now.astimezone(zone)
    today = local.date()
    parsed = _parse_hours(venue.horaires_osm, zone.key, venue.code_insee)
    closed, closure_text = _closure(venue, today)
    block: dict = {
        "timezone": zone.key,
        "closure": closure_text,
        "hours": {
            "valid": parsed is not None,
            "osm": venue.horaires_osm,
            "raw": venue.horaires,
            "today": None,
            "week": _week_rows(parsed),
        },
        "open_now": None,
        "next_opening": None,
    }
    if venue.status == "closed":
        block["open_now"] = False
        block["hours"]["today"] = "fermé définitivement"
        return block
    if closed:
        block["open_now"] = False
        block["hours"]["today"] = "fermé aujourd'hui (fermeture temporaire)"
        if parsed is not None and venue.closed_until is not None:
            after = dt.datetime.combine(venue.closed_until + dt.timedelta(days=1),
                                        dt.time(0), tzinfo=zone)
            start = hours_mod.next_opening(parsed, after, NEXT_OPENING_DAYS)
            if start is not None:
                block["next_opening"] = {
                    "at": start,
                    "text": (f"réouverture : {format_date_fr(start.date())} "
                             f"à {format_time_fr(start.time())}"),
                }
        return block
    if parsed is None:
        return block
    block["open_now"] = hours_mod.is_open(parsed, local)
    block["hours"]["today"] = hours_mod.describe_day(parsed, today, today=today)
    start = hours_mod.next_opening(parsed, local, NEXT_OPENING_DAYS)
    block["next_opening"] = {
        "at": start,
        "text": hours_mod.describe_next_opening(parsed, local, NEXT_OPENING_DAYS),
    }
    return block


def _covered_services(acceptance_services: list[str], allowed: list[str]) -> list[str]:
    """Services an acceptance covers; empty = every service."""
    if acceptance_services and allowed:
        return [s for s in acceptance_services if s in allowed]
    return list(acceptance_services or allowed)


def accepted_programmes(session: Session, venue_id: int, on_date: dt.date) -> list[dict]:
    rows = session.execute(
        select(Acceptance, Programme)
        .join(Programme, Programme.id == Acceptance.programme_id)
        .where(Acceptance.lieu_id == venue_id, rules.acceptance_valid_sql(on_date),
               rules.programme_valid_sql(on_date))
        .order_by(Programme.name))
    result = []
    for acceptance, programme in rows:
        ends = [d for d in (acceptance.valid_to, programme.valid_to) if d is not None]
        services = _covered_services(list(acceptance.services),
                                     list(programme.allowed_services))
        result.append({
            "code": programme.code,
            "name": programme.name,
            "issuer": programme.issuer,
            "funder": programme.funder,
            "services": services,
            "all_services": not services,
            "levels": list(programme.levels),
            "cheque_value_cents": programme.cheque_value_cents,
            "valid_from": max(acceptance.valid_from, programme.valid_from),
            "valid_to": min(ends) if ends else None,
            "qualification_reference": acceptance.qualification_reference,
        })
    return result


def _offers(venue: Venue) -> list[dict]:
    result = []
    for offer in venue.offers:
        if not offer.active:
            continue
        parsed = _parse_hours(offer.horaires, venue.timezone, venue.code_insee)
        result.append({
            "id": offer.id,
            "code": offer.code,
            "title": offer.title,
            "topics": list(offer.topics),
            "description": offer.description,
            "service": offer.service,
            "level": offer.level,
            "level_label": LEVELS.get(offer.level) if offer.level else None,
            "format": offer.format,
            "format_label": OFFER_FORMAT_LABELS.get(offer.format, offer.format),
            "duration_minutes": offer.duration_minutes,
            "cheques_required": offer.cheques_required,
            "languages": list(offer.languages),
            "publics": list(offer.publics),
            "horaires": offer.horaires,
            "schedule": [row for row in _week_rows(parsed) if row["hours"] != "fermé"],
        })
    return result


def _session_text(starts: dt.datetime, ends: dt.datetime) -> str:
    day = format_date_fr(starts.date())
    end = format_time_fr(ends.time())
    if ends.date() != starts.date():
        end = f"{format_date_fr(ends.date())} à {end}"
    return f"{day} de {format_time_fr(starts.time())} à {end}"


def upcoming_sessions(session: Session, venue: Venue, now: dt.datetime,
                      days: int = SESSION_WINDOW_DAYS) -> list[dict]:
    """Sessions starting within ``days`` days of ``now``, times in the venue's zone."""
    zone = ZoneInfo(venue.timezone or hours_mod.DEFAULT_TZ)
    rows = session.execute(
        select(TrainingSession, Offer, VenueStop.label)
        .join(Offer, Offer.id == TrainingSession.offre_id)
        .outerjoin(VenueStop, VenueStop.id == TrainingSession.stop_id)
        .where(Offer.lieu_id == venue.id, Offer.active.is_(True),
               TrainingSession.starts_at >= now,
               TrainingSession.starts_at < now + dt.timedelta(days=days))
        .order_by(TrainingSession.starts_at, TrainingSession.id)
        .limit(MAX_SESSIONS))
    result = []
    for training, offer, stop_label in rows:
        starts = training.starts_at.astimezone(zone)
        ends = training.ends_at.astimezone(zone)
        result.append({
            "id": training.id,
            "offer_code": offer.code,
            "offer_title": offer.title,
            "service": offer.service,
            "format": offer.format,
            "level": offer.level,
            "cheques_required": offer.cheques_required,
            "starts_at": starts,
            "ends_at": ends,
            "when": _session_text(starts, ends),
            "seats": training.seats,
            "seats_taken": training.seats_taken,
            "free_seats": training.seats - training.seats_taken,
            "stop": stop_label,
        })
    return result


def _stops(session: Session, venue: Venue, now: dt.datetime) -> list[dict]:
    if not venue.stops:
        return []
    zone = ZoneInfo(venue.timezone or hours_mod.DEFAULT_TZ)
    local = now.astimezone(zone)
    coordinates = dict(
        (stop_id, (lon, lat)) for stop_id, lon, lat in session.execute(
            select(VenueStop.id, func.ST_X(VenueStop.geom), func.ST_Y(VenueStop.geom))
            .where(VenueStop.lieu_id == venue.id)))
    result = []
    for stop in venue.stops:
        parsed = _parse_hours(stop.horaires_osm, zone.key, venue.code_insee)
        lon, lat = coordinates.get(stop.id, (None, None))
        result.append({
            "position": stop.position,
            "label": stop.label,
            "code_insee": stop.code_insee,
            "adresse": stop.adresse,
            "latitude": lat,
            "longitude": lon,
            "horaires": stop.horaires,
            "horaires_osm": stop.horaires_osm,
            "today": (hours_mod.describe_day(parsed, local.date(), today=local.date())
                      if parsed else None),
            "next_opening": (hours_mod.describe_next_opening(parsed, local, NEXT_OPENING_DAYS)
                             if parsed else None),
            "week": _week_rows(parsed),
        })
    return result


def venue_detail(session: Session, venue_id: int, now: dt.datetime,
                 programme: str | None = None) -> dict:
    """Everything about one venue, as of ``now`` (aware); NotFound in French.

    ``programme``: the code of the person's pass; each offer then says whether that pass
    pays for it. Without it, which of the passes the venue accepts pays for it; nothing
    when the venue accepts none (said once by the page, without prices in cheques)."""
    venue = session.get(Venue, venue_id) if 0 < venue_id <= MAX_BIGINT else None
    if venue is None:
        raise NotFound(f"Aucun lieu ne porte l'identifiant {venue_id}.")
    asked = None
    if programme:
        asked = session.scalar(select(Programme).where(Programme.code == programme.lower()))
        if asked is None:
            raise InvalidInput(errors={"programme": [
                f"Aucun pass ne porte le code « {programme} »."]})
    lon, lat = session.execute(
        select(func.ST_X(Venue.geom), func.ST_Y(Venue.geom)).where(Venue.id == venue.id)).one()
    block = _hours_block(venue, now)
    today = now.astimezone(ZoneInfo(block["timezone"])).date()
    programmes = accepted_programmes(session, venue.id, today)
    detail = venue_summary(venue, lon, lat, [p["code"] for p in programmes])
    detail.update(block)
    detail.update({
        "status_label": VENUE_STATUS_LABELS.get(venue.status, venue.status),
        "weekly_capacity": venue.weekly_capacity,
        "accepted_programmes": programmes,
        "offers": _offers(venue),
        "programme": None,
        "sessions": upcoming_sessions(session, venue, now),
        "stops": _stops(session, venue, now),
        "as_of": now.astimezone(ZoneInfo(block["timezone"])),
        "confirmed_on": (venue.confirmed_at.astimezone(ZoneInfo(block["timezone"])).date()
                         if venue.confirmed_at else None),
        "confirmed_by_role": venue.confirmed_by_role,
    })
    _payments(session, detail, asked, today)
    return detail


def _payments(session: Session, detail: dict, asked: Programme | None,
              today: dt.date) -> None:
    """Each offer's ``payment`` (French, None when the venue accepts no pass) and the
    page's ``programme``: the person's pass, with whether this venue accepts it."""
    payers = offer_payers(session, [o["id"] for o in detail["offers"]], today)
    accepted = {p["code"] for p in detail["accepted_programmes"]}
    if asked is not None:
        detail["programme"] = {"code": asked.code, "name": asked.name,
                               "accepted": asked.code in accepted}
    for offer in detail["offers"]:
        codes = [code for code, _ in payers.get(offer["id"], [])]
        if detail["programme"] and detail["programme"]["accepted"]:
            offer["payment"] = payment_fr(offer["cheques_required"], asked.code in codes)
        elif accepted:
            offer["payment"] = payers_fr(offer["cheques_required"],
                                         [name for _, name in payers.get(offer["id"], [])])
        else:
            offer["payment"] = None


__all__ = [
    "DEFAULT_STATUSES", "SERVICES", "SORTS", "VenuePage", "VenueQuery", "accepted_programmes",
    "decode_cursor", "encode_cursor", "geojson_feature", "list_venues", "offer_payers",
    "payers_fr", "payment_fr",
    "upcoming_sessions", "venue_detail", "venue_summary", "what_to_bring",
]


def what_to_bring(detail: dict) -> list[str]:
    """Practical advice derived from what the venue offers (nothing invented about it)."""
    advice = []
    programmes = detail.get("accepted_programmes") or []
    if programmes:
        names = ", ".join(p["name"] for p in programmes)
        advice.append(f"vos chèques Pass Numérique si vous en avez ({names})")
    services = set(detail.get("services") or [])
    services.update(o["service"] for o in detail.get("offers") or [])
    if "Aide aux démarches administratives" in services:
        advice.append("une pièce d'identité et les courriers liés à votre démarche")
        advice.append("vos codes pour vos comptes en ligne (impôts, Ameli, CAF, "
                      "France Travail…) si vous les avez")
    if services & {"Maîtrise des outils numériques du quotidien",
                   "Utilisation sécurisée du numérique",
                   "Parentalité et éducation avec le numérique"}:
        advice.append("votre téléphone, tablette ou ordinateur si vous en avez un, "
                      "avec son chargeur")
    return advice
