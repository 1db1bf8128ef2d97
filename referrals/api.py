"""``/api/v1/stats``: the referral figures for funders, small counts suppressed (< 5).
Aggregated and anonymous, hence open like the catalogue."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from extensions import db

from . import figures

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats",
                description="Chiffres des orientations pour les financeurs : par programme, "
                            "territoire (commune, département, région du lieu) et mois ; "
                            f"tout nombre inférieur à {figures.THRESHOLD} est masqué (null).")


class StatsQuerySchema(Schema):
    niveau = fields.String(load_default="departement",
                           validate=validate.OneOf(list(figures.LEVELS)),
                           metadata={"description": "commune, departement ou region"})
    programme = fields.Integer(load_default=None, metadata={"description": "id du programme"})
    depuis = fields.Date(load_default=None)
    jusqua = fields.Date(load_default=None)


class StatsRowSchema(Schema):
    programme = fields.String()
    programme_id = fields.Integer(allow_none=True)
    niveau = fields.String()
    code = fields.String()
    territoire = fields.String()
    mois = fields.String(metadata={"description": "AAAA-MM (heure de Paris)"})
    envoyees = fields.Integer(allow_none=True)
    acceptees = fields.Integer(allow_none=True)
    refusees = fields.Integer(allow_none=True)
    refusees_par_motif = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    expirees = fields.Integer(allow_none=True)
    honorees = fields.Integer(allow_none=True)
    cheques_honores = fields.Integer(allow_none=True)
    delai_median_jours = fields.Float(allow_none=True)


class StatsSchema(Schema):
    seuil = fields.Integer()
    lignes = fields.List(fields.Nested(StatsRowSchema))


@blp.route("")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, StatsSchema)
def stats(args):
    """Orientations envoyées, acceptées, refusées (par motif), honorées, chèques honorés,
    délai médian de réponse."""
    filters = figures.Filters(args["niveau"], args["programme"], args["depuis"],
                              args["jusqua"])
    return {"seuil": figures.THRESHOLD, "lignes": figures.figures(db.session, filters)}


class LayerQuerySchema(Schema):
    niveau = fields.String(load_default="departement",
                           validate=validate.OneOf(list(figures.LEVELS)))
    programme = fields.Integer(load_default=None)


@blp.route("/carte")
@blp.arguments(LayerQuerySchema, location="query")
@blp.response(200)
def demand_layer(args):
    """Couche de la carte du planificateur (GeoJSON) : orientations pour 1 000 habitants
    et refus pour manque de place, par territoire du lieu ; petits nombres masqués."""
    return figures.demand_layer(db.session, args["niveau"], args["programme"])
