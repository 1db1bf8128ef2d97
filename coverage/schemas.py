"""Hand-written marshmallow schemas of the coverage API (unknown parameters rejected,
messages in French)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core import schemas as fr
from core.schemas import BBOX_PATTERN, ParameterSchema
from directory.vocabulary import SERVICES

from .selection import NEEDS
from .suggestions import CANDIDATE_KINDS

# The codes directory.programmes.parse_perimeter_code accepts (its value upper-cased).
TERRITORY_PATTERN = (r"^(fr|reg:\d{2,3}|dep:(\d{2,3}|2[ABab])|epci:\d{9}"
                     r"|com:(\d{5}|2[ABab]\d{3}))$")


def _territory(**kwargs: Any) -> fields.String:
    return fr.String(
        validate=validate.Regexp(TERRITORY_PATTERN, error="Territoire attendu : fr, reg:<code>, "
                                 "dep:<code>, epci:<SIREN> ou com:<code INSEE>."), **kwargs)


class SelectionArgs(ParameterSchema):
    programme = fr.String(
        validate=validate.Length(min=1, max=64, error="De 1 à 64 caractères."),
        metadata={"description": "Code du programme (absent : tous les lieux ouverts)."})
    service = fr.String(
        validate=validate.OneOf(SERVICES, error="Service inconnu du standard."),
        metadata={"description": "Service du standard proposé par les lieux."})
    need = fr.String(
        load_default="population",
        validate=validate.OneOf(NEEDS, error="Attendu : population, illectronisme ou "
                                             "fragility."),
        metadata={"description": "Poids de la demande."})


class RunsArgs(SelectionArgs):
    need = fr.String(
        validate=validate.OneOf(NEEDS, error="Attendu : population, illectronisme ou "
                                             "fragility."))


class BBox(fr.String):
    """``minlon,minlat,maxlon,maxlat`` in degrees."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text.strip():
            return None  # ``bbox=`` as an empty form field sends it: no extent
        parts = text.split(",")
        try:
            numbers = [float(p) for p in parts]
        except ValueError as exc:
            raise ValidationError("bbox attendu : minlon,minlat,maxlon,maxlat.") from exc
        if len(numbers) != 4:
            raise ValidationError("bbox attendu : minlon,minlat,maxlon,maxlat.")
        x0, y0, x1, y1 = numbers
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise ValidationError("bbox invalide : longitudes dans [-180, 180], latitudes dans "
                                  "[-90, 90], minimum < maximum.")
        return numbers


class LevelArgs(SelectionArgs):
    within = _territory(load_default="fr", metadata={
        "description": "Territoire montré : fr, reg:75, dep:33, epci:<SIREN>, com:<code>. "
                       "Au niveau commune : obligatoire (autre que fr) sauf avec bbox."})
    bbox = BBox(metadata={
        "description": "Emprise minlon,minlat,maxlon,maxlat (territoires qui la touchent) ; "
                       "vide = sans emprise.", "pattern": BBOX_PATTERN})
    format = fr.String(load_default="geojson",
                       validate=validate.OneOf(("geojson", "csv", "machine"),
                                               error="Attendu : geojson, csv ou machine."),
                       metadata={"description": "geojson ; csv : tableur français (en-têtes "
                                 "en mots, « ; », virgule décimale, BOM) ; machine : CSV aux "
                                 "noms de propriétés, « , » et point décimal."})
    run = fr.Integer(validate=validate.Range(min=1, error="Entier positif attendu."),
                     metadata={"description": "Numéro d'un calcul précis (sinon le "
                                              "dernier de la sélection)."})


class SuggestionArgs(SelectionArgs):
    within = _territory(required=True)
    k = fr.Integer(load_default=5, validate=validate.Range(
        min=1, max=50, error="k doit être compris entre 1 et 50."))
    radius_km = fr.Float(load_default=20.0, validate=validate.Range(
        min=1, max=60, error="radius_km doit être compris entre 1 et 60."))
    candidates = fr.String(load_default="townhalls",
                           validate=validate.OneOf(CANDIDATE_KINDS,
                                                   error="Attendu : townhalls ou venues."))
    gap_limit = fr.Integer(load_default=10, validate=validate.Range(
        min=1, max=100, error="gap_limit doit être compris entre 1 et 100."))
    detour = fr.Float(validate=validate.Range(min=1, max=3, error="detour : de 1 à 3."))
    format = fr.String(load_default="json",
                       validate=validate.OneOf(("json", "geojson"),
                                               error="Attendu : json ou geojson."))
    budget = fr.Float(
        validate=validate.Range(min=1, max=1e9, error="budget : de 1 à 1 000 000 000 €."),
        metadata={"description": "Budget en euros : k = budget ÷ site_cost (au plus 50), "
                                 "à la place de k."})
    site_cost = fr.Float(
        validate=validate.Range(min=1, max=1e9, error="site_cost : de 1 à 1 000 000 000 €."),
        metadata={"description": "Coût d'un site en euros (obligatoire avec budget)."})
    site_capacity = fr.Float(
        validate=validate.Range(min=0, max=10_000,
                                error="site_capacity : de 0 à 10 000 par semaine."),
        metadata={"description": "Accompagnements par semaine d'un nouveau site (par défaut "
                                 "la capacité médiane des lieux comptés) : sert à l'écart "
                                 "de capacité comblé."})

    @validates_schema
    def _budget_needs_cost(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("budget") is not None and data.get("site_cost") is None:
            raise ValidationError("Obligatoire avec budget.", "site_cost")

    @validates_schema
    def _venues_need_programme(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("candidates") == "venues" and not data.get("programme"):
            raise ValidationError("Obligatoire avec candidates=venues.", "programme")


# --------------------------------------------------------------------------- output

class RunSchema(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    programme = fields.String(allow_none=True)
    service = fields.String(allow_none=True)
    within = fields.String()
    within_name = fields.String(allow_none=True)
    need = fields.String()
    method = fields.String()
    detour_factor = fields.Float(allow_none=True)
    reference_mean = fields.Float()
    reference = fields.String(metadata={"description": "nation ou territoire"})
    venues = fields.Integer()
    venues_unknown_capacity = fields.Integer()
    communes = fields.Integer()
    seconds = fields.Float()


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSchema))


class SiteSchema(Schema):
    rank = fields.Integer()
    kind = fields.String(metadata={"description": "townhall ou venue"})
    commune_code = fields.String()
    commune_name = fields.String()
    lieu_id = fields.Integer(allow_none=True)
    name = fields.String()
    lon = fields.Float()
    lat = fields.Float()
    newly_covered_population = fields.Float()
    newly_covered_need = fields.Float()
    newly_covered_communes = fields.Integer()
    share_population_covered_after = fields.Float(allow_none=True)
    share_need_covered_after = fields.Float(allow_none=True)


class BaselineSchema(Schema):
    population = fields.Float()
    need = fields.Float()
    population_covered = fields.Float()
    need_covered = fields.Float()
    share_population_covered = fields.Float(allow_none=True)
    share_need_covered = fields.Float(allow_none=True)


class GapTerritorySchema(Schema):
    rank = fields.Integer()
    code = fields.String()
    name = fields.String()
    population = fields.Float()
    need = fields.Float()
    mean_accessibility = fields.Float()
    capacity_gap = fields.Float()


class GapsSchema(Schema):
    level = fields.String()
    reference_mean = fields.Float()
    reference = fields.String()
    method = fields.String()
    territories = fields.List(fields.Nested(GapTerritorySchema))


class ScenarioSchema(Schema):
    budget = fields.Float(allow_none=True)
    site_cost = fields.Float(allow_none=True)
    site_capacity = fields.Float()
    newly_covered_population = fields.Float()
    newly_covered_need = fields.Float()
    capacity_gap_before = fields.Float()
    capacity_gap_after = fields.Float()
    capacity_gap_closed = fields.Float()
    reference_mean = fields.Float(metadata={"description": "Ā de référence de l'écart : celle "
                                            "du calcul enregistré du territoire englobant, "
                                            "sinon celle du territoire."})
    reference_name = fields.String()


class SuggestionsSchema(Schema):
    within = fields.String()
    within_name = fields.String()
    radius_km = fields.Float()
    k = fields.Integer()
    candidates = fields.String()
    programme = fields.String(allow_none=True)
    service = fields.String(allow_none=True)
    need = fields.String()
    detour_factor = fields.Float()
    baseline = fields.Nested(BaselineSchema)
    sites = fields.List(fields.Nested(SiteSchema))
    scenario = fields.Nested(ScenarioSchema)
    capacity_gaps = fields.Nested(GapsSchema)


class RefreshArgs(SelectionArgs):
    """A coverage refresh asked from the web (run as a background job)."""

    within = _territory(required=True)
    method = fr.String(load_default="e2sfca_step",
                       validate=validate.OneOf(("2sfca", "e2sfca_step", "e2sfca_gauss", "3sfca"),
                                               error="Attendu : 2sfca, e2sfca_step, "
                                                     "e2sfca_gauss ou 3sfca."))
