"""Voucher programmes and their acceptance by venues: the logic behind the CLI and the API.

Plain arguments in, plain results out; errors are ``core.errors`` classes with French
messages. The caller commits.

Perimeter codes: ``fr`` (all of France), ``reg:<code région>``, ``dep:<code département>``,
``epci:<SIREN>``, ``com:<code INSEE>``. The perimeter geometry (union of the territories'
polygons) and the list of its communes are computed from the territory tables when a
programme is saved.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, join, null, select, text, true
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from directory import rules
from directory.models import Acceptance, Programme, Venue
from directory.vocabulary import ACCEPTANCE_SOURCES, SERVICES

PROGRAMME_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")

# kind -> (table, column of the commune table that designates membership, code pattern, label)
PERIMETER_KINDS: dict[str, tuple[str, str, re.Pattern, str]] = {
    "reg": ("region", "region_code", re.compile(r"^\d{2,3}$"), "région"),
    "dep": ("departement", "departement_code", re.compile(r"^(\d{2,3}|2A|2B)$"),
            "département"),
    "epci": ("epci", "epci_code", re.compile(r"^\d{9}$"), "EPCI"),
    "com": ("commune", "code", re.compile(r"^(\d{5}|2A\d{3}|2B\d{3})$"), "commune"),
}
ALL_FRANCE = rules.ALL_FRANCE


@dataclass(frozen=True)
class Perimeter:
    codes: list[str]
    geometry_wkb: bytes | None  # EWKB hex of a MultiPolygon 4326, None for all France
    communes: list[str]
    names: list[str]


def parse_perimeter_code(code: str) -> tuple[str, str]:
    """``"dep:33"`` -> ``("dep", "33")``; ``"fr"`` -> ``("fr", "")``; InvalidInput otherwise."""
    code = code.strip()
    if code.lower() == ALL_FRANCE:
        return ALL_FRANCE, ""
    kind, sep, value = code.partition(":")
    kind = kind.lower()
    if not sep or kind not in PERIMETER_KINDS:
        raise InvalidInput(
            f"Code de territoire « {code} » non reconnu : attendu fr, reg:<code>, dep:<code>, "
            "epci:<SIREN> ou com:<code INSEE> (par exemple dep:33).")
    value = value.strip().upper()
    if not PERIMETER_KINDS[kind][2].match(value):
        raise InvalidInput(
            f"Code de territoire « {code} » mal formé pour une {PERIMETER_KINDS[kind][3]}.")
    return kind, value


def normalise_perimeter_codes(codes: Iterable[str]) -> list[str]:
    """Parsed, de-duplicated codes in a stable order (``fr`` alone if present)."""
    parsed = []
    for raw in codes:
        for piece in str(raw).split(","):
            if piece.strip():
                parsed.append(parse_perimeter_code(piece))
    if not parsed:
        raise InvalidInput("Le périmètre est vide : donnez au moins un code de territoire.")
    if any(kind == ALL_FRANCE for kind, _ in parsed):
        return [ALL_FRANCE]
    seen: list[str] = []
    for kind, value in parsed:
        normalised = f"{kind}:{value}"
        if normalised not in seen:
            seen.append(normalised)
    return seen


def resolve_perimeter(session: Session, codes: Iterable[str]) -> Perimeter:
    """Check every territory exists and compute the perimeter's geometry and communes."""
    normalised = normalise_perimeter_codes(codes)
    if normalised == [ALL_FRANCE]:
        return Perimeter(codes=normalised, geometry_wkb=None, communes=[],
                         names=["France entière"])
    names: list[str] = []
    communes: set[str] = set()
    for code in normalised:
        kind, value = code.split(":", 1)
        table, membership, _, label = PERIMETER_KINDS[kind]
        # Identifiers come from the fixed table above, values are bound parameters.
        name = session.execute(
            text(f"SELECT name FROM {table} WHERE code = :code"), {"code": value}).scalar()
        if name is None:
            raise InvalidInput(
                f"Territoire inconnu : {label} « {value} » ({code}). "
                "La géographie est-elle chargée (flask --app app geodata load) ?")
        names.append(name)
        communes.update(session.execute(
            text(f"SELECT code FROM commune WHERE {membership} = :code"),
            {"code": value}).scalars())
    if not communes:
        raise InvalidInput("Aucune commune dans ce périmètre : la géographie est-elle chargée ?")
    geometry = _union_geometry(session, normalised)
    return Perimeter(codes=normalised, geometry_wkb=geometry, communes=sorted(communes),
                     names=names)


def _union_geometry(session: Session, codes: Sequence[str]) -> bytes | None:
    """Union of the territories' own polygons; a territory without one falls back to the
    union of its communes' polygons."""
    parts = []
    params: dict[str, str] = {}
    for i, code in enumerate(codes):
        kind, value = code.split(":", 1)
        table, membership, _, _ = PERIMETER_KINDS[kind]
        params[f"c{i}"] = value
        parts.append(
            f"SELECT COALESCE((SELECT geom FROM {table} WHERE code = :c{i}), "
            f"(SELECT ST_Union(geom) FROM commune WHERE {membership} = :c{i})) AS geom")
    sql = (
        "SELECT ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(geom)), 3))) "
        f"FROM ({' UNION ALL '.join(parts)}) AS t WHERE geom IS NOT NULL"
    )
    value = session.execute(text(sql), params).scalar()
    if value is None:
        return None
    return bytes(value)


def _check_services(services: Iterable[str], what: str) -> list[str]:
    result = []
    for service in services:
        service = service.strip()
        if not service:
            continue
        if service not in SERVICES:
            raise InvalidInput(
                f"Service inconnu dans {what} : « {service} ». Valeurs possibles : "
                + " ; ".join(SERVICES) + ".")
        if service not in result:
            result.append(service)
    return result


def _check_dates(valid_from: dt.date, valid_to: dt.date | None) -> None:
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInput(
            f"La date de fin ({valid_to.isoformat()}) précède la date de début "
            f"({valid_from.isoformat()}).")


def _check_levels(levels: Iterable[int]) -> list[int]:
    result = sorted({int(level) for level in levels})
    if not result or any(level not in (1, 2, 3) for level in result):
        raise InvalidInput("Les niveaux doivent être pris parmi 1, 2 et 3.")
    return result


def save_programme(session: Session, *, code: str, name: str, perimeter_codes: Iterable[str],
                   valid_from: dt.date, valid_to: dt.date | None = None,
                   issuer: str | None = None, funder: str | None = None,
                   description: str | None = None,
                   eligible_publics: Iterable[str] = (),
                   allowed_services: Iterable[str] = (), levels: Iterable[int] = (1, 2, 3),
                   cheque_value_cents: int = 1000, create_only: bool = False,
                   ) -> tuple[Programme, bool]:
    """Create the programme ``code`` or update it; returns (programme, changed)."""
    code = code.strip().lower()
    if not PROGRAMME_CODE.match(code):
        raise InvalidInput(
            f"Code de programme « {code} » invalide : minuscules, chiffres et tirets, "
            "3 à 64 caractères (par exemple pass-numerique-gironde).")
    if not name or not name.strip():
        raise InvalidInput("Le nom du programme est obligatoire.")
    _check_dates(valid_from, valid_to)
    if cheque_value_cents < 0:
        raise InvalidInput("La valeur d'un chèque ne peut pas être négative.")
    values = {
        "name": name.strip(),
        "issuer": issuer or None,
        "funder": funder or None,
        "description": description or None,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "eligible_publics": [p.strip() for p in eligible_publics if p.strip()],
        "allowed_services": _check_services(allowed_services, "les services autorisés"),
        "levels": _check_levels(levels),
        "cheque_value_cents": int(cheque_value_cents),
    }
    programme = session.scalar(select(Programme).where(Programme.code == code))
    if programme is not None and create_only:
        raise Conflict(f"Le programme « {code} » existe déjà.")
    perimeter_codes = normalise_perimeter_codes(perimeter_codes)
    if (programme is not None and programme.perimeter_codes == perimeter_codes
            and all(getattr(programme, k) == v for k, v in values.items())):
        return programme, False
    perimeter = resolve_perimeter(session, perimeter_codes)
    if programme is None:
        programme = Programme(code=code)
        session.add(programme)
    for key, value in values.items():
        setattr(programme, key, value)
    programme.perimeter_codes = perimeter.codes
    programme.perimeter_communes = perimeter.communes
    programme.perimeter = (
        None if perimeter.geometry_wkb is None
        else func.ST_GeomFromEWKB(perimeter.geometry_wkb))
    session.flush()
    session.refresh(programme)
    return programme, True


def get_programme(session: Session, code: str) -> Programme:
    programme = session.scalar(select(Programme).where(Programme.code == code.strip().lower()))
    if programme is None:
        raise NotFound(f"Aucun programme ne porte le code « {code} ».")
    return programme


def list_programmes(session: Session, on_date: dt.date | None = None) -> list[Programme]:
    query = select(Programme).order_by(Programme.code)
    if on_date is not None:
        query = query.where(rules.programme_valid_sql(on_date))
    return list(session.scalars(query))


def acceptance_counts(session: Session, on_date: dt.date) -> dict[int, int]:
    """Number of venues whose acceptance is valid on ``on_date``, per programme id."""
    rows = session.execute(
        select(Acceptance.programme_id, func.count())
        .where(rules.acceptance_valid_sql(on_date))
        .group_by(Acceptance.programme_id))
    return {programme_id: count for programme_id, count in rows}


def find_venue(session: Session, reference: str) -> Venue:
    """A venue by internal id (``123``) or by import key (``source:source_id``)."""
    reference = reference.strip()
    venue = None
    if reference.isdigit():
        venue = session.get(Venue, int(reference))
    elif ":" in reference:
        source, _, source_id = reference.partition(":")
        venue = session.scalar(select(Venue).where(Venue.source == source)
                               .where(Venue.source_id == source_id))
    else:
        raise InvalidInput(
            f"Référence de lieu « {reference} » invalide : donnez son identifiant numérique "
            "ou « source:identifiant » (par exemple demo:lieu-0001).")
    if venue is None:
        raise NotFound(f"Lieu introuvable : « {reference} ».")
    return venue


def accept(session: Session, *, programme_code: str, venue_reference: str,
           valid_from: dt.date, valid_to: dt.date | None = None,
           services: Iterable[str] = (), qualification_reference: str | None = None,
           source: str = "manual") -> tuple[Acceptance, str]:
    """Record that a venue accepts a programme; returns (acceptance, "created" | "updated" |
    "unchanged")."""
    programme = get_programme(session, programme_code)
    venue = find_venue(session, venue_reference)
    _check_dates(valid_from, valid_to)
    if source not in ACCEPTANCE_SOURCES:
        raise InvalidInput(f"Origine « {source} » inconnue : import, manual ou label.")
    services = _check_services(services, "les services couverts")
    if programme.allowed_services:
        outside = [s for s in services if s not in programme.allowed_services]
        if outside:
            raise InvalidInput(
                f"Le programme « {programme.code} » ne finance pas : " + " ; ".join(outside))
    if programme.valid_to is not None and valid_from > programme.valid_to:
        raise InvalidInput(
            f"Le programme « {programme.code} » se termine le "
            f"{programme.valid_to.isoformat()}, avant le début de l'acceptation.")
    if not _in_perimeter(session, programme, venue):
        raise InvalidInput(
            f"Le lieu « {venue.nom} » ({venue.commune}) est hors du périmètre du programme "
            f"« {programme.code} ».")
    values = {"valid_from": valid_from, "valid_to": valid_to, "services": services,
              "qualification_reference": qualification_reference or None, "source": source,
              "revoked_at": None, "revocation_reason": None}
    acceptance = session.scalar(select(Acceptance).where(Acceptance.lieu_id == venue.id)
                                .where(Acceptance.programme_id == programme.id))
    if acceptance is None:
        acceptance = Acceptance(lieu_id=venue.id, programme_id=programme.id, **values)
        session.add(acceptance)
        outcome = "created"
    elif all(getattr(acceptance, k) == v for k, v in values.items()):
        return acceptance, "unchanged"
    else:
        for key, value in values.items():
            setattr(acceptance, key, value)
        outcome = "updated"
    session.flush()
    return acceptance, outcome


def _in_perimeter(session: Session, programme: Programme, venue: Venue) -> bool:
    """The venue lies in the programme's perimeter (``directory.rules.in_perimeter_sql``,
    the matcher's own rule: the declared commune decides, else the point)."""
    if rules.is_national(programme):
        return True
    return bool(session.scalar(
        select(rules.in_perimeter_sql(Programme, Venue.code_insee, Venue.geom))
        .select_from(join(Programme, Venue, true()))
        .where(Programme.id == programme.id, Venue.id == venue.id)))


def revoke(session: Session, *, programme_code: str, venue_reference: str,
           on_date: dt.date, reason: str | None = None) -> Acceptance:
    """Withdraw a qualification: the acceptance stops being valid from ``on_date``."""
    programme = get_programme(session, programme_code)
    venue = find_venue(session, venue_reference)
    acceptance = session.scalar(select(Acceptance).where(Acceptance.lieu_id == venue.id)
                                .where(Acceptance.programme_id == programme.id))
    if acceptance is None:
        raise NotFound(
            f"Le lieu « {venue.nom} » n'accepte pas le programme « {programme.code} ».")
    last_day = on_date - dt.timedelta(days=1)
    if acceptance.valid_to is not None and acceptance.valid_to <= last_day:
        raise Conflict(
            f"L'acceptation a déjà pris fin le {acceptance.valid_to.isoformat()}.")
    acceptance.valid_to = max(last_day, acceptance.valid_from - dt.timedelta(days=1))
    acceptance.revoked_at = func.now()
    acceptance.revocation_reason = reason or None
    session.flush()
    return acceptance


# --------------------------------------------------------------------------- API payloads

SIMPLIFY_DEGREES = 0.005  # ≈ 500 m: enough for a map of a département or a région


def _payload_query(geometry: str):
    if geometry == "none":
        geojson = null()
    elif geometry == "simplified":
        geojson = func.ST_AsGeoJSON(func.ST_Multi(
            func.ST_SimplifyPreserveTopology(Programme.perimeter, SIMPLIFY_DEGREES)), 6)
    else:
        geojson = func.ST_AsGeoJSON(Programme.perimeter, 6)
    return select(Programme, geojson.label("perimeter_geojson"),
                  func.cardinality(Programme.perimeter_communes).label("communes_count"))


def _to_payload(session: Session, programme: Programme, geojson: str | None,
                communes_count: int, counts: dict[int, int]) -> dict:
    import json

    return {
        "code": programme.code,
        "name": programme.name,
        "issuer": programme.issuer,
        "funder": programme.funder,
        "description": programme.description,
        "perimeter_codes": list(programme.perimeter_codes),
        "perimeter_names": _perimeter_names(session, programme.perimeter_codes),
        "perimeter": json.loads(geojson) if geojson else None,
        "communes_count": communes_count,
        "valid_from": programme.valid_from,
        "valid_to": programme.valid_to,
        "eligible_publics": list(programme.eligible_publics),
        "allowed_services": list(programme.allowed_services),
        "levels": list(programme.levels),
        "cheque_value_cents": programme.cheque_value_cents,
        "accepting_venues": counts.get(programme.id, 0),
    }


def _perimeter_names(session: Session, codes: Sequence[str]) -> list[str]:
    names = []
    for code in codes:
        if code == ALL_FRANCE:
            names.append("France entière")
            continue
        kind, value = code.split(":", 1)
        table = PERIMETER_KINDS[kind][0]
        name = session.execute(text(f"SELECT name FROM {table} WHERE code = :code"),
                               {"code": value}).scalar()
        names.append(name or code)
    return names


def programme_payloads(session: Session, today: dt.date, on_date: dt.date | None = None,
                       geometry: str = "simplified") -> list[dict]:
    query = _payload_query(geometry).order_by(Programme.code)
    if on_date is not None:
        query = query.where(rules.programme_valid_sql(on_date))
    counts = acceptance_counts(session, today)
    return [_to_payload(session, p, g, n, counts) for p, g, n in session.execute(query)]


def programme_payload(session: Session, code: str, today: dt.date,
                      geometry: str = "full") -> dict:
    row = session.execute(
        _payload_query(geometry).where(Programme.code == code.strip().lower())).first()
    if row is None:
        raise NotFound(f"Aucun programme ne porte le code « {code} ».")
    counts = acceptance_counts(session, today)
    return _to_payload(session, row[0], row[1], row[2], counts)


REPORT_CANDIDATE_LEVEL = "candidat"


def report_candidates(path: str) -> list[str]:
    """Venue references (``source:identifiant``) of the acceptance candidates of an import
    report (``directory import … --report FICHIER``), in report order, without repeats."""
    import csv

    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            names = set(reader.fieldnames or ())
    except FileNotFoundError:
        raise InvalidInput(f"Rapport introuvable : {path}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"Rapport illisible : {path} ({exc.__class__.__name__})") from None
    if not {"niveau", "identifiant", "source"} <= names:
        raise InvalidInput("Ce fichier n'est pas un rapport d'import (colonnes niveau, "
                           "identifiant et source attendues).")
    references = [f"{row['source']}:{row['identifiant']}" for row in rows
                  if row.get("niveau") == REPORT_CANDIDATE_LEVEL and row.get("identifiant")
                  and row.get("source")]
    return list(dict.fromkeys(references))


def accept_candidates(session: Session, *, programme_code: str, references: Sequence[str],
                      valid_from: dt.date, **options) -> list[tuple[str, str]]:
    """``accept`` for each reference; a venue not found or outside the perimeter is
    reported, not fatal. Returns (reference, outcome or French reason)."""
    get_programme(session, programme_code)  # unknown programme: fatal
    outcomes = []
    for reference in references:
        try:
            with session.begin_nested():
                _, outcome = accept(session, programme_code=programme_code,
                                    venue_reference=reference, valid_from=valid_from,
                                    source="import", **options)
        except (NotFound, InvalidInput) as exc:
            outcome = exc.message
        outcomes.append((reference, outcome))
    return outcomes
