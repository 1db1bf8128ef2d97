"""API for machines: ``POST /api/v1/sources/<source>/import`` hands the posted file to the
worker, which runs the same importer as ``flask directory import`` (:mod:`accounts.jobs`);
authorised by an API token scoped to that source. The answer is 202 with the job's address;
the same file posted again finds the same job.
"""

from __future__ import annotations

import base64

from flask import current_app, g, request
from flask_smorest import Blueprint

from core import clock, jobs
from core.access import requires_token
from core.errors import PayloadTooLarge, UnsupportedMediaType
from core.request_guard import accepts_upload

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
@blp.response(202, description="Fichier reçu : l'import est confié à une tâche de fond, "
                                "dont l'adresse (/api/v1/jobs/<id>) est dans l'en-tête Location "
                                "et le membre `url` ; son résultat donne les comptes et les "
                                "problèmes ligne par ligne.")
@requires_token("source", source_scope)
@accepts_upload(*FORMATS_BY_TYPE)
def import_source(source: str):
    limit = current_app.config["PASSERELLE_API_IMPORT_MAX_BYTES"]
    if request.content_length is None or request.content_length > limit:
        raise PayloadTooLarge(f"Fichier absent ou trop gros : {limit // 1_000_000} Mo au plus "
                              "(en-tête Content-Length requis).")
    fmt = FORMATS_BY_TYPE.get(request.mimetype)
    if fmt is None:
        raise UnsupportedMediaType("Type attendu : text/csv ou application/json.")
    params = {"source": source, "format": fmt,
              "content": base64.b64encode(request.get_data(cache=False)).decode("ascii"),
              "complete_snapshot": request.args.get("instantane") == "1",
              "today": clock.today().isoformat(), "by": f"jeton d'API n° {g.api_token.id}"}
    return jobs.accepted(jobs.enqueue("accounts.import", params))
