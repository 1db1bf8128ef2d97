"""Large cohorts run by the background worker (core/jobs.py), with the same solver."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE

from core import clock, jobs
from extensions import db

from .assignment import result_payload, run_cohort
from .schemas import CohortRequestSchema, CohortResponseSchema


def assign(params: dict[str, Any]) -> dict[str, Any]:
    """Assign the cohort of ``params`` (the request's JSON body) and return the API's JSON."""
    loaded = CohortRequestSchema(unknown=RAISE).load(params)
    jobs.progress(0, len(loaded["people"]), "affectation de la cohorte")
    payload = CohortResponseSchema().dump(result_payload(run_cohort(loaded, now=clock.now(),
                                                                session=db.session)))
    jobs.progress(len(loaded["people"]), len(loaded["people"]), "terminé")
    return payload


def init_app() -> None:
    jobs.register("cohort.assign", assign, "Affectation d'une cohorte")
