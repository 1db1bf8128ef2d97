"""Groups: a prescriber uploads a pseudonymous list (the cohort CSV of ``match cohort``, no
personal data column), the cohort assignment places each person (capacity per time
window, session seats), the prescriber adjusts (leaves people out, drops a session), then
one referral per person is sent in one action."""

from __future__ import annotations

import datetime as dt

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from accounts.journal import Actor
from core.errors import InvalidInput
from matching.cohort.assignment import CohortResult, run_cohort
from matching.cohort.commands import CommandError, describe_errors, read_people_csv
from matching.cohort.schemas import CohortRequestSchema

from . import services
from .models import Referral

MAX_UPLOAD_BYTES = 1_000_000


def assign(session: Session, data: bytes, programme_code: str | None,
           now: dt.datetime) -> CohortResult:
    """The cohort's assignment, or InvalidInput with one French line per problem."""
    if not data:
        raise InvalidInput(errors={"fichier": ["Choisissez un fichier CSV de personnes."]})
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(errors={"fichier": ["Fichier trop gros (1 Mo au plus)."]})
    try:
        people = read_people_csv(data)
    except CommandError as exc:
        raise InvalidInput(errors={"fichier": [exc.message]}) from None
    where = [f"ligne {p.pop('_line')}" for p in people]
    body = {"people": people}
    if programme_code:
        body["programme"] = programme_code
    try:
        loaded = CohortRequestSchema().load(body)
    except ValidationError as exc:
        raise InvalidInput(errors={"fichier": describe_errors(exc.messages, where)}) from None
    return run_cohort(loaded, now=now, session=session)


def send(session: Session, rows: list[dict], *, prescriber_id: int, structure: str,
         programme_id: int | None, cheques: str | None, consent: bool, now: dt.datetime,
         actor: Actor) -> list[Referral]:
    """One referral per kept row ``{"id", "lieu", "seance"}``; all or nothing."""
    if not consent:
        raise InvalidInput(errors={"consentement": [
            "Le consentement de chaque personne du groupe est nécessaire."]})
    kept = [r for r in rows if r.get("garder")]
    if not kept:
        raise InvalidInput(errors={"personnes": ["Gardez au moins une personne."]})
    referrals = []
    for row in kept:
        try:
            referrals.append(services.create(
                session, prescriber_id=prescriber_id, structure=structure,
                lieu_id=row["lieu"], offre_id=None, seance_id=row.get("seance"),
                programme_id=programme_id, cheques=cheques, first_name=row["id"],
                contact_kind="prescripteur", contact_value=None,
                availability=row.get("disponibilites"), note=None, consent=True, now=now,
                actor=actor))
        except InvalidInput as exc:
            details = " ".join(t for texts in exc.errors.values() for t in texts)
            raise InvalidInput(errors={"personnes": [f"{row['id']} : {details}"]}) from None
    return referrals
