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

KEEP_RUNS_PER_SELECTION = 3


def parent_withins(session: Session, territory: Territory) -> list[str]:
    """The territory, then the territories that contain it, then France."""
    found = [territory.code]
    if territory.kind == "com":
        row = session.execute(
            select(Commune.epci_code, Commune.departement_code, Commune.region_code)
            .where(Commune.code == territory.value)).one_or_none()
        if row is not None:
            found += [f"epci:{row[0]}"] if row[0] else []
            found += [f"dep:{row[1]}", f"reg:{row[2]}"]
    elif territory.kind == "dep":
        region = session.execute(select(Departement.region_code).where(
            Departement.code == territory.value)).scalar()
        if region:
            found.append(f"reg:{region}")
    elif territory.kind == "epci":
        # An EPCI lies in one département (a few straddle two: then only France serves).
        rows = session.execute(
            select(Commune.departement_code, Commune.region_code).distinct()
            .where(Commune.epci_code == territory.value)).all()
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
        run = session.get(CoverageRun, run_id, populate_existing=True)
        if run is None:
            raise NotFound(f"Aucun calcul de couverture n° {run_id}.")
        return run_info(session, run)
    territory = resolve_territory(session, selection.within)
    withins = parent_withins(session, territory)
    keys = [selection.with_within(w).key for w in withins]
    nearest_first = func.array_position(array(keys), CoverageRun.selection_key)
    run = session.execute(
        select(CoverageRun).where(CoverageRun.selection_key.in_(keys))
        .order_by(nearest_first, CoverageRun.created_at.desc(), CoverageRun.id.desc())
        .limit(1).execution_options(populate_existing=True)).scalar_one_or_none()
    if run is None:
        raise NotFound(
            "Aucun calcul de couverture pour cette sélection "
            f"(programme : {selection.programme or 'tous les lieux'}, service : "
            f"{selection.service or 'tous'}, territoire : {territory.name}, besoin : "
            f"{selection.need}). Lancez : {selection.with_within(territory.code).command()}")
    return run_info(session, run)


def list_runs(session: Session, selection: Selection | None = None,
              limit: int = 50) -> list[dict]:
    query = select(CoverageRun)
    if selection is not None:
        for column, value in ((CoverageRun.programme_code, selection.programme),
                              (CoverageRun.service, selection.service),
                              (CoverageRun.need_kind, selection.need)):
            if value is not None:
                query = query.where(column == value)
    runs = session.execute(query.order_by(CoverageRun.created_at.desc(),
                                          CoverageRun.id.desc()).limit(limit)
                           .execution_options(populate_existing=True)).scalars()
    return [run_info(session, run) for run in runs]


def run_info(session: Session, run: CoverageRun) -> dict:
    stats = run.stats or {}
    kind, value = parse_territory(run.within)
    return {
        "id": run.id, "created_at": run.created_at,
        "programme": run.programme_code, "service": run.service,
        "within": run.within, "within_name": territory_name(session, kind, value),
        "need": run.need_kind, "method": run.method,
        "detour_factor": (run.parameters or {}).get("detour_factor"),
        "reference_mean": run.reference_mean, "reference": run.reference,
        "venues": stats.get("venues", 0),
        "venues_unknown_capacity": stats.get("venues_unknown_capacity", 0),
        "communes": stats.get("communes", 0),
        "seconds": round(sum((stats.get("seconds") or {}).values()), 3),
    }


def prune_runs(session: Session, key: str, keep_id: int) -> None:
    """Keep the newest runs of a selection; older ones go (with their rows)."""
    newest = (select(CoverageRun.id).where(CoverageRun.selection_key == key)
              .order_by(CoverageRun.created_at.desc(), CoverageRun.id.desc())
              .limit(KEEP_RUNS_PER_SELECTION))
    session.execute(delete(CoverageRun).where(
        CoverageRun.selection_key == key, CoverageRun.id != keep_id,
        CoverageRun.id.not_in(newest)).execution_options(synchronize_session=False))
