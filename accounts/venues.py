"""A venue's self-service: hours, closure, contacts, offers, sessions, acceptance requests
and confirmation. Every change is journaled with its before and after (the venue's history)
and marks the fields the next import must keep (directory.edits)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from directory import hours as hours_mod
from directory import programmes as programmes_mod
from directory.edits import mark_edited
from directory.models import Offer, Programme, TrainingSession, Venue
from directory.offers import week_ranges
from directory.vocabulary import LEVELS, OFFER_FORMATS, SERVICES

from . import journal
from .journal import Actor
from .models import ROLE_LABELS_FR, AcceptanceRequest

MAX_TEXT = 2000


def get_venue(session: Session, venue_id: int) -> Venue:
    venue = session.get(Venue, venue_id) if 0 < venue_id < 2**63 else None
    if venue is None:
        raise NotFound(f"Aucun lieu ne porte l'identifiant {venue_id}.")
    return venue


# --------------------------------------------------------------------------- hours


def preview_hours(text: str, tz: str) -> tuple[list[tuple[str, str]], str | None]:
    """The week in French words for an OSM string, or the French reason it is invalid."""
    text = (text or "").strip()
    if not text:
        return [], None
    try:
        return hours_mod.describe_week(hours_mod.parse(text, tz)), None
    except hours_mod.InvalidHours as exc:
        return [], exc.message_fr


def _hours_values(venue: Venue) -> dict:
    return {"horaires": venue.horaires}


def set_hours(session: Session, venue: Venue, text: str, actor: Actor,
              now: dt.datetime) -> bool:
    """Validate and store the opening hours; returns False when nothing changed."""
    text = (text or "").strip()
    before = _hours_values(venue)
    if not text:
        osm, weekly = None, None
    else:
        try:
            parsed = hours_mod.parse(text, venue.timezone)
            hours_mod.describe_week(parsed)  # the parser's deeper checks
        except hours_mod.InvalidHours as exc:
            raise InvalidInput(errors={"horaires": [f"Horaires invalides : {exc.message_fr}."]}
                               ) from None
        osm, weekly = parsed.osm, week_ranges(hours_mod.weekly_intervals(parsed))
    if venue.horaires == (osm or None) and venue.horaires_osm == osm:
        return False
    venue.horaires = osm
    venue.horaires_osm = osm
    venue.horaires_valides = osm is not None
    venue.opening_week = weekly
    mark_edited(session, venue.id, "horaires", now)
    _changed(session, venue, actor, now, "horaires modifiés", before, _hours_values(venue))
    return True


def _changed(session: Session, venue: Venue, actor: Actor, now: dt.datetime, action: str,
             before: dict, after: dict, object_type: str = "lieu",
             object_id: object = None) -> None:
    venue.updated_at = now
    session.flush()
    journal.append(session, actor, action, now, object_type=object_type,
                   object_id=venue.id if object_id is None else object_id, lieu_id=venue.id,
                   before=before, after=after)


# --------------------------------------------------------------------------- closure


def _closure_values(venue: Venue) -> dict:
    return {"fermeture_debut": venue.closed_from, "fermeture_fin": venue.closed_until,
            "motif": venue.closure_reason}


def set_closure(session: Session, venue: Venue, closed_from: dt.date | None,
                closed_until: dt.date | None, reason: str, actor: Actor,
                now: dt.datetime) -> None:
    """A temporary closure from–to (inclusive) with its reason; no dates = none."""
    reason = (reason or "").strip()[:200] or None
    if closed_from is None and closed_until is not None:
        raise InvalidInput(errors={"debut": ["Donnez le premier jour de fermeture."]})
    if closed_from and closed_until and closed_until < closed_from:
        raise InvalidInput(errors={"fin": [
            "Le dernier jour de fermeture doit suivre le premier."]})
    if closed_from and not dt.date(2000, 1, 1) <= closed_from <= dt.date(2100, 1, 1):
        raise InvalidInput(errors={"debut": ["Date invraisemblable."]})
    if closed_from is None:
        reason = None
    before = _closure_values(venue)
    venue.closed_from, venue.closed_until, venue.closure_reason = (closed_from, closed_until,
                                                                   reason)
    _changed(session, venue, actor, now, "fermeture modifiée", before, _closure_values(venue))


# --------------------------------------------------------------------------- contacts

PHONE = re.compile(r"^\+?[\d .()-]{6,25}$")
CONTACT_FIELDS = ("telephone", "courriels", "site_web", "prise_rdv")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"[\n|]", text or "") if line.strip()]


def set_contacts(session: Session, venue: Venue, form: dict, actor: Actor,
                 now: dt.datetime) -> list[str]:
    """Phones, e-mails, web sites (one per line) and the booking link; returns the fields
    changed."""
    from .services import EMAIL

    values = {"telephone": _lines(form.get("telephone", "")),
              "courriels": _lines(form.get("courriels", "")),
              "site_web": _lines(form.get("site_web", "")),
              "prise_rdv": (form.get("prise_rdv") or "").strip() or None}
    errors: dict[str, list[str]] = {}
    if bad := [p for p in values["telephone"] if not PHONE.match(p)]:
        errors["telephone"] = [f"Numéro invalide : {', '.join(bad)}."]
    if bad := [e for e in values["courriels"] if not EMAIL.match(e.lower())]:
        errors["courriels"] = [f"Adresse invalide : {', '.join(bad)}."]
    urls = values["site_web"] + ([values["prise_rdv"]] if values["prise_rdv"] else [])
    if bad := [u for u in urls if not re.match(r"^https?://[^\s/]+\.[^\s]+$", u)]:
        errors["site_web"] = [f"Adresse web invalide (https://…) : {', '.join(bad)}."]
    if errors:
        raise InvalidInput(errors=errors)
    changed = [k for k in CONTACT_FIELDS if getattr(venue, k) != values[k]]
    if not changed:
        return []
    before = {k: getattr(venue, k) for k in changed}
    for key in changed:
        setattr(venue, key, values[key])
        mark_edited(session, venue.id, key, now)
    _changed(session, venue, actor, now, "coordonnées modifiées", before,
             {k: values[k] for k in changed})
    return changed


# --------------------------------------------------------------------------- offers

LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _offer_values(offer: Offer) -> dict:
    return {"titre": offer.title, "service": offer.service, "niveau": offer.level,
            "format": offer.format, "langues": list(offer.languages or []),
            "cheques": offer.cheques_required, "duree_minutes": offer.duration_minutes,
            "description": offer.description, "active": offer.active}


def _int(value, name: str, errors: dict, low: int, high: int, *, optional=True) -> int | None:
    value = (str(value) if value is not None else "").strip()
    if not value:
        if not optional:
            errors[name] = ["Valeur requise."]
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        errors[name] = [f"Nombre entier attendu entre {low} et {high}."]
        return None
    return int(value)


def save_offer(session: Session, venue: Venue, form: dict, actor: Actor, now: dt.datetime,
               offer: Offer | None = None) -> Offer:
    errors: dict[str, list[str]] = {}
    title = (form.get("titre") or "").strip()
    if not title or len(title) > 200:
        errors["titre"] = ["Donnez un titre (200 caractères au plus)."]
    service = form.get("service") or ""
    if service not in SERVICES:
        errors["service"] = ["Choisissez un service de la liste."]
    level = _int(form.get("niveau"), "niveau", errors, min(LEVELS), max(LEVELS))
    fmt = form.get("format") or ""
    if fmt not in OFFER_FORMATS:
        errors["format"] = ["Choisissez un format de la liste."]
    languages = [code.strip().lower() for code in re.split(r"[,\s]+", form.get("langues") or "fr")
                 if code.strip()] or ["fr"]
    if bad := [c for c in languages if not LANGUAGE.match(c)]:
        errors["langues"] = [f"Codes de langue attendus (fr, en, ar…), reçu : {', '.join(bad)}."]
    cheques = _int(form.get("cheques"), "cheques", errors, 0, 20, optional=False)
    duration = _int(form.get("duree_minutes"), "duree_minutes", errors, 1, 24 * 60)
    description = (form.get("description") or "").strip()[:MAX_TEXT] or None
    active = form.get("active", "1") in ("1", "on", "true", "oui")
    if errors:
        raise InvalidInput(errors=errors)
    before = _offer_values(offer) if offer else None
    if offer is None:
        number = session.scalar(select(func.count()).select_from(Offer)
                                .where(Offer.lieu_id == venue.id)) + 1
        code = f"manuel-{number}"
        while session.scalar(select(Offer.id).where(Offer.lieu_id == venue.id,
                                                     Offer.code == code)):
            number += 1
            code = f"manuel-{number}"
        offer = Offer(lieu_id=venue.id, code=code)
        session.add(offer)
    offer.title, offer.service, offer.level, offer.format = title, service, level, fmt
    offer.languages, offer.cheques_required = languages, cheques
    offer.duration_minutes, offer.description, offer.active = duration, description, active
    offer.updated_at = now
    session.flush()
    _changed(session, venue, actor, now, "offre créée" if before is None else "offre modifiée",
             before or {}, _offer_values(offer), object_type="offre", object_id=offer.id)
    return offer


def get_offer(session: Session, venue: Venue, offer_id: int) -> Offer:
    offer = session.scalar(select(Offer).where(Offer.id == offer_id,
                                               Offer.lieu_id == venue.id))
    if offer is None:
        raise NotFound("Cette offre n'existe pas dans ce lieu.")
    return offer


def add_session(session: Session, venue: Venue, offer: Offer, form: dict, actor: Actor,
                now: dt.datetime) -> TrainingSession:
    """A dated session of ``offer``; times are the venue's local time."""
    errors: dict[str, list[str]] = {}
    zone = ZoneInfo(venue.timezone)
    try:
        day = dt.date.fromisoformat(form.get("jour") or "")
    except ValueError:
        day = None
        errors["jour"] = ["Date attendue (AAAA-MM-JJ)."]
    times = []
    for name in ("debut", "fin"):
        try:
            times.append(dt.time.fromisoformat(form.get(name) or ""))
        except ValueError:
            errors[name] = ["Heure attendue (HH:MM)."]
    seats = _int(form.get("places"), "places", errors, 1, 500, optional=False)
    if errors:
        raise InvalidInput(errors=errors)
    starts = dt.datetime.combine(day, times[0], zone)
    ends = dt.datetime.combine(day, times[1], zone)
    if ends <= starts:
        raise InvalidInput(errors={"fin": ["L'heure de fin doit suivre celle du début."]})
    if starts < now:
        raise InvalidInput(errors={"jour": ["La séance doit être dans le futur."]})
    if starts > now + dt.timedelta(days=730):
        raise InvalidInput(errors={"jour": ["Séance à plus de deux ans : date invraisemblable."]})
    if session.scalar(select(TrainingSession.id).where(TrainingSession.offre_id == offer.id,
                                                        TrainingSession.starts_at == starts)):
        raise Conflict("Une séance de cette offre commence déjà à cette heure.")
    row = TrainingSession(offre_id=offer.id, starts_at=starts, ends_at=ends, seats=seats)
    session.add(row)
    session.flush()
    _changed(session, venue, actor, now, "séance ajoutée", {},
             {"offre": offer.id, "debut": starts, "fin": ends, "places": seats},
             object_type="seance", object_id=row.id)
    return row


# --------------------------------------------------------------------------- programmes


def request_acceptance(session: Session, venue: Venue, programme_code: str, actor: Actor,
                       now: dt.datetime) -> AcceptanceRequest:
    programme = session.scalar(select(Programme).where(Programme.code == programme_code))
    if programme is None:
        raise InvalidInput(errors={"programme": ["Choisissez un programme de la liste."]})
    pending = session.scalar(select(AcceptanceRequest).where(
        AcceptanceRequest.lieu_id == venue.id, AcceptanceRequest.programme_id == programme.id,
        AcceptanceRequest.status == "pending"))
    if pending:
        raise Conflict("Une demande pour ce programme est déjà en attente.")
    row = AcceptanceRequest(lieu_id=venue.id, programme_id=programme.id,
                            requested_by=actor.person_id, requested_at=now)
    session.add(row)
    session.flush()
    journal.append(session, actor, "acceptation demandée", now,
                   object_type="acceptance_request", object_id=row.id, lieu_id=venue.id,
                   after={"programme": programme.code})
    return row


def decide_acceptance(session: Session, request_row: AcceptanceRequest, approve: bool,
                      reason: str, actor: Actor, now: dt.datetime) -> AcceptanceRequest:
    if request_row.status != "pending":
        raise Conflict("Cette demande a déjà été traitée.")
    reason = (reason or "").strip()[:MAX_TEXT] or None
    if not approve and not reason:
        raise InvalidInput(errors={"motif": ["Donnez le motif du refus."]})
    programme = session.get(Programme, request_row.programme_id)
    if approve:
        today = now.astimezone(ZoneInfo("Europe/Paris")).date()
        programmes_mod.accept(session, programme_code=programme.code,
                              venue_reference=str(request_row.lieu_id),
                              valid_from=max(today, programme.valid_from), source="manual")
    request_row.status = "approved" if approve else "refused"
    request_row.reason = reason
    request_row.decided_by = actor.person_id
    request_row.decided_at = now
    session.flush()
    journal.append(session, actor, "acceptation " + ("approuvée" if approve else "refusée"),
                   now, object_type="acceptance_request", object_id=request_row.id,
                   lieu_id=request_row.lieu_id,
                   after={"programme": programme.code, "motif": reason})
    return request_row


def confirm_data(session: Session, venue: Venue, actor: Actor, now: dt.datetime) -> None:
    before = {"confirme_le": venue.confirmed_at, "par": venue.confirmed_by_role}
    venue.confirmed_at = now
    venue.confirmed_by_role = ROLE_LABELS_FR.get(actor.role or "", "gestionnaire du lieu")
    _changed(session, venue, actor, now, "données confirmées", before,
             {"confirme_le": now, "par": venue.confirmed_by_role})


REMINDER_ACTION = "rappel de confirmation envoyé"


def venues_to_remind(session: Session, now: dt.datetime, months: int) -> list[Venue]:
    """Managed, not closed venues whose data nobody confirmed for ``months`` months and
    that got no reminder in the last 30 days (so the command can run every day)."""
    from .models import JournalEntry, RoleGrant

    limit = now - dt.timedelta(days=round(months * 30.44))
    managed = select(func.cast(RoleGrant.scope, Venue.id.type)).where(
        RoleGrant.role == "venue_manager")
    reminded = select(JournalEntry.lieu_id).where(
        JournalEntry.action == REMINDER_ACTION,
        JournalEntry.at > now - dt.timedelta(days=30))
    return list(session.scalars(
        select(Venue).where(Venue.id.in_(managed), Venue.status != "closed",
                            func.coalesce(Venue.confirmed_at, Venue.created_at) < limit,
                            Venue.id.not_in(reminded))
        .order_by(Venue.id)))


def managers_of(session: Session, venue_id: int) -> list[str]:
    """E-mails of the active managers of a venue."""
    from .models import Person, RoleGrant

    return list(session.scalars(
        select(Person.email).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role == "venue_manager", RoleGrant.scope == str(venue_id),
               Person.active).order_by(Person.email)))
