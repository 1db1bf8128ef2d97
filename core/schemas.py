"""Marshmallow building blocks shared by every API: fields with French error messages and the
strict base schemas (unknown fields rejected in French).

Fields read from a JSON body say « Champ obligatoire. » ; the same fields in a query-argument
schema (``ParameterSchema``) say « Paramètre obligatoire. ». A field may still override one
message with ``error_messages={...}`` when an endpoint needs a specific wording.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields

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


class String(fields.String):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Texte attendu.",
                              "invalid_utf8": "Texte UTF-8 invalide."}


class Integer(fields.Integer):
    default_error_messages = {**FIELD_MESSAGES, "invalid": "Nombre entier attendu.",
                              "too_large": "Nombre trop grand."}


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
        ordered = True


class ParameterSchema(Schema):
    """Query arguments: unknown parameters rejected with « Paramètre inconnu. », and the
    fields' « obligatoire » / « vide » messages speak of a parameter."""

    error_messages = {"unknown": "Paramètre inconnu.", "type": "Paramètres invalides."}

    class Meta:
        unknown = RAISE
        ordered = True

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        _speak_of_parameters(field_obj)


def _speak_of_parameters(field_obj: Any) -> None:
    if isinstance(field_obj, fields.Field):
        field_obj.error_messages = {**field_obj.error_messages, **PARAMETER_MESSAGES}
    inner = getattr(field_obj, "inner", None)
    if inner is not None:
        _speak_of_parameters(inner)
