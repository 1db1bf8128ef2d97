"""Benchmark of the duration-aware availability pre-filter: the matcher's candidate query for
questions with a weekly availability, with the pre-filter of ``matching.services`` (an opening
that overlaps the availability for the offer's duration, ``matching.availability.fits_week_sql``)
against the overlap-only pre-filter it replaced (``opening_week && window``), alternating per
question in the same process on the same database; prints the ratio.

    .venv/bin/python bench/match.py --no-http --questions 20 --keep   # the catalogue, kept
    .venv/bin/python bench/match_duration.py [--questions 400] [--repeat 2]

Reads the database ``bench/match.py --keep`` leaves (``passerelle_bench_match``; another with
``--database``) and the communes of ``DATABASE_URL`` (default the local ``passerelle``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=400,
                        help="questions avec des disponibilités (400)")
    parser.add_argument("--repeat", type=int, default=2, help="passes (2)")
    parser.add_argument("--database", default=None,
                        help="base du banc d'essai (celle que bench/match.py --keep conserve)")
    args = parser.parse_args(argv)
    if args.questions <= 0 or args.repeat <= 0:
        parser.error("--questions et --repeat positifs")

    from sqlalchemy import or_, text

    from app import create_app
    from bench import match as bench_match
    from core.config import local_database_url
    from extensions import db
    from matching import services
    from matching.schemas import parse_question

    communes = bench_match.read_main_communes()
    if not communes:
        return 1
    url = local_database_url(args.database or bench_match.BENCH_DB)
    app = create_app({"DATABASE_URL": url, "PASSERELLE_LOCAL_DB": False,
                      "PASSERELLE_LOG_LEVEL": "WARNING"})

    def overlap_only(week, window, minutes):
        return or_(week.is_(None), week.overlaps(window))

    variants = {"durée": services.fits_week_sql, "chevauchement": overlap_only}
    times: dict[str, list[float]] = {name: [] for name in variants}
    rows: dict[str, int] = dict.fromkeys(variants, 0)
    questions = [parse_question(q) for q in
                 bench_match.make_questions(communes, args.questions * 4, 4)]
    questions = [q for q in questions
                 if q.availability.given and not q.availability.now][:args.questions]
    with app.app_context():
        s = db.session
        s.execute(text("SELECT set_config('jit', 'off', false)"))
        programme = services.load_programme(s, bench_match.PASS_CODE)
        try:
            for rep in range(args.repeat):
                for i, q in enumerate(questions):
                    place = services.resolve_place(s, q.where)
                    f = services.filters_for(q, bench_match.NOW, bench_match.NOW.date(),
                                             programme, q.services)
                    names = list(variants) if (i + rep) % 2 else list(reversed(variants))
                    for name in names:
                        services.fits_week_sql = variants[name]
                        services._candidate_query.cache_clear()
                        sql = services.candidate_query(f)
                        params = services.candidate_params(f, place, services.DEFAULT_REACH_M,
                                                           60, 480)
                        s.execute(sql, params).all()  # warm: plan and pages
                        started = time.perf_counter()
                        found = s.execute(sql, params).all()
                        times[name].append((time.perf_counter() - started) * 1000)
                        if rep == 0:
                            rows[name] += sum(1 for r in found if r.lieu_id is not None)
        finally:
            services.fits_week_sql = variants["durée"]
            services._candidate_query.cache_clear()
            s.rollback()
    print(f"Requête des candidats, {len(questions)} questions avec disponibilités × "
          f"{args.repeat} passes, en alternance :")
    for name, values in times.items():
        print(f"  {name:14s} p50 {statistics.median(values):7.2f} ms   p95 "
              f"{bench_match.percentile(values, 95):7.2f} ms   ({rows[name]} lignes)")
    ratio = statistics.median(times["durée"]) / statistics.median(times["chevauchement"])
    total = sum(times["durée"]) / sum(times["chevauchement"])
    print(f"  rapport durée / chevauchement : p50 × {ratio:.2f}, total × {total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
