"""Benchmark: the national coverage refresh and the map's views.

    .venv/bin/python bench/coverage_refresh.py [--venues 20000] [--seed 1] [--requests 40]
                                               [--compare-engines] [--regenerate]

Needs the full reference geography in the local ``passerelle`` database (or DATABASE_URL):
``flask --app app geodata load``. Loads ``--venues`` fictional venues (source
``bench-coverage``, from bench/generate_venues.py: placed in communes in proportion to
population, 10 % with unknown capacity) once, a national programme ``bench-national``
(perimeter ``fr``) that every one of them accepts, then:

1. runs ``coverage refresh --programme bench-national --within fr`` (35,000 communes ×
   20,000 venues) and prints the time split (read, costs, compute, store, aggregate) and its
   ratio to the 30 s target; with ``--compare-engines``, times the cost step with both
   engines (pyproj on arrays / PostGIS ST_DWithin + ST_Distance) on the same points and
   checks that they agree;
2. measures the national view's payload (département level GeoJSON, target ≤ 300 KB; gzip
   size shown too) and the p95 response time of each map view (target ≤ 50 ms), through the
   Flask test client (no network, no ETag hit: every request computes its answer).

The bench's venues and programme stay in the database (re-runs reuse them);
``--regenerate`` reloads the venues.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE = "bench-coverage"
PROGRAMME = "bench-national"
TARGET_REFRESH_S = 30.0
TARGET_PAYLOAD_KB = 300.0
TARGET_P95_MS = 50.0


def ensure_venues(db, count: int, seed: int, regenerate: bool) -> int:
    from sqlalchemy import text

    present = db.session.execute(text("SELECT count(*) FROM lieu WHERE source = :s"),
                                 {"s": SOURCE}).scalar()
    if present == count and not regenerate:
        print(f"{present} lieux « {SOURCE} » déjà chargés.")
        return present
    sys.path.insert(0, str(ROOT / "bench"))
    import generate_venues

    with db.engine.connect() as connection:
        communes = generate_venues.read_communes(connection)
    started = time.perf_counter()
    loaded = generate_venues.load(db.engine, generate_venues.generate(communes, count, seed,
                                                                      SOURCE), SOURCE)
    print(f"{loaded} lieux chargés en {time.perf_counter() - started:.1f} s.")
    return loaded


def ensure_programme(db) -> None:
    from sqlalchemy import text

    db.session.execute(text(
        "INSERT INTO programme (code, name, perimeter_codes, perimeter_communes, valid_from) "
        "VALUES (:code, 'Programme national du banc d''essai', '{fr}', '{}', '2020-01-01') "
        "ON CONFLICT (code) DO NOTHING"), {"code": PROGRAMME})
    inserted = db.session.execute(text(
        "INSERT INTO acceptation (lieu_id, programme_id, valid_from, services, source) "
        "SELECT l.id, p.id, '2020-01-01', '{}', 'import' FROM lieu l, programme p "
        "WHERE l.source = :source AND p.code = :code "
        "ON CONFLICT ON CONSTRAINT uq_acceptation_lieu_id_programme_id DO NOTHING"),
        {"source": SOURCE, "code": PROGRAMME}).rowcount
    db.session.commit()
    print(f"Programme « {PROGRAMME} » : {inserted} acceptations ajoutées.")


def compare_engines(db, detour: float) -> None:
    import numpy as np

    from coverage.costs import COST_ENGINES, cost_pairs
    from coverage.inputs import load_demand, load_supply, straight_radius_km
    from coverage.selection import Selection, resolve_territory

    session = db.session
    selection = Selection(PROGRAMME, None, "fr", "population")
    territory = resolve_territory(session, "fr")
    radius = straight_radius_km(30.0, detour)
    demand = load_demand(session, territory, "population", 2 * radius)
    supply = load_supply(session, selection, territory, radius, dt.date.today())
    timings, results = {}, {}
    for engine in COST_ENGINES:
        started = time.perf_counter()
        results[engine] = cost_pairs(session, demand, supply, 30.0, detour, engine)
        timings[engine] = time.perf_counter() - started
    session.rollback()
    a, b = results["python"], results["sql"]
    same = (len(a) == len(b) and np.array_equal(a.demand, b.demand)
            and np.array_equal(a.supply, b.supply))
    gap = float(np.max(np.abs(a.cost_km - b.cost_km))) if same and len(a) else float("nan")
    print(f"Distances, {len(a)} paires : pyproj sur tableaux {timings['python']:.2f} s ; "
          f"PostGIS ST_DWithin + ST_Distance {timings['sql']:.2f} s "
          f"(rapport {timings['sql'] / timings['python']:.1f}) ; mêmes paires : "
          f"{'oui' if same else 'NON'} ; écart maximal {gap * 1000:.3g} m.")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def measure_views(app, requests: int) -> None:
    client = app.test_client()
    base = f"/api/v1/coverage/{{}}?programme={PROGRAMME}"
    national = client.get(base.format("departement"))
    if national.status_code != 200:
        print(f"Vue nationale : HTTP {national.status_code} {national.get_data(as_text=True)}")
        return
    size = len(national.data) / 1024
    zipped = len(gzip.compress(national.data)) / 1024
    print(f"Vue nationale (départements, GeoJSON) : {size:.0f} Ko ({zipped:.0f} Ko en gzip) "
          f"— cible ≤ {TARGET_PAYLOAD_KB:.0f} Ko : rapport {size / TARGET_PAYLOAD_KB:.2f}.")
    views = {
        "régions (France)": base.format("region"),
        "départements (France)": base.format("departement"),
        "EPCI (Nouvelle-Aquitaine)": base.format("epci") + "&within=reg:75",
        "communes (Gironde)": base.format("commune") + "&within=dep:33",
        "communes (emprise Bordeaux)": base.format("commune")
        + "&bbox=-0.75,44.75,-0.45,44.95",
        "départements CSV": base.format("departement") + "&format=csv",
    }
    worst = 0.0
    for label, url in views.items():
        durations = []
        size = 0
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url)
            durations.append((time.perf_counter() - started) * 1000)
            size = len(response.data)
        worst = max(worst, p95(durations))
        print(f"  {label} : p95 {p95(durations):.1f} ms, médiane "
              f"{statistics.median(durations):.1f} ms, {size / 1024:.0f} Ko "
              f"(HTTP {response.status_code})")
    print(f"Pire p95 des vues : {worst:.1f} ms — cible ≤ {TARGET_P95_MS:.0f} ms : rapport "
          f"{worst / TARGET_P95_MS:.2f}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venues", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=40, help="requêtes par vue (40)")
    parser.add_argument("--detour", type=float, default=1.3)
    parser.add_argument("--compare-engines", action="store_true")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--engine", choices=("python", "sql"), default="python")
    args = parser.parse_args(argv)

    from sqlalchemy import text

    from app import create_app
    from core import clock
    from coverage.refresh import refresh
    from coverage.selection import Selection
    from extensions import db

    app = create_app()
    with app.app_context():
        communes = db.session.execute(text("SELECT count(*) FROM commune")).scalar()
        if communes < 30_000:
            print(f"Seulement {communes} communes : lancez d'abord « flask --app app geodata "
                  "load » (toute la France).", file=sys.stderr)
            return 1
        ensure_venues(db, args.venues, args.seed, args.regenerate)
        ensure_programme(db)
        if args.compare_engines:
            compare_engines(db, args.detour)

        started = time.perf_counter()
        report = refresh(db.session, Selection(PROGRAMME, None, "fr"),
                         detour=args.detour, engine=args.engine, today=clock.today())
        db.session.commit()
        total = time.perf_counter() - started
        split = " ; ".join(f"{k} {v:.2f} s" for k, v in report.timings.items())
        print(f"Rafraîchissement national : {report.communes} communes × {report.venues} lieux,"
              f" {report.pairs} paires ; {split} ; total {total:.2f} s — cible ≤ "
              f"{TARGET_REFRESH_S:.0f} s : rapport {total / TARGET_REFRESH_S:.2f}.")
        print("  couverts à 10/20/30 km : "
              + " / ".join(f"{100 * report.covered_population[t] / report.population:.1f} %"
                           for t in (10.0, 20.0, 30.0))
              + f" ; capacité inconnue : {report.unknown_capacity} lieux.")
        measure_views(app, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
