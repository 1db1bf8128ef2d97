"""API of the cohort assignment: ``POST /api/v1/match/cohort``."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from core import clock, jobs, limits
from core.errors import PayloadTooLarge
from extensions import db

from .assignment import result_payload, run_cohort
from .schemas import (
    MAX_BODY_BYTES,
    CohortRequestSchema,
    CohortResponseSchema,
)
from .solver import MAX_PEOPLE

blp = Blueprint(
    "match_cohort", __name__, url_prefix="/api/v1/match",
    description="Affectation d'une cohorte : un lieu (et une séance datée quand il y en a une "
                "qui convient) par personne, sans dépasser les capacités hebdomadaires ni les "
                "places des séances, en minimisant la distance totale sous les mêmes "
                "contraintes que /api/v1/match. Personnes pseudonymes uniquement.")

EXAMPLE_REQUEST = {
    "reference_date": "2026-12-01", "programme": "pass-numerique-gironde",
    "default_capacity": 10,
    "people": [
        {"id": "P-0001", "postal_code": "33000",
         "services": ["Aide aux démarches administratives"], "days": ["mardi"],
         "time_from": "14:00", "time_to": "17:00"},
        {"id": "P-0002", "commune": "33281", "support": ["Surdité"], "max_distance_m": 15000},
        {"id": "P-0003", "lat": 44.8378, "lon": -0.5792, "travel_mode": "transit",
         "max_minutes": 45},
    ],
}

EXAMPLE_RESPONSE = {
    "reference_date": "2026-12-01",
    "totals": {"people": 3, "assigned": 2, "unassigned": 1, "with_session": 1,
               "total_distance_m": 2314.2, "mean_distance_m": 1157.1, "max_distance_m": 2314.2,
               "venues_used": 2, "venues_with_assumed_capacity": 0,
               "unassigned_by_reason": {"full": 1}, "candidate_rounds": 1},
    "assumptions": {"unknown_capacity": "Capacité inconnue : 10 personne(s) par semaine.",
                    "default_capacity": 10, "weeks": 1},
    "timings": {"prepare_s": 0.01, "candidates_s": 0.05, "solve_s": 0.01, "total_s": 0.07},
    "assignments": [{
        "id": "P-0001", "venue_id": 12, "nom": "Médiathèque de Bordeaux",
        "adresse": "85 cours du Maréchal Juin", "code_postal": "33000", "commune": "Bordeaux",
        "lat": 44.836, "lon": -0.589, "stop_id": None, "stop_label": None, "distance_m": 0.0,
        "travel_minutes": {"walk": 0, "bike": 0, "transit": 0, "car": 0},
        "candidate_rank": 1, "kind": "session",
        "session": {"session_id": 301, "offer_id": 44, "title": "Mes démarches en ligne",
                    "service": "Aide aux démarches administratives",
                    "starts_at": "2026-12-01T14:00:00+01:00",
                    "ends_at": "2026-12-01T16:00:00+01:00", "seats_free": 4,
                    "text": "séance aujourd'hui à 14 h : Mes démarches en ligne"},
        "note": "dans la commune ; séance aujourd'hui à 14 h : Mes démarches en ligne"}],
    "unassigned": [{"id": "P-0002", "code": "full",
                    "reason": "Le seul lieu qui convient à moins de 15 km est complet "
                              "(capacité de la semaine ou places des séances)."}],
    "venues": [{"venue_id": 12, "nom": "Médiathèque de Bordeaux", "commune": "Bordeaux",
                "load": 1, "capacity": 20, "capacity_known": True, "sessions": 1}],
}


@blp.before_request
def _size():
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Le corps de la requête dépasse {MAX_BODY_BYTES // 2 ** 20} Mo.")


@blp.route("/cohort", methods=["POST"])
@limits.heavy
@blp.arguments(CohortRequestSchema, location="json", unknown=RAISE, example=EXAMPLE_REQUEST)
@blp.response(200, CohortResponseSchema, example=EXAMPLE_RESPONSE)
@blp.alt_response(413, description=f"Plus de {MAX_PEOPLE} personnes, ou corps de plus de "
                                   f"{MAX_BODY_BYTES // 2 ** 20} Mo.")
@blp.alt_response(415, description="Le corps n'est pas du JSON.")
@blp.alt_response(202, description="Plus de quelques centaines de personnes : affectation "
                                   "confiée à une tâche de fond (adresse dans Location et "
                                   "`url`) ; la même cohorte retrouve la même tâche, puis son "
                                   "résultat (200).")
@blp.alt_response(429, description="Trop de demandes de ce client (Retry-After).")
def cohort_post(args):
    """Affecter une cohorte de personnes pseudonymes à des lieux (et séances).

    Chaque personne : un identifiant pseudonyme `id` (jamais un nom), où elle est
    (`postal_code`, `commune` ou `lat`/`lon` ; pas d'adresse), et les champs de
    `/api/v1/match` (programme, services, support, jours et heures, distance ou durée).
    Réponse : une affectation par personne placée, les personnes sans place avec la raison,
    la charge de chaque lieu face à sa capacité, les totaux et les hypothèses.
    """
    if len(args["people"]) > current_app.config["PASSERELLE_COHORT_SYNC_MAX_PEOPLE"]:
        job = jobs.enqueue("cohort.assign", request.get_json())
        done, result = jobs.finished_result(job)
        return jsonify(result) if done else jobs.accepted(job)
    return result_payload(run_cohort(args, now=clock.now(), session=db.session))
