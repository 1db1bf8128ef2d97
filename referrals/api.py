"""``/api/v1/stats``: the referral figures for funders, small counts suppressed (< 5).
Aggregated and anonymous, hence open like the catalogue."""

from __future__ import annotations

from flask_smorest import Blueprint

from core.errors import NotFound
from directory.programmes import get_programme
from extensions import db

from . import figures
from .schemas import LayerQuerySchema, StatsQuerySchema, StatsSchema

UNKNOWN_PROGRAMME = "Aucun programme ne porte ce code ou cet identifiant."

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats",
                description="Chiffres des orientations pour les financeurs : par programme, "
                            "territoire (commune, département, région du lieu) et mois ; "
                            f"tout nombre inférieur à {figures.THRESHOLD} est masqué (null).")


@blp.route("")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, StatsSchema)
@blp.alt_response(404, description=UNKNOWN_PROGRAMME)
def stats(args):
    """Orientations envoyées, acceptées, refusées (par motif), honorées, chèques honorés,
    délai médian de réponse."""
    filters = figures.Filters(args["niveau"], _programme_id(args["programme"]),
                              args["depuis"], args["jusqua"])
    return {"seuil": figures.THRESHOLD, "lignes": figures.figures(db.session, filters)}


@blp.route("/carte")
@blp.arguments(LayerQuerySchema, location="query")
@blp.response(200)
@blp.alt_response(404, description=UNKNOWN_PROGRAMME)
def demand_layer(args):
    """Couche de la carte du planificateur (GeoJSON) : orientations pour 1 000 habitants
    et refus pour manque de place, par territoire du lieu ; petits nombres masqués."""
    return figures.demand_layer(db.session, args["niveau"], _programme_id(args["programme"]))


def _programme_id(value: str | None) -> int | None:
    """The programme named by its code (as the map's selector knows it) or its id; an
    unknown one is a French 404, like ``/api/v1/programmes/<code>``."""
    if value is None:
        return None
    if value.isdigit():
        if len(value) > 18:  # beyond any bigint id: no such programme
            raise NotFound(f"Aucun programme ne porte l'identifiant « {value[:20]}… ».")
        return int(value)
    return get_programme(db.session, value).id
