"""API of voucher programmes: /api/v1/programmes."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE

from core import clock
from extensions import db

from . import programmes as service
from .schemas import ProgrammeDetailArgs, ProgrammeListArgs, ProgrammeListSchema, ProgrammeSchema

blp = Blueprint("programmes", __name__, url_prefix="/api/v1/programmes",
                description="Programmes de Pass Numérique : périmètre, validité, services.")


@blp.route("")
@blp.arguments(ProgrammeListArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, ProgrammeListSchema)
def list_programmes(date, geometry):
    """Liste des programmes, chacun avec son code et son périmètre."""
    items = service.programme_payloads(db.session, clock.today(), on_date=date,
                                       geometry=geometry)
    return {"count": len(items), "items": items}


@blp.route("/<string:code>")
@blp.arguments(ProgrammeDetailArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, ProgrammeSchema)
@blp.alt_response(404, description="Aucun programme ne porte ce code.")
def get_programme(code, geometry):
    """Un programme, avec son périmètre en GeoJSON."""
    return service.programme_payload(db.session, code, clock.today(), geometry=geometry)
