"""Marshmallow schemas of the venue read API (hand-written; unknown parameters rejected).

Output fields of the national standard keep their French names; messages are French.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import schemas as fr
from core.geojson import FeatureCollectionSchema, FeatureSchema
from core.schemas import BBOX_PATTERN, BBox, ParameterSchema

from .services import SORTS
from .vocabulary import (
    LOCATION_PRECISIONS,
    PUBLICS_SPECIFIQUEMENT_ADRESSES,
    SERVICES,
    VENUE_STATUSES,
)


def _one_of(values, what: str) -> validate.OneOf:
    return validate.OneOf(values, error=f"{what} inconnu(e) : « {{input}} ». "
                                        f"Valeurs possibles : {{choices}}.")


# PostgreSQL refuses NUL in text; other control characters have no place in a search either.
_PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$",
                             error="Caractères de contrôle interdits.")


def _code(pattern: str, what: str, description: str) -> fr.String:
    return fr.String(
        validate=validate.Regexp(pattern, error=f"Code {what} invalide."),
        metadata={"description": description})


class VenueListArgs(ParameterSchema):
    bbox = BBox(metadata={
        "description": "Rectangle minlon,minlat,maxlon,maxlat (degrés WGS 84) ; vide = sans "
                       "rectangle.",
        "example": "-0.7,44.7,-0.4,45.0", "type": "string", "pattern": BBOX_PATTERN})
    commune = _code(r"^(\d{5}|2[AB]\d{3})$", "commune (code INSEE)",
                    "Code INSEE de la commune.")
    departement = _code(r"^(\d{2,3}|2[AB])$", "de département", "Code du département.")
    region = _code(r"^\d{2}$", "de région", "Code de la région.")
    epci = _code(r"^\d{9}$", "d'EPCI (SIREN, 9 chiffres)", "SIREN de l'EPCI.")
    programme = fr.String(
        validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9-]{1,62}[A-Za-z0-9]$",
                                 error="Code de programme invalide."),
        metadata={"description": "Code d'un programme de Pass Numérique : lieux dont "
                                 "l'acceptation est valide à la date `date` (aujourd'hui "
                                 "par défaut).", "example": "pass-numerique-gironde"})
    date = fr.Date(
        metadata={"description": "Date de validité des programmes (défaut : aujourd'hui)."})
    service = fr.List(
        fr.String(validate=_one_of(SERVICES, "Service")),
        metadata={"description": "Service du standard v1 (répétable : au moins un des "
                                 "services ; avec `programme`, couvert par le pass)."})
    public = fr.List(
        fr.String(validate=_one_of(PUBLICS_SPECIFIQUEMENT_ADRESSES, "Public")),
        metadata={"description": "Public spécifiquement adressé (répétable : au moins un)."})
    q = fr.String(
        validate=[validate.Length(min=1, max=200, error="De 1 à 200 caractères."),
                  _PRINTABLE],
        metadata={"description": "Recherche plein texte en français (nom, commune, "
                                 "présentation) ; résultats classés par pertinence."})
    modified_since = fr.AwareDateTime(
        default_timezone=dt.UTC,
        metadata={"description": "Lieux modifiés à partir de cet instant (inclus ; sans "
                                 "fuseau : UTC) ; tri par date de modification."})
    status = fr.List(
        fr.String(validate=_one_of(VENUE_STATUSES, "Statut")),
        metadata={"description": "Statut (répétable). Par défaut : open et "
                                 "temporarily_closed ; closed seulement sur demande."})
    source = fr.List(fr.String(validate=[
        validate.Length(min=1, max=100, error="De 1 à 100 caractères."), _PRINTABLE]),
                     metadata={"description": "Source d'import (répétable)."})
    sort = fr.String(
        validate=_one_of(SORTS, "Tri"),
        metadata={"description": "id (défaut), updated_at (défaut avec modified_since) "
                                 "ou relevance (défaut avec q)."})
    cursor = fr.String(
        validate=validate.Length(min=1, max=500, error="Curseur invalide."),
        metadata={"description": "Curseur opaque de la page suivante (lien `next`)."})
    limit = fr.Integer(
        validate=validate.Range(min=1, error="limit doit être au moins 1."),
        metadata={"description": "Lieux par page (50 par défaut ; plafonné par la "
                                 "configuration, 500 par défaut)."})
    format = fr.String(
        validate=_one_of(("json", "geojson"), "Format"),
        metadata={"description": "json (défaut) ou geojson (FeatureCollection RFC 7946) ; "
                                 "aussi par l'en-tête Accept: application/geo+json."})

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        territories = [k for k in ("commune", "departement", "region", "epci") if k in data]
        if len(territories) > 1:
            raise ValidationError("Un seul filtre de territoire à la fois (commune, "
                                  "departement, region ou epci).", territories[-1])
        if data.get("sort") == "relevance" and not data.get("q"):
            raise ValidationError("Le tri par pertinence demande une recherche q.", "sort")


class VenueStopSchema(Schema):
    position = fields.Integer()
    label = fields.String()
    code_insee = fields.String(allow_none=True)
    adresse = fields.String(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    horaires = fields.String(allow_none=True)
    horaires_osm = fields.String(allow_none=True)
    today = fields.String(allow_none=True, metadata={"description": "Horaires du jour en mots."})
    next_opening = fields.String(allow_none=True)
    week = fields.List(fields.Dict(), metadata={"description": "[{day, hours}] × 7."})


class VenueSchema(Schema):
    """A venue in a list: the standard v1.0.2 fields (French names) and ours."""

    id = fields.Integer(required=True)
    source = fields.String(required=True, metadata={"description": "Source d'import."})
    source_id = fields.String(required=True,
                              metadata={"description": "Champ `id` du standard dans sa source."})
    pivot = fields.String(allow_none=True)
    nom = fields.String(required=True)
    commune = fields.String(required=True)
    code_postal = fields.String(allow_none=True)
    code_insee = fields.String(allow_none=True)
    adresse = fields.String(allow_none=True)
    complement_adresse = fields.String(allow_none=True)
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    typologie = fields.List(fields.String())
    telephone = fields.List(fields.String())
    courriels = fields.List(fields.String())
    site_web = fr.SafeUrlList()
    horaires = fields.String(allow_none=True,
                             metadata={"description": "Horaires tels que reçus."})
    presentation_resume = fields.String(allow_none=True)
    presentation_detail = fields.String(allow_none=True)
    source_donnees = fields.String(allow_none=True,
                                   metadata={"description": "Champ `source` du standard."})
    itinerance = fields.List(fields.String())
    structure_parente = fields.String(allow_none=True)
    date_maj = fields.Date(allow_none=True)
    services = fields.List(fields.String())
    publics_specifiquement_adresses = fields.List(fields.String())
    prise_en_charge_specifique = fields.List(fields.String())
    frais_a_charge = fields.List(fields.String())
    dispositif_programmes_nationaux = fields.List(fields.String())
    formations_labels = fields.List(fields.String())
    autres_formations_labels = fields.List(fields.String())
    modalites_acces = fields.List(fields.String())
    modalites_accompagnement = fields.List(fields.String())
    fiche_acces_libre = fr.SafeUrl(allow_none=True)
    prise_rdv = fr.SafeUrl(allow_none=True)
    location_precision = fields.String(
        allow_none=True, metadata={"enum": list(LOCATION_PRECISIONS)})
    status = fields.String(metadata={"enum": list(VENUE_STATUSES)})
    closed_from = fields.Date(allow_none=True)
    closed_until = fields.Date(allow_none=True)
    horaires_osm = fields.String(allow_none=True,
                                 metadata={"description": "Horaires OSM validés."})
    horaires_valides = fields.Boolean()
    flags = fields.List(fields.Dict(), metadata={
        "description": "Avertissements d'import : {code, message, field}."})
    programmes = fields.List(fields.String(), metadata={
        "description": "Codes des programmes acceptés (valides à la date demandée)."})
    updated_at = fields.DateTime()


class VenueListSchema(Schema):
    count = fields.Integer(metadata={"description": "Lieux dans cette page."})
    items = fields.List(fields.Nested(VenueSchema))
    next = fields.String(allow_none=True,
                         metadata={"description": "Adresse de la page suivante ; null à la fin."})


class VenueFeatureSchema(FeatureSchema):
    id = fields.Integer()
    properties = fields.Nested(VenueSchema)


class VenueFeatureCollectionSchema(FeatureCollectionSchema):
    features = fields.List(fields.Nested(VenueFeatureSchema))
    next = fields.String(allow_none=True)


class VenueHoursSchema(Schema):
    valid = fields.Boolean()
    osm = fields.String(allow_none=True)
    raw = fields.String(allow_none=True)
    today = fields.String(allow_none=True, metadata={
        "description": "Aujourd'hui en mots : « ouvert aujourd'hui de 9 h à 12 h »."})
    week = fields.List(fields.Dict(), metadata={
        "description": "Sept lignes {day, hours} : « lundi », « 9 h – 12 h »."})


class VenueNextOpeningSchema(Schema):
    at = fields.DateTime(allow_none=True, metadata={
        "description": "Date et heure ISO avec le décalage du fuseau du lieu."})
    text = fields.String(metadata={"description": "La même chose en une phrase."})


class VenueAcceptedProgrammeSchema(Schema):
    code = fields.String()
    name = fields.String()
    issuer = fields.String(allow_none=True)
    funder = fields.String(allow_none=True)
    services = fields.List(fields.String(), metadata={
        "description": "Services couverts ; vide = tous (voir all_services)."})
    all_services = fields.Boolean()
    levels = fields.List(fields.Integer())
    cheque_value_cents = fields.Integer()
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    qualification_reference = fields.String(allow_none=True)


class VenueOfferSchema(Schema):
    code = fields.String()
    title = fields.String()
    description = fields.String(allow_none=True)
    service = fields.String()
    topics = fields.List(fields.String(), metadata={
        "description": "Thématiques de l'offre (codes de data·inclusion)."})
    level = fields.Integer(allow_none=True)
    level_label = fields.String(allow_none=True)
    format = fields.String()
    format_label = fields.String()
    duration_minutes = fields.Integer(allow_none=True)
    cheques_required = fields.Integer()
    payment = fields.String(allow_none=True, metadata={
        "description": "Quels pass acceptés ici paient cette offre (« payé par le Pass "
                       "Numérique Gironde : 1 chèque », « non couvert par les pass acceptés "
                       "ici ») ; null si le lieu n'accepte aucun pass.",
        "example": "payé par le Pass Numérique Gironde : 1 chèque"})
    languages = fields.List(fields.String())
    publics = fields.List(fields.String())
    horaires = fields.String(allow_none=True)
    schedule = fields.List(fields.Dict())


class VenueSessionSchema(Schema):
    id = fields.Integer()
    offer_code = fields.String()
    offer_title = fields.String()
    service = fields.String()
    format = fields.String()
    level = fields.Integer(allow_none=True)
    cheques_required = fields.Integer()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    when = fields.String(metadata={"description": "« jeudi 3 décembre de 14 h à 16 h »."})
    seats = fields.Integer()
    seats_taken = fields.Integer()
    free_seats = fields.Integer()
    stop = fields.String(allow_none=True)


class VenueDetailSchema(VenueSchema):
    status_label = fields.String()
    timezone = fields.String()
    weekly_capacity = fields.Integer(allow_none=True)
    closure = fields.String(allow_none=True)
    open_now = fields.Boolean(allow_none=True, metadata={
        "description": "Ouvert en ce moment (fuseau du lieu, jours fériés français) ; "
                       "null si les horaires sont inconnus."})
    next_opening = fields.Nested(VenueNextOpeningSchema, allow_none=True)
    hours = fields.Nested(VenueHoursSchema)
    accepted_programmes = fields.List(fields.Nested(VenueAcceptedProgrammeSchema))
    offers = fields.List(fields.Nested(VenueOfferSchema))
    sessions = fields.List(fields.Nested(VenueSessionSchema), metadata={
        "description": "Séances des 60 prochains jours, avec les places libres."})
    stops = fields.List(fields.Nested(VenueStopSchema))
    as_of = fields.DateTime()


__all__ = ["VenueDetailSchema", "VenueFeatureCollectionSchema",
           "VenueListArgs", "VenueListSchema", "VenueSchema"]
