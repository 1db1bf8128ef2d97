"""Demonstration data over the real geography: ``flask --app app demo load``.

Deterministic: the same seed, région and reference date always give the same catalogue;
idempotent: a second run with the same arguments writes nothing. Everything is marked
``source = "demo"`` and the names are plausible but fictional ("Espace numérique de …").

- venues at real town halls (the first of each commune) and around them inside the commune
  polygon, about one per ``INHABITANTS_PER_VENUE`` inhabitants (a small commune gets a venue
  with the corresponding probability);
- a mix of typologies of the ANCT list, services of the standard, valid OSM opening hours,
  weekly capacities (some unknown), a few temporarily closed venues, a few itinerant buses
  with stops at small communes' town halls;
- offers per venue, with dated sessions in the four weeks after the reference date;
- three programmes: the most populous département of the région, the région, its most
  populous EPCI; each accepted by a subset of the venues in its perimeter.

The pure generation helpers (names, hours, services, SIRET) are reused by
``bench/generate_venues.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.text import slug
from directory import hours as hours_module
from directory.models import Acceptance, Offer, TrainingSession, Venue, VenueStop
from directory.programmes import save_programme
from directory.vocabulary import OFFER_FORMAT_TO_MODALITE, SERVICES

SOURCE = "demo"
INHABITANTS_PER_VENUE = 4000
SESSION_WEEKS = 4
ITINERANT_BUSES = 4
# The demo's own "last updated" date, fixed so that data does not change from day to day.
DEMO_DATA_DATE = dt.date(2026, 9, 1)

# --------------------------------------------------------------------------- vocabulary

# typology -> (name pattern, weight in towns, weight in villages, hours templates, services)
_DEMARCHES, _MAITRISE, _INSERTION, _SECURITE, _PARENTALITE, _LOISIRS, _MONDE, _ACCES, \
    _MATERIEL = SERVICES

HOURS = {
    "mairie": "Mo-Fr 08:30-12:00,13:30-17:00; PH off",
    "mairie_village": "Tu,Th 09:00-12:00; Sa 09:00-11:00; PH off",
    "mediatheque": "Tu 14:00-18:00; We 10:00-12:00,14:00-18:00; Fr 14:00-18:00; "
                   "Sa 10:00-12:00,14:00-17:00; PH off",
    "mediatheque_village": "We 14:00-18:00; Sa 10:00-12:30; PH off",
    "bureau": "Mo-Fr 09:00-12:00,14:00-17:30; PH off",
    "france_services": "Mo-Th 09:00-12:30,13:30-17:00; Fr 09:00-12:30; PH off",
    "association": "Mo,Tu,Th 14:00-18:00; We 09:00-12:00,14:00-18:00; PH off",
    "tiers_lieu": "Tu-Fr 09:30-18:30; Sa 10:00-13:00; PH off",
    "centre_social": "Mo-Fr 09:00-12:00,13:30-18:00; PH off",
    "jeunesse": "Tu-Fr 13:30-18:30; We 10:00-12:00; Sa 14:00-18:00; PH off",
    "poste": "Mo-Fr 09:00-12:00,14:00-17:00; Sa 09:00-12:00; PH off",
}

TYPOLOGIES = {
    # code: (names, town weight, village weight, hours key(s), base services)
    "EPN": (["Espace public numérique de {c}", "Espace numérique {q} – {c}"], 14, 3,
            ("association", "tiers_lieu"), (_MAITRISE, _DEMARCHES, _SECURITE, _ACCES)),
    "BIB": (["Médiathèque de {c}", "Médiathèque {q} – {c}", "Bibliothèque de {c}"], 16, 10,
            ("mediatheque", "mediatheque_village"), (_MAITRISE, _ACCES, _LOISIRS, _MONDE)),
    "MUNI": (["Mairie de {c} – point numérique"], 3, 20, ("mairie", "mairie_village"),
             (_DEMARCHES, _ACCES)),
    "MSAP": (["France Services de {c}", "Espace France Services {q} – {c}"], 8, 4,
             ("france_services",), (_DEMARCHES, _MAITRISE, _ACCES)),
    "CCAS": (["CCAS de {c} – accueil numérique"], 8, 2, ("bureau",), (_DEMARCHES, _MAITRISE)),
    "CSC": (["Centre social {q} – {c}", "Centre socioculturel de {c}"], 10, 1,
            ("centre_social",), (_MAITRISE, _DEMARCHES, _PARENTALITE)),
    "ASSO": (["Association Clic et Lien – {c}", "Les Connectés de {c}",
              "Association Numérique pour tous – {c}"], 14, 4, ("association",),
             (_MAITRISE, _SECURITE, _LOISIRS)),
    "TIERS_LIEUX": (["Tiers-lieu {q} – {c}", "La Fabrique numérique de {c}"], 7, 2,
                    ("tiers_lieu",), (_MAITRISE, _LOISIRS, _MONDE, _INSERTION)),
    "MJC": (["MJC de {c}", "Maison des jeunes {q} – {c}"], 5, 1, ("jeunesse",),
            (_LOISIRS, _MAITRISE, _PARENTALITE)),
    "ML": (["Mission locale de {c} – atelier numérique"], 4, 0, ("bureau",),
           (_INSERTION, _DEMARCHES)),
    "PIJ_BIJ": (["Point information jeunesse de {c}"], 3, 0, ("jeunesse",),
                (_INSERTION, _MAITRISE, _SECURITE)),
    "LA_POSTE": (["Bureau de poste de {c} – espace numérique"], 3, 2, ("poste",),
                 (_DEMARCHES, _ACCES)),
    "FABLAB": (["Fablab {q} – {c}"], 2, 0, ("tiers_lieu",), (_LOISIRS, _MONDE, _MATERIEL)),
    "RESSOURCERIE": (["Ressourcerie informatique de {c}"], 1, 0, ("association",),
                     (_MATERIEL, _ACCES)),
}

QUARTERS = ("du Centre", "des Tilleuls", "du Parc", "des Érables", "de la Gare", "du Lac",
            "des Vignes", "du Port", "des Écoles", "des Acacias", "du Marché", "des Platanes",
            "du Moulin", "de la Source", "des Coteaux", "du Pont", "des Lilas", "des Prés")
STREETS = ("rue de la République", "avenue Jean-Jaurès", "place de la Mairie",
           "rue Victor-Hugo", "rue des Écoles", "allée des Tilleuls", "rue du Stade",
           "boulevard de la Liberté", "rue Pasteur", "place du Marché", "rue de la Gare",
           "chemin des Vignes")
PUBLICS = ("Jeunes", "Étudiants", "Familles et/ou enfants", "Seniors", "Femmes")
SUPPORT = ("Surdité", "Handicaps moteurs", "Handicaps mentaux", "Illettrisme",
           "Langues étrangères (anglais)", "Langues étrangères (autres)", "Déficience visuelle")
PRESENTATIONS = {
    _MAITRISE: "apprendre à se servir d'un ordinateur, d'une tablette ou d'un smartphone",
    _DEMARCHES: "être aidé pour les démarches en ligne (CAF, impôts, santé, retraite)",
    _INSERTION: "préparer un CV et candidater en ligne",
    _SECURITE: "se protéger des arnaques et gérer ses mots de passe",
    _PARENTALITE: "accompagner les enfants dans leurs usages des écrans",
    _LOISIRS: "photo, vidéo et création numérique",
    _MONDE: "comprendre les réseaux sociaux et l'intelligence artificielle",
    _ACCES: "utiliser librement ordinateurs, imprimante et connexion",
    _MATERIEL: "s'équiper d'un ordinateur reconditionné à petit prix",
}

# Topic codes of vocabulary.TOPICS under short names, for the templates below.
_T = {
    "smartphone": "numerique--prendre-en-main-un-smartphone-ou-une-tablette",
    "ordinateur": "numerique--prendre-en-main-un-ordinateur",
    "courriels": "numerique--envoyer-recevoir-gerer-ses-courriels",
    "appel-video": "numerique--appeler-ses-proches-en-video",
    "demarches": "numerique--realiser-des-demarches-administratives-avec-un-accompagnement",
    "sante": "numerique--accompagner-les-demarches-de-sante",
    "emploi": "numerique--favoriser-mon-insertion-professionnelle",
    "arnaques": "numerique--se-proteger-en-ligne",
    "parents": "numerique--soutenir-la-parentalite-et-l-education-avec-le-numerique",
    "creations": "numerique--creer-avec-le-numerique",
    "culture": "numerique--approfondir-ma-culture-numerique",
    "materiel-sur-place": "numerique--acceder-a-du-materiel",
    "equipement": "numerique--s-equiper-en-materiel-informatique",
}
# service -> list of (code, title, format, level, duration minutes, cheques, topic); each
# title names its topic in words vocabulary.topics_from_text recognises (a test checks it).
OFFER_TEMPLATES: dict[str, list[tuple[str, str, str, int | None, int, int, str]]] = {
    _MAITRISE: [("tablette", "Premiers pas avec une tablette", "collective", 1, 120, 1,
                 _T["smartphone"]),
                ("smartphone", "Bien utiliser son smartphone", "collective", 1, 120, 1,
                 _T["smartphone"]),
                ("ordinateur", "L'ordinateur pas à pas", "individual", 1, 60, 1,
                 _T["ordinateur"]),
                ("messagerie", "Envoyer et recevoir des courriels", "collective", 2, 120, 1,
                 _T["courriels"]),
                ("appel-video", "Appeler ses proches en vidéo", "collective", 1, 90, 1,
                 _T["appel-video"])],
    _DEMARCHES: [("demarches", "Démarches en ligne : CAF, impôts, retraite", "individual", 1,
                  60, 1, _T["demarches"]),
                 ("ameli", "Créer son compte Ameli", "individual", 2, 60, 1,
                  _T["sante"])],
    _INSERTION: [("cv", "CV et candidature en ligne", "individual", 2, 90, 1,
                  _T["emploi"]),
                 ("emploi", "Chercher un emploi sur internet", "collective", 2, 120, 1,
                  _T["emploi"])],
    _SECURITE: [("arnaques", "Se protéger des arnaques en ligne", "collective", 2, 120, 1,
                 _T["arnaques"]),
                ("mots-de-passe", "Gérer ses mots de passe", "collective", 2, 90, 1,
                 _T["arnaques"])],
    _PARENTALITE: [("ecrans", "Écrans et enfants : repères pour les parents", "collective", 2,
                    120, 1, _T["parents"])],
    _LOISIRS: [("photos", "Retoucher et partager ses photos", "collective", 3, 120, 1,
                _T["creations"]),
               ("video", "Monter une vidéo de famille", "collective", 3, 120, 2,
                _T["creations"])],
    _MONDE: [("ia", "Comprendre l'intelligence artificielle", "collective", 3, 120, 1,
              _T["culture"]),
             ("reseaux", "Les réseaux sociaux sans se faire piéger", "collective", 2, 120, 1,
              _T["culture"])],
    _ACCES: [("acces-libre", "Accès libre aux ordinateurs et à l'imprimante", "autonomous",
              None, 60, 0, _T["materiel-sur-place"])],
    _MATERIEL: [("reconditionne", "Choisir un ordinateur reconditionné", "individual", 1, 45,
                 0, _T["equipement"])],
}
REMOTE_OFFER = ("a-distance", "Aide aux démarches à distance, par téléphone", "remote", 1, 45,
                1, _T["demarches"])


def luhn_siret(rng: random.Random) -> str:
    """A 14-digit number passing the Luhn check (SIRET style), fictional."""
    digits = [rng.randrange(10) for _ in range(13)]
    digits[0] = rng.randrange(1, 10)
    for check in range(10):
        candidate = digits + [check]
        total = 0
        for i, d in enumerate(reversed(candidate)):
            if i % 2 == 1:
                d *= 2
                d = d - 9 if d > 9 else d
            total += d
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError("unreachable")


def of(name: str) -> str:
    """French "de" before a place name: "de Pessac", "d'Agen", "du Bouscat", "des Eyzies"."""
    for article, contracted in (("Le ", "du "), ("Les ", "des ")):
        if name.startswith(article):
            return contracted + name[len(article):]
    if name[:1].upper() in "AEIOUYÉÈÊÂÎÔÛH" and not name.startswith(("Hau", "Hon", "Hou")):
        return "d'" + name
    return "de " + name


def pick_typology(rng: random.Random, village: bool) -> str:
    codes = list(TYPOLOGIES)
    weights = [TYPOLOGIES[c][2 if village else 1] for c in codes]
    return rng.choices(codes, weights=weights)[0]


def venue_profile(rng: random.Random, typology: str, commune: str, village: bool,
                  index: int) -> dict:
    """Name, hours, services and the standard's list fields of a fictional venue."""
    names, _, _, hour_keys, base_services = TYPOLOGIES[typology]
    pattern = names[0] if index == 0 and "{q}" not in names[0] else rng.choice(names)
    name = pattern.replace("de {c}", "{de_c}").format(c=commune, de_c=of(commune),
                                                      q=rng.choice(QUARTERS))
    hour_key = hour_keys[-1] if village and len(hour_keys) > 1 else hour_keys[0]
    services = list(base_services)
    extras = [s for s in SERVICES if s not in services]
    services += rng.sample(extras, k=rng.choice((0, 0, 1, 1, 2)))
    services = [s for s in SERVICES if s in services]  # the standard's order
    publics = sorted(rng.sample(PUBLICS, k=rng.choice((0, 0, 1, 2))), key=PUBLICS.index)
    support = sorted(rng.sample(SUPPORT, k=rng.choice((0, 1, 1, 2, 3))), key=SUPPORT.index)
    return {
        "nom": name,
        "horaires": HOURS[hour_key],
        "services": services,
        "publics_specifiquement_adresses": publics,
        "prise_en_charge_specifique": support,
        "typologie": [typology],
    }


def presentation(services: Sequence[str]) -> str:
    parts = [PRESENTATIONS[s] for s in services[:3]]
    text_value = "Accompagnement au numérique : " + " ; ".join(parts) + "."
    return text_value[:280]


# --------------------------------------------------------------------------- planning


@dataclass
class _Commune:
    code: str
    name: str
    population: int
    departement: str
    epci: str | None
    lon: float
    lat: float
    address: str | None
    postal_code: str | None


@dataclass
class PlannedVenue:
    source_id: str
    values: dict
    stops: list[dict] = field(default_factory=list)
    offers: list[dict] = field(default_factory=list)  # each with a "sessions" list
    commune: _Commune | None = None

    def content(self) -> str:
        payload = {"values": self.values, "stops": self.stops, "offers": self.offers}
        return json.dumps(payload, sort_keys=True, default=_json_default, ensure_ascii=False)


def _json_default(value):
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(type(value))


@dataclass
class DemoResult:
    venues_created: int = 0
    venues_updated: int = 0
    venues_unchanged: int = 0
    venues_deleted: int = 0
    offers: int = 0
    sessions: int = 0
    stops: int = 0
    programmes_written: int = 0
    programmes_unchanged: int = 0
    acceptances_created: int = 0
    acceptances_updated: int = 0
    acceptances_deleted: int = 0
    acceptances_unchanged: int = 0

    @property
    def rows_written(self) -> int:
        return (self.venues_created + self.venues_updated + self.venues_deleted
                + self.programmes_written + self.acceptances_created
                + self.acceptances_updated + self.acceptances_deleted)

    def summary(self) -> str:
        total = self.venues_created + self.venues_updated + self.venues_unchanged
        lines = [
            f"Lieux de démonstration : {total} ({self.venues_created} créés, "
            f"{self.venues_updated} mis à jour, {self.venues_unchanged} inchangés, "
            f"{self.venues_deleted} supprimés) ; {self.offers} offres, {self.sessions} séances "
            f"et {self.stops} arrêts réécrits.",
            f"Programmes : {self.programmes_written} enregistrés, {self.programmes_unchanged} "
            "inchangés.",
            f"Acceptations : {self.acceptances_created} créées, {self.acceptances_updated} "
            f"mises à jour, {self.acceptances_deleted} supprimées, "
            f"{self.acceptances_unchanged} inchangées.",
        ]
        if self.rows_written == 0:
            lines.append("Aucune écriture : la démonstration était déjà à jour.")
        return "\n".join(lines)


def _communes(session: Session, region_code: str) -> list[_Commune]:
    rows = session.execute(text(
        "SELECT c.code, c.name, COALESCE(c.population, 0), c.departement_code, c.epci_code, "
        "ST_X(COALESCE(c.town_hall_point, c.point)), ST_Y(COALESCE(c.town_hall_point, c.point)),"
        " c.town_hall_address, (SELECT min(p.code) FROM postal_code p "
        "WHERE p.commune_code = c.code) "
        "FROM commune c WHERE c.region_code = :region "
        "AND COALESCE(c.town_hall_point, c.point) IS NOT NULL ORDER BY c.code"),
        {"region": region_code})
    return [_Commune(*row) for row in rows]


def _jittered_points(session: Session, commune: _Commune, count: int,
                     rng: random.Random) -> list[tuple[float, float]]:
    """``count`` points inside the commune's polygon, near its town hall."""
    from shapely import wkb
    from shapely.geometry import Point

    raw = session.execute(text("SELECT ST_AsBinary(geom) FROM commune WHERE code = :code"),
                          {"code": commune.code}).scalar()
    shape = wkb.loads(bytes(raw)) if raw is not None else None
    points = []
    radius = 0.01 + min(0.04, commune.population / 2_000_000)  # degrees
    for _ in range(count):
        for _attempt in range(30):
            lon = round(commune.lon + rng.uniform(-radius, radius) * 1.4, 6)
            lat = round(commune.lat + rng.uniform(-radius, radius), 6)
            if shape is None or shape.covers(Point(lon, lat)):
                break
        else:
            lon, lat = commune.lon, commune.lat
        points.append((lon, lat))
    return points


def _offer_slot(hours_osm: str, tz: str, duration: int,
                rng: random.Random) -> tuple[int, int] | None:
    """A (start, end) minute-of-week slot of ``duration`` inside the venue's opening."""
    parsed = hours_module.parse(hours_osm, tz)
    candidates = [(a, b) for a, b in hours_module.weekly_intervals(parsed, every_week=True)
                  if b - a >= duration]
    if not candidates:
        return None
    start, _ = rng.choice(candidates)
    return start, start + duration


def _slot_osm(start: int, end: int) -> str:
    day = hours_module.OSM_DAYS[start // 1440]
    return (f"{day} {start % 1440 // 60:02d}:{start % 60:02d}-"
            f"{end % 1440 // 60:02d}:{end % 60:02d}")


def _plan_offers(rng: random.Random, values: dict, reference_date: dt.date,
                 itinerant: bool, key: str) -> list[dict]:
    """Offers of a venue; ``rng`` draws never depend on the reference date (only the
    sessions do, each with its own generator), so that the venues stay the same from one
    day to the next."""

    def session_rng(start: dt.datetime) -> random.Random:
        return random.Random(f"{key}-{start.isoformat()}")

    tz = values["timezone"]
    services = values["services"]
    chosen: list[tuple] = []
    for service in services:
        templates = OFFER_TEMPLATES[service]
        for template in rng.sample(templates, k=min(len(templates), rng.choice((1, 1, 2)))):
            chosen.append((service, template))
    if rng.random() < 0.15 and not itinerant:
        chosen.append((_DEMARCHES, REMOTE_OFFER))
    chosen = chosen[:5]
    offers = []
    zone = ZoneInfo(tz)
    for service, (code, title, fmt, level, duration, cheques, topic) in chosen:
        offer = {"code": code, "title": title, "service": service, "topics": [topic],
                 "level": level,
                 "format": fmt, "duration_minutes": duration, "cheques_required": cheques,
                 "languages": ["fr"] if rng.random() < 0.9 else ["fr", "en"],
                 "publics": list(values["publics_specifiquement_adresses"][:1]),
                 "horaires": None, "opening_week": None, "sessions": []}
        if fmt == "collective" and values["horaires_osm"]:
            slot = _offer_slot(values["horaires_osm"], tz, duration, rng)
            if slot is not None:
                offer["horaires"] = _slot_osm(*slot) + "; PH off"
                offer["opening_week"] = [list(slot)]
                seats = rng.choice((6, 8, 8, 10, 12))
                monday = reference_date - dt.timedelta(days=reference_date.weekday())
                for week in range(SESSION_WEEKS + 1):
                    day = monday + dt.timedelta(days=7 * week + slot[0] // 1440)
                    if day <= reference_date or hours_module.is_public_holiday(day, tz):
                        continue
                    if (day - reference_date).days > 7 * SESSION_WEEKS:
                        continue
                    start = dt.datetime.combine(day, dt.time(slot[0] % 1440 // 60,
                                                             slot[0] % 60), tzinfo=zone)
                    offer["sessions"].append({
                        "starts_at": start,
                        "ends_at": start + dt.timedelta(minutes=duration),
                        "seats": seats,
                        "seats_taken": min(seats, int(session_rng(start).triangular(
                            0, seats + 2, 2))),
                    })
        offers.append(offer)
    return offers


def plan(session: Session, region_code: str, reference_date: dt.date,
         seed: int) -> tuple[list[PlannedVenue], list[_Commune]]:
    communes = _communes(session, region_code)
    planned: list[PlannedVenue] = []
    for commune in communes:
        # One generator per commune: a commune's venues do not depend on the others.
        rng = random.Random(f"{seed}-{commune.code}")
        expected = commune.population / INHABITANTS_PER_VENUE
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if count == 0:
            continue
        village = commune.population < 3000
        points = [(commune.lon, commune.lat)]
        if count > 1:
            points += _jittered_points(session, commune, count - 1, rng)
        for index, (lon, lat) in enumerate(points):
            planned.append(_plan_venue(rng, commune, index, lon, lat, village, reference_date,
                                       seed))
    planned += _plan_buses(random.Random(f"{seed}-{region_code}-buses"), communes,
                           reference_date, session)
    return planned, communes


def _first_line(value: str | None) -> str | None:
    lines = (value or "").strip().splitlines()
    return lines[0].strip() if lines else None


def _address(rng: random.Random, commune: _Commune, index: int) -> str:
    if index == 0 and _first_line(commune.address):
        return _first_line(commune.address)
    return f"{rng.randint(1, 80)} {rng.choice(STREETS)}"


def _plan_venue(rng: random.Random, commune: _Commune, index: int, lon: float, lat: float,
                village: bool, reference_date: dt.date, seed: int) -> PlannedVenue:
    typology = "MUNI" if index == 0 and village and rng.random() < 0.3 else \
        pick_typology(rng, village)
    profile = venue_profile(rng, typology, commune.name, village, index)
    tz = hours_module.timezone_for_code_insee(commune.code)
    hours = hours_module.parse(profile["horaires"], tz)
    source_id = f"{commune.code}-{index + 1:02d}"
    formats = set()
    values = {
        "pivot": luhn_siret(rng),
        "nom": profile["nom"],
        "commune": commune.name,
        "code_postal": commune.postal_code,
        "code_insee": commune.code,
        "adresse": _address(rng, commune, index),
        "typologie": profile["typologie"],
        "telephone": [f"+335{rng.randint(10_000_000, 99_999_999)}"],
        "courriels": [f"contact.{slug(profile['nom'])[:40]}@example.org"],
        "site_web": [],
        "horaires": hours.osm,
        "horaires_osm": hours.osm,
        "horaires_valides": True,
        "opening_week": [list(r) for r in hours_module.weekly_intervals(hours)],
        "timezone": tz,
        "presentation_resume": presentation(profile["services"]),
        "source_donnees": "Passerelle (démonstration)",
        "itinerance": ["Fixe"],
        "date_maj": DEMO_DATA_DATE - dt.timedelta(days=rng.randint(0, 240)),
        "services": profile["services"],
        "publics_specifiquement_adresses": profile["publics_specifiquement_adresses"],
        "prise_en_charge_specifique": profile["prise_en_charge_specifique"],
        "frais_a_charge": [rng.choice(("Gratuit", "Gratuit", "Gratuit sous condition",
                                       "Payant"))],
        "dispositif_programmes_nationaux": (["France Services"] if typology == "MSAP" else [])
        + (["Conseillers numériques"] if rng.random() < 0.35 else []),
        "modalites_acces": sorted(rng.sample(["Se présenter", "Téléphoner",
                                              "Contacter par mail", "Prendre un RDV en ligne"],
                                             k=rng.randint(1, 3))),
        "geom": (lon, lat),
        "location_precision": "address",
        "status": "open",
        "closed_from": None,
        "closed_until": None,
        "weekly_capacity": None if rng.random() < 0.1 else rng.randint(4, 12) * (
            1 if village else rng.randint(1, 5)),
    }
    if values["modalites_acces"] and "Prendre un RDV en ligne" in values["modalites_acces"]:
        values["prise_rdv"] = f"https://example.org/rdv/{slug(profile['nom'])[:40]}"
    else:
        values["prise_rdv"] = None
    if rng.random() < 0.02:
        values["status"] = "temporarily_closed"
        values["closed_from"] = reference_date - dt.timedelta(days=rng.randint(1, 30))
        values["closed_until"] = reference_date + dt.timedelta(days=rng.randint(7, 60))
    venue = PlannedVenue(source_id, values, commune=commune)
    venue.offers = _plan_offers(rng, values, reference_date, itinerant=False,
                                key=f"{seed}-{source_id}")
    for offer in venue.offers:
        formats.add(offer["format"])
    values["modalites_accompagnement"] = [OFFER_FORMAT_TO_MODALITE[f] for f in
                                          ("autonomous", "individual", "collective", "remote")
                                          if f in formats]
    return venue


BUS_STOP_SLOTS = ("Mo 09:30-12:00", "Tu 09:30-12:00", "We 14:00-17:00", "Th 09:30-12:00",
                  "Fr 14:00-17:00")


def _plan_buses(rng: random.Random, communes: list[_Commune], reference_date: dt.date,
                session: Session) -> list[PlannedVenue]:
    by_departement: dict[str, list[_Commune]] = {}
    for commune in communes:
        if commune.population < 2000:
            by_departement.setdefault(commune.departement, []).append(commune)
    eligible = sorted(d for d, cs in by_departement.items() if len(cs) >= 5)
    buses = []
    for departement in rng.sample(eligible, k=min(ITINERANT_BUSES, len(eligible))):
        name = session.execute(text("SELECT name FROM departement WHERE code = :c"),
                               {"c": departement}).scalar() or departement
        stops_communes = rng.sample(by_departement[departement], k=5)
        first = stops_communes[0]
        tz = hours_module.timezone_for_code_insee(first.code)
        stops = []
        for position, (commune, slot) in enumerate(zip(stops_communes, BUS_STOP_SLOTS,
                                                        strict=True)):
            osm = f"{slot}; PH off"
            parsed = hours_module.parse(osm, tz)
            stops.append({"position": position, "label": f"Place de la mairie, {commune.name}",
                          "code_insee": commune.code, "adresse": _first_line(commune.address),
                          "geom": (commune.lon, commune.lat), "horaires": osm,
                          "horaires_osm": osm,
                          "opening_week": [list(r) for r in
                                           hours_module.weekly_intervals(parsed)]})
        osm = "; ".join(BUS_STOP_SLOTS) + "; PH off"
        parsed = hours_module.parse(osm, tz)
        nom = f"Bus numérique {name}"
        values = {
            "pivot": luhn_siret(rng), "nom": nom, "commune": first.name,
            "code_postal": first.postal_code, "code_insee": first.code,
            "adresse": _first_line(first.address) or "Place de la mairie",
            "typologie": ["EPN"],
            "telephone": [f"+335{rng.randint(10_000_000, 99_999_999)}"],
            "courriels": [f"contact.{slug(nom)}@example.org"], "site_web": [],
            "horaires": osm, "horaires_osm": osm, "horaires_valides": True,
            "opening_week": [list(r) for r in hours_module.weekly_intervals(parsed)],
            "timezone": tz,
            "presentation_resume": "Un bus équipé d'ordinateurs et de tablettes s'arrête chaque "
                                   "semaine dans cinq villages : aide aux démarches et "
                                   "initiation au numérique.",
            "source_donnees": "Passerelle (démonstration)", "itinerance": ["Itinérant"],
            "date_maj": DEMO_DATA_DATE - dt.timedelta(days=rng.randint(0, 240)),
            "services": [_DEMARCHES, _MAITRISE], "publics_specifiquement_adresses": ["Seniors"],
            "prise_en_charge_specifique": [], "frais_a_charge": ["Gratuit"],
            "dispositif_programmes_nationaux": ["Conseillers numériques"],
            "modalites_acces": ["Se présenter", "Téléphoner"],
            "modalites_accompagnement": ["Accompagnement individuel"],
            "geom": (first.lon, first.lat), "location_precision": "address", "status": "open",
            "closed_from": None, "closed_until": None, "weekly_capacity": 25, "prise_rdv": None,
        }
        venue = PlannedVenue(f"bus-{departement}", values, stops=stops, commune=first)
        venue.offers = [{
            "code": "demarches", "title": "Démarches en ligne au bus numérique",
            "service": _DEMARCHES, "level": 1, "format": "individual",
            "topics": [_T["demarches"]],
            "duration_minutes": 45, "cheques_required": 1, "languages": ["fr"],
            "publics": [], "horaires": None, "opening_week": None, "sessions": []}]
        buses.append(venue)
    return buses


# --------------------------------------------------------------------------- writing


def _ranges(value):
    from sqlalchemy.dialects.postgresql import Range

    if value is None:
        return None
    return [Range(a, b, bounds="[)") for a, b in value]


def _venue_row(venue: PlannedVenue, now_hash: str) -> dict:
    row = dict(venue.values)
    lon, lat = row.pop("geom")
    row["geom"] = f"SRID=4326;POINT({lon} {lat})"
    row["opening_week"] = _ranges(row["opening_week"])
    row.update({"source": SOURCE, "source_id": venue.source_id, "content_hash": now_hash,
                "flags": [], "complement_adresse": None, "presentation_detail": None,
                "structure_parente": None, "formations_labels": [],
                "autres_formations_labels": [], "fiche_acces_libre": None})
    return row


def _write_children(session: Session, venue_ids: dict[str, int],
                    planned: list[PlannedVenue], result: DemoResult) -> None:
    stop_rows, offer_rows, offer_sessions = [], [], []
    for venue in planned:
        lieu_id = venue_ids[venue.source_id]
        for stop in venue.stops:
            lon, lat = stop["geom"]
            stop_rows.append({**stop, "lieu_id": lieu_id,
                              "geom": f"SRID=4326;POINT({lon} {lat})",
                              "opening_week": _ranges(stop["opening_week"])})
        for offer in venue.offers:
            row = {k: v for k, v in offer.items() if k != "sessions"}
            row.update({"lieu_id": lieu_id, "opening_week": _ranges(offer["opening_week"]),
                        "active": True, "description": None})
            offer_rows.append(row)
            offer_sessions.append(offer["sessions"])
    if stop_rows:
        session.execute(insert(VenueStop), stop_rows)
    if offer_rows:
        ids = session.scalars(insert(Offer).returning(Offer.id, sort_by_parameter_order=True),
                              offer_rows).all()
        session_rows = [{**s, "offre_id": offer_id}
                        for offer_id, sessions in zip(ids, offer_sessions, strict=True)
                        for s in sessions]
        if session_rows:
            session.execute(insert(TrainingSession), session_rows)
        result.sessions += len(session_rows)
    result.offers += len(offer_rows)
    result.stops += len(stop_rows)


def _write_venues(session: Session, planned: list[PlannedVenue], result: DemoResult,
                  progress: Callable[[str], None]) -> dict[str, int]:
    existing = {source_id: (venue_id, content_hash) for venue_id, source_id, content_hash in
                session.execute(select(Venue.id, Venue.source_id, Venue.content_hash)
                                .where(Venue.source == SOURCE))}
    wanted = {venue.source_id for venue in planned}
    obsolete = [venue_id for source_id, (venue_id, _) in existing.items()
                if source_id not in wanted]
    if obsolete:
        session.execute(delete(Venue).where(Venue.id.in_(obsolete)))
        result.venues_deleted = len(obsolete)
    to_insert, to_update = [], []
    hashes = {}
    for venue in planned:
        digest = hashlib.sha256(venue.content().encode()).hexdigest()
        hashes[venue.source_id] = digest
        current = existing.get(venue.source_id)
        if current is None:
            to_insert.append(venue)
        elif current[1] != digest:
            to_update.append(venue)
        else:
            result.venues_unchanged += 1
    ids = {source_id: venue_id for source_id, (venue_id, _) in existing.items()}
    if to_insert:
        progress(f"Écriture de {len(to_insert)} nouveaux lieux…")
        rows = [_venue_row(v, hashes[v.source_id]) for v in to_insert]
        new_ids = session.scalars(
            insert(Venue).returning(Venue.id, sort_by_parameter_order=True), rows).all()
        ids.update({v.source_id: i for v, i in zip(to_insert, new_ids, strict=True)})
        result.venues_created = len(to_insert)
    if to_update:
        progress(f"Mise à jour de {len(to_update)} lieux…")
        updated_ids = [ids[v.source_id] for v in to_update]
        session.execute(delete(VenueStop).where(VenueStop.lieu_id.in_(updated_ids)))
        session.execute(delete(Offer).where(Offer.lieu_id.in_(updated_ids)))
        rows = []
        for venue in to_update:
            row = _venue_row(venue, hashes[venue.source_id])
            row["id"] = ids[venue.source_id]
            row["updated_at"] = dt.datetime.now(dt.UTC)
            rows.append(row)
        session.execute(update(Venue), rows)
        result.venues_updated = len(to_update)
    _write_children(session, ids, to_insert + to_update, result)
    return ids


@dataclass(frozen=True)
class _ProgrammePlan:
    code: str
    name: str
    perimeter: str
    funder: str
    share: float
    allowed_services: tuple[str, ...] = ()
    levels: tuple[int, ...] = (1, 2, 3)


def _programme_plans(session: Session, region_code: str, region_name: str,
                     communes: list[_Commune]) -> list[tuple[_ProgrammePlan, set[str]]]:
    """The programmes and, for each, the communes in its perimeter."""
    population_by_dep: dict[str, int] = {}
    population_by_epci: dict[str, int] = {}
    for c in communes:
        population_by_dep[c.departement] = population_by_dep.get(c.departement, 0) + c.population
        if c.epci:
            population_by_epci[c.epci] = population_by_epci.get(c.epci, 0) + c.population
    plans = []
    all_codes = {c.code for c in communes}
    if population_by_dep:
        dep = max(sorted(population_by_dep), key=population_by_dep.get)
        dep_name = session.execute(text("SELECT name FROM departement WHERE code = :c"),
                                   {"c": dep}).scalar()
        plans.append((_ProgrammePlan(
            f"pass-numerique-{slug(dep_name)}", f"Pass Numérique {dep_name}", f"dep:{dep}",
            f"Département : {dep_name}", 0.45),
            {c.code for c in communes if c.departement == dep}))
    plans.append((_ProgrammePlan(
        f"pass-numerique-{slug(region_name)}", f"Pass Numérique {region_name}",
        f"reg:{region_code}", f"Région {region_name}", 0.3,
        allowed_services=(_MAITRISE, _DEMARCHES, _SECURITE, _INSERTION), levels=(1, 2)),
        all_codes))
    if population_by_epci:
        epci = max(sorted(population_by_epci), key=population_by_epci.get)
        epci_name = session.execute(text("SELECT name FROM epci WHERE code = :c"),
                                    {"c": epci}).scalar()
        plans.append((_ProgrammePlan(
            f"cheque-numerique-{slug(epci_name)}"[:64], f"Chèque numérique {epci_name}",
            f"epci:{epci}", epci_name, 0.5),
            {c.code for c in communes if c.epci == epci}))
    return plans


def _write_programmes(session: Session, region_code: str, communes: list[_Commune],
                      planned: list[PlannedVenue], ids: dict[str, int],
                      reference_date: dt.date, seed: int, result: DemoResult) -> None:
    region_name = session.execute(text("SELECT name FROM region WHERE code = :c"),
                                  {"c": region_code}).scalar()
    valid_from = dt.date(reference_date.year - 1, 1, 1)
    valid_to = dt.date(reference_date.year + 1, 12, 31)
    wanted: dict[tuple[int, int], dict] = {}
    for plan_, commune_codes in _programme_plans(session, region_code, region_name, communes):
        programme, changed = save_programme(
            session, code=plan_.code, name=plan_.name, perimeter_codes=[plan_.perimeter],
            valid_from=valid_from, valid_to=valid_to,
            issuer="Coopérative fictive des chèques numériques", funder=plan_.funder,
            description="Programme de démonstration (données fictives).",
            allowed_services=plan_.allowed_services, levels=plan_.levels)
        if changed:
            result.programmes_written += 1
        else:
            result.programmes_unchanged += 1
        rng = random.Random(f"{seed}-{plan_.code}")
        for number, venue in enumerate(planned):
            if venue.values["code_insee"] not in commune_codes or rng.random() >= plan_.share:
                continue
            services: list[str] = []
            if rng.random() < 0.2:
                allowed = [s for s in venue.values["services"]
                           if not plan_.allowed_services or s in plan_.allowed_services]
                services = allowed[:1]
            wanted[(ids[venue.source_id], programme.id)] = {
                "valid_from": valid_from + dt.timedelta(days=rng.randint(0, 300)),
                "valid_to": None,
                "services": services,
                "qualification_reference": f"DEMO-{plan_.code[-12:].upper()}-{number:05d}",
                "source": "manual",
            }
    existing = {
        (a.lieu_id, a.programme_id): a for a in session.scalars(
            select(Acceptance).join(Venue, Venue.id == Acceptance.lieu_id)
            .where(Venue.source == SOURCE))}
    obsolete = [a.id for key, a in existing.items() if key not in wanted]
    if obsolete:
        session.execute(delete(Acceptance).where(Acceptance.id.in_(obsolete)))
        result.acceptances_deleted = len(obsolete)
    new_rows = []
    for key, values in wanted.items():
        current = existing.get(key)
        if current is None:
            new_rows.append({"lieu_id": key[0], "programme_id": key[1], **values})
        elif any(getattr(current, k) != v for k, v in values.items()) or current.revoked_at:
            for k, v in values.items():
                setattr(current, k, v)
            current.revoked_at = None
            current.revocation_reason = None
            result.acceptances_updated += 1
        else:
            result.acceptances_unchanged += 1
    if new_rows:
        session.execute(insert(Acceptance), new_rows)
        result.acceptances_created = len(new_rows)
    session.flush()


def load_demo(session: Session, reference_date: dt.date, region_code: str = "75",
              seed: int = 2015, progress: Callable[[str], None] | None = None) -> DemoResult:
    """Build the demo catalogue of ``region_code``; the caller commits."""
    progress = progress or (lambda message: None)
    region = session.execute(text("SELECT name FROM region WHERE code = :c"),
                             {"c": region_code}).scalar()
    has_communes = session.execute(
        text("SELECT EXISTS (SELECT 1 FROM commune WHERE region_code = :c)"),
        {"c": region_code}).scalar()
    if region is None or not has_communes:
        raise InvalidInput(
            f"La géographie de la région « {region_code} » n'est pas chargée : lancez d'abord "
            "« flask --app app geodata load », puis relancez « flask --app app demo load ».")
    # One demo load at a time (two concurrent loads would race on the same keys).
    session.execute(text("SELECT pg_advisory_xact_lock(2026003)"))
    progress(f"Préparation de la démonstration : {region} (graine {seed}, date de référence "
             f"{reference_date.isoformat()})…")
    planned, communes = plan(session, region_code, reference_date, seed)
    progress(f"{len(planned)} lieux prévus dans {len({v.values['code_insee'] for v in planned})}"
             " communes.")
    result = DemoResult()
    ids = _write_venues(session, planned, result, progress)
    _write_programmes(session, region_code, communes, planned, ids, reference_date, seed,
                      result)
    session.flush()
    return result


__all__ = ["DemoResult", "load_demo", "luhn_siret", "pick_typology", "venue_profile"]
