"""Ranking of the candidates that passed the hard constraints: score, tie-break, reasons and
unmet preferences in French, travel-time estimates, relaxation hints' wording.

Pure (no Flask, no database): unit-tested directly, and reused by the brute-force reference of
the property test.

Score (lower is better), in "kilometre equivalents" so that it reads as a distance:
``distance_km + UNMET_PENALTY_KM × unmet preferences + UNKNOWN_HOURS_PENALTY_KM (hours
unknown while an availability was given) + WAIT_PENALTY_KM_PER_DAY × days until the first
opening or session inside the availability + CERTAINTY_PENALTY_KM of the surest answer to
the topics asked`` (an offer on the topic, before a topic the venue only declares, before
its broad service alone). With no availability and no preference the score
is the distance: results come in order of distance. Ties: distance, then venue id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.text import distance_fr, km_fr, language_fr
from directory.vocabulary import (
    BY_DECLARED,
    BY_OFFER,
    BY_SERVICE,
    LEVELS,
    TOPIC_ANSWERS,
    TOPIC_BY_CODE,
    TOPIC_SUBJECTS,
)

from .availability import Slot, availability_fr
from .question import DETOUR_FACTOR, TRAVEL_MODES, Question

UNMET_PENALTY_KM = 3.0
UNKNOWN_HOURS_PENALTY_KM = 2.0
WAIT_PENALTY_KM_PER_DAY = 0.25
# How sure it is that the venue teaches the topic asked (directory.rules.topic_answer): a
# venue that only declares it, or only its broad service, comes after one with an offer on
# it at a similar distance.
CERTAINTY_PENALTY_KM = {BY_OFFER: 0.0, BY_DECLARED: 1.5, BY_SERVICE: 3.0}

FORMAT_MET = {"individual": "accompagnement individuel", "collective": "atelier collectif",
              "remote": "accompagnement à distance", "autonomous": "accès en autonomie"}
FORMAT_UNMET = {"individual": "pas d'accompagnement individuel annoncé",
                "collective": "pas d'atelier collectif annoncé",
                "remote": "pas d'accompagnement à distance annoncé",
                "autonomous": "pas d'accès en autonomie annoncé"}
# An offer's format as a reason cites it: « propose « Prendre en main son smartphone » (atelier) ».
FORMAT_SHORT = {"individual": "accompagnement individuel", "collective": "atelier",
                "remote": "à distance", "autonomous": "en accès libre"}
# The standard's modalites_accompagnement value for each format.
FORMAT_MODALITE = {"individual": "Accompagnement individuel",
                   "collective": "Dans un atelier collectif",
                   "remote": "À distance", "autonomous": "En autonomie"}
# Languages the standard's prise_en_charge_specifique can vouch for.
LANGUAGE_SUPPORT = {"en": "Langues étrangères (anglais)"}
OTHER_LANGUAGES_SUPPORT = "Langues étrangères (autres)"


@dataclass(frozen=True)
class OfferInfo:
    offer_id: int
    venue_id: int
    title: str
    service: str
    level: int | None
    format: str
    cheques_required: int
    duration_minutes: int | None
    languages: tuple[str, ...]
    publics: tuple[str, ...]
    next_session: Slot | None = None
    topics: tuple[str, ...] = ()
    covered: bool | None = None  # the asked pass pays for it; None without a pass asked

    @property
    def usable(self) -> bool:
        return self.covered is not False


@dataclass
class Candidate:
    """A venue (or an itinerant venue's stop) that passed the hard constraints."""

    venue_id: int
    distance_m: float
    services: frozenset[str]  # the requested services it offers and the pass covers
    topics: frozenset[str] = frozenset()  # requested topics of its offers the pass pays for
    # How it answers each requested topic it answers (directory.rules.topic_answer:
    # BY_OFFER, BY_DECLARED, BY_SERVICE); empty: through its offers only (``offers``).
    certainty: dict[str, str] = field(default_factory=dict)
    offers: list[OfferInfo] = field(default_factory=list)
    publics: frozenset[str] = frozenset()
    support: frozenset[str] = frozenset()
    modalites: frozenset[str] = frozenset()
    hours_known: bool = False
    slot: Slot | None = None  # first opening/session inside the availability
    stop_label: str | None = None
    extra: dict = field(default_factory=dict)  # display fields, carried through


@dataclass
class Ranked:
    candidate: Candidate
    score: float
    reasons: list[str]
    unmet: list[str]
    travel_minutes: dict[str, int]


# Travel estimates only where they make sense: nobody is told a walk beyond this distance
# (as shown, straight line), and a bus or tram trip never takes less than this (waiting,
# walking to and from the stops).
WALK_MAX_M = 5000
TRANSIT_MIN_MINUTES = 10


def travel_minutes(distance_m: float) -> dict[str, int]:
    """Estimated minutes by mode: geodesic × DETOUR_FACTOR at the speeds of TRAVEL_MODES;
    no walking beyond WALK_MAX_M, transit at least TRANSIT_MIN_MINUTES."""
    if distance_m <= 0:
        return dict.fromkeys(TRAVEL_MODES, 0)
    road_km = distance_m / 1000 * DETOUR_FACTOR
    minutes = {mode: max(1, round(road_km / speed * 60)) for mode, speed in TRAVEL_MODES.items()
               if not (mode == "walk" and distance_m > WALK_MAX_M)}
    if "transit" in minutes:
        minutes["transit"] = max(TRANSIT_MIN_MINUTES, minutes["transit"])
    return minutes


def _offers_language(c: Candidate, code: str) -> bool:
    if any(code in o.languages for o in c.offers):
        return True
    if code in LANGUAGE_SUPPORT:
        return LANGUAGE_SUPPORT[code] in c.support
    return code != "fr" and OTHER_LANGUAGES_SUPPORT in c.support or code == "fr"


def assess(c: Candidate, q: Question, *, programme_name: str | None, now: datetime,
           in_commune: bool) -> Ranked:
    """Score, reasons and unmet preferences of one candidate."""
    reasons: list[str] = []
    unmet: list[str] = []
    if programme_name:
        reasons.append(f"accepte le {programme_name}")
    reasons.append(distance_fr(c.distance_m, in_commune=in_commune))
    if c.stop_label:
        reasons.append(f"passe à {c.stop_label}")
    surest = None
    for topic in q.topics:
        offer = offer_on_topic(c, topic)
        how = BY_OFFER if offer is not None else c.certainty.get(topic)
        if how is not None:
            surest = how if surest is None else min(surest, how, key=TOPIC_ANSWERS.index)
        if offer is not None:
            reasons.append(f"propose « {offer.title} » ({FORMAT_SHORT[offer.format]})")
        elif how == BY_DECLARED:
            reasons.append(f"annonce « {TOPIC_BY_CODE[topic].label} » (le lieu ne détaille "
                           "pas ses ateliers : appelez avant de venir)")
        elif how == BY_SERVICE:
            reasons.append(f"accompagne à « {TOPIC_BY_CODE[topic].service} » — sans "
                           f"précision sur {TOPIC_SUBJECTS[topic]} : appelez avant de venir")
        else:
            unmet.append(f"pas d'offre annoncée pour « {TOPIC_BY_CODE[topic].plain} »")
    for service in q.services:
        if service in c.services:
            reasons.append(f"propose « {service} »")
        else:
            unmet.append(f"ne propose pas « {service} »")
    if c.slot is not None:
        reasons.append(c.slot.text)
    for value in q.support:
        reasons.append(f"prise en charge : {value}")
    usable = [o for o in c.offers if o.usable]
    if q.level:
        if any(o.level in (None, q.level) for o in usable):
            reasons.append(f"offre de niveau {q.level} ({LEVELS[q.level]})")
        else:
            unmet.append(f"pas d'offre de niveau {q.level} ({LEVELS[q.level]}) annoncée")
    for fmt in q.formats:
        if any(o.format == fmt for o in usable) or FORMAT_MODALITE[fmt] in c.modalites:
            reasons.append(FORMAT_MET[fmt])
        else:
            unmet.append(FORMAT_UNMET[fmt])
    for public in q.publics:
        if public in c.publics or any(public in o.publics for o in c.offers):
            reasons.append(f"accueil spécifique : {public}")
        else:
            unmet.append(f"pas d'accueil spécifique : {public}")
    for code in q.languages:
        if _offers_language(c, code):
            reasons.append(f"en {language_fr(code)}")
        else:
            unmet.append(f"pas d'offre annoncée en {language_fr(code)}")
    score = c.distance_m / 1000 + UNMET_PENALTY_KM * len(unmet)
    if surest is not None:
        score += CERTAINTY_PENALTY_KM[surest]
    if q.availability.given:
        if c.slot is None and not c.hours_known:
            unmet.append("horaires inconnus : appelez avant de vous déplacer")
            score += UNKNOWN_HOURS_PENALTY_KM
        elif c.slot is not None:
            wait_days = max(0.0, (c.slot.start - now).total_seconds() / 86400)
            score += WAIT_PENALTY_KM_PER_DAY * wait_days
    return Ranked(candidate=c, score=round(score, 6), reasons=reasons, unmet=unmet,
                  travel_minutes=travel_minutes(c.distance_m))


def offer_on_topic(c: Candidate, topic: str) -> OfferInfo | None:
    """The offer a reason cites for ``topic``: one the person can use (paid by the pass
    asked), the one with the first session inside the availability, else the first."""
    found = [o for o in c.offers if o.usable and topic in o.topics]
    if not found:
        return None
    return min(found, key=lambda o: (o.next_session is None,
                                     o.next_session.start if o.next_session else 0, o.offer_id))


def fits_availability(c: Candidate, q: Question) -> bool:
    """Hard part of the availability: a venue known to be closed during it is excluded;
    unknown hours are kept (ranked lower)."""
    return not q.availability.given or c.slot is not None or not c.hours_known


def rank(candidates: list[Candidate], q: Question, *, programme_name: str | None,
         now: datetime, in_commune: bool = False) -> list[Ranked]:
    """Rank the candidates: score, then distance, then venue id (deterministic)."""
    ranked = [assess(c, q, programme_name=programme_name, now=now, in_commune=in_commune)
              for c in candidates if fits_availability(c, q)]
    ranked.sort(key=lambda r: (r.score, r.candidate.distance_m, r.candidate.venue_id))
    return ranked


def radius_message(steps: list[int], counts: list[int], radius: int, wanted: int) -> str | None:
    """'Aucun lieu à moins de 10 km ; recherche élargie à 20 km.' when the search widened."""
    if radius == steps[0]:
        return None
    previous = max(s for s in steps if s < radius)
    found = counts[steps.index(previous)]
    if found == 0:
        start = f"Aucun lieu à moins de {km_fr(previous)}"
    elif found == 1:
        start = f"Un seul lieu à moins de {km_fr(previous)}"
    else:
        start = f"Seulement {found} lieux à moins de {km_fr(previous)}"
    return f"{start} ; recherche élargie à {km_fr(radius)}."


def _venues(n: int) -> str:
    return "1 lieu" if n == 1 else f"{n} lieux"


def hint(kind: str, count: int, radius_m: int, q: Question, *, has_programme: bool,
         nearest_m: float | None = None, nearest_name: str | None = None,
         at_least: bool = False) -> str | None:
    """One relaxation hint: what fits when the constraint ``kind`` is dropped (``at_least``:
    the count stopped at a cap)."""
    if count <= 0 and kind != "distance":
        return None
    venues = ("au moins " if at_least else "") + _venues(count)
    subject = (f"{venues} {'accepte' if count == 1 else 'acceptent'} ce pass"
               if has_programme else
               f"{venues} {'convient' if count == 1 else 'conviennent'} pour le reste")
    subject = subject[0].upper() + subject[1:]
    where = f"à moins de {km_fr(radius_m)}"
    if kind == "availability":
        return f"{subject} {where}, mais aucun {availability_fr(q.availability)}."
    if kind == "support":
        return (f"{subject} {where}, mais aucun n'annonce la prise en charge "
                + " et ".join(f"« {s} »" for s in q.support) + ".")
    if kind == "services":
        return (f"{subject} {where}, mais aucun ne propose "
                + " ou ".join(f"« {s} »" for s in q.services) + ".")
    if kind == "topics":
        return (f"{subject} {where}, mais aucun n'annonce d'offre pour "
                + " ou ".join(f"« {TOPIC_BY_CODE[t].plain} »" for t in q.topics) + ".")
    if kind == "programme":
        verb = "propose" if count == 1 else "proposent"
        what = ("une offre sur ce sujet" if q.topics else
                "ce service" if q.services else "un accompagnement")
        venues = ("Au moins " if at_least else "") + _venues(count)
        return f"{venues} {verb} {what} {where}, mais aucun n'accepte ce pass."
    if kind == "distance":
        if nearest_m is None:
            return None
        name = f" ({nearest_name})" if nearest_name else ""
        return (f"Le lieu le plus proche qui convient est {distance_fr(nearest_m)}{name}, "
                f"au-delà de la distance demandée.")
    raise ValueError(kind)
