"""Schemas of the cohort assignment (``POST /api/v1/match/cohort`` and ``match cohort``).

A person is the matcher's question (``matching.schemas.QuestionSchema``: same fields, same
checks, same French messages) plus a pseudonymous identifier, minus what does not fit a
cohort: no address (an address identifies a person: give a postal code, a commune code or a
point), no "now". Columns that look like personal data (name, e-mail, phone, birth date…)
are refused with a message that says so.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from core import schemas as fr
from core.errors import PayloadTooLarge
from core.schemas import StrictSchema
from core.text import number_fr

from ..question import slug
from ..schemas import QuestionSchema
from .assignment import DEFAULT_UNKNOWN_CAPACITY, MAX_WEEKS
from .candidates import DEFAULT_CANDIDATES
from .solver import MAX_PEOPLE

# Request bodies above this are refused before being read (413).
MAX_BODY_BYTES = 8 * 1024 * 1024

# Field names (as slugs) that would carry personal data; refused with a specific message.
PERSONAL_FIELDS = {
    "nom", "prenom", "prenoms", "name", "first-name", "firstname", "last-name", "lastname",
    "surname", "nom-de-naissance", "nom-d-usage", "email", "e-mail", "mail", "courriel",
    "telephone", "tel", "phone", "mobile", "portable", "adresse", "address", "rue",
    "date-de-naissance", "date-naissance", "naissance", "birthdate", "birth-date", "dob",
    "nir", "numero-de-securite-sociale", "securite-sociale", "ssn", "age", "sexe", "genre",
}
PERSONAL_DATA_MESSAGE = ("Données personnelles refusées : seul un identifiant pseudonyme "
                         "(« id ») est accepté, sans nom, adresse, courriel, téléphone ni date "
                         "de naissance. Donnez le lieu par code postal, code commune ou "
                         "latitude/longitude.")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


# Shapes of personal data in an identifier, each with what it looks like. Numbers are
# looked for once the usual separators are removed (06.12.34.56.78, 1 85 03 75 123 456 78).
_SEPARATORS = re.compile(r"[\s._/:-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_NIR = re.compile(r"(?<!\d)[12]\d{2}(0[1-9]|1[0-2]|[2-9]\d)(\d{2}|2[AaBb])\d{6}(\d{2})?(?!\d)")
_PHONE = re.compile(r"(?<!\d)(0[1-9]\d{8}|(00|\+)?33[1-9]\d{8})(?!\d)")
_DAY, _MONTH = r"(0?[1-9]|[12]\d|3[01])", r"(0?[1-9]|1[0-2])"
_DATES = (
    re.compile(rf"(?<!\d){_DAY}[\s._/-]{_MONTH}[\s._/-](\d{{4}}|\d{{2}})(?!\d)"),  # 12/03/1985
    re.compile(rf"(?<!\d)(19|20)\d\d[\s._/-]?{_MONTH}[\s._/-]?{_DAY}(?!\d)"),  # 1985-03-12
    re.compile(r"(?<!\d)(0[1-9]|[12]\d|3[01])(0[1-9]|1[0-2])(19|20)\d\d(?!\d)"),  # 12031985
)
# Two to four words of letters only (Jean Dupont, DUPONT_Jean, jean.dupont): a name.
_NAME = re.compile(r"^[^\W\d_]{2,}([\s._'-]+[^\W\d_]{2,}){1,3}$")


def personal_data_in_id(value: str) -> str | None:
    """What personal data an identifier looks like (French), or None for a pseudonym."""
    digits = _SEPARATORS.sub("", value)
    if _EMAIL.search(value):
        return "une adresse électronique"
    if _NIR.search(digits):
        return "un numéro de sécurité sociale (NIR)"
    if _PHONE.search(digits):
        return "un numéro de téléphone"
    if any(pattern.search(value) for pattern in _DATES):
        return "une date (de naissance ?)"
    if _NAME.match(value.strip()):
        return "un nom et un prénom"
    return None


def pseudonymous_id(value: str) -> None:
    """The check of a person's identifier (API and command line): refused when shaped like
    personal data (one message saying what it looks like, never repeating it), or outside
    ``ID_PATTERN``."""
    shape = personal_data_in_id(value)
    if shape:
        raise ValidationError(
            f"Identifiant refusé : il ressemble à {shape}. Donnez un identifiant pseudonyme "
            "sans donnée personnelle, par exemple P-0001.")
    if not ID_PATTERN.match(value):
        raise ValidationError("Identifiant pseudonyme attendu : 1 à 64 lettres sans accent, "
                              "chiffres, « _ », « - », « . » ou « : » (pas de nom ni de "
                              "courriel).")


def personal_fields(names) -> list[str]:
    """The names among ``names`` that look like personal data."""
    return [name for name in names if isinstance(name, str) and slug(name) in PERSONAL_FIELDS]


class PersonSchema(QuestionSchema):
    """One person of the cohort: a pseudonymous id and the matcher's question fields."""

    class Meta(QuestionSchema.Meta):
        exclude = ("address", "now", "limit", "output")

    id = fr.String(required=True, validate=pseudonymous_id,
         metadata={"description": "Identifiant pseudonyme de la personne : jamais un nom, une "
                                  "date, un NIR, un téléphone ni un courriel (refusés).",
                   "example": "P-0001", "pattern": ID_PATTERN.pattern})

    @pre_load
    def _no_personal_data(self, data: Any, **kwargs):
        if isinstance(data, dict):
            found = personal_fields(data)
            if found:
                raise ValidationError({name: [PERSONAL_DATA_MESSAGE] for name in found})
        return data

    @validates_schema
    def _where(self, data, **kwargs):
        if data.get("lat") is None and data.get("lon") is None and not any(
                data.get(k) for k in ("postal_code", "commune")):
            raise ValidationError("Où est la personne ? Donnez postal_code, commune ou lat/lon.",
                                  "_schema")
        QuestionSchema._where(self, data, **kwargs)


class CohortRequestSchema(StrictSchema):
    people = fr.List(
        fields.Nested(PersonSchema), required=True,
        validate=validate.Length(min=1, error="Au moins une personne."),
        error_messages={"invalid": "Liste de personnes attendue."},
        metadata={"description": f"Les personnes (au plus {MAX_PEOPLE}), chacune avec un "
                                 "identifiant pseudonyme et les champs de /api/v1/match "
                                 "(sauf address et now)."})
    reference_date = fr.Date(metadata={
        "description": "Jour de l'affectation (AAAA-MM-JJ) : validité des pass, séances dans "
                       "les 14 jours suivants. Défaut : aujourd'hui."})
    programme = fr.String(validate=validate.Length(min=1, max=64, error="Code de programme "
                                                                       "invalide."),
                          metadata={"description": "Programme des personnes qui n'en donnent "
                                                   "pas.", "example": "pass-numerique-gironde"})
    default_capacity = fr.Integer(
        load_default=DEFAULT_UNKNOWN_CAPACITY, allow_none=True,
        validate=validate.Range(0, 10_000, error="Capacité entre 0 et 10 000."),
        metadata={"description": "Personnes par semaine dans un lieu dont la capacité est "
                                 f"inconnue (défaut {DEFAULT_UNKNOWN_CAPACITY}) ; null = sans "
                                 "limite."})
    weeks = fr.Integer(load_default=1, validate=validate.Range(
        1, MAX_WEEKS, error=f"Nombre de semaines entre 1 et {MAX_WEEKS}."),
         metadata={"description": "Semaines couvertes : capacité = capacité hebdomadaire × "
                                  "semaines ; seules les ouvertures qui commencent dans ces "
                                  "semaines sont proposées."})
    candidates = fr.Integer(load_default=DEFAULT_CANDIDATES, validate=validate.Range(
        1, 100, error="candidates entre 1 et 100."),
         metadata={"description": "Lieux les plus proches étudiés par personne (élargi pour "
                                  "les personnes restées sans place)."})

    @pre_load
    def _cap(self, data: Any, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("people"), list) \
                and len(data["people"]) > MAX_PEOPLE:
            raise PayloadTooLarge(f"Au plus {number_fr(MAX_PEOPLE)} personnes par cohorte "
                                  f"(reçu : {number_fr(len(data['people']))}).")
        return data

    @validates_schema
    def _unique_ids(self, data, **kwargs):
        seen: set[str] = set()
        errors: dict[int, dict[str, list[str]]] = {}
        for i, person in enumerate(data.get("people") or ()):
            if person["id"] in seen:
                errors[i] = {"id": ["Identifiant en double dans la cohorte."]}
            seen.add(person["id"])
        if errors:
            raise ValidationError(errors, "people")


# --- the answer ---------------------------------------------------------------------------

class CohortSessionSchema(StrictSchema):
    session_id = fields.Integer(required=True)
    offer_id = fields.Integer(required=True)
    title = fields.String(required=True)
    service = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    seats_free = fields.Integer(required=True, metadata={
        "description": "Places libres avant l'affectation."})
    text = fields.String(required=True)


class CohortAssignmentSchema(StrictSchema):
    id = fields.String(required=True)
    venue_id = fields.Integer(required=True)
    nom = fields.String(required=True)
    adresse = fields.String(allow_none=True)
    code_postal = fields.String(allow_none=True)
    commune = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    stop_id = fields.Integer(allow_none=True)
    stop_label = fields.String(allow_none=True)
    distance_m = fields.Float(required=True, metadata={
        "description": "Distance géodésique (ellipsoïde WGS 84), mètres."})
    travel_minutes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    candidate_rank = fields.Integer(required=True, metadata={
        "description": "1 = le lieu le plus proche qui respecte les contraintes."})
    kind = fields.String(required=True, metadata={
        "description": "session (séance datée), opening (aux heures d'ouverture) ou "
                       "unknown_hours (horaires inconnus)."})
    session = fields.Nested(CohortSessionSchema, allow_none=True)
    note = fields.String(required=True, metadata={"example": "à 2,3 km ; ouvert le mardi"})


class CohortUnassignedSchema(StrictSchema):
    id = fields.String(required=True)
    code = fields.String(required=True, metadata={
        "description": "programme, services, no_venue, availability ou full."})
    reason = fields.String(required=True)


class CohortVenueSchema(StrictSchema):
    venue_id = fields.Integer(required=True)
    nom = fields.String(required=True)
    commune = fields.String(required=True)
    load = fields.Integer(required=True)
    capacity = fields.Integer(allow_none=True, metadata={"description": "null = sans limite."})
    capacity_known = fields.Boolean(required=True)
    sessions = fields.Integer(required=True, metadata={
        "description": "Personnes placées à une séance de ce lieu."})


class CohortResponseSchema(StrictSchema):
    reference_date = fields.Date(required=True)
    totals = fields.Dict(required=True)
    assumptions = fields.Dict(required=True)
    timings = fields.Dict(required=True)
    assignments = fields.List(fields.Nested(CohortAssignmentSchema), required=True)
    unassigned = fields.List(fields.Nested(CohortUnassignedSchema), required=True)
    venues = fields.List(fields.Nested(CohortVenueSchema), required=True)
