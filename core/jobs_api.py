"""``GET /api/v1/jobs/<id>``: the state, progress and result of a background job."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from . import jobs

blp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs",
                description="Tâches de fond : les calculs longs (suggestions nationales, "
                            "recalcul de couverture, grandes cohortes) répondent 202 avec "
                            "l'adresse de leur tâche (en-tête Location), à consulter ici.")


class ProgressSchema(Schema):
    done = fields.Integer()
    total = fields.Integer()
    message = fields.String()


class JobSchema(Schema):
    id = fields.String(metadata={"description": "Identifiant, dérivé des paramètres : la "
                                                "même demande retrouve la même tâche."})
    kind = fields.String(allow_none=True)
    label = fields.String(allow_none=True)
    state = fields.String(metadata={"description": "queued, started, finished, failed, "
                                                   "deferred, scheduled, stopped, canceled"})
    state_label = fields.String(metadata={"description": "L'état en français."})
    progress = fields.Nested(ProgressSchema, allow_none=True)
    enqueued_at = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)
    url = fields.String()
    result_url = fields.String(allow_none=True, metadata={
        "description": "Quand la tâche est terminée : l'adresse qui sert le résultat."})
    result = fields.Raw(allow_none=True, metadata={
        "description": "Quand la tâche est terminée : son résultat."})
    error = fields.String(metadata={"description": "Quand la tâche a échoué : pourquoi, en "
                                                  "français."})


@blp.route("/<string(maxlength=200):job_id>")
@blp.response(200, JobSchema)
@blp.alt_response(404, description="Tâche inconnue ou résultat expiré.")
@blp.alt_response(503, description="File des tâches injoignable.")
def job_status(job_id):
    """État d'une tâche de fond

    `state` : queued (en attente), started (en cours, avec `progress`), finished (terminée,
    avec `result` et `result_url`), failed (échouée, avec `error`).
    """
    return jobs.describe(jobs.get(job_id))


def init_app(app) -> None:
    """The jobs API (``/api/v1/jobs/<id>``) and the ``jobs`` commands."""
    from extensions import api

    from .access import public_blueprint
    from .jobs_commands import jobs_cli

    api.register_blueprint(blp)
    # Public: a job's id is an unguessable handle given only to whoever started it.
    public_blueprint(blp)
    app.cli.add_command(jobs_cli)
