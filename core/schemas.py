"""Marshmallow building blocks shared by every API: fields with French error messages and the
strict base schemas (unknown fields rejected in French).

Fields read from a JSON body say « Champ obligatoire. » ; the same fields in a query-argument
schema (``ParameterSchema``) say « Paramètre obligatoire. ». A field may still override one
message with ``error_messages={...}`` when an endpoint needs a specific wording.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .urls import safe_url, safe_urls

FIELD_MESSAGES = {
    "required": "Champ obligatoire.",
    "null": "Ce champ ne peut pas être nul.",
    "validator_failed": "Valeur invalide.",
}
PARAMETER_MESSAGES = {
    "required": "Paramètre obligatoire.",
    "null": "Ce paramètre ne peut pas être vide.",
}
DATE_FORMAT_MESSAGE = "Date attendue au format AAAA-MM-JJ."

# What the OpenAPI document says of a bbox parameter: empty (no extent), or four decimal
# numbers separated by commas (minlon,minlat,maxlon,maxlat; the fields check the ranges).
_NUMBER = r"-?[0-9]+(\.[0-9]+)?"
BBOX_PATTERN = rf"^({_NUMBER}(,{_NUMBER}){{3}})?$"
# The same, for a parameter that cannot be left empty.
REQUIRED_BBOX_PATTERN = rf"^{_NUMBER}(,{_NUMBER}){{3}}$"


class BBox(fields.Field):
    """``minlon,minlat,maxlon,maxlat`` in degrees (WGS 84), checked and in range."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str):
            raise ValidationError("Attendu : minlon,minlat,maxlon,maxlat.")
        if not value.strip():
            return None  # ``bbox=`` as an empty form field sends it: no rectangle
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 4:
            raise ValidationError(
                "Attendu : quatre nombres séparés par des virgules, "
                "minlon,minlat,maxlon,maxlat (par exemple -0.7,44.7,-0.4,45.0).")
        try:
            min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
        except ValueError:
            raise ValidationError(
                "Les quatre valeurs de bbox doivent être des nombres (point décimal).") from None
        numbers = (min_lon, min_lat, max_lon, max_lat)
        if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
            raise ValidationError("Les valeurs de bbox doivent être des nombres finis.")
        if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
            raise ValidationError("Les longitudes de bbox doivent être comprises entre "
                                  "-180 et 180.")
        if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
            raise ValidationError("Les latitudes de bbox doivent être comprises entre "
                                  "-90 et 90.")
        if min_lon >= max_lon or min_lat >= max_lat:
            raise ValidationError(
                "bbox mal ordonnée : attendu minlon < maxlon et minlat < maxlat "
                "(ordre minlon,minlat,maxlon,maxlat).")
        return numbers


class String(fields.String):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Texte attendu.",
                              "invalid_utf8": "Texte UTF-8 invalide."}


# PostgreSQL's bigint: a larger integer could not reach the database.
MAX_INTEGER = 2 ** 63 - 1


class Integer(fields.Integer):
    """An integer: a JSON number with a fraction (2.5) is refused, not truncated, and its
    size is bounded by what the database can hold."""

    default_error_messages = {**FIELD_MESSAGES, "invalid": "Nombre entier attendu.",
                              "too_large": "Nombre trop grand."}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # Also in the OpenAPI document (minimum/maximum), which combines it with any Range.
        self.validators.append(validate.Range(-MAX_INTEGER, MAX_INTEGER,
                                              error="Nombre trop grand."))

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Float(fields.Float):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Nombre attendu.",
                              "too_large": "Nombre trop grand.",
                              "special": "Les valeurs NaN et infinies sont refusées."}


class Boolean(fields.Boolean):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Booléen attendu (true ou false)."}


class Date(fields.Date):
    default_error_messages = {**FIELD_MESSAGES, "invalid": DATE_FORMAT_MESSAGE,
                              "format": DATE_FORMAT_MESSAGE}


class AwareDateTime(fields.AwareDateTime):
    default_error_messages = {
        **FIELD_MESSAGES,
        "invalid": "Date et heure ISO 8601 attendues, par exemple 2026-01-31T08:00:00+01:00.",
        "format": "Date et heure ISO 8601 attendues, par exemple 2026-01-31T08:00:00+01:00.",
        "invalid_awareness": "Date et heure avec fuseau horaire attendues."}


class List(fields.List):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Liste attendue."}


class StrictSchema(Schema):
    """A JSON body (or an answer): unknown fields rejected with « Champ inconnu. »."""

    error_messages = {"unknown": "Champ inconnu.", "type": "Objet JSON attendu."}

    class Meta:
        unknown = RAISE


class ParameterSchema(Schema):
    """Query arguments: unknown parameters rejected with « Paramètre inconnu. », and the
    fields' « obligatoire » / « vide » messages speak of a parameter."""

    error_messages = {"unknown": "Paramètre inconnu.", "type": "Paramètres invalides."}

    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        _speak_of_parameters(field_obj)


def _speak_of_parameters(field_obj: Any) -> None:
    if isinstance(field_obj, fields.Field):
        field_obj.error_messages = {**field_obj.error_messages, **PARAMETER_MESSAGES}
    inner = getattr(field_obj, "inner", None)
    if inner is not None:
        _speak_of_parameters(inner)


class ErrorSchema(Schema):
    """Every error answer of the API, as ``core.errors`` sends it."""

    code = fields.Integer(required=True, metadata={
        "description": "Statut HTTP de la réponse (même valeur que status).", "example": 422})
    status = fields.Integer(required=True, metadata={
        "description": "Statut HTTP de la réponse.", "example": 422})
    message = fields.String(required=True, metadata={
        "description": "Ce qui ne va pas, en français.",
        "example": "Les paramètres de la requête sont invalides."})
    errors = fields.Dict(keys=fields.String(), metadata={
        "description": "Détail par champ ou paramètre : son nom, puis la liste de ses messages "
                       "en français (un objet par position pour un élément de liste, par "
                       "sous-champ pour un objet) ; absent quand la requête entière est en "
                       "cause.",
        "example": {"lat": ["Latitude entre -90 et 90."]}})
    request_id = fields.String(metadata={
        "description": "Identifiant de la requête (aussi dans l'en-tête X-Request-ID), à "
                       "citer pour signaler un problème.",
        "example": "4f1c2d0e9b8a4c6f8e2d1a0b3c4d5e6f"})


class SafeUrl(fields.String):
    """A URL of the catalogue in an answer: null unless http, https, mailto or tel."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any):
        return safe_url(super()._serialize(value, attr, obj, **kwargs))


class SafeUrlList(fields.List):
    """URLs of the catalogue in an answer: those of another scheme are left out."""

    def __init__(self, **kwargs: Any):
        super().__init__(fields.String(), **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any):
        items = super()._serialize(value, attr, obj, **kwargs)
        return safe_urls(items)


def other_content(status: int = 200, **content: dict) -> dict:
    """``@blp.doc(**other_content(200, **{"text/csv": {...}}))``: more content types of an
    answer in the OpenAPI document (flask-smorest merges them with the answer's own)."""
    return {"responses": {status: {"content": content}}}
