"""API for machines: ``POST /api/v1/sources/<source>/import`` runs the same importer as
``flask directory import``, authorised by an API token scoped to that source.

Runs synchronously with a size cap (PASSERELLE_API_IMPORT_MAX_BYTES) until the job queue
(core/jobs.py) is on main; then it becomes a job answering 202.
"""

from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from core import clock
from core.access import requires_token
from core.errors import InvalidInput, PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType
from core.request_guard import accepts_upload
from extensions import db

from . import journal
from .access import actor, now

blp = Blueprint("accounts_api", __name__, url_prefix="/api/v1/sources",
                description="Dépôt de fichiers de lieux par une source, avec un jeton d'API.")

FORMATS_BY_TYPE = {"text/csv": "standard-v1-csv", "application/json": "standard-v1-json"}


def source_scope(args: dict) -> list[str]:
    return [args["source"]]


@blp.route("/<string:source>/import", methods=["POST"])
@blp.doc(security=[{"jeton": []}], summary="Importer le fichier d'une source",
         description="Corps : le fichier (text/csv ou application/json, standard national "
                     "v1.0.2). En-tête « Authorization: Bearer psl_… » d'un jeton de portée "
                     "« source » égale à la source. Paramètre « instantane=1 » : fichier "
                     "complet (les lieux absents sont fermés).")
@blp.doc(requestBody={"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}})
@blp.response(200)
@requires_token("source", source_scope)
@accepts_upload(*FORMATS_BY_TYPE)
def import_source(source: str):
    from directory.importer.service import ImportFailed, run_import

    limit = current_app.config["PASSERELLE_API_IMPORT_MAX_BYTES"]
    if request.content_length is None or request.content_length > limit:
        raise PayloadTooLarge(f"Fichier absent ou trop gros : {limit // 1_000_000} Mo au plus "
                              "(en-tête Content-Length requis).")
    fmt = FORMATS_BY_TYPE.get(request.mimetype)
    if fmt is None:
        raise UnsupportedMediaType("Type attendu : text/csv ou application/json.")
    data = request.get_data(cache=False)
    try:
        outcome = run_import(db.engine, f"api.{fmt}", source, fmt=fmt, data=data,
                             complete_snapshot=request.args.get("instantane") == "1",
                             geocoder=current_app.extensions.get("geocoder"),
                             today=clock.today(), by_user=f"jeton d'API n° {g.api_token.id}")
    except ImportFailed as exc:
        raise InvalidInput(f"Fichier illisible : {exc}.") from exc
    except SQLAlchemyError as exc:
        raise ServiceUnavailable("La base a interrompu l'import : rien n'a été écrit.") from exc
    result = outcome.write
    summary = {
        "source": source, "ecrit": outcome.written, "lignes_lues": outcome.rows_read,
        "valides": outcome.valid, "rejetees": outcome.rejected,
        "crees": result.inserted if result else 0, "mis_a_jour": result.updated if result else 0,
        "inchanges": result.unchanged if result else 0, "fermes": result.closed if result else 0,
        "problemes": [{"ligne": p.line, "identifiant": p.source_id, "champ": p.field,
                       "niveau": p.level, "motif": p.reason}
                      for p in outcome.report.sorted()[:1000]],
    }
    journal.append(db.session, actor(), "import par l'API", now(), object_type="source",
                   object_id=source, after={k: v for k, v in summary.items()
                                            if k != "problemes"})
    db.session.commit()
    return summary, (200 if outcome.written else 422)
