"""Where to invest: k new sites chosen greedily (maximal covering location) among town
halls or venues not yet accepting the programme, and the territories whose capacity gap
``Σ P_i · max(0, Ā − A_i)`` is largest."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from core.errors import InvalidInput, NotFound
from directory.models import Venue
from geodata.models import Commune

from . import accessibility
from .accessibility import DEFAULT_METHOD
from .costs import cost_pairs, pairs_within_python
from .inputs import Demand, counted_venues, load_demand, load_supply, straight_radius_km
from .runs import find_run
from .selection import LEVEL_MODELS, Selection, Territory, check_selection, resolve_territory

CANDIDATE_KINDS = ("townhalls", "venues")
MAX_SITES = 50


def sites_for_budget(budget_eur: float, site_cost_eur: float) -> int:
    """How many sites a budget pays for (at most :data:`MAX_SITES`); a French error when it
    pays for none."""
    if not site_cost_eur > 0:
        raise InvalidInput("Le coût d'un site doit être positif.",
                           errors={"site_cost": ["Montant positif attendu."]})
    k = int(budget_eur // site_cost_eur)
    if k < 1:
        raise InvalidInput("Ce budget ne paie aucun site à ce coût : augmentez le budget ou "
                           "baissez le coût par site.",
                           errors={"budget": ["Ne paie aucun site à ce coût."]})
    return min(k, MAX_SITES)


def ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


@dataclass
class Candidates:
    kind: str
    lon: np.ndarray
    lat: np.ndarray
    commune_codes: list[str]
    commune_names: list[str]
    lieu_ids: list[int | None]
    names: list[str]

    def __len__(self) -> int:
        return int(self.lon.size)


def town_hall_name(commune: str) -> str:
    """« Mairie de Balizac », « Mairie d'Aureilhan », « Mairie du Havre », « Mairie des
    Lilas »."""
    if commune.startswith("Le "):
        return f"Mairie du {commune[3:]}"
    if commune.startswith("Les "):
        return f"Mairie des {commune[4:]}"
    if commune[:1].upper() in "AEIOUYÂÊÎÔÛÉÈËÏÜŸ":
        return f"Mairie d'{commune}"
    return f"Mairie de {commune}"


def load_candidates(session: Session, selection: Selection, territory: Territory, kind: str,
                    today: dt.date) -> Candidates:
    if kind == "townhalls":
        point = func.coalesce(Commune.town_hall_point, Commune.point,
                              func.ST_PointOnSurface(Commune.geom))
        rows = session.execute(
            select(Commune.code, Commune.name, func.ST_X(point), func.ST_Y(point))
            .where(territory.clause(Commune.__table__), point.is_not(None))
            .order_by(Commune.code)).all()
        return Candidates(kind, np.array([r[2] for r in rows], dtype=np.float64),
                          np.array([r[3] for r in rows], dtype=np.float64),
                          [r[0] for r in rows], [r[1] for r in rows], [None] * len(rows),
                          [town_hall_name(r[1]) for r in rows])
    if selection.programme is None:
        raise InvalidInput("Les candidats « venues » sont les lieux qui n'acceptent pas "
                           "encore le programme : précisez programme.",
                           errors={"programme": ["Obligatoire avec candidates=venues."]})
    # The venue's commune: its code_insee, else the polygon that covers its point (two
    # branches, each with its index, rather than one OR that no index serves).
    by_code, by_polygon = aliased(Commune), aliased(Commune)
    columns = ("code", "name", "region_code", "departement_code", "epci_code")
    commune = union_all(
        select(*(getattr(by_code, c) for c in columns))
        .where(by_code.code == Venue.code_insee).correlate(Venue),
        select(*(getattr(by_polygon, c) for c in columns))
        .where(Venue.code_insee.is_(None), func.ST_Covers(by_polygon.geom, Venue.geom))
        .correlate(Venue),
    ).limit(1).lateral("c")
    rows = session.execute(
        select(Venue.id, Venue.nom, func.ST_X(Venue.geom), func.ST_Y(Venue.geom),
               commune.c.code, commune.c.name)
        .join(commune, literal(True))
        .where(Venue.geom.is_not(None), territory.clause(commune),
               counted_venues(selection, today, accepting=False))
        .order_by(Venue.id)).all()
    return Candidates(kind, np.array([r[2] for r in rows], dtype=np.float64),
                      np.array([r[3] for r in rows], dtype=np.float64),
                      [r[4] for r in rows], [r[5] for r in rows], [r[0] for r in rows],
                      [r[1] for r in rows])


def suggest_from_args(session: Session, args: dict, *, detour: float,
                      today: dt.date) -> dict:
    """The suggestions of the API's arguments (SuggestionArgs, loaded): k, or the sites a
    budget pays for; ``detour`` unless the arguments give one. The same function serves the
    request and the background job."""
    budget = args.get("budget")
    k = sites_for_budget(budget, args["site_cost"]) if budget is not None else args["k"]
    selection = Selection(args.get("programme"), args.get("service"),
                          args.get("within") or "fr", args.get("need") or "population")
    result = suggest(session, selection, k=k, radius_km=args["radius_km"],
                     candidates=args["candidates"], detour=args.get("detour") or detour,
                     gap_limit=args["gap_limit"], today=today,
                     site_capacity=args.get("site_capacity"))
    result["scenario"].update(budget=budget, site_cost=args.get("site_cost"))
    return result


def suggest(session: Session, selection: Selection, *, k: int, radius_km: float,
            candidates: str, detour: float, gap_limit: int = 10,
            method: str = DEFAULT_METHOD, today: dt.date,
            site_capacity: float | None = None) -> dict:
    """k new sites chosen greedily to cover the most need within ``radius_km`` of cost,
    and the territories whose capacity gap is largest.

    The capacity gap of the territory is also computed with the chosen sites opened, each
    offering ``site_capacity`` accompaniments per week (by default the median capacity of
    the venues counted), against the same reference Ā: the gap they close."""
    if candidates not in CANDIDATE_KINDS:
        raise InvalidInput("candidates : townhalls ou venues.")
    if not detour >= 1.0:
        raise InvalidInput("Le facteur de détour doit être ≥ 1.")
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    selection = selection.with_within(territory.code)
    params = accessibility.FcaParameters()
    max_cost = max(30.0, radius_km)
    radius = straight_radius_km(max_cost, detour)
    demand = load_demand(session, territory, selection.need, 2.0 * radius)
    supply = load_supply(session, selection, territory, radius, today)
    pairs = cost_pairs(session, demand, supply, max_cost, detour)
    inside = demand.inside
    if not inside.any():
        raise InvalidInput(f"Aucune commune localisée dans {territory.name}.")

    # Coverage today within radius_km.
    near = pairs.cost_km <= radius_km
    covered_now = np.zeros(len(demand), dtype=bool)
    covered_now[pairs.demand[near]] = True
    index_in = np.flatnonzero(inside)
    need_in, population_in = demand.need[index_in], demand.population[index_in]
    covered_in = covered_now[index_in]

    found = load_candidates(session, selection, territory, candidates, today)
    ci, di, km = pairs_within_python(found.lon, found.lat, demand.lon[index_in],
                                     demand.lat[index_in], radius_km / detour)
    keep = km * detour <= radius_km
    incidence = sparse.csr_array((np.ones(int(keep.sum())), (ci[keep], di[keep])),
                                 shape=(len(found), index_in.size))
    chosen = accessibility.greedy_new_sites(need_in, incidence, covered_in, k)

    total_population, total_need = float(population_in.sum()), float(need_in.sum())
    population_covered = float(population_in[covered_in].sum())
    need_covered = float(need_in[covered_in].sum())
    sites = []
    for rank, (site, fresh) in enumerate(zip(chosen.sites.tolist(), chosen.newly_covered,
                                             strict=True), start=1):
        new_population = float(population_in[fresh].sum())
        new_need = float(need_in[fresh].sum())
        population_covered += new_population
        need_covered += new_need
        sites.append({
            "rank": rank, "kind": "townhall" if candidates == "townhalls" else "venue",
            "commune_code": found.commune_codes[site],
            "commune_name": found.commune_names[site], "lieu_id": found.lieu_ids[site],
            "name": found.names[site], "lon": float(found.lon[site]),
            "lat": float(found.lat[site]),
            "newly_covered_population": new_population, "newly_covered_need": new_need,
            "newly_covered_communes": int(fresh.size),
            "share_population_covered_after": ratio(population_covered, total_population),
            "share_need_covered_after": ratio(need_covered, total_need),
        })

    # Capacity gaps, with the FCA on the pairs of the usual catchments.
    fca_keep = pairs.cost_km <= 30.0
    fca_pairs = accessibility.make_pairs(pairs.demand[fca_keep], pairs.supply[fca_keep],
                                         pairs.cost_km[fca_keep], len(demand), len(supply),
                                         check_duplicates=False)
    a = accessibility.compute_all(demand.need, supply.capacity, fca_pairs,
                                  params).accessibility[method]
    reference_mean = accessibility.mean_accessibility(need_in, a[index_in])
    gap_level = {"fr": "departement", "reg": "departement", "dep": "epci",
                 "epci": "commune", "com": "commune"}[territory.kind]
    gaps = _rank_gaps(session, demand, index_in, a, reference_mean, gap_level, gap_limit)
    capacity = (float(site_capacity) if site_capacity is not None
                else float(np.median(supply.capacity)) if len(supply) else 1.0)
    # The gain is measured against the mean of the stored run serving the territory (its
    # région's, say) when there is one: a territory where nobody is served has a mean of 0
    # of its own, and so no gap to close against it.
    scenario_reference, reference_name = reference_mean, territory.name
    try:
        run = find_run(session, selection)
    except NotFound:
        run = None
    if run is not None and run["method"] == method and run["reference_mean"]:
        scenario_reference, reference_name = run["reference_mean"], run["within_name"]
    gap_before = accessibility.capacity_gap(need_in, a[index_in], scenario_reference)
    gap_after = _gap_with_sites(demand, supply, pairs, found, chosen.sites, capacity, detour,
                                params, method, index_in, scenario_reference)
    return {
        "within": territory.code, "within_name": territory.name, "radius_km": radius_km,
        "k": k, "candidates": candidates, "programme": selection.programme,
        "service": selection.service, "need": selection.need, "detour_factor": detour,
        "baseline": {
            "population": total_population, "need": total_need,
            "population_covered": float(population_in[covered_in].sum()),
            "need_covered": float(need_in[covered_in].sum()),
            "share_population_covered": ratio(float(population_in[covered_in].sum()),
                                               total_population),
            "share_need_covered": ratio(float(need_in[covered_in].sum()), total_need),
        },
        "sites": sites,
        "scenario": {
            "site_capacity": capacity,
            "newly_covered_population": float(sum(s["newly_covered_population"]
                                                  for s in sites)),
            "newly_covered_need": float(sum(s["newly_covered_need"] for s in sites)),
            "capacity_gap_before": gap_before, "capacity_gap_after": gap_after,
            "capacity_gap_closed": max(0.0, gap_before - gap_after),
            "reference_mean": scenario_reference, "reference_name": reference_name,
        },
        "capacity_gaps": {
            "level": gap_level, "reference_mean": reference_mean,
            "reference": "nation" if territory.kind == "fr" else "territoire",
            "method": method, "territories": gaps},
    }


def _gap_with_sites(demand: Demand, supply, pairs, found: Candidates, chosen: np.ndarray,
                    capacity: float, detour: float, params: accessibility.FcaParameters,
                    method: str, index_in: np.ndarray, reference_mean: float) -> float:
    """The territory's capacity gap once the ``chosen`` candidates are open with
    ``capacity`` each, against the same reference Ā as today."""
    keep = pairs.cost_km <= 30.0
    demand_idx, supply_idx, cost = (pairs.demand[keep], pairs.supply[keep],
                                    pairs.cost_km[keep])
    capacities = supply.capacity
    if chosen.size:
        si, di, km = pairs_within_python(found.lon[chosen], found.lat[chosen], demand.lon,
                                         demand.lat, 30.0 / detour)
        near = km * detour <= 30.0
        demand_idx = np.concatenate([demand_idx, di[near]])
        supply_idx = np.concatenate([supply_idx, len(supply) + si[near]])
        cost = np.concatenate([cost, km[near] * detour])
        capacities = np.concatenate([capacities, np.full(chosen.size, capacity)])
    fca_pairs = accessibility.make_pairs(demand_idx, supply_idx, cost, len(demand),
                                         capacities.size, check_duplicates=False)
    a = accessibility.compute_all(demand.need, capacities, fca_pairs,
                                  params).accessibility[method]
    return accessibility.capacity_gap(demand.need[index_in], a[index_in], reference_mean)


def _rank_gaps(session: Session, demand: Demand, index_in: np.ndarray, a: np.ndarray,
               reference_mean: float, level: str, limit: int) -> list[dict]:
    need = demand.need[index_in]
    population = demand.population[index_in]
    values = a[index_in]
    gap = need * np.maximum(0.0, reference_mean - values)
    if level == "commune":
        keys = [demand.codes[i] for i in index_in.tolist()]
        names = {demand.codes[i]: demand.names[i] for i in index_in.tolist()}
    else:
        keys = [demand.parents[level][i] for i in index_in.tolist()]
        codes = sorted({k for k in keys if k})
        model = LEVEL_MODELS[level]
        names = dict(session.execute(select(model.code, model.name).where(
            model.code.in_(codes))).all()) if codes else {}
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        if key:
            groups.setdefault(key, []).append(position)
    ranked = []
    for key, members in groups.items():
        m = np.array(members)
        weight = float(need[m].sum())
        ranked.append({
            "code": key, "name": names.get(key, key),
            "population": float(population[m].sum()), "need": weight,
            "mean_accessibility": float(need[m] @ values[m] / weight) if weight > 0 else 0.0,
            "capacity_gap": float(gap[m].sum()),
        })
    ranked.sort(key=lambda item: (-item["capacity_gap"], item["code"]))
    ranked = [item for item in ranked if item["capacity_gap"] > 0][:limit]
    for rank, item in enumerate(ranked, start=1):
        item["rank"] = rank
    return ranked

