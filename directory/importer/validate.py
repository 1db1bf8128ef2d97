"""Validation: candidate rows → normalised records keyed by the standard v1.0.2 field names.

Pure code. Every problem names the line, the field and the reason in French. Levels:
- ``erreur``: the row is rejected, and so the file is not written (all or nothing);
- ``avertissement``: the row is written as given, the problem is reported and, where it
  matters to a reader of the catalogue, kept as a flag on the venue.
Nothing is silently "fixed": swapped coordinates are corrected *and* reported; opening
hours that are not valid OSM syntax are kept as text and flagged; a phone number or an
e-mail that cannot be read is reported and left out.

Duplicates inside a file (same ``id``): the occurrence with the latest ``date_maj`` wins;
at equal dates, the last one in the file. The others are reported and not written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from core.urls import SAFE_SCHEMES, url_refused
from directory import hours as hours_module
from directory.importer.readers import Candidate, unknown_v0_service_fr
from directory.importer.report import ERROR, INFO, WARNING, Problem
from directory.vocabulary import (
    STANDARD_ENUMERATIONS,
    STANDARD_FIELDS,
    STANDARD_LIST_FIELDS,
    TYPOLOGIES,
    VENUE_STATUSES,
    declared_topics,
    french_area_of,
    map_v0_services,
)
from geodata.services import parent_commune_code

LIST_FIELDS = STANDARD_LIST_FIELDS
REQUIRED: tuple[str, ...] = ("id", "pivot", "nom", "commune", "code_postal", "adresse",
                             "date_maj")
TEXT_FIELDS = tuple(f for f in STANDARD_FIELDS
                    if f not in LIST_FIELDS and f not in ("latitude", "longitude", "date_maj"))

PLACEHOLDER_PIVOT = "00000000000000"
_PIVOT = re.compile(r"^[a-zA-Z0-9]{9,14}$")
_POSTAL = re.compile(r"^\d{5}$")
_INSEE = re.compile(r"^([013-9]\d|2[AB1-9])\d{3}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
OLDEST_PLAUSIBLE_DATE = dt.date(2000, 1, 1)
URL_FIELDS = ("site_web", "prise_rdv", "fiche_acces_libre")
_ENUMERATIONS = {name: frozenset(values) for name, values in STANDARD_ENUMERATIONS.items()}
_TYPOLOGIES = frozenset(TYPOLOGIES)
RESUME_MAX = 280

# Flag codes stored on the venue (lieu.flags) — see the README.
FLAG_SWAPPED = "coordonnees_inversees"
FLAG_HOURS = "horaires_non_conformes"
FLAG_DATE = "date_maj_implausible"
FLAG_NO_POINT = "sans_position"
FLAG_GEOCODED = "position_approchee"
FLAG_OUTSIDE_COMMUNE = "hors_commune"
FLAG_DUPLICATE = "doublon_probable"


@dataclass
class Record:
    """A validated venue, ready to be written."""

    line: int
    values: dict[str, Any]               # standard v1.0.2 fields, normalised
    accepts_programme: bool = False
    acceptance_hints: list[str] = field(default_factory=list)
    status: str = "open"
    flags: list[dict[str, str]] = field(default_factory=list)
    hours: hours_module.Hours | None = None  # parsed horaires when valid
    timezone: str = hours_module.DEFAULT_TZ
    programmes: list[str] = field(default_factory=list)  # from our own export (x_pass_…)
    derive: list[str] = field(default_factory=list)  # code_postal/code_insee from geography
    location_precision: str | None = None  # from our own export (x_location_precision)
    # values["topics"] come from the file (v0.1 services, x_services_v0), not from its text.
    topics_declared: bool = False

    @property
    def source_id(self) -> str:
        return self.values["id"]

    def flag(self, code: str, message: str, field_name: str | None = None) -> None:
        entry = {"code": code, "message": message}
        if field_name:
            entry["field"] = field_name
        self.flags.append(entry)


@dataclass
class Validation:
    records: list[Record]
    problems: list[Problem]
    rows_read: int = 0
    rejected: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def split_list(value: Any) -> list[str]:
    """A `|` list (or a JSON list) → its non-empty stripped items, order kept, no repeats."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        if "|" not in value:
            value = value.strip()
            return [value] if value else []
        return list(dict.fromkeys(t for t in (p.strip() for p in value.split("|")) if t))
    items = value if isinstance(value, list | tuple) else str(value).split("|")
    out: list[str] = []
    for item in items:
        text = _text(item)
        if text and text not in out:
            out.append(text)
    return out


def parse_number(value: Any) -> float | None:
    """A coordinate: a number, or a string with a decimal point or comma."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    return float(text)  # ValueError for the caller to report


# Where a national number ("0262 …") is read: the venue's territory first, then metropolitan
# France, then the overseas territories (ISO 3166 codes of phonenumbers' metadata). The
# overseas numbering plans do not overlap, so a number valid in exactly one of them is read
# there even when the venue's territory is unknown.
PHONE_REGION_BY_DEPARTEMENT = {
    "971": "GP", "972": "MQ", "973": "GF", "974": "RE", "975": "PM", "976": "YT",
    "977": "BL", "978": "MF", "986": "WF", "987": "PF", "988": "NC",
}  # fmt: skip
_PHONE_REGION_BY_POSTAL_CODE = {"97133": "BL", "97150": "MF"}  # kept the Guadeloupe prefix
_PHONE_REGIONS = ("FR", "RE", "YT", "GP", "MQ", "GF", "PM", "BL", "MF", "WF", "PF", "NC")
_E164 = phonenumbers.PhoneNumberFormat.E164


def phone_region(code_postal: str | None = None, code_insee: str | None = None) -> str:
    """The phonenumbers region of a venue from its code INSEE or postal code ('FR' if none)."""
    if code_postal in _PHONE_REGION_BY_POSTAL_CODE:
        return _PHONE_REGION_BY_POSTAL_CODE[code_postal]
    for code in (code_insee, code_postal):
        if code and code.startswith(("97", "98")):
            return PHONE_REGION_BY_DEPARTEMENT.get(code[:3], "FR")
    return "FR"


def normalise_phone(raw: str, region: str = "FR") -> str | None:
    """A phone number in E.164, or None when it cannot be read.

    '05 57 65 75 39' → '+33557657539'; '0262 12 34 56' → '+262262123456' (Réunion);
    '0033 1 80 05 98 80' → '+33180059880'; international numbers are kept. ``region`` is the
    venue's (see :func:`phone_region`): a national number is read there first, then in
    metropolitan France and overseas, and kept in the first territory where it is valid; a
    number valid nowhere but of a possible length for ``region`` is kept as read there.
    """
    text = (raw or "").strip()
    if not text:
        return None
    first = None
    for candidate in dict.fromkeys((region, *_PHONE_REGIONS)):
        try:
            number = phonenumbers.parse(text, candidate)
        except phonenumbers.NumberParseException:
            return None
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, _E164)
        if first is None:
            first = number
        if text.startswith("+"):
            break  # the region plays no part
    if first is not None and phonenumbers.is_possible_number(first):
        return phonenumbers.format_number(first, _E164)
    return None


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if len(text) == 10:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return dt.date.fromisoformat(text[:10])


def timezone_for(values: dict[str, Any]) -> str:
    if values.get("code_insee"):
        return hours_module.timezone_for_code_insee(values["code_insee"])
    if values.get("code_postal"):
        return hours_module.timezone_for_postal_code(values["code_postal"])
    return hours_module.DEFAULT_TZ


def validate_candidate(candidate: Candidate, today: dt.date) -> tuple[Record | None,
                                                                     list[Problem]]:
    """One row: a record, or None when it has an error; plus its problems."""
    raw = candidate.values
    source_id = _text(raw.get("id"))
    problems: list[Problem] = list(candidate.problems)

    def problem(field_name: str | None, reason: str, level: str = ERROR) -> None:
        problems.append(Problem(candidate.line, field_name, reason, level, source_id))

    values: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        values[name] = _text(raw.get(name))
    for name in LIST_FIELDS:
        value = raw.get(name)
        if not value:
            values[name] = []
        elif type(value) is str and "|" not in value:  # the common case, inlined
            value = value.strip()
            values[name] = [value] if value else []
        else:
            values[name] = split_list(value)
    record = Record(candidate.line, values, accepts_programme=candidate.accepts_programme,
                    acceptance_hints=list(candidate.acceptance_hints),
                    status=candidate.status or "open")

    derivable = raw.get("__derivable__", [])
    for name, pattern in (("code_postal", _POSTAL), ("code_insee", _INSEE)):
        if name in derivable and values[name] and not pattern.match(values[name]):
            problem(name, f"« {values[name]} » invalide : déduit de la commune où se trouve "
                          "le point", WARNING)
            values[name] = None
    record.derive = [n for n in derivable if not values.get(n)]
    if record.status not in VENUE_STATUSES:
        problem(None, f"statut « {record.status} » inconnu (attendu : "
                      f"{', '.join(VENUE_STATUSES)})")
    for name in REQUIRED:
        if name != "date_maj" and not values.get(name) and name not in record.derive:
            problem(name, "champ obligatoire vide")

    pivot = values["pivot"]
    if pivot and not _PIVOT.match(pivot):
        problem("pivot", f"« {pivot} » n'est ni un SIRET, ni un RNA, ni un RIDET "
                         "(9 à 14 lettres ou chiffres)")
    code_postal = values["code_postal"]
    if code_postal and not _POSTAL.match(code_postal):
        if re.fullmatch(r"\d{4}", code_postal) and isinstance(raw.get("code_postal"), int):
            values["code_postal"] = code_postal = "0" + code_postal
            problem("code_postal", f"code postal lu comme un nombre : « {code_postal} »",
                    INFO)
        else:
            problem("code_postal", f"« {code_postal} » n'est pas un code postal (5 chiffres)")
    code_insee = values["code_insee"]
    if code_insee and parent_commune_code(code_insee) != code_insee:
        values["code_insee"] = parent_commune_code(code_insee)
        problem("code_insee", f"« {code_insee} » est un arrondissement municipal : code de "
                              f"la commune {values['code_insee']} retenu", INFO)
        code_insee = values["code_insee"]
    if code_insee and not _INSEE.match(code_insee):
        problem("code_insee", f"« {code_insee} » n'est pas un code INSEE de commune")
    resume = values["presentation_resume"]
    if resume and len(resume) > RESUME_MAX:
        problem("presentation_resume",
                f"{len(resume)} caractères, le standard en autorise {RESUME_MAX} au plus")

    # Lists of the standard's vocabularies: a value outside it is an error.
    for name, allowed in _ENUMERATIONS.items():
        unknown = [v for v in values[name] if v not in allowed]
        for value in unknown:
            problem(name, f"valeur « {value} » absente de la liste du standard v1.0.2")
    unknown_typologies = [v for v in values["typologie"] if v not in _TYPOLOGIES]
    if unknown_typologies:
        problem("typologie", "typologie inconnue de la liste ANCT : "
                             + ", ".join(f"« {v} »" for v in unknown_typologies), WARNING)

    phones = []
    region = phone_region(values["code_postal"], values["code_insee"])
    for value in values["telephone"]:
        phone = normalise_phone(value, region)
        if phone is None:
            problem("telephone", f"numéro illisible « {value} » : non repris", WARNING)
        elif phone not in phones:
            phones.append(phone)
    values["telephone"] = phones
    emails = []
    for value in values["courriels"]:
        if _EMAIL.match(value):
            emails.append(value)
        else:
            problem("courriels", f"adresse électronique illisible « {value} » : non reprise",
                    WARNING)
    values["courriels"] = emails
    for name in URL_FIELDS:
        items = values[name] if isinstance(values[name], list) else [values[name]]
        kept = []
        for value in items:
            scheme = value and url_refused(value)
            if scheme:
                problem(name, f"lien « {value[:80]} » refusé : schéma « {scheme}: » non admis "
                              f"(seuls {', '.join(SAFE_SCHEMES)}) ; non repris", WARNING)
            elif value:
                kept.append(value)
        values[name] = kept if isinstance(values[name], list) else (kept[0] if kept else None)

    # Date of last update: required; an implausible one is kept and flagged.
    date_maj = raw.get("date_maj")
    values["date_maj"] = None
    if _text(date_maj) is None:
        problem("date_maj", "champ obligatoire vide")
    else:
        try:
            values["date_maj"] = parse_date(date_maj)
        except ValueError:
            problem("date_maj", f"date illisible « {date_maj} » (attendu AAAA-MM-JJ)")
    if values["date_maj"] is not None:
        if values["date_maj"] < OLDEST_PLAUSIBLE_DATE:
            message = f"date de mise à jour implausible ({values['date_maj'].isoformat()})"
            problem("date_maj", message + " : gardée et signalée", WARNING)
            record.flag(FLAG_DATE, message, "date_maj")
        elif values["date_maj"] > today + dt.timedelta(days=1):
            message = f"date de mise à jour dans le futur ({values['date_maj'].isoformat()})"
            problem("date_maj", message + " : gardée et signalée", WARNING)
            record.flag(FLAG_DATE, message, "date_maj")

    _check_coordinates(raw, values, record, problem)

    record.timezone = timezone_for(values)
    horaires = values["horaires"]
    if horaires:
        try:
            record.hours = parse_hours(horaires, record.timezone)
        except hours_module.InvalidHours as exc:
            message = exc.message_fr
            suggestion = suggest_hours(horaires)
            if suggestion:
                message += f" ; proposition à vérifier : « {suggestion} »"
            problem("horaires", f"{message} : gardées comme texte et signalées", WARNING)
            record.flag(FLAG_HOURS, message, "horaires")

    record.programmes = split_list(raw.get("x_pass_programmes"))
    _our_extensions(raw, record, problem)
    declared = candidate.topics
    if "x_services_v0" in raw:  # our export: the venue's topics, as v0.1 services
        declared, _, unknown = map_v0_services(split_list(raw["x_services_v0"]))
        for value in unknown:
            problem("x_services_v0", unknown_v0_service_fr(value))
    text = " ".join(t for t in (values["presentation_resume"], values["presentation_detail"])
                    if t)
    values["topics"] = declared_topics(values["services"], declared, text)
    record.topics_declared = declared is not None
    if any(p.level == ERROR for p in problems):
        return None, problems
    return record, problems


LOCATION_PRECISIONS = ("address", "commune", "postal_code")


def _our_extensions(raw: dict[str, Any], record: Record, problem) -> None:
    """x_location_precision and x_flags of our own export, read back as they were."""
    precision = _text(raw.get("x_location_precision"))
    if precision in LOCATION_PRECISIONS:
        record.location_precision = precision
    elif precision:
        problem("x_location_precision", f"précision « {precision} » inconnue (attendu : "
                f"{', '.join(LOCATION_PRECISIONS)}) : ignorée", WARNING)
    flags = raw.get("x_flags")
    if isinstance(flags, str) and flags.strip():
        try:
            flags = json.loads(flags)
        except ValueError:
            problem("x_flags", "signalements illisibles (JSON attendu) : ignorés", WARNING)
            return
    if not flags:
        return
    if not isinstance(flags, list) or not all(
            isinstance(f, dict) and isinstance(f.get("code"), str)
            and isinstance(f.get("message"), str) for f in flags):
        problem("x_flags", "signalements mal formés (liste de {code, message}) : ignorés",
                WARNING)
        return
    known = {(f["code"], f["message"]) for f in record.flags}
    for entry in flags:
        if (entry["code"], entry["message"]) not in known:
            record.flags.append({k: str(v) for k, v in entry.items()
                                 if k in ("code", "message", "field")})


_HOURS_CACHE: dict[tuple[str, str], hours_module.Hours | hours_module.InvalidHours] = {}


def parse_hours(text: str, tz: str) -> hours_module.Hours:
    """hours.parse with a memo: real files repeat the same few strings many times."""
    key = (text, tz)
    found = _HOURS_CACHE.get(key)
    if found is None:
        try:
            found = hours_module.parse(text, tz)
        except hours_module.InvalidHours as exc:
            found = exc
        if len(_HOURS_CACHE) > 50_000:
            _HOURS_CACHE.clear()
        _HOURS_CACHE[key] = found
    if isinstance(found, hours_module.InvalidHours):
        raise found
    return found


def suggest_hours(text: str) -> str | None:
    """An OSM reading of free French text, offered in the report, never applied."""
    convert = getattr(hours_module, "text_to_osm", None)
    if convert is None:
        return None
    try:
        return convert(text)
    except (hours_module.InvalidHours, ValueError):
        return None


def _check_coordinates(raw: dict[str, Any], values: dict[str, Any], record: Record,
                       problem) -> None:
    """Range, France, swapped latitude/longitude. Points are stored lon/lat in EPSG:4326."""
    values["latitude"] = values["longitude"] = None
    try:
        latitude = parse_number(raw.get("latitude"))
        longitude = parse_number(raw.get("longitude"))
    except ValueError:
        problem("latitude", f"coordonnées illisibles « {raw.get('latitude')} », "
                            f"« {raw.get('longitude')} »")
        return
    if latitude is None and longitude is None:
        return
    if latitude is None or longitude is None:
        problem("latitude" if latitude is None else "longitude",
                "latitude et longitude vont ensemble : une seule est donnée")
        return
    if latitude == 0 and longitude == 0:
        problem("latitude", "coordonnées (0, 0) : position manquante, à géocoder", WARNING)
        return
    in_range = -90 <= latitude <= 90 and -180 <= longitude <= 180
    if in_range and french_area_of(longitude, latitude):
        values["latitude"], values["longitude"] = latitude, longitude
        return
    swapped_ok = -90 <= longitude <= 90 and french_area_of(latitude, longitude)
    if swapped_ok:
        message = (f"latitude et longitude inversées ({latitude}, {longitude}) : "
                   "corrigées")
        problem("latitude", message, WARNING)
        record.flag(FLAG_SWAPPED, message, "latitude")
        values["latitude"], values["longitude"] = longitude, latitude
        return
    if not in_range:
        problem("latitude", f"coordonnées hors limites (latitude {latitude}, "
                            f"longitude {longitude})")
    else:
        problem("latitude", f"point hors de France (latitude {latitude}, "
                            f"longitude {longitude})")


def resolve_duplicates(records: list[Record]) -> tuple[list[Record], list[Problem]]:
    """Same id twice: the latest date_maj wins, then the last line (documented rule)."""
    best: dict[str, Record] = {}
    problems: list[Problem] = []
    for record in records:
        current = best.get(record.source_id)
        if current is None:
            best[record.source_id] = record
            continue
        newer = (record.values["date_maj"], record.line) >= (current.values["date_maj"],
                                                              current.line)
        kept, dropped = (record, current) if newer else (current, record)
        best[record.source_id] = kept
        problems.append(Problem(
            dropped.line, "id",
            f"identifiant en double (gardé : ligne {kept.line}, date_maj la plus récente, "
            "à date égale la dernière du fichier) : cette ligne n'est pas écrite",
            WARNING, record.source_id))
    kept_ids = {id(r) for r in best.values()}
    return [r for r in records if id(r) in kept_ids], problems


def validate(candidates: Iterable[Candidate], today: dt.date) -> Validation:
    records: list[Record] = []
    problems: list[Problem] = []
    rows = rejected = 0
    for candidate in candidates:
        rows += 1
        record, found = validate_candidate(candidate, today)
        problems.extend(found)
        if record is None:
            rejected += 1
        else:
            records.append(record)
    records, duplicate_problems = resolve_duplicates(records)
    problems.extend(duplicate_problems)
    return Validation(records, problems, rows, rejected)


# The standard's fields and the venue's declared topics (lieu.topics).
_HASHED_FIELDS = tuple(f for f in STANDARD_FIELDS if f not in ("latitude", "longitude")) + (
    "topics",)


def content_hash(values: dict[str, Any], status: str) -> str:
    """A stable digest of the venue as written (standard fields, topics and status).

    Computed on the final values (after the geography has filled code_insee, a derived
    postal code or a corrected point), so that exporting a source and importing the export
    again gives the same digest and writes nothing. Values are str, lists of str, a date,
    None, and the coordinates rounded to 7 decimals (≈ 1 cm): their repr is stable.
    """
    latitude, longitude = values.get("latitude"), values.get("longitude")
    payload = (
        tuple(values.get(name) for name in _HASHED_FIELDS),
        None if latitude is None else round(float(latitude), 7),
        None if longitude is None else round(float(longitude), 7),
        status,
    )
    return hashlib.sha256(repr(payload).encode()).hexdigest()
