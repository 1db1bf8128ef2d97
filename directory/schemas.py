"""Marshmallow schemas of the catalogue's API (hand-written; unknown fields rejected)."""

from __future__ import annotations

from marshmallow import fields, validate

from core import schemas as fr
from core.geojson import Geometry
from core.schemas import ParameterSchema, StrictSchema


class ProgrammeListArgs(ParameterSchema):
    date = fr.Date(
        load_default=None,
        metadata={"description": "Ne garder que les programmes valides ce jour (AAAA-MM-JJ)."})
    geometry = fr.String(
        load_default="simplified", validate=validate.OneOf(["none", "simplified", "full"]),
        metadata={"description": "Périmètre : aucun, simplifié (≈ 500 m, défaut) ou complet."})


class ProgrammeDetailArgs(ParameterSchema):
    geometry = fr.String(
        load_default="full", validate=validate.OneOf(["none", "simplified", "full"]),
        metadata={"description": "Périmètre : aucun, simplifié (≈ 500 m) ou complet (défaut)."})


class ProgrammeSchema(StrictSchema):
    code = fields.String(required=True, metadata={"example": "pass-numerique-gironde"})
    name = fields.String(required=True, metadata={"example": "Pass Numérique Gironde"})
    issuer = fields.String(allow_none=True)
    funder = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    perimeter_codes = fields.List(
        fields.String(), required=True,
        metadata={"description": "Territoires du périmètre : fr, reg:75, dep:33, "
                                 "epci:<SIREN>, com:<code INSEE>.", "example": ["dep:33"]})
    perimeter_names = fields.List(fields.String(), required=True)
    perimeter = Geometry(
        allow_none=True,
        metadata={"description": "Union des territoires (MultiPolygon GeoJSON) ; null pour "
                                 "la France entière ou quand geometry=none."})
    communes_count = fields.Integer(required=True)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(allow_none=True, metadata={"description": "Incluse ; null = sans fin."})
    eligible_publics = fields.List(fields.String(), required=True,
                                   metadata={"description": "Vide = tous les publics."})
    allowed_services = fields.List(fields.String(), required=True,
                                   metadata={"description": "Vide = tous les services."})
    levels = fields.List(fields.Integer(), required=True)
    cheque_value_cents = fields.Integer(required=True, metadata={"example": 1000})
    accepting_venues = fields.Integer(
        required=True,
        metadata={"description": "Lieux dont l'acceptation est valide aujourd'hui."})


class ProgrammeListSchema(StrictSchema):
    count = fields.Integer(required=True)
    items = fields.List(fields.Nested(ProgrammeSchema), required=True)
