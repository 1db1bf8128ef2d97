"""Stored runs: the one serving a selection (its territory or one containing it), the
list of runs, and the pruning of old runs of a selection."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.orm import Session

from core.errors import NotFound
from geodata.models import Commune, Departement

from .models import CoverageRun
from .selection import Selection, Territory, parse_territory, resolve_territory, territory_name

RUNS = CoverageRun.__table__
COMMUNES = Commune.__table__
DEPARTEMENTS = Departement.__table__

KEEP_RUNS_PER_SELECTION = 3


def parent_withins(session: Session, territory: Territory) -> list[str]:
    """The territory, then the territories that contain it, then France."""
    found = [territory.code]
    if territory.kind == "com":
        row = session.execute(
            select(COMMUNES.c.epci_code, COMMUNES.c.departement_code, COMMUNES.c.region_code)
            .where(COMMUNES.c.code == territory.value)).one_or_none()
        if row is not None:
            found += [f"epci:{row[0]}"] if row[0] else []
            found += [f"dep:{row[1]}", f"reg:{row[2]}"]
    elif territory.kind == "dep":
        region = session.execute(select(DEPARTEMENTS.c.region_code).where(
            DEPARTEMENTS.c.code == territory.value)).scalar()
        if region:
            found.append(f"reg:{region}")
    elif territory.kind == "epci":
        # An EPCI lies in one département (a few straddle two: then only France serves).
        rows = session.execute(
            select(COMMUNES.c.departement_code, COMMUNES.c.region_code).distinct()
            .where(COMMUNES.c.epci_code == territory.value)).all()
        if len(rows) == 1:
            found += [f"dep:{rows[0][0]}", f"reg:{rows[0][1]}"]
        elif len({r[1] for r in rows}) == 1 and rows:
            found.append(f"reg:{rows[0][1]}")
    if "fr" not in found:
        found.append("fr")
    return found


def find_run(session: Session, selection: Selection, run_id: int | None = None) -> dict:
    """The latest run serving ``selection`` (its territory or one containing it)."""
    if run_id is not None:
        run = session.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
        if run is None:
            raise NotFound(f"Aucun calcul de couverture n° {run_id}.")
        return run_info(session, run)
    territory = resolve_territory(session, selection.within)
    withins = parent_withins(session, territory)
    keys = [selection.with_within(w).key for w in withins]
    nearest_first = func.array_position(array(keys), RUNS.c.selection_key)
    run = session.execute(
        select(RUNS).where(RUNS.c.selection_key.in_(keys))
        .order_by(nearest_first, RUNS.c.created_at.desc(), RUNS.c.id.desc())
        .limit(1)).mappings().first()
    if run is None:
        raise NotFound(
            "Aucun calcul de couverture pour cette sélection "
            f"(programme : {selection.programme or 'tous les lieux'}, service : "
            f"{selection.service or 'tous'}, territoire : {territory.name}, besoin : "
            f"{selection.need}). Lancez : {selection.with_within(territory.code).command()}")
    return run_info(session, run)


def list_runs(session: Session, selection: Selection | None = None,
              limit: int = 50) -> list[dict]:
    query = select(RUNS)
    if selection is not None:
        for column, value in ((RUNS.c.programme_code, selection.programme),
                              (RUNS.c.service, selection.service),
                              (RUNS.c.need_kind, selection.need)):
            if value is not None:
                query = query.where(column == value)
    runs = session.execute(query.order_by(RUNS.c.created_at.desc(), RUNS.c.id.desc())
                           .limit(limit)).mappings()
    return [run_info(session, run) for run in runs]


def run_info(session: Session, run) -> dict:
    """What the API says of a run (``run``: its row of coverage_run)."""
    stats = run["stats"] or {}
    kind, value = parse_territory(run["within"])
    return {
        "id": run["id"], "created_at": run["created_at"],
        "programme": run["programme_code"], "service": run["service"],
        "within": run["within"], "within_name": territory_name(session, kind, value),
        "need": run["need_kind"], "method": run["method"],
        "detour_factor": (run["parameters"] or {}).get("detour_factor"),
        "reference_mean": run["reference_mean"], "reference": run["reference"],
        "venues": stats.get("venues", 0),
        "venues_unknown_capacity": stats.get("venues_unknown_capacity", 0),
        "communes": stats.get("communes", 0),
        "seconds": round(sum((stats.get("seconds") or {}).values()), 3),
    }


def prune_runs(session: Session, key: str, keep_id: int) -> None:
    """Keep the newest runs of a selection; older ones go (with their rows)."""
    newest = (select(RUNS.c.id).where(RUNS.c.selection_key == key)
              .order_by(RUNS.c.created_at.desc(), RUNS.c.id.desc())
              .limit(KEEP_RUNS_PER_SELECTION))
    session.execute(delete(RUNS).where(RUNS.c.selection_key == key, RUNS.c.id != keep_id,
                                       RUNS.c.id.not_in(newest)))
