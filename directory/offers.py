"""Import of offers and sessions from a simple CSV or JSON file (format in the README,
section "Offres et séances : format d'import").

Every record is validated first; any problem aborts the whole file (nothing written) with
one French line per problem (line or offer number, field, reason). Offers are keyed by
(venue, ``code``), sessions by (offer, start): an unchanged record is not rewritten, so
importing the same file twice writes nothing. Offers and sessions absent from the file
are left as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from directory import hours as hours_module
from directory.models import Offer, TrainingSession, Venue, VenueStop
from directory.vocabulary import OFFER_FORMATS, SERVICES, topics_for_offer

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_OFFERS = 50_000
MAX_SESSIONS = 200_000

# French names accepted in files for each offer format (the English code is accepted too).
FORMAT_ALIASES: dict[str, str] = {
    "individuel": "individual", "collectif": "collective", "a_distance": "remote",
    "à_distance": "remote", "distance": "remote", "autonomie": "autonomous",
    **{value: value for value in OFFER_FORMATS},
}
OFFER_FIELDS = ("lieu", "code", "intitule", "description", "service", "thematiques", "niveau",
                "format",
                "duree_minutes", "cheques", "langues", "publics", "horaires", "active")
SESSION_FIELDS = ("debut", "fin", "places", "places_prises", "arret")
CSV_SESSION_COLUMNS = {f"seance_{name}": name for name in SESSION_FIELDS}
REQUIRED_OFFER_FIELDS = ("lieu", "code", "intitule", "service", "format")
TRUE = {"oui", "true", "1", "vrai", "yes"}
FALSE = {"non", "false", "0", "faux", "no"}


class OffersFileError(InvalidInput):
    """The file cannot be imported; ``problems`` lists every reason found."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class OffersResult:
    offers_read: int = 0
    sessions_read: int = 0
    offers_created: int = 0
    offers_updated: int = 0
    offers_unchanged: int = 0
    sessions_created: int = 0
    sessions_updated: int = 0
    sessions_unchanged: int = 0
    # What could not be mapped to a topic, in French, with the place in the file: such an
    # offer answers no "what do you want to learn" question (only its service).
    unmapped: list[str] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return (self.offers_created + self.offers_updated + self.sessions_created
                + self.sessions_updated)


@dataclass
class _Record:
    """An offer as read from the file, before validation."""

    where: str  # "ligne 3" / "offre n° 2"
    values: dict
    sessions: list[tuple[str, dict]] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


def _decode(raw: bytes) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise OffersFileError(
            f"Fichier trop volumineux ({len(raw)} octets, maximum {MAX_FILE_BYTES}).")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OffersFileError(
            "Le fichier n'est pas en UTF-8 : enregistrez-le en UTF-8 puis recommencez.") from None


def read_records(path: Path, fmt: str | None = None) -> list[_Record]:
    fmt = fmt or {".csv": "csv", ".json": "json"}.get(path.suffix.lower())
    if fmt not in ("csv", "json"):
        raise OffersFileError(
            f"Format du fichier « {path.name} » inconnu : extension .csv ou .json, "
            "ou option --format.")
    content = _decode(path.read_bytes())
    return _read_csv(content) if fmt == "csv" else _read_json(content)


def _read_json(content: str) -> list[_Record]:
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise OffersFileError(
            f"JSON illisible ligne {exc.lineno}, colonne {exc.colno} : {exc.msg}.") from None
    if isinstance(data, dict) and set(data) == {"offres"}:
        data = data["offres"]
    if not isinstance(data, list):
        raise OffersFileError(
            "Le JSON doit être une liste d'offres ou un objet {\"offres\": [...]}.")
    records, problems = [], []
    for index, item in enumerate(data, start=1):
        where = f"offre n° {index}"
        if not isinstance(item, dict):
            problems.append(f"{where} : un objet JSON est attendu.")
            continue
        unknown = sorted(set(item) - set(OFFER_FIELDS) - {"seances"})
        if unknown:
            problems.append(f"{where} : champ(s) inconnu(s) : {', '.join(unknown)}.")
        values = {k: item.get(k) for k in OFFER_FIELDS}
        record = _Record(where, values)
        sessions = item.get("seances") or []
        if not isinstance(sessions, list):
            problems.append(f"{where}, champ seances : une liste est attendue.")
            sessions = []
        for s_index, session in enumerate(sessions, start=1):
            s_where = f"{where}, séance n° {s_index}"
            if not isinstance(session, dict):
                problems.append(f"{s_where} : un objet JSON est attendu.")
                continue
            unknown = sorted(set(session) - set(SESSION_FIELDS))
            if unknown:
                problems.append(f"{s_where} : champ(s) inconnu(s) : {', '.join(unknown)}.")
            record.sessions.append((s_where, {k: session.get(k) for k in SESSION_FIELDS}))
        records.append(record)
    if problems:
        raise OffersFileError(f"{len(problems)} problème(s) dans le fichier.", problems)
    return records


def _read_csv(content: str) -> list[_Record]:
    first_line = content.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in REQUIRED_OFFER_FIELDS if c not in columns]
    unknown = [c for c in columns if c not in OFFER_FIELDS and c not in CSV_SESSION_COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("colonne(s) manquante(s) : " + ", ".join(missing))
        if unknown:
            parts.append("colonne(s) inconnue(s) : " + ", ".join(unknown))
        raise OffersFileError("En-tête du CSV invalide : " + " ; ".join(parts) + ".")
    records: dict[tuple[str, str], _Record] = {}
    problems = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            problems.append(f"ligne {line} : plus de cellules que de colonnes.")
            continue
        row = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items()}
        if not any(row.values()):
            continue
        where = f"ligne {line}"
        values = {k: (row.get(k) or None) for k in OFFER_FIELDS}
        for key in ("langues", "publics"):
            if values[key] is not None:
                values[key] = [p.strip() for p in values[key].split("|") if p.strip()]
        key = (values["lieu"] or "", values["code"] or "")
        record = records.get(key)
        if record is None:
            record = records[key] = _Record(where, values)
        else:
            # Later rows of the same offer repeat it (one row per session): they must agree.
            for name in OFFER_FIELDS:
                if values[name] is not None and values[name] != record.values[name]:
                    problems.append(
                        f"{where}, colonne {name} : diffère de la {record.where} pour la même "
                        f"offre ({values[name]!r} au lieu de {record.values[name]!r}).")
        session = {name: row.get(column) or None for column, name in CSV_SESSION_COLUMNS.items()}
        if any(session.values()):
            record.sessions.append((where, session))
    if problems:
        raise OffersFileError(f"{len(problems)} problème(s) dans le fichier.", problems)
    return list(records.values())


# --------------------------------------------------------------------------- validation


@dataclass
class _ValidOffer:
    venue: Venue
    values: dict
    sessions: list[dict]


def _as_int(value, where: str, name: str, problems: list[str], *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        problems.append(f"{where}, {name} : nombre entier attendu, reçu « {value} ».")
        return None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"entre {minimum} et {maximum}" if maximum is not None else f"≥ {minimum}"
        problems.append(f"{where}, {name} : {number} hors limites ({bounds}).")
        return None
    return number


def _as_bool(value, where: str, name: str, problems: list[str]) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text_value = str(value).strip().lower()
    if text_value in TRUE:
        return True
    if text_value in FALSE:
        return False
    problems.append(f"{where}, {name} : oui ou non attendu, reçu « {value} ».")
    return None


def _as_list(value, where: str, name: str, problems: list[str]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [p.strip() for p in value.split("|") if p.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where}, {name} : liste de textes attendue.")
        return None
    return [v.strip() for v in value if v.strip()]


def _as_datetime(value, tz: str, where: str, name: str,
                 problems: list[str]) -> dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        problems.append(f"{where}, {name} : date et heure ISO 8601 attendues "
                        f"(ex. 2026-12-01T14:00), reçu « {value} ».")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))  # the venue's local time
    if not dt.datetime(2000, 1, 1, tzinfo=dt.UTC) <= moment <= dt.datetime(
            2100, 1, 1, tzinfo=dt.UTC):
        problems.append(f"{where}, {name} : date invraisemblable « {value} ».")
        return None
    return moment


def week_ranges(intervals: list[tuple[int, int]]) -> list[Range]:
    return [Range(start, end, bounds="[)") for start, end in intervals]


def _resolve_venue(session: Session, reference, cache: dict) -> Venue | None:
    if reference in cache:
        return cache[reference]
    venue = None
    text_ref = str(reference).strip()
    if ":" in text_ref:
        source, _, source_id = text_ref.partition(":")
        venue = session.scalar(select(Venue).where(Venue.source == source.strip())
                               .where(Venue.source_id == source_id.strip()))
    elif text_ref.isdigit():
        venue = session.get(Venue, int(text_ref))
    cache[reference] = venue
    return venue


def validate(session: Session, records: list[_Record],
             unmapped: list[str] | None = None) -> list[_ValidOffer]:
    """The offers of ``records``, or OffersFileError with every problem; ``unmapped``
    receives the offers whose title and description name no topic."""
    problems: list[str] = []
    venues: dict = {}
    seen: dict[tuple[int, str], str] = {}
    result: list[_ValidOffer] = []
    if len(records) > MAX_OFFERS:
        raise OffersFileError(f"Trop d'offres ({len(records)}, maximum {MAX_OFFERS}).")
    if sum(len(r.sessions) for r in records) > MAX_SESSIONS:
        raise OffersFileError(f"Trop de séances (maximum {MAX_SESSIONS}).")
    for record in records:
        v, where = record.values, record.where
        count_before = len(problems)
        for name in REQUIRED_OFFER_FIELDS:
            if v.get(name) in (None, ""):
                problems.append(f"{where}, {name} : champ obligatoire manquant.")
        for name in ("code", "intitule", "description", "service", "format", "horaires"):
            if v.get(name) is not None and not isinstance(v[name], str):
                problems.append(f"{where}, {name} : texte attendu.")
        if len(problems) > count_before:
            continue
        venue = _resolve_venue(session, v["lieu"], venues)
        if venue is None:
            problems.append(f"{where}, lieu : lieu introuvable « {v['lieu']} » (attendu "
                            "source:identifiant d'un lieu importé, ex. demo:lieu-0001).")
            continue
        key = (venue.id, v["code"].strip())
        if key in seen:
            problems.append(f"{where}, code : offre « {v['code']} » déjà décrite ({seen[key]}).")
            continue
        seen[key] = where
        service = v["service"].strip()
        if service not in SERVICES:
            problems.append(f"{where}, service : « {service} » n'est pas un service du standard "
                            "(valeurs : " + " ; ".join(SERVICES) + ").")
        offer_format = FORMAT_ALIASES.get(v["format"].strip().lower())
        if offer_format is None:
            problems.append(f"{where}, format : « {v['format']} » inconnu (individuel, "
                            "collectif, a_distance ou autonomie).")
        level = _as_int(v.get("niveau"), where, "niveau", problems, minimum=1, maximum=3)
        duration = _as_int(v.get("duree_minutes"), where, "duree_minutes", problems,
                           minimum=1, maximum=24 * 60)
        cheques = _as_int(v.get("cheques"), where, "cheques", problems, minimum=0, maximum=20)
        languages = _as_list(v.get("langues"), where, "langues", problems)
        if languages is not None:
            bad = [code for code in languages if not (len(code) == 2 and code.isalpha()
                                                      and code.islower())]
            if bad:
                problems.append(f"{where}, langues : codes ISO 639-1 attendus (fr, en…), "
                                f"reçu {', '.join(bad)}.")
        publics = _as_list(v.get("publics"), where, "publics", problems)
        topics, topic_problems = topics_for_offer(
            _as_list(v.get("thematiques") or None, where, "thematiques", problems),
            v["intitule"], service, v.get("description"))
        problems.extend(f"{where}, thematiques : {p}." for p in topic_problems)
        if not topics and not v.get("thematiques") and unmapped is not None:
            unmapped.append(f"{where}, intitule : aucune thématique reconnue dans "
                            f"« {v['intitule'].strip()} » (ni dans sa description) ; "
                            "donnez-la dans la colonne thematiques, sinon l'offre ne répond "
                            "à aucune demande par thématique.")
        active = _as_bool(v.get("active"), where, "active", problems)
        osm, weekly = None, None
        if v.get("horaires"):
            try:
                parsed = hours_module.parse(v["horaires"], venue.timezone)
                osm = parsed.osm
                weekly = week_ranges(hours_module.weekly_intervals(parsed))
            except hours_module.InvalidHours as exc:
                problems.append(f"{where}, horaires : {exc}.")
        sessions = []
        starts: dict[dt.datetime, str] = {}
        for s_where, s in record.sessions:
            start = _as_datetime(s.get("debut"), venue.timezone, s_where, "debut", problems)
            end = _as_datetime(s.get("fin"), venue.timezone, s_where, "fin", problems)
            seats = _as_int(s.get("places"), s_where, "places", problems, minimum=1,
                            maximum=10_000)
            taken = _as_int(s.get("places_prises"), s_where, "places_prises", problems,
                            minimum=0)
            if start is None:
                if s.get("debut") in (None, ""):
                    problems.append(f"{s_where}, debut : champ obligatoire manquant.")
                continue
            if end is None and s.get("fin") in (None, "") and duration:
                end = start + dt.timedelta(minutes=duration)
            if end is None:
                if s.get("fin") in (None, ""):
                    problems.append(f"{s_where}, fin : manquante (et pas de duree_minutes).")
                continue
            if end <= start:
                problems.append(f"{s_where}, fin : doit suivre le début.")
                continue
            if seats is None:
                if s.get("places") in (None, ""):
                    problems.append(f"{s_where}, places : champ obligatoire manquant.")
                continue
            if taken is not None and taken > seats:
                problems.append(f"{s_where}, places_prises : {taken} > places ({seats}).")
                continue
            if start in starts:
                problems.append(f"{s_where}, debut : séance en double ({starts[start]}).")
                continue
            starts[start] = s_where
            stop_id = None
            if s.get("arret") not in (None, ""):
                stop_id = _find_stop(session, venue, str(s["arret"]).strip())
                if stop_id is None:
                    problems.append(f"{s_where}, arret : arrêt « {s['arret']} » inconnu pour "
                                    "ce lieu.")
                    continue
            sessions.append({"starts_at": start, "ends_at": end, "seats": seats,
                             "seats_taken": taken or 0, "stop_id": stop_id})
        result.append(_ValidOffer(venue, {
            "code": v["code"].strip(),
            "title": v["intitule"].strip(),
            "description": (v.get("description") or "").strip() or None,
            "service": service,
            "topics": topics,
            "level": level,
            "format": offer_format,
            "duration_minutes": duration,
            "cheques_required": 1 if cheques is None else cheques,
            "languages": languages or ["fr"],
            "publics": publics or [],
            "horaires": osm,
            "opening_week": weekly,
            "active": True if active is None else active,
        }, sessions))
    if problems:
        raise OffersFileError(f"{len(problems)} problème(s) : rien n'a été importé.", problems)
    return result


def _find_stop(session: Session, venue: Venue, label: str) -> int | None:
    return session.scalar(select(VenueStop.id).where(VenueStop.lieu_id == venue.id)
                          .where(VenueStop.label == label))


# --------------------------------------------------------------------------- writing


def _same(current, wanted) -> bool:
    if isinstance(wanted, list) and wanted and isinstance(wanted[0], Range):
        current_ranges = [(r.lower, r.upper) for r in (current or [])]
        return current_ranges == [(r.lower, r.upper) for r in wanted]
    return current == wanted


def write(session: Session, offers: list[_ValidOffer], result: OffersResult) -> None:
    for item in offers:
        offer = session.scalar(select(Offer).where(Offer.lieu_id == item.venue.id)
                               .where(Offer.code == item.values["code"]))
        if offer is None:
            offer = Offer(lieu_id=item.venue.id, **item.values)
            session.add(offer)
            session.flush()
            result.offers_created += 1
            existing: dict[dt.datetime, TrainingSession] = {}
        else:
            changed = {k: v for k, v in item.values.items()
                       if not _same(getattr(offer, k), v)}
            if changed:
                for key, value in changed.items():
                    setattr(offer, key, value)
                result.offers_updated += 1
            else:
                result.offers_unchanged += 1
            existing = {s.starts_at: s for s in offer.sessions}
        for values in item.sessions:
            current = existing.get(values["starts_at"])
            if current is None:
                session.add(TrainingSession(offre_id=offer.id, **values))
                result.sessions_created += 1
            elif any(getattr(current, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(current, key, value)
                result.sessions_updated += 1
            else:
                result.sessions_unchanged += 1
    session.flush()


def import_offers(session: Session, path: Path, fmt: str | None = None, dry_run: bool = False,
                  progress: Callable[[str], None] | None = None) -> OffersResult:
    """Validate the whole file, then write it (the caller commits, or rolls back)."""
    records = read_records(path, fmt)
    unmapped: list[str] = []
    offers = validate(session, records, unmapped)
    result = OffersResult(offers_read=len(offers),
                          sessions_read=sum(len(o.sessions) for o in offers),
                          unmapped=[f"{path.name}, {note}" for note in unmapped])
    if dry_run:
        # Write inside a savepoint rolled back at once: the counts are the real ones.
        savepoint = session.begin_nested()
        try:
            write(session, offers, result)
        finally:
            savepoint.rollback()
        return result
    write(session, offers, result)
    return result
