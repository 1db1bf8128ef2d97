"""Marshmallow schemas of the match API (hand-written, unknown fields rejected, French messages).

One schema reads the question from a query string (GET) or a JSON body (POST): the same
fields, the same checks. Lists are JSON arrays, repeated query parameters, or
comma-separated strings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from core import schemas as fr
from core.errors import InvalidInput
from core.schemas import StrictSchema
from directory.vocabulary import (
    LEVELS,
    OFFER_FORMATS,
    PRISE_EN_CHARGE_SPECIFIQUE,
    PUBLICS_SPECIFIQUEMENT_ADRESSES,
    SERVICES,
    TOPIC_CODES,
    topic_of,
)

from .question import DAY_CODES, TRAVEL_MODES, Question, question_from_loaded, slug

# --- Fields (French messages: core.schemas) ----------------------------------------------

class FrTime(fr.String):
    """"HH:MM" (24 h); kept as text here, converted by question.parse_time."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Regexp(
            r"^([01]?\d|2[0-4])[:hH]([0-5]\d)?$", error="Heure attendue au format HH:MM."),
            **kwargs)


class ListOrCsv(fr.List):
    """A list given as a JSON array, repeated query parameters or ``a,b,c``."""

    def __init__(self, *, max_items: int = 20, item_schema: dict[str, Any] | None = None,
                 **kwargs):
        # item_schema: what the OpenAPI document says of each item (enum, pattern), the
        # same values the validator accepts; the document states the count limit too.
        kwargs["metadata"] = {"maxItems": max_items, **kwargs.get("metadata", {})}
        super().__init__(fr.String(validate=validate.Length(min=1, max=120,
                                   error="Valeur vide ou trop longue."),
                                   metadata=item_schema or {}), **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr, data, **kwargs):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise self.make_error("invalid")
        items: list[Any] = []
        for item in value:
            if isinstance(item, str):
                items.extend(p.strip() for p in item.split(",") if p.strip())
            else:
                items.append(item)
        if len(items) > self.max_items:
            raise ValidationError(f"Au plus {self.max_items} valeurs.")
        return super()._deserialize(items, attr, data, **kwargs)


def _each(check):
    """A list validator applying ``check`` to every item."""
    def run(values) -> None:
        for value in values:
            check(value)
    return run


def accepted_forms(values) -> dict[str, Any]:
    """The OpenAPI enum of a vocabulary: its values and their slugs (see ``_one_of``)."""
    return {"enum": list(dict.fromkeys([*values, *(slug(v) for v in values)]))}


def _one_of(values, what: str):
    """Accept a vocabulary value exactly or by its slug; say the allowed values in French."""
    allowed = {slug(v): v for v in values}

    def check(value: str) -> None:
        if value not in values and slug(value) not in allowed:
            raise ValidationError(
                f"{what} inconnu : « {value} ». Valeurs possibles : " + " ; ".join(values) + ".")
    return check


def _topic(value: str) -> None:
    if topic_of(value) is None:
        raise ValidationError(f"Thématique inconnue : « {value} ». Donnez un code de "
                              "data·inclusion, ex. numerique--prendre-en-main-un-ordinateur "
                              "(liste : champ `topics` du document OpenAPI).")


# --- The question -------------------------------------------------------------------------

class QuestionSchema(StrictSchema):
    lat = fr.Float(validate=validate.Range(-90, 90, error="Latitude entre -90 et 90."),
                   metadata={"description": "Latitude WGS 84 (avec lon).", "example": 44.8378})
    lon = fr.Float(validate=validate.Range(-180, 180, error="Longitude entre -180 et 180."),
                   metadata={"description": "Longitude WGS 84 (avec lat).", "example": -0.5792})
    address = fr.String(validate=validate.Length(min=2, max=200, error="Adresse de 2 à 200 "
                                                                       "caractères."),
                        metadata={"description": "Adresse ou nom de commune (géocodée).",
                                  "example": "1 place Pey-Berland 33000 Bordeaux"})
    postal_code = fr.String(validate=validate.Regexp(r"^\d{5}$", error="Code postal à 5 chiffres."),
                            metadata={"example": "33000"})
    commune = fr.String(
        validate=validate.Regexp(r"^(\d{5}|2[AaBb]\d{3})$", error="Code INSEE à 5 caractères."),
        metadata={"description": "Code INSEE de la commune : les lieux situés dans la commune "
                                 "sont à distance 0.", "example": "33063"})
    programme = fr.String(validate=validate.Length(min=1, max=64, error="Code de programme "
                                                                       "invalide."),
                          metadata={"description": "Code du programme du pass.",
                                    "example": "pass-numerique-gironde"})
    topics = ListOrCsv(
        validate=_each(_topic), item_schema={"enum": list(TOPIC_CODES)},
        metadata={"description": "Ce que la personne veut apprendre : thématiques de "
                                 "data·inclusion (code ou libellé v0.1). Un lieu répond par "
                                 "une offre active sur l'une d'elles (payée par le pass quand "
                                 "un programme est donné) ; un lieu qui ne liste aucune offre, "
                                 "par une thématique qu'il annonce ou, à défaut, le service "
                                 "dont elle relève (voir certainty dans la réponse).",
                  "example": ["numerique--prendre-en-main-un-smartphone-ou-une-tablette"]})
    services = ListOrCsv(
        validate=_each(_one_of(SERVICES, "Service")), item_schema=accepted_forms(SERVICES),
        metadata={"description": "Services larges du standard v1.0.2 (compatibilité ; préférez "
                                 "`topics`) : valeurs ou forme courte, ex. "
                                 "aide-aux-demarches-administratives. Au moins un doit être "
                                 "proposé.",
                  "example": ["Aide aux démarches administratives"]})
    level = fr.Integer(validate=validate.OneOf(list(LEVELS), error="Niveau 1, 2 ou 3."),
                       metadata={"description": "Niveau APTIC souhaité : 1 Découvrir, "
                                                "2 Maîtriser, 3 Augmenter son pouvoir d'agir."})
    publics = ListOrCsv(
        validate=_each(_one_of(PUBLICS_SPECIFIQUEMENT_ADRESSES, "Public")),
        item_schema=accepted_forms(PUBLICS_SPECIFIQUEMENT_ADRESSES),
        metadata={"description": "Publics (préférence) : Seniors, Jeunes…"})
    support = ListOrCsv(
        validate=_each(_one_of(PRISE_EN_CHARGE_SPECIFIQUE + ("mobilite-reduite",),
                                         "Prise en charge")),
        item_schema=accepted_forms(PRISE_EN_CHARGE_SPECIFIQUE + ("mobilite-reduite",)),
        metadata={"description": "Prises en charge exigées (Surdité, Handicaps moteurs…; "
                                 "« mobilite-reduite » = Handicaps moteurs). Contrainte stricte.",
                  "example": ["Surdité"]})
    languages = ListOrCsv(
        validate=_each(validate.Regexp(r"^[a-z]{2}$", error="Langue : code ISO 639-1 à 2 "
                                                            "lettres (fr, en…).")),
        item_schema={"pattern": "^[a-z]{2}$"},
        metadata={"description": "Langues souhaitées (ISO 639-1), préférence."})
    formats = ListOrCsv(
        validate=_each(_one_of(OFFER_FORMATS, "Format")), item_schema=accepted_forms(OFFER_FORMATS),
        metadata={"description": "individual, collective, remote, autonomous (préférence ; "
                                 "les offres à distance sont listées à part)."})
    days = ListOrCsv(
        validate=_each(lambda v: validate.OneOf(
            list(DAY_CODES), error="Jour inconnu : lundi… dimanche ou mo… su.")(v.lower())),
        item_schema={"enum": list(DAY_CODES)},
        metadata={"description": "Jours où la personne est libre.",
                  "example": ["mardi", "samedi"]})
    time_from = FrTime(metadata={"description": "Libre à partir de (HH:MM).", "example": "14:00"})
    time_to = FrTime(metadata={"description": "Libre jusqu'à (HH:MM).", "example": "17:00"})
    now = fr.Boolean(metadata={"description": "Ouvert maintenant."})
    date = fr.Date(validate=validate.Range(min=dt.date(2000, 1, 1), max=dt.date(2100, 12, 31),
                                           error="Date entre 2000 et 2100."),
                   metadata={"description": "Le jour où la personne est libre (AAAA-MM-JJ, de "
                                            "2000 à 2100) ; aussi la date de validité du pass.",
                             "pattern": r"^(20\d\d|2100)-\d\d-\d\d$"})
    max_distance_m = fr.Integer(
        validate=validate.Range(100, 300_000, error="Distance entre 100 m et 300 km."),
        metadata={"description": "Distance maximale à vol d'oiseau (géodésique), mètres."})
    travel_mode = fr.String(
        validate=validate.OneOf(list(TRAVEL_MODES), error="Mode : walk, bike, transit ou car."),
        metadata={"description": "Mode de déplacement pour la durée maximale : walk (4,5 km/h), "
                                 "bike (15 km/h), transit (20 km/h), car (50 km/h) ; distance "
                                 "géodésique × 1,3 (détour)."})
    max_minutes = fr.Integer(validate=validate.Range(1, 240, error="Durée entre 1 et 240 minutes."),
                             metadata={"description": "Durée de trajet maximale (avec "
                                                      "travel_mode)."})
    limit = fr.Integer(load_default=10,
                       validate=validate.Range(1, 50, error="limit entre 1 et 50."))
    output = fr.String(load_default="json",
                       validate=validate.OneOf(["json", "geojson"], error="output : json ou "
                                                                          "geojson."),
                       metadata={"description": "json (défaut) ou geojson (FeatureCollection ; "
                                                "aussi avec Accept: application/geo+json)."})

    @validates_schema
    def _where(self, data, **kwargs):
        given = [k for k in ("address", "postal_code", "commune") if data.get(k) is not None]
        has_lat, has_lon = data.get("lat") is not None, data.get("lon") is not None
        if has_lat != has_lon:
            raise ValidationError("Donnez lat et lon ensemble.", "lat" if not has_lat else "lon")
        if has_lat:
            given.append("lat/lon")
        if not given:
            raise ValidationError("Où est la personne ? Donnez lat/lon, address, postal_code ou "
                                  "commune.", "_schema")
        if len(given) > 1:
            raise ValidationError("Un seul lieu de départ à la fois : " + ", ".join(given) + ".",
                                  "_schema")
        if data.get("now") and data.get("date") is not None:
            raise ValidationError("« now » et « date » ne vont pas ensemble.", "now")
        if (data.get("travel_mode") is None) != (data.get("max_minutes") is None):
            raise ValidationError("travel_mode et max_minutes vont ensemble.", "max_minutes")
        if data.get("max_minutes") is not None and data.get("max_distance_m") is not None:
            raise ValidationError("Donnez max_distance_m ou travel_mode + max_minutes, pas les "
                                  "deux.", "max_distance_m")


# --- The answer ---------------------------------------------------------------------------

class MatchSlotSchema(StrictSchema):
    start = fields.DateTime(required=True)
    end = fields.DateTime(required=True)
    kind = fields.String(required=True, metadata={"description": "opening ou session"})
    text = fields.String(required=True, metadata={"example": "ouvert mardi de 14 h à 17 h"})
    seats_free = fields.Integer(allow_none=True)


class MatchOfferSchema(StrictSchema):
    offer_id = fields.Integer(required=True)
    venue_id = fields.Integer(required=True)
    venue_nom = fields.String(required=True)
    title = fields.String(required=True)
    service = fields.String(required=True)
    topics = fields.List(fields.String(), required=True, metadata={
        "description": "Thématiques de l'offre (codes de data·inclusion)."})
    level = fields.Integer(allow_none=True)
    format = fields.String(required=True)
    cheques_required = fields.Integer(required=True)
    covered = fields.Boolean(allow_none=True, metadata={
        "description": "Le pass demandé paie cette offre (programme et qualification du lieu : "
                       "service, niveau, public) ; null sans pass demandé."})
    payment = fields.String(allow_none=True, metadata={
        "description": "Ce que paie le pass demandé, en français ; sans pass demandé, lequel "
                       "des pass acceptés par le lieu la paie ; null si le lieu n'en accepte "
                       "aucun.",
        "example": "payé par votre pass : 1 chèque"})
    duration_minutes = fields.Integer(allow_none=True)
    languages = fields.List(fields.String(), required=True)
    next_session = fields.Nested(MatchSlotSchema, allow_none=True)


class MatchRemoteOfferSchema(MatchOfferSchema):
    """A remote offer, with the ways to reach its venue without travelling."""

    telephone = fields.List(fields.String(), required=True)
    courriels = fields.List(fields.String(), required=True)
    site_web = fr.SafeUrlList(required=True)
    prise_rdv = fr.SafeUrl(allow_none=True)


class MatchRelaxationSchema(StrictSchema):
    constraint = fields.String(required=True, metadata={
        "description": "La contrainte relâchée : availability (jours et heures), support, "
                       "services, programme (le pass), distance (le lieu le plus proche qui "
                       "convient à tout, jusqu'à 300 km)."})
    count = fields.Integer(required=True, metadata={
        "description": "Lieux trouvés sans cette contrainte dans la distance demandée."})
    at_least = fields.Boolean(required=True, metadata={
        "description": "Vrai : le compte s'est arrêté à un plafond (au moins count)."})
    text = fields.String(required=True)
    nearest_m = fields.Float(allow_none=True)
    nearest_venue_id = fields.Integer(allow_none=True)
    nearest_name = fields.String(allow_none=True)


class MatchVenueSchema(StrictSchema):
    rank = fields.Integer(required=True)
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
        "description": "Distance géodésique sur l'ellipsoïde WGS 84, en mètres (0 dans la "
                       "commune demandée).", "example": 2314.2})
    travel_minutes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                                 metadata={"example": {"walk": 40, "bike": 12, "transit": 9,
                                                       "car": 4}})
    next_slot = fields.Nested(MatchSlotSchema, allow_none=True)
    offers = fields.List(fields.Nested(MatchOfferSchema), required=True)
    reasons = fields.List(fields.String(), required=True, metadata={
        "example": ["accepte le Pass Numérique Gironde", "à 2,3 km",
                    "ouvert mardi de 14 h à 17 h"]})
    unmet = fields.List(fields.String(), required=True)
    score = fields.Float(required=True)
    hours_known = fields.Boolean(required=True)
    horaires = fields.String(allow_none=True)
    telephone = fields.List(fields.String(), required=True)
    site_web = fr.SafeUrlList(required=True)
    prise_rdv = fr.SafeUrl(allow_none=True)
    weekly_capacity = fields.Integer(allow_none=True)
    certainty = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                            metadata={
        "description": "Pour chaque thématique demandée, comment le lieu y répond : « offer » "
                       "(une offre active sur la thématique, citée dans les raisons), "
                       "« declared » (un lieu sans offre qui annonce la thématique) ou "
                       "« service » (un lieu sans offre qui n'annonce que le service du "
                       "standard dont elle relève) ; les deux derniers viennent après à "
                       "distance voisine.",
        "example": {"numerique--prendre-en-main-un-smartphone-ou-une-tablette": "declared"}})
    payment = fields.String(allow_none=True, metadata={
        "description": "Pour un lieu qui ne détaille pas ses offres : ce que paie le pass "
                       "(nombre de chèques inconnu) ; null sinon.",
        "example": "payé par votre pass (à confirmer avec le lieu)"})


class MatchPlaceSchema(StrictSchema):
    label = fields.String(required=True)
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    commune_code = fields.String(allow_none=True)
    precision = fields.String(required=True)
    is_polygon = fields.Boolean(required=True)


class MatchProgrammeSchema(StrictSchema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class MatchPerimeterSchema(StrictSchema):
    valid_here = fields.Boolean(required=True, metadata={
        "description": "Le périmètre du pass choisi couvre le lieu de la personne."})
    commune_code = fields.String(allow_none=True)
    commune_name = fields.String(allow_none=True)
    valid_programmes = fields.List(fields.Nested(MatchProgrammeSchema),
                                   required=True, metadata={
        "description": "Les pass valables à ce lieu à la date de la recherche (locaux "
                       "d'abord, nationaux ensuite)."})


class MatchSearchSchema(StrictSchema):
    radius_m = fields.Integer(required=True)
    max_distance_m = fields.Integer(required=True)
    steps_m = fields.List(fields.Integer(), required=True)
    message = fields.String(allow_none=True, metadata={
        "example": "Aucun lieu à moins de 10 km ; recherche élargie à 20 km."})
    on_date = fields.Date(required=True)


class MatchResponseSchema(StrictSchema):
    place = fields.Nested(MatchPlaceSchema, required=True)
    programme = fields.Nested(MatchProgrammeSchema, allow_none=True)
    search = fields.Nested(MatchSearchSchema, required=True)
    assumptions = fields.Dict(required=True)
    count = fields.Integer(required=True)
    results = fields.List(fields.Nested(MatchVenueSchema), required=True)
    remote = fields.List(fields.Nested(MatchRemoteOfferSchema), required=True)
    hints = fields.List(fields.String(), required=True, metadata={
        "example": ["3 lieux acceptent ce pass à moins de 20 km, mais aucun le samedi."]})
    relaxations = fields.List(fields.Nested(MatchRelaxationSchema), required=True, metadata={
        "description": "Quand rien ne convient : ce que donne la même recherche sans une "
                       "contrainte, ou plus loin (les faits derrière hints)."})
    perimeter = fields.Nested(MatchPerimeterSchema, allow_none=True, metadata={
        "description": "Avec un pass : est-il valable au lieu de la personne, et quels pass "
                       "le sont ; null sans pass."})


# One schema for every question, the API's and the pages': webargs builds a schema given as
# a class on every request, and building one copies its declared fields (~0.25 ms a
# request); loading keeps no state on it.
QUESTION = QuestionSchema()


def parse_question(data: Mapping[str, Any]) -> Question:
    """Validate API fields (a dict, or a MultiDict from a query string or a form) into a
    Question; ``InvalidInput`` with French messages per field otherwise."""
    if hasattr(data, "getlist"):  # a query string / form: lists from repeated keys
        data = {key: (data.getlist(key) if isinstance(QUESTION.fields.get(key), ListOrCsv)
                      else data.get(key)) for key in data}
    try:
        loaded = QUESTION.load(dict(data))
    except ValidationError as exc:
        raise InvalidInput(errors=exc.normalized_messages()) from None
    loaded.pop("limit", None)
    loaded.pop("output", None)
    return question_from_loaded(loaded)
