"""``/api/v1/stats``: the referral figures for funders, small counts suppressed (< 5).
Aggregated and anonymous, hence open like the catalogue."""

from __future__ import annotations

from flask_smorest import Blueprint

from extensions import db

from . import figures
from .schemas import LayerQuerySchema, StatsQuerySchema, StatsSchema

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats",
                description="Chiffres des orientations pour les financeurs : par programme, "
                            "territoire (commune, département, région du lieu) et mois ; "
                            f"tout nombre inférieur à {figures.THRESHOLD} est masqué (null).")


@blp.route("")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, StatsSchema)
def stats(args):
    """Orientations envoyées, acceptées, refusées (par motif), honorées, chèques honorés,
    délai médian de réponse."""
    filters = figures.Filters(args["niveau"], args["programme"], args["depuis"],
                              args["jusqua"])
    return {"seuil": figures.THRESHOLD, "lignes": figures.figures(db.session, filters)}


@blp.route("/carte")
@blp.arguments(LayerQuerySchema, location="query")
@blp.response(200)
def demand_layer(args):
    """Couche de la carte du planificateur (GeoJSON) : orientations pour 1 000 habitants
    et refus pour manque de place, par territoire du lieu ; petits nombres masqués."""
    return figures.demand_layer(db.session, args["niveau"], args["programme"])
