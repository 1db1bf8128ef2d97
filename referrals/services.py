"""Referrals: creation, the venue's signed link, every state change (through
``states.check``), seats taken without overbooking, timed work (reminders, expiry),
anonymisation, a person's export and erasure.

``session`` and ``now`` are passed in; errors are ``core.errors`` classes in French.
Nothing here logs or journals personal data: the journal gets states, ids and counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from accounts import journal
from accounts.journal import Actor
from accounts.models import Person, RoleGrant
from core.errors import Conflict, InvalidInput, NotFound, PasserelleError
from directory.models import Offer, Programme, TrainingSession, Venue

from . import states
from .models import CONTACT_KINDS, Referral, ReferralLink

CONSENT_VERSION = "2026-12-v1"
CONSENT_TEXT = (
    "La personne a donné son accord pour que son prénom (ou ses initiales), le moyen de "
    "contact qu'elle a choisi et ses disponibilités soient transmis au lieu choisi, afin "
    "qu'il la recontacte. Ces informations sont effacées au plus tard deux ans après "
    "l'orientation ; elle peut demander à les consulter ou à les effacer à tout moment.")
NOTE_WARNING = ("N'écrivez ici aucune donnée de santé, de handicap, de situation "
                "judiciaire, d'origine, de religion ni aucune autre donnée sensible.")
MAX_TEXT = 500
OBJECT = "orientation"


class LinkInvalid(PasserelleError):
    status = 410
    message = "Ce lien n'est pas valable."


@dataclass(frozen=True)
class Settings:
    secret: str
    link_days: int = 8
    remind_days: int = 10
    expire_days: int = 30
    anonymise_days: int = 730

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(secret=config["SECRET_KEY"],
                   link_days=config["PASSERELLE_REFERRAL_LINK_DAYS"],
                   remind_days=config["PASSERELLE_REFERRAL_REMIND_DAYS"],
                   expire_days=config["PASSERELLE_REFERRAL_EXPIRE_DAYS"],
                   anonymise_days=config["PASSERELLE_REFERRAL_ANONYMISE_DAYS"])


# --------------------------------------------------------------------------- creation


def _clean(value: str | None, limit: int = MAX_TEXT) -> str:
    """One line, spaces collapsed, at most ``limit`` characters."""
    return " ".join((value or "").split())[:limit]


def _new_reference(session: Session) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
    while True:
        reference = "OR-" + "".join(secrets.choice(alphabet) for _ in range(6))
        if session.scalar(select(Referral.id).where(Referral.reference == reference)) is None:
            return reference


def structures_of(session: Session, person_id: int) -> list[str]:
    return sorted(session.scalars(select(RoleGrant.scope).where(
        RoleGrant.person_id == person_id, RoleGrant.role == "prescriber")))


def target_of(session: Session, lieu_id: int | None, offre_id: int | None = None,
              seance_id: int | None = None) -> tuple[Venue, Offer | None,
                                                     TrainingSession | None]:
    """The venue, offer and session a referral goes to, checked to belong together."""
    venue = session.get(Venue, lieu_id) if lieu_id else None
    if venue is None:
        raise NotFound("Lieu introuvable.")
    offer = session.get(Offer, offre_id) if offre_id else None
    if offre_id and (offer is None or offer.lieu_id != venue.id):
        raise NotFound("Offre introuvable pour ce lieu.")
    seance = session.get(TrainingSession, seance_id) if seance_id else None
    if seance_id:
        if seance is None:
            raise NotFound("Séance introuvable.")
        offer = offer or session.get(Offer, seance.offre_id)
        if offer is None or seance.offre_id != offer.id or offer.lieu_id != venue.id:
            raise NotFound("Séance introuvable pour ce lieu.")
    return venue, offer, seance


def create(session: Session, *, prescriber_id: int, structure: str, lieu_id: int,
           offre_id: int | None, seance_id: int | None, programme_id: int | None,
           cheques: str | int | None, first_name: str | None, contact_kind: str | None,
           contact_value: str | None, availability: str | None, note: str | None,
           consent: bool, now: dt.datetime, actor: Actor) -> Referral:
    venue, offer, seance = target_of(session, lieu_id, offre_id, seance_id)
    errors: dict[str, list[str]] = {}
    first_name = _clean(first_name, 40)
    if not first_name:
        errors["prenom"] = ["Indiquez le prénom ou les initiales de la personne."]
    kind = (contact_kind or "").strip()
    value = _clean(contact_value, 120)
    if kind not in CONTACT_KINDS:
        errors["contact"] = ["Choisissez comment la personne souhaite être contactée."]
    elif kind == "prescripteur":
        value = ""
    elif not value:
        errors["coordonnee"] = [f"Indiquez le {CONTACT_KINDS[kind]} choisi par la personne."]
    elif kind == "courriel" and ("@" not in value or " " in value):
        errors["coordonnee"] = ["Adresse électronique invalide : attendu prenom@exemple.fr."]
    elif kind in ("telephone", "sms") and sum(c.isdigit() for c in value) < 10:
        errors["coordonnee"] = ["Numéro de téléphone invalide : 10 chiffres attendus."]
    try:
        cheque_count = int(cheques or 0)
        if not 0 <= cheque_count <= 20:
            raise ValueError
    except (TypeError, ValueError):
        errors["cheques"] = ["Nombre de chèques attendu entre 0 et 20."]
        cheque_count = 0
    programme = None
    if programme_id:
        programme = session.get(Programme, programme_id)
        if programme is None:
            errors["programme"] = ["Programme inconnu."]
    if cheque_count and programme is None:
        errors.setdefault("programme", ["Choisissez le pass dont les chèques seront donnés."])
    if not consent:
        errors["consentement"] = ["Le consentement de la personne est nécessaire pour "
                                  "transmettre l'orientation."]
    if seance is not None and seance.starts_at <= now:
        errors["seance"] = ["Cette séance est déjà passée : choisissez-en une autre."]
    if errors:
        raise InvalidInput(errors=errors)
    referral = Referral(
        reference=_new_reference(session), created_at=now, prescriber_id=prescriber_id,
        structure=structure, lieu_id=venue.id, offre_id=offer.id if offer else None,
        seance_id=seance.id if seance else None,
        programme_id=programme.id if programme else None, cheques_intended=cheque_count,
        first_name=first_name, contact_kind=kind, contact_value=value or None,
        availability=_clean(availability) or None, note=(note or "").strip()[:MAX_TEXT] or None,
        consent_by=prescriber_id, consent_at=now, consent_version=CONSENT_VERSION,
        state=states.SENT, state_at=now)
    session.add(referral)
    session.flush()
    journal.append(session, actor, "orientation envoyée", now, object_type=OBJECT,
                   object_id=referral.id, lieu_id=venue.id,
                   after={"etat": states.SENT, "seance": referral.seance_id,
                          "offre": referral.offre_id, "programme": referral.programme_id,
                          "cheques": cheque_count, "consentement": CONSENT_VERSION})
    return referral


# --------------------------------------------------------------------------- signed links


def _signature(settings: Settings, link_id: int, nonce: str) -> str:
    mac = hmac.new(settings.secret.encode(), f"orientation-reponse:{link_id}:{nonce}".encode(),
                   hashlib.sha256)
    return mac.hexdigest()[:32]


def new_link(session: Session, referral: Referral, now: dt.datetime,
             settings: Settings) -> str:
    """A single-purpose answer link: ``<id>.<nonce>.<hmac>``; only the nonce's SHA-256
    is stored."""
    nonce = secrets.token_urlsafe(24)
    link = ReferralLink(referral_id=referral.id,
                        nonce_hash=hashlib.sha256(nonce.encode()).hexdigest(),
                        created_at=now, expires_at=now + dt.timedelta(days=settings.link_days))
    session.add(link)
    session.flush()
    return f"{link.id}.{nonce}.{_signature(settings, link.id, nonce)}"


def read_link(session: Session, token: str, now: dt.datetime,
              settings: Settings) -> tuple[ReferralLink, Referral]:
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 18:
        raise LinkInvalid("Ce lien est incomplet ou abîmé : copiez-le en entier depuis le "
                          "courriel.")
    link_id, nonce, signature = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(signature, _signature(settings, link_id, nonce)):
        raise LinkInvalid("Ce lien n'est pas authentique (signature invalide).")
    link = session.get(ReferralLink, link_id)
    if link is None or not hmac.compare_digest(
            link.nonce_hash, hashlib.sha256(nonce.encode()).hexdigest()):
        raise LinkInvalid("Ce lien est inconnu.")
    if link.used_at is not None:
        raise LinkInvalid("Ce lien a déjà servi : la réponse est enregistrée. Pour la "
                          "modifier, connectez-vous à votre espace.")
    if link.expires_at <= now:
        raise LinkInvalid("Ce lien a expiré (8 jours) : connectez-vous à votre espace pour "
                          "répondre.")
    referral = session.get(Referral, link.referral_id)
    if referral is None or referral.anonymised_at is not None:
        raise LinkInvalid("Cette orientation n'existe plus.")
    if referral.state != states.SENT:  # answered elsewhere: the link has no purpose left
        raise LinkInvalid(f"Cette orientation a déjà reçu une réponse (elle est "
                          f"{states.LABELS_FR[referral.state]}) ; connectez-vous à votre "
                          "espace pour la suivre.")
    return link, referral


def use_link(session: Session, link: ReferralLink, purpose: str, now: dt.datetime) -> None:
    """Spend the link once (a replay, even concurrent, is refused)."""
    spent = session.execute(
        update(ReferralLink).where(ReferralLink.id == link.id, ReferralLink.used_at.is_(None))
        .values(used_at=now, used_for=purpose).returning(ReferralLink.id)).first()
    if spent is None:
        raise LinkInvalid("Ce lien a déjà servi : la réponse est enregistrée.")


# --------------------------------------------------------------------------- transitions


def _locked(session: Session, referral_id: int) -> Referral:
    referral = session.scalar(select(Referral).where(Referral.id == referral_id)
                              .with_for_update().execution_options(populate_existing=True))
    if referral is None:
        raise NotFound("Orientation introuvable.")
    return referral


def _move(session: Session, referral: Referral, target: str, now: dt.datetime, actor: Actor,
          action: str, **after) -> Referral:
    states.check(referral.state, target)
    before = {"etat": referral.state}
    referral.state = target
    referral.state_at = now
    if target in states.ANSWERED or target == states.EXPIRED:
        referral.answered_at = now if target in states.ANSWERED else None
    session.flush()
    journal.append(session, actor, action, now, object_type=OBJECT, object_id=referral.id,
                   lieu_id=referral.lieu_id, before=before, after={"etat": target, **after})
    return referral


def take_seat(session: Session, seance_id: int) -> None:
    """One seat of the session, or Conflict: a conditional UPDATE (the row lock makes
    concurrent acceptances wait, then re-check), so a session is never overbooked."""
    taken = session.execute(
        update(TrainingSession)
        .where(TrainingSession.id == seance_id,
               TrainingSession.seats_taken < TrainingSession.seats)
        .values(seats_taken=TrainingSession.seats_taken + 1)
        .returning(TrainingSession.id)).first()
    if taken is None:
        raise Conflict("Cette séance est complète : il n'y a plus de place. Refusez "
                       "l'orientation (motif « plus de place ») ou proposez une autre séance.")


def release_seat(session: Session, seance_id: int) -> None:
    session.execute(update(TrainingSession).where(
        TrainingSession.id == seance_id, TrainingSession.seats_taken > 0)
        .values(seats_taken=TrainingSession.seats_taken - 1))


def accept(session: Session, referral_id: int, now: dt.datetime, actor: Actor, *,
           other_seance_id: int | None = None) -> Referral:
    """Accept (taking a seat when it goes to a session), or accept on another session of
    the same venue (proposed by the venue)."""
    referral = _locked(session, referral_id)
    states.check(referral.state, states.ACCEPTED)
    after = {}
    if other_seance_id:
        _, offer, seance = target_of(session, referral.lieu_id, None, other_seance_id)
        if seance.starts_at <= now:
            raise InvalidInput(errors={"seance": ["Cette séance est déjà passée."]})
        after = {"seance_avant": referral.seance_id, "seance": seance.id}
        referral.seance_id, referral.offre_id = seance.id, offer.id
    if referral.seance_id:
        take_seat(session, referral.seance_id)
    return _move(session, referral, states.ACCEPTED, now, actor,
                 "orientation acceptée sur une autre séance" if other_seance_id
                 else "orientation acceptée", **after)


def refuse(session: Session, referral_id: int, reason: str | None, text_: str | None,
           now: dt.datetime, actor: Actor) -> Referral:
    if reason not in states.REFUSAL_REASONS:
        raise InvalidInput(errors={"motif": [
            "Choisissez un motif de refus dans la liste."]})
    referral = _locked(session, referral_id)
    states.check(referral.state, states.REFUSED)
    referral.refusal_reason = reason
    referral.refusal_text = (text_ or "").strip()[:MAX_TEXT] or None
    return _move(session, referral, states.REFUSED, now, actor, "orientation refusée",
                 motif=reason)


def record_visit(session: Session, referral_id: int, came: bool, now: dt.datetime,
                 actor: Actor) -> Referral:
    referral = _locked(session, referral_id)
    target = states.ATTENDED if came else states.NO_SHOW
    return _move(session, referral, target, now, actor,
                 "personne venue" if came else "personne pas venue")


def honour(session: Session, referral_id: int, cheques: str | int | None,
           pass_numbers: str | list[str] | None, now: dt.datetime, actor: Actor) -> Referral:
    try:
        count = int(cheques)
        if not 1 <= count <= 20:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(errors={"cheques": [
            "Nombre de chèques honorés attendu entre 1 et 20."]}) from None
    if isinstance(pass_numbers, str):
        pass_numbers = pass_numbers.replace(",", " ").split()
    numbers = [n.strip()[:40] for n in (pass_numbers or []) if n.strip()][:20]
    referral = _locked(session, referral_id)
    states.check(referral.state, states.HONOURED)
    referral.cheques_honoured = count
    referral.pass_numbers = numbers
    return _move(session, referral, states.HONOURED, now, actor, "pass honoré",
                 cheques=count, numeros=len(numbers))


# --------------------------------------------------------------------------- timed work


@dataclass
class TickReport:
    expired: list[int]
    reminded: list[tuple[int, str]]  # (referral id, answer link token)


def tick(session: Session, now: dt.datetime, settings: Settings, actor: Actor) -> TickReport:
    """Expire referrals unanswered for ``expire_days``; give a reminder link for those
    unanswered for ``remind_days`` and not reminded yet. Idempotent: a second run at the
    same time changes nothing. Mails are sent by the caller after commit."""
    expired = []
    due = now - dt.timedelta(days=settings.expire_days)
    for referral in session.scalars(
            select(Referral).where(Referral.state == states.SENT, Referral.created_at <= due)
            .order_by(Referral.id).with_for_update(skip_locked=True)):
        _move(session, referral, states.EXPIRED, now, actor, "orientation expirée")
        expired.append(referral.id)
    reminded = []
    remind = now - dt.timedelta(days=settings.remind_days)
    for referral in session.scalars(
            select(Referral).where(Referral.state == states.SENT,
                                   Referral.created_at <= remind,
                                   Referral.reminded_at.is_(None))
            .order_by(Referral.id).with_for_update(skip_locked=True)):
        referral.reminded_at = now
        reminded.append((referral.id, new_link(session, referral, now, settings)))
        journal.append(session, actor, "rappel d'orientation envoyé", now, object_type=OBJECT,
                       object_id=referral.id, lieu_id=referral.lieu_id)
    return TickReport(expired, reminded)


# --------------------------------------------------------------------------- privacy

PERSONAL = {"first_name": None, "contact_value": None, "availability": None, "note": None,
            "refusal_text": None, "pass_numbers": []}


def anonymise(session: Session, now: dt.datetime, days: int, actor: Actor) -> int:
    """Empty the personal data of referrals created more than ``days`` ago. Idempotent."""
    limit = now - dt.timedelta(days=days)
    ids = list(session.scalars(
        update(Referral).where(Referral.created_at < limit, Referral.anonymised_at.is_(None))
        .values(**PERSONAL, anonymised_at=now).returning(Referral.id)))
    if ids:
        journal.append(session, actor, "orientations anonymisées", now, object_type=OBJECT,
                       after={"nombre": len(ids), "jours": days})
    return len(ids)


def find_person(session: Session, query: str) -> list[Referral]:
    """Referrals of one person: by reference (OR-…) or by the exact contact given."""
    value = (query or "").strip()
    if len(value) < 4:
        raise InvalidInput(errors={"recherche": [
            "Indiquez une référence (OR-…) ou le contact exact de la personne."]})
    condition = (Referral.reference == value.upper()) if value.upper().startswith("OR-") \
        else (func.lower(Referral.contact_value) == value.lower())
    return list(session.scalars(select(Referral).where(condition, Referral.anonymised_at
                                                       .is_(None)).order_by(Referral.id)))


def export_rows(referrals: list[Referral]) -> list[dict]:
    return [{"reference": r.reference, "creee_le": r.created_at.isoformat(),
             "prenom_ou_initiales": r.first_name,
             "contact": CONTACT_KINDS.get(r.contact_kind, r.contact_kind),
             "coordonnee": r.contact_value, "disponibilites": r.availability,
             "note": r.note, "etat": states.LABELS_FR[r.state],
             "consentement": {"version": r.consent_version, "le": r.consent_at.isoformat()},
             "numeros_de_pass": r.pass_numbers} for r in referrals]


def erase(session: Session, referral_ids: list[int], now: dt.datetime, actor: Actor,
          action: str = "données d'une personne effacées") -> int:
    if not referral_ids:
        return 0
    ids = list(session.scalars(
        update(Referral).where(Referral.id.in_(referral_ids), Referral.anonymised_at.is_(None))
        .values(**PERSONAL, anonymised_at=now).returning(Referral.id)))
    for referral_id in ids:
        journal.append(session, actor, action, now, object_type=OBJECT, object_id=referral_id)
    return len(ids)


# --------------------------------------------------------------------------- people to tell


def venue_recipients(session: Session, venue: Venue) -> list[str]:
    """The venue's active managers, else its public e-mail addresses."""
    managers = list(session.scalars(
        select(Person.email).join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.role == "venue_manager", RoleGrant.scope == str(venue.id),
               Person.active).order_by(Person.email)))
    return managers or [c for c in (venue.courriels or []) if "@" in c][:2]


def prescriber_email(session: Session, referral: Referral) -> str | None:
    person = session.get(Person, referral.prescriber_id) if referral.prescriber_id else None
    return person.email if person is not None and person.active else None

