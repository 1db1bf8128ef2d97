"""Benchmark of the cohort assignment: a cohort of 2,000 random pseudonymous people assigned
end to end (validation, places, candidates under the hard constraints, min-cost flow), timed
against the 10 s target of issue #4, with the greedy baseline's total distance for scale.

    .venv/bin/python bench/cohort.py                     # demo région (Nouvelle-Aquitaine)
    .venv/bin/python bench/cohort.py --people 5000 --repeat 1
    .venv/bin/python bench/cohort.py --scope france --programme bench-national

Read-only on the configured database (``DATABASE_URL``, default the local ``passerelle``):
it needs ``flask --app app geodata load`` and ``flask --app app demo load`` (scope
``region``), or a national programme over a venue catalogue such as the one
``bench/generate_venues.py --count 20000 --load`` writes (scope ``france``). Nothing is
written: the assignment books nothing and its temporary tables are dropped.

People (seeded): a commune drawn in proportion to its population, given as its INSEE code
(40 %), one of its postal codes (30 %) or a point near its centre (30 %); the région's pass,
or the Gironde pass for half of the people in Gironde; one service of the pass (60 %);
availability none (50 %), one or two days (30 %), days and hours (20 %); reach default
(70 %), 20 km (20 %) or 45 min by public transport (10 %).

``--compare-solvers`` also solves the cohort's final flow problem (same candidates, capacities
and seats) with the production solver (OR-Tools' min-cost flow, ``matching.cohort``) and with
:func:`solve_highs`, a bench-only alternative: the same network as a linear programme solved by
scipy's HiGHS (dual simplex; the constraint matrix is a network matrix, so the vertex it
returns is integral). Both must place the same number of people at the same total cost; the
times and their ratio are printed, with the import time and installed size of each library.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 10.0
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi")
PARIS = ZoneInfo("Europe/Paris")


def make_people(session, count: int, seed: int, scope: str, programme: str | None
                ) -> tuple[list[dict], str]:
    from sqlalchemy import text

    where = "c.region_code = '75'" if scope == "region" else "TRUE"
    communes = session.execute(text(
        "SELECT c.code, c.departement_code, coalesce(c.population, 0) AS population, "
        "ST_Y(coalesce(c.point, ST_PointOnSurface(c.geom))) AS lat, "
        "ST_X(coalesce(c.point, ST_PointOnSurface(c.geom))) AS lon, "
        "(SELECT min(p.code) FROM postal_code p WHERE p.commune_code = c.code) AS postal_code "
        f"FROM commune c WHERE {where} AND c.geom IS NOT NULL ORDER BY c.code")).all()
    if not communes:
        raise SystemExit("Aucune commune : lancez d'abord flask --app app geodata load.")
    main = programme or "pass-numerique-nouvelle-aquitaine"
    found = session.execute(text("SELECT allowed_services FROM programme WHERE code = :c"),
                            {"c": main}).one_or_none()
    if found is None:
        raise SystemExit(f"Programme « {main} » absent : lancez flask --app app demo load "
                         "(ou donnez --programme).")
    from directory.vocabulary import SERVICES

    services = list(found.allowed_services or SERVICES)
    rng = random.Random(seed)
    weights = [max(c.population, 50) for c in communes]
    people = []
    for i, c in enumerate(rng.choices(communes, weights=weights, k=count)):
        p: dict = {"id": f"B-{i:05d}"}
        kind = rng.random()
        if kind < 0.4 or (kind < 0.7 and not c.postal_code):
            p["commune"] = c.code
        elif kind < 0.7:
            p["postal_code"] = c.postal_code
        else:
            p["lat"] = round(c.lat + rng.uniform(-0.02, 0.02), 5)
            p["lon"] = round(c.lon + rng.uniform(-0.02, 0.02), 5)
        if scope == "region" and programme is None and c.departement_code == "33" \
                and rng.random() < 0.5:
            p["programme"] = "pass-numerique-gironde"
        if rng.random() < 0.6:
            p["services"] = [rng.choice(services)]
        a = rng.random()
        if a < 0.3:
            p["days"] = rng.sample(DAYS, rng.randint(1, 2))
        elif a < 0.5:
            p["days"] = rng.sample(DAYS, rng.randint(1, 3))
            start = rng.choice([9, 10, 14])
            p["time_from"], p["time_to"] = f"{start:02d}:00", f"{start + 3:02d}:00"
        r = rng.random()
        if r < 0.2:
            p["max_distance_m"] = 20_000
        elif r < 0.3:
            p["travel_mode"], p["max_minutes"] = "transit", 45
        people.append(p)
    return people, main


def solve_highs(problem):
    """The cohort's flow problem as an LP solved by HiGHS (scipy.optimize.linprog).

    Variables: one per (person, venue or session) option, plus one "unassigned" per person.
    Rows: each person takes exactly one variable; each session at most its seats; each venue
    at most its capacity. Costs are the production solver's (distance × TIE_SCALE +
    preference; unassigned dearer than any reassignment), so optima coincide.
    """
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import csr_array

    from matching.cohort.assignment import PREFERENCE, TIE_SCALE

    people = len(problem.options)
    if people == 0:
        return []
    arcs, arc_person = [], []
    for p, opts in enumerate(problem.options):
        seen = set()
        for o in opts:
            key = (o.venue_id, o.session_id)
            if key not in seen:
                seen.add(key)
                arcs.append(o)
                arc_person.append(p)
    n_arcs = len(arcs)
    costs = np.array([round(o.distance_m) * TIE_SCALE + PREFERENCE[o.kind] for o in arcs],
                     dtype=np.float64)
    max_cost = costs.max() if n_arcs else 0.0
    unassigned = (people + 1) * (max_cost + 1)
    c = np.concatenate([costs, np.full(people, unassigned)])
    # Equalities: person p's arcs + its unassigned variable = 1.
    eq = csr_array((np.ones(n_arcs + people),
                    (np.concatenate([arc_person, np.arange(people)]),
                     np.arange(n_arcs + people))), shape=(people, n_arcs + people))
    venue_ids = sorted({o.venue_id for o in arcs})
    session_ids = sorted({o.session_id for o in arcs if o.session_id is not None})
    v_row = {v: i for i, v in enumerate(venue_ids)}
    s_row = {s: len(venue_ids) + i for i, s in enumerate(session_ids)}
    rows, cols = [], []
    for i, o in enumerate(arcs):
        rows.append(v_row[o.venue_id])
        cols.append(i)
        if o.session_id is not None:
            rows.append(s_row[o.session_id])
            cols.append(i)
    ub = csr_array((np.ones(len(rows)), (rows, cols)),
                   shape=(len(venue_ids) + len(session_ids), n_arcs + people))
    bounds_ub = np.array(
        [people if problem.capacity.get(v) is None else max(0, problem.capacity[v])
         for v in venue_ids] + [max(0, problem.seats.get(s, 0)) for s in session_ids],
        dtype=np.float64)
    found = linprog(c, A_ub=ub, b_ub=bounds_ub, A_eq=eq, b_eq=np.ones(people),
                    bounds=(0, 1), method="highs-ds")
    if found.status != 0:
        raise RuntimeError(f"HiGHS : statut {found.status} ({found.message})")
    x = found.x[:n_arcs]
    if n_arcs and np.abs(x - np.rint(x)).max() > 1e-6:
        raise RuntimeError("HiGHS : solution fractionnaire")
    choice = [None] * people
    for i in np.flatnonzero(x > 0.5):
        choice[arc_person[i]] = arcs[i]
    return choice


def _library_weight(module: str) -> tuple[float, float]:
    """(import time in s, installed size in MB) of a library, in a fresh interpreter."""
    import subprocess

    code = (f"import time, pathlib; t = time.perf_counter(); import {module}; "
            f"print(time.perf_counter() - t); "
            f"p = pathlib.Path({module}.__file__).parent; "
            f"print(sum(f.stat().st_size for f in p.rglob('*') if f.is_file()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1e6


def compare_solvers(problem, repeat: int) -> None:
    from matching.cohort.assignment import solve, total_distance, violations

    def cost(choice):
        return sum(o.cost for o in choice if o is not None)

    timings = {}
    choices = {}
    for name, fn in (("OR-Tools", solve), ("HiGHS", solve_highs)):
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            choices[name] = fn(problem)
            runs.append(time.perf_counter() - started)
        timings[name] = statistics.median(runs)
    arcs = sum(len(o) for o in problem.options)
    print(f"Solveurs sur le même problème ({len(problem.options)} personnes, {arcs} options, "
          f"{len(problem.capacity)} lieux, {len(problem.seats)} séances), médiane de "
          f"{repeat} essais :")
    for name, choice in choices.items():
        bad = violations(problem, choice)
        print(f"  {name:8s} : {timings[name] * 1000:8.1f} ms, "
              f"{sum(o is not None for o in choice)} placées, "
              f"{total_distance(choice) / 1000:.3f} km, coût {cost(choice)}"
              f"{', VIOLATIONS : ' + '; '.join(bad[:3]) if bad else ''}")
    same = (cost(choices["OR-Tools"]) == cost(choices["HiGHS"])
            and sum(o is not None for o in choices["OR-Tools"])
            == sum(o is not None for o in choices["HiGHS"]))
    print(f"  même optimum : {'oui' if same else 'NON'} ; ratio HiGHS/OR-Tools "
          f"{timings['HiGHS'] / timings['OR-Tools']:.2f}")
    for label, module in (("ortools", "ortools.graph.python.min_cost_flow"),
                          ("scipy", "scipy.optimize")):
        seconds, _ = _library_weight(module)
        _, size = _library_weight(label)
        print(f"  {label} : import {seconds:.2f} s, {size:.0f} Mo installés")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--scope", choices=["region", "france"], default="region")
    parser.add_argument("--programme", help="programme of everybody (default: the demo "
                                            "passes of Nouvelle-Aquitaine)")
    parser.add_argument("--compare-solvers", action="store_true",
                        help="OR-Tools (production) contre HiGHS de scipy sur le même flot")
    parser.add_argument("--date", default=None, help="reference date (AAAA-MM-JJ; default: "
                                                     "today)")
    args = parser.parse_args()

    from app import create_app
    from core import clock
    from extensions import db
    from matching.cohort.assignment import run_cohort
    from matching.cohort.schemas import CohortRequestSchema
    from matching.cohort.solver import greedy, total_distance

    app = create_app()
    with app.app_context():
        people, programme = make_people(db.session, args.people, args.seed, args.scope,
                                        args.programme)
        body = {"people": people, "programme": programme}
        if args.date:
            body["reference_date"] = args.date
        print(f"Cohorte : {len(people)} personnes ({args.scope}, {programme}), graine "
              f"{args.seed}.")
        times = []
        result = None
        for run in range(args.repeat):
            started = time.perf_counter()
            loaded = CohortRequestSchema().load(body)
            result = run_cohort(loaded, now=clock.now(), session=db.session)
            elapsed = time.perf_counter() - started
            db.session.rollback()
            times.append(elapsed)
            t = result.timings
            print(f"  essai {run + 1} : {elapsed:.2f} s de bout en bout (validation "
                  f"{elapsed - t['total_s']:.2f} s, lieux et programmes {t['prepare_s']:.2f} s, "
                  f"candidats {t['candidates_s']:.2f} s, flot {t['solve_s']:.2f} s, "
                  f"{result.totals['candidate_rounds']} tour(s))")
        assert result is not None
        tot = result.totals
        base = greedy(result.problem)
        placed_greedy = sum(o is not None for o in base)
        print(f"Placées : {tot['assigned']} / {tot['people']} (dont {tot['with_session']} à une "
              f"séance) ; sans place : {tot['unassigned_by_reason']}")
        print(f"Distance totale : {tot['total_distance_m'] / 1000:.1f} km, moyenne "
              f"{(tot['mean_distance_m'] or 0) / 1000:.2f} km ; {tot['venues_used']} lieux "
              f"utilisés ({tot['venues_with_assumed_capacity']} à capacité supposée).")
        print(f"Glouton (même candidats, ordre de la cohorte) : {placed_greedy} placées, "
              f"{total_distance(base) / 1000:.1f} km au total.")
        best = min(times)
        median = statistics.median(times)
        print(f"Temps : meilleur {best:.2f} s, médiane {median:.2f} s ; objectif {TARGET_S:.0f} s "
              f"→ ratio médiane/objectif {median / TARGET_S:.2f} "
              f"({'atteint' if median <= TARGET_S else 'MANQUÉ'}).")
        if args.compare_solvers:
            compare_solvers(result.problem, max(args.repeat, 3))


if __name__ == "__main__":
    main()
