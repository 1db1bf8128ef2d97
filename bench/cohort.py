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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2015)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--scope", choices=["region", "france"], default="region")
    parser.add_argument("--programme", help="programme of everybody (default: the demo "
                                            "passes of Nouvelle-Aquitaine)")
    parser.add_argument("--date", default=None, help="reference date (AAAA-MM-JJ; default: "
                                                     "today)")
    args = parser.parse_args()

    from app import create_app
    from core import clock
    from extensions import db
    from matching.cohort.assignment import greedy, run_cohort, total_distance
    from matching.cohort.schemas import CohortRequestSchema

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


if __name__ == "__main__":
    main()
