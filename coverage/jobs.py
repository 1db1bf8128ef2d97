"""Coverage work run by the background worker (core/jobs.py): national or regional
suggestions, and refreshes asked from the web. The computations are those of
:mod:`coverage.suggestions` and :mod:`coverage.refresh`, called unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import clock, jobs
from extensions import db
from geodata.models import Commune

from .accessibility import DEFAULT_METHOD
from .brief import folium_map, make_brief
from .refresh import refresh as refresh_run
from .schemas import SuggestionsSchema
from .selection import Selection, resolve_territory
from .suggestions import suggest_from_args

REFRESH_STEPS = ("lecture des communes et des lieux", "distances", "calcul", "enregistrement",
                 "agrégats", "formes simplifiées")


def communes_within(session: Session, within: str | None) -> int:
    """How many communes the territory ``within`` holds (what suggestions cost grows with)."""
    territory = resolve_territory(session, within)
    return session.execute(select(func.count()).select_from(Commune).where(
        territory.clause(Commune.__table__))).scalar_one()


def selection_of(params: dict[str, Any]) -> Selection:
    return Selection(params.get("programme"), params.get("service"),
                              params.get("within") or "fr", params.get("need") or "population")


def suggestions(params: dict[str, Any]) -> dict[str, Any]:
    """The suggestions of ``params`` (SuggestionArgs, loaded), as the API's JSON."""
    jobs.progress(0, 1, "calcul des sites suggérés")
    # The request's own function: k or a budget, and the scenario's gain.
    result = suggest_from_args(db.session, params,
                               detour=current_app.config["PASSERELLE_DETOUR_FACTOR"],
                               today=clock.today())
    db.session.rollback()  # read only
    jobs.progress(1, 1, "terminé")
    return SuggestionsSchema().dump(result)


def refresh(params: dict[str, Any]) -> dict[str, Any]:
    """Compute and store the coverage run of ``params``; the same inputs replace the run
    (idempotent)."""
    done = 0

    def step(name: str) -> None:
        nonlocal done
        jobs.progress(done, len(REFRESH_STEPS), name)
        done += 1

    detour = params.get("detour") or current_app.config["PASSERELLE_DETOUR_FACTOR"]
    try:
        report = refresh_run(db.session, selection_of(params), detour=detour,
                             method=params.get("method") or DEFAULT_METHOD,
                             today=clock.today(), progress=step)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    jobs.progress(len(REFRESH_STEPS), len(REFRESH_STEPS), "terminé")
    return {"run_id": report.run_id, "within": report.territory.code,
            "within_name": report.territory.name, "communes": report.communes,
            "venues": report.venues, "population": report.population,
            "covered_population": {f"{k:g}": v for k, v in report.covered_population.items()}}


BRIEF_STEPS = ("chiffres du territoire et sites suggérés", "carte autonome (folium)")
DOCUMENTS = ("brief", "folium")


def documents(params: dict[str, Any], wanted: tuple[str, ...] = DOCUMENTS) -> dict[str, Any]:
    """The ``wanted`` documents of a territory: its brief (:class:`coverage.brief.Brief`)
    and its standalone folium map (HTML), from one computation of the suggested sites.
    ``params``: the brief's arguments (those of the suggestions, k resolved) and
    ``today``."""
    today = dt.date.fromisoformat(params["today"])
    selection = selection_of(params)
    made: dict[str, Any] = {}
    result = None
    if "brief" in wanted:
        jobs.progress(0, len(BRIEF_STEPS), BRIEF_STEPS[0])
        made["brief"] = make_brief(
            db.session, selection, k=params["k"], radius_km=params["radius_km"],
            detour=params["detour"], today=today, site_capacity=params.get("site_capacity"),
            budget=params.get("budget"), site_cost=params.get("site_cost"))
        result = made["brief"].result
    if "folium" in wanted:
        jobs.progress(1, len(BRIEF_STEPS), BRIEF_STEPS[1])
        vendor = Path(current_app.static_folder or "static") / "vendor"
        made["folium"] = folium_map(db.session, selection, vendor, k=params["k"],
                                    radius_km=params["radius_km"], detour=params["detour"],
                                    today=today, result=result)
    return made


def brief_documents(params: dict[str, Any]) -> dict[str, Any]:
    """The background job of a large territory's brief and map (both at once: a planner
    who asks for one usually takes the other). ``params`` also holds the ``run_id`` they
    were asked against: a new run is another job."""
    made = documents(params)
    db.session.rollback()  # read only
    jobs.progress(len(BRIEF_STEPS), len(BRIEF_STEPS), "terminé")
    return made


def init_app() -> None:
    jobs.register("coverage.suggestions", suggestions, "Couverture : sites suggérés")
    jobs.register("coverage.refresh", refresh, "Couverture : recalcul")
    jobs.register("coverage.brief", brief_documents,
                  "Couverture : fiche et carte d'un territoire")
