"""Hand-written marshmallow schemas of the territory and geocoding API.

Query-argument schemas reject unknown parameters; messages a user reads are French.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import schemas as fr
from core.geojson import Geometry
from core.schemas import ParameterSchema

from .services import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

COMMUNE_CODE = r"^(\d{5}|2[AB]\d{3})$"
DEPARTEMENT_CODE = r"^(\d{2}|2[AB]|97\d)$"
REGION_CODE = r"^\d{2}$"
EPCI_CODE = r"^\d{9}$"
POSTAL_CODE = r"^\d{5}$"



def _code(pattern: str, what: str, **kwargs: Any) -> fields.String:
    return fr.String(
        validate=validate.Regexp(pattern, error=f"Code {what} invalide."), **kwargs)


class TerritoryGeometryArgs(ParameterSchema):
    geometry = fr.Boolean(
        load_default=False,
        metadata={"description": "Inclure le polygone (GeoJSON RFC 7946, lon/lat)."})
    tolerance = fr.Float(
        validate=validate.Range(min=0, max=1,
                                error="La tolérance doit être comprise entre 0 et 1 degré."),
        metadata={"description": "Tolérance de simplification du polygone, en degrés ; 0 = "
                                 "polygone complet, sans simplification."})
    zoom = fr.Integer(
        validate=validate.Range(min=0, max=22, error="Le zoom doit être compris entre 0 et 22."),
        metadata={"description": "Niveau de zoom de la carte : simplification d'environ "
                                 "un pixel à ce zoom (ignoré si tolerance est donné)."})

    @validates_schema
    def _one_scale(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "tolerance" in data and "zoom" in data:
            raise ValidationError("Indiquez tolerance ou zoom, pas les deux.", "zoom")


class _PageArgs(TerritoryGeometryArgs):
    page_size = fr.Integer(
        load_default=DEFAULT_PAGE_SIZE,
        validate=validate.Range(min=1, max=MAX_PAGE_SIZE,
                                error=f"page_size doit être compris entre 1 et {MAX_PAGE_SIZE}."))


class CommuneSearchArgs(_PageArgs):
    q = fr.String(validate=validate.Length(min=1, max=100, error="De 1 à 100 caractères."),
                  metadata={"description": "Nom ou début de nom (sans accents ni "
                                           "majuscules requis ; « st » vaut « saint »)."})
    postal_code = _code(POSTAL_CODE, "postal (5 chiffres)")
    departement = _code(DEPARTEMENT_CODE, "de département")
    after = _code(COMMUNE_CODE, "de commune",
                  metadata={"description": "Sans q : code de la dernière commune de la "
                                           "page précédente."})


class TerritoryPointArgs(ParameterSchema):
    lat = fr.Float(required=True,
                   validate=validate.Range(min=-90, max=90, error="La latitude doit être "
                                           "comprise entre -90 et 90."))
    lon = fr.Float(required=True,
                   validate=validate.Range(min=-180, max=180, error="La longitude doit "
                                           "être comprise entre -180 et 180."))


class DepartementListArgs(TerritoryGeometryArgs):
    region = _code(REGION_CODE, "de région")


class EpciListArgs(_PageArgs):
    departement = _code(DEPARTEMENT_CODE, "de département")
    region = _code(REGION_CODE, "de région")
    q = fr.String(validate=validate.Length(min=1, max=100, error="De 1 à 100 caractères."))
    after = _code(EPCI_CODE, "d'EPCI (SIREN)")


class TerritoryLabelArgs(ParameterSchema):
    bbox = fr.BBox(required=True, metadata={
        "description": "Emprise de la carte minlon,minlat,maxlon,maxlat (degrés WGS 84).",
        "example": "-0.7,44.7,-0.4,45.0", "type": "string",
        "pattern": fr.REQUIRED_BBOX_PATTERN})


class GeocodeArgs(ParameterSchema):
    q = fr.String(required=True,
                  validate=validate.Length(min=1, max=200, error="De 1 à 200 caractères."),
                  metadata={"description": "Adresse, commune, code postal ou "
                                           "« code postal + commune »."})
    limit = fr.Integer(load_default=5,
                       validate=validate.Range(min=1, max=20,
                                               error="limit doit être compris entre 1 et 20."))


# --------------------------------------------------------------------------- output


class TerritoryRefSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class EpciRefSchema(TerritoryRefSchema):
    kind = fields.String(allow_none=True, metadata={"description": "CC, CA, CU, METRO, MET69"})


class TownHallSchema(Schema):
    point = Geometry(allow_none=True)
    address = fields.String(allow_none=True)
    hours = fields.List(fields.Dict(), metadata={
        "description": "Périodes : {from, to (jours), intervals [[début, fin]]}."})
    opening_hours = fields.String(allow_none=True, metadata={
        "description": "Les mêmes horaires au format OpenStreetMap opening_hours."})


class CommuneSchema(Schema):
    code = fields.String(required=True, metadata={"description": "Code INSEE"})
    name = fields.String(required=True)
    population = fields.Integer(allow_none=True)
    departement = fields.Nested(TerritoryRefSchema, required=True)
    region = fields.Nested(TerritoryRefSchema, required=True)
    epci = fields.Nested(EpciRefSchema, allow_none=True)
    postal_codes = fields.List(fields.String())
    town_hall = fields.Nested(TownHallSchema, allow_none=True)
    point = Geometry(allow_none=True, metadata={
        "description": "Point à l'intérieur de la commune (GeoJSON)."})
    geometry = Geometry(allow_none=True)


class CommunePageSchema(Schema):
    items = fields.List(fields.Nested(CommuneSchema))
    next_after = fields.String(allow_none=True, metadata={
        "description": "À passer en after pour la page suivante ; null à la fin."})


class DepartementSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    population = fields.Integer(allow_none=True)
    region = fields.Nested(TerritoryRefSchema)
    communes_count = fields.Integer()
    geometry = Geometry(allow_none=True)


class DepartementListSchema(Schema):
    items = fields.List(fields.Nested(DepartementSchema))


class RegionSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    population = fields.Integer(allow_none=True)
    departements = fields.List(fields.String())
    geometry = Geometry(allow_none=True)


class RegionListSchema(Schema):
    items = fields.List(fields.Nested(RegionSchema))


class EpciSchema(Schema):
    code = fields.String(required=True, metadata={"description": "SIREN"})
    name = fields.String(required=True)
    kind = fields.String(allow_none=True)
    population = fields.Integer(allow_none=True)
    departements = fields.List(fields.String())
    communes_count = fields.Integer()
    geometry = Geometry(allow_none=True)


class EpciPageSchema(Schema):
    items = fields.List(fields.Nested(EpciSchema))
    next_after = fields.String(allow_none=True)


class GeocodeCandidateSchema(Schema):
    label = fields.String(required=True)
    precision = fields.String(required=True, metadata={
        "description": "address (adresse), commune, ou postal_code (code postal seul)."})
    lat = fields.Float(required=True)
    lon = fields.Float(required=True)
    commune_code = fields.String(allow_none=True)
    commune_name = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    source = fields.String(required=True, metadata={"description": "offline ou ban"})
    score = fields.Float(allow_none=True)


class GeocodeSchema(Schema):
    query = fields.String(required=True)
    geocoder = fields.String(required=True)
    degraded = fields.Boolean(required=True, metadata={
        "description": "Vrai quand le géocodeur en ligne a échoué et que la réponse vient "
                       "du géocodeur hors ligne."})
    candidates = fields.List(fields.Nested(GeocodeCandidateSchema))


class TerritoryLabelSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    population = fields.Integer(allow_none=True)
    point = fields.List(fields.Float(), required=True, metadata={
        "description": "Point à l'intérieur du territoire [lon, lat], où écrire son nom."})
    bbox = fields.List(fields.Float(), required=True, metadata={
        "description": "Emprise du territoire [minlon, minlat, maxlon, maxlat]."})


class TerritoryLabelsSchema(Schema):
    departements = fields.List(fields.Nested(TerritoryLabelSchema), required=True)
    communes = fields.List(fields.Nested(TerritoryLabelSchema), required=True, metadata={
        "description": "Vide quand la vue dépasse 1,5 degré : les noms des départements "
                       "seuls. Au plus 400, les plus peuplées d'abord."})

