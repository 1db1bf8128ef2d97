"""Groups: a prescriber uploads a pseudonymous list (the cohort CSV of ``match cohort``, no
personal data column), the cohort assignment places each person (capacity per time
window, session seats), the page shows it on a map and a table, the prescriber adjusts
(moves a person to another venue of the assignment, leaves people out, drops a session),
then one referral per person is sent in one action."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.journal import Actor
from core.errors import InvalidInput
from directory.models import Offer, TrainingSession
from matching.cohort.assignment import CohortResult, needs_from_loaded, run_cohort
from matching.cohort.candidates import resolve_places
from matching.cohort.commands import CommandError, describe_errors, read_people_csv
from matching.cohort.schemas import CohortRequestSchema

from . import services
from .models import Referral

MAX_UPLOAD_BYTES = 1_000_000
# A person's place on the map: rounded to 0.01° (about 1 km), never the exact point given.
PLACE_DECIMALS = 2


@dataclass
class GroupPlan:
    """The assignment and what its map shows: each person's approximate place (by the
    pseudonymous key) and the venues a person can be moved to."""

    result: CohortResult
    places: dict[str, tuple[float, float]]
    venues: list[dict]


def plan(session: Session, data: bytes, programme_code: str | None,
         now: dt.datetime) -> GroupPlan:
    """The cohort's assignment of the uploaded CSV, with the places and venues of the
    group's map; InvalidInput with one French line per problem."""
    loaded = _load(data, programme_code)
    result = run_cohort(loaded, now=now, session=session)
    needs = needs_from_loaded(loaded["people"])
    resolved = resolve_places(session, [n.question.where for n in needs])
    places = {}
    for need in needs:
        where = need.question.where
        if where.lat is not None and where.lon is not None:
            lat, lon = where.lat, where.lon
        elif where in resolved:
            lat, lon = resolved[where].lat, resolved[where].lon
        else:
            continue
        places[need.key] = (round(lat, PLACE_DECIMALS), round(lon, PLACE_DECIMALS))
    venues: dict[int, dict] = {}
    for a in result.assignments:
        venues.setdefault(a.venue_id, {"id": a.venue_id, "nom": a.nom, "commune": a.commune,
                                       "lat": a.lat, "lon": a.lon, "count": 0})
        venues[a.venue_id]["count"] += 1
    ordered = sorted(venues.values(), key=lambda v: (-v["count"], v["nom"]))
    return GroupPlan(result, places, ordered)


def _load(data: bytes, programme_code: str | None) -> dict:
    """The uploaded CSV as a cohort request, or InvalidInput (one French line each)."""
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
    return loaded


def send(session: Session, rows: list[dict], *, prescriber_id: int, structure: str,
         programme_id: int | None, cheques: str | None, consent: bool, now: dt.datetime,
         actor: Actor) -> list[Referral]:
    """One referral per kept row ``{"id", "lieu", "seance"}``; all or nothing. A session
    of another venue than the row's (the person was moved) is dropped: the referral goes
    to the venue."""
    if not consent:
        raise InvalidInput(errors={"consentement": [
            "Le consentement de chaque personne du groupe est nécessaire."]})
    kept = [r for r in rows if r.get("garder")]
    if not kept:
        raise InvalidInput(errors={"personnes": ["Gardez au moins une personne."]})
    referrals = []
    for row in kept:
        if row.get("seance") and session.scalar(
                select(Offer.lieu_id).join(TrainingSession, TrainingSession.offre_id == Offer.id)
                .where(TrainingSession.id == row["seance"])) != row["lieu"]:
            row = {**row, "seance": None}
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
