"""Benchmark of the matcher: latency of ``matching.services.match`` against the baseline
query (``ST_DWithin`` 50 km then ``ORDER BY ST_Distance``), and throughput of
``GET /api/v1/match`` under ``gunicorn -w 2`` driven by ``wrk`` on 127.0.0.1.

    .venv/bin/python bench/match.py                 # 20,000 venues
    .venv/bin/python bench/match.py --million       # also 1,000,000 venues (several minutes)
    .venv/bin/python bench/match.py --no-http       # skip gunicorn + wrk

Runs in a dedicated database (``passerelle_bench_match``, and ``passerelle_bench_match_million``
for ``--million``; created, migrated, then dropped at the end unless ``--keep``): nothing is
written to the ``passerelle`` database, which is only read for the communes (``flask --app app
geodata load`` must have run). With ``--million``, the ratio of the p95s is then measured in
turns (20,000, 1,000,000, 20,000…, three rounds, their median): the minutes of the large load
let the machine's speed drift between the two sizes' first measures. Venues come from
``bench/generate_venues.py`` (placed in communes in proportion to their population, valid
hours); a national pass is accepted by 60 % of them. 1,000 seeded random questions: a point
near a commune (population-weighted), the pass, one topic (70 %: what the person wants to
learn, answered by an offer on it), an availability (days, days and hours, now, or none).
Each venue has one offer per service it declares, on one topic of that service; with
``--offerless P``, P % of the venues list no offer and declare those topics instead
(``lieu.topics``, as a v0.1 file gives them: answered as « annonce … »).
Server-side times are measured in-process around ``match``. The HTTP run asks the same
questions at the same moment (``NOW``): gunicorn serves ``bench/wsgi_frozen.py``, the
application on a frozen clock (``--real-clock``: at the real time, when, at night, the
"now" questions find nothing open and compute their hints).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "passerelle_bench_match"
SOURCE = "bench-match"
PASS_CODE = "bench-pass"
NOW = dt.datetime(2026, 12, 1, 10, 30, tzinfo=ZoneInfo("Europe/Paris"))
# "Open now" questions in the evening (few venues open: the web server's real clock at night).
EVENING = NOW.replace(hour=19, minute=30)
# Targets of issue 12 (item 8), at the default count (20,000 venues).
TARGET_RPS = 400
TARGET_HTTP_P99_MS = 50
TARGET_P95_MS = 5
TARGET_MILLION_RATIO = 2
MILLION = 1_000_000
# Rounds of the 20,000 / 1,000,000 comparison, each timing both sizes one after the other.
RATIO_TURNS = 3
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def make_questions(communes, count: int, seed: int) -> list[dict]:
    """API fields of ``count`` random questions."""
    from directory.vocabulary import SERVICES, TOPICS

    topics = [t.code for t in TOPICS if t.service in SERVICES[:7]]
    rng = random.Random(seed)
    weights = [max(c[2], 50) for c in communes]
    picks = rng.choices(range(len(communes)), weights=weights, k=count)
    questions = []
    for index in picks:
        _, _, _, _, lon, lat = communes[index]
        q: dict = {"lat": round(lat + rng.uniform(-0.05, 0.05), 5),
                   "lon": round(lon + rng.uniform(-0.07, 0.07), 5), "programme": PASS_CODE}
        if rng.random() < 0.7:
            q["topics"] = rng.choice(topics)
        r = rng.random()
        if r < 0.3:
            q["days"] = ",".join(rng.sample(DAYS[:6], rng.randint(1, 2)))
        elif r < 0.5:
            q["days"] = rng.choice(DAYS[:6])
            q["time_from"], q["time_to"] = rng.choice([("09:00", "12:00"), ("14:00", "17:00")])
        elif r < 0.6:
            q["now"] = "true"
        questions.append(q)
    return questions


def load_catalogue(engine, communes, count: int, seed: int, offerless: int = 0) -> float:
    """Venues + a national pass accepted by 60 % of them; returns seconds taken."""
    from sqlalchemy import text

    from bench.generate_venues import generate, load
    from directory.vocabulary import SERVICES, topics_of_service

    started = time.perf_counter()
    load(engine, generate(communes, count, seed, SOURCE), SOURCE)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM programme WHERE code = :c"), {"c": PASS_CODE})
        pid = conn.execute(text(
            "INSERT INTO programme (code, name, perimeter_codes, valid_from) VALUES "
            "(:c, 'Pass Numérique (banc d''essai)', '{fr}', DATE '2026-01-01') RETURNING id"),
            {"c": PASS_CODE}).scalar()
        # One offer per declared service, on one of its topics (chosen by the venue's id);
        # the offerless venues declare those topics instead.
        chosen = """
            SELECT l.id, s.ord, s.svc,
                   m.topics ->> CAST((l.id + s.ord) % json_array_length(m.topics) AS int) AS t
              FROM lieu l CROSS JOIN LATERAL unnest(l.services) WITH ORDINALITY AS s(svc, ord)
              JOIN json_each(CAST(:m AS json)) AS m(svc, topics) ON m.svc = s.svc
             WHERE l.source = :s AND json_array_length(m.topics) > 0"""
        params = {"s": SOURCE, "m": json.dumps({sv: topics_of_service(sv) for sv in SERVICES}),
                  "p": offerless}
        conn.execute(text(f"""
            INSERT INTO offre (lieu_id, code, title, service, topics, format)
            SELECT c.id, 'bench-' || c.ord, 'Atelier ' || c.ord, c.svc, ARRAY[c.t], 'collective'
              FROM ({chosen}) c WHERE c.id % 100 >= :p"""), params)
        conn.execute(text(f"""
            UPDATE lieu l SET topics = ARRAY(SELECT c.t FROM ({chosen}) c WHERE c.id = l.id)
             WHERE l.source = :s AND l.id % 100 < :p"""), params)
        # The acceptances last: each statement refreshes ``match_place`` for the venues it
        # touches (a trigger), and only this one finds venues accepting the pass.
        conn.execute(text(
            "INSERT INTO acceptation (lieu_id, programme_id, valid_from, source) "
            "SELECT id, :pid, DATE '2026-01-01', 'import' FROM lieu "
            "WHERE source = :s AND id % 10 < 6"), {"pid": pid, "s": SOURCE})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE lieu"))
        conn.execute(text("VACUUM ANALYZE acceptation"))
        conn.execute(text("VACUUM ANALYZE offre"))
        conn.execute(text("VACUUM ANALYZE match_place"))
    return time.perf_counter() - started


def baseline_sql() -> str:
    """data·inclusion's way: a fixed 50 km, every venue in it measured and sorted; the same
    hard constraints (pass accepted and valid, an offer on the topic, not closed)."""
    return """
SELECT l.id, ST_Distance(l.geog, CAST(:g AS geography)) AS d
  FROM lieu l
 WHERE ST_DWithin(l.geog, CAST(:g AS geography), 50000)
   AND l.status = 'open'
   AND EXISTS (SELECT 1 FROM acceptation a WHERE a.lieu_id = l.id AND a.programme_id = :pid
               AND a.valid_from <= :d AND (a.valid_to IS NULL OR :d <= a.valid_to))
   AND (CAST(:top AS text) IS NULL OR EXISTS (
        SELECT 1 FROM offre o WHERE o.lieu_id = l.id AND o.active
           AND o.topics && ARRAY[CAST(:top AS text)]))
 ORDER BY d
 LIMIT 10"""


def backend_cpu(session) -> tuple[int, float] | None:
    """(pid, CPU seconds so far) of the session's PostgreSQL backend, when the server runs on
    this machine (Linux ``/proc``); None otherwise."""
    from sqlalchemy import text

    pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return pid, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_match(app, questions, baseline_questions: int | None = None, profile: bool = False
               ) -> tuple[list[float], list[float], dict]:
    from sqlalchemy import text

    from core.database import end_read_transaction
    from extensions import db
    from matching.schemas import parse_question
    from matching.services import match

    match_ms, base_ms = [], []
    stats = {"results": 0, "empty": 0, "widened": 0, "slowest": []}
    with app.app_context():
        session = db.session
        pid = session.execute(text("SELECT id FROM programme WHERE code = :c"),
                              {"c": PASS_CODE}).scalar()
        parsed = [parse_question(q) for q in questions]
        # Each question's transaction ends as the API ends it (matching.api: COMMIT, which
        # keeps the statements psycopg has prepared; a ROLLBACK forgets them).
        for q in parsed[:20]:  # warm-up: connection pool, parser caches, plan cache
            match(q, now=NOW, limit=10, session=session)
            end_read_transaction(session)
        # CPU per question (Python, and the PostgreSQL backend, the same connection for the
        # whole loop): unlike the times, barely changed by other work sharing the machine.
        backend_before = backend_cpu(session)
        end_read_transaction(session)
        python_before = time.process_time()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for q in parsed:
            started = time.perf_counter()
            result = match(q, now=NOW, limit=10, session=session)
            end_read_transaction(session)  # as the API does
            match_ms.append((time.perf_counter() - started) * 1000)
            stats["slowest"].append((match_ms[-1], len(result.results), result.radius_m,
                                     len(result.hints), q))
            stats["results"] += len(result.results)
            stats["empty"] += not result.results
            stats["widened"] += result.search_message is not None
        stats["python_cpu_ms"] = (time.process_time() - python_before) * 1000 / len(parsed)
        backend_after = backend_cpu(session)
        session.rollback()
        if backend_before and backend_after and backend_after[0] == backend_before[0]:
            stats["backend_cpu_ms"] = (backend_after[1] - backend_before[1]) * 1000 / len(parsed)
        if profiler is not None:
            import pstats

            profiler.disable()
            print("\nProfil de la boucle des questions (temps propre, 25 premières fonctions) :")
            pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(25)
        sql = text(baseline_sql())
        for raw in questions[:baseline_questions]:
            params = {"g": f"SRID=4326;POINT({raw['lon']} {raw['lat']})", "pid": pid,
                      "d": NOW.date(), "top": raw.get("topics")}
            started = time.perf_counter()
            session.execute(sql, params).all()
            base_ms.append((time.perf_counter() - started) * 1000)
            session.rollback()
    return match_ms, base_ms, stats


def time_evening(app, questions) -> tuple[list[float], int]:
    """In-process times of the "open now" questions at ``EVENING``, and how many found none."""
    from core.database import end_read_transaction
    from extensions import db
    from matching.schemas import parse_question
    from matching.services import match

    times, empty = [], 0
    with app.app_context():
        session = db.session
        for q in [parse_question(q) for q in questions if q.get("now")]:
            started = time.perf_counter()
            result = match(q, now=EVENING, limit=10, session=session)
            end_read_transaction(session)
            times.append((time.perf_counter() - started) * 1000)
            empty += not result.results
    return times, empty


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_http(url: str, questions, seconds: int, connections: int,
             now: dt.datetime | None = NOW) -> dict | None:
    """Throughput of GET /api/v1/match under gunicorn -w 2, wrk on 127.0.0.1, the server's
    clock frozen at ``now`` (``bench/wsgi_frozen.py``: the mix timed in process), or the real
    clock when ``now`` is None."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    wrk = shutil.which("wrk")
    if not gunicorn.exists() or not wrk:
        print("gunicorn ou wrk absent : débit non mesuré.")
        return None
    port = _free_port()
    # A load test from one address: the per-client rate limit would cut it short.
    env = dict(os.environ, DATABASE_URL=url, PASSERELLE_LOG_LEVEL="WARNING",
               PASSERELLE_RATE_LIMITS_ENABLED="0")
    if now is not None:
        env["PASSERELLE_BENCH_NOW"] = now.isoformat()
    server = subprocess.Popen(
        [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "bench.wsgi_frozen:app" if now is not None else "wsgi:app"], cwd=ROOT, env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL)  # gunicorn.conf.py's access log, one line a request
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            paths = ["/api/v1/match?" + urlencode(q) for q in questions[:500]]
            script = Path(tmp) / "match.lua"
            script.write_text(
                "local paths = {\n" + ",\n".join(f'  "{p}"' for p in paths) + "\n}\n"
                "local i = math.random(#paths)\n"
                "request = function()\n  i = i % #paths + 1\n"
                "  return wrk.format('GET', paths[i])\nend\n", encoding="utf-8")
            # Warm-up, not measured: each worker's first requests compile and prepare its
            # statements (a steady server has done it long ago).
            subprocess.run([wrk, "-t2", f"-c{connections}", "-d3s", "-s", str(script),
                            f"http://127.0.0.1:{port}"], capture_output=True, timeout=60,
                           check=True)
            out = subprocess.run(
                [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                 str(script), f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    return {"rps": rps, "requests": total, "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "aucune",
            "p50": p50, "p99": p99, "seconds": seconds, "connections": connections}


def to_ms(value: str) -> float:
    """wrk's latency ('948.12ms', '1.57s', '812.00us') in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def verdict(ok: bool) -> str:
    return "atteinte" if ok else "NON atteinte"


def report(label: str, match_ms, base_ms, stats) -> dict:
    figures = {"match_p50": statistics.median(match_ms), "match_p95": percentile(match_ms, 95),
               "base_p50": statistics.median(base_ms), "base_p95": percentile(base_ms, 95)}
    n = len(match_ms)
    print(f"\n== {label} ==")
    print(f"  match      p50 {figures['match_p50']:7.2f} ms   p95 {figures['match_p95']:7.2f} ms"
          f"   ({n} questions, {stats['results'] / n:.1f} lieux en moyenne, "
          f"{stats['empty']} sans résultat, {stats['widened']} rayons élargis)")
    if "backend_cpu_ms" in stats:
        cpu = stats["python_cpu_ms"] + stats["backend_cpu_ms"]
        figures["cpu_ms"] = cpu
        print(f"  CPU par question : Python {stats['python_cpu_ms']:.2f} ms + PostgreSQL "
              f"{stats['backend_cpu_ms']:.2f} ms = {cpu:.2f} ms (plafond en processus sur "
              f"{os.cpu_count()} cœurs : {os.cpu_count() * 1000 / cpu:.0f} questions/s)")
    print(f"  référence  p50 {figures['base_p50']:7.2f} ms   p95 {figures['base_p95']:7.2f} ms"
          f"   (ST_DWithin 50 km + ORDER BY ST_Distance, {len(base_ms)} questions)")
    for ms, found, radius, hints, q in sorted(stats["slowest"], key=lambda x: -x[0])[:3]:
        print(f"  lente : {ms:.0f} ms, {found} lieux, rayon {radius} m, {hints} pistes : {q}")
    print(f"  rapport référence / match : p50 × {figures['base_p50'] / figures['match_p50']:.1f}"
          f", p95 × {figures['base_p95'] / figures['match_p95']:.1f}")
    return figures


def read_main_communes() -> list:
    """The communes of the main database (``DATABASE_URL``, default the local
    ``passerelle``), where the questions are drawn; empty, with the reason on stderr, when
    its geography is not loaded."""
    from sqlalchemy import create_engine

    from bench.generate_venues import read_communes
    from core.config import local_database_url

    main_url = os.environ.get("DATABASE_URL") or local_database_url("passerelle")
    with create_engine(main_url).connect() as conn:
        communes = read_communes(conn)
    if not communes:
        print("La géographie n'est pas chargée : lancez « flask --app app geodata load ».",
              file=sys.stderr)
    return communes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="lieux (20000)")
    parser.add_argument("--million", action="store_true", help="aussi 1 000 000 de lieux")
    parser.add_argument("--questions", type=int, default=1000, help="questions (1000)")
    parser.add_argument("--seed", type=int, default=4, help="graine (4)")
    parser.add_argument("--no-http", action="store_true", help="sans gunicorn ni wrk")
    parser.add_argument("--seconds", type=int, default=20, help="durée de wrk (20 s, max 30)")
    parser.add_argument("--connections", type=int, default=8, help="connexions wrk (8)")
    parser.add_argument("--keep", action="store_true", help="garder la base du banc d'essai")
    parser.add_argument("--real-clock", action="store_true",
                        help="débit HTTP à l'horloge réelle (par défaut, le serveur répond à "
                             "l'heure des questions en processus : même mélange)")
    parser.add_argument("--offerless", type=int, default=0,
                        help="part des lieux sans offre, en %% (0) : ils annoncent leurs "
                             "thématiques")
    parser.add_argument("--db", default=BENCH_DB,
                        help=f"nom de la base du banc d'essai ({BENCH_DB}), créée puis "
                             "supprimée : une autre pour deux bancs en même temps")
    parser.add_argument("--profile", action="store_true",
                        help="profil cProfile de la boucle des questions (les temps mesurés "
                             "sont alors gonflés)")
    parser.add_argument("--baseline-questions", type=int, default=None,
                        help="questions pour la requête de référence (toutes par défaut)")
    parser.add_argument("--baseline-questions-million", type=int, default=300,
                        help="idem à 1 000 000 de lieux (300 : elle y prend jusqu'à une "
                             "seconde par question)")
    args = parser.parse_args(argv)
    if args.count <= 0 or args.questions <= 0 or not 1 <= args.seconds <= 30 \
            or not 0 <= args.offerless <= 100:
        parser.error("--count et --questions positifs, --seconds entre 1 et 30, --offerless "
                     "entre 0 et 100")

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from app import create_app
    from core.config import local_database_url
    from core.database import create_database, drop_database

    communes = read_main_communes()
    if not communes:
        return 1
    sizes = [args.count] + ([MILLION] if args.million else [])
    # One database per size: the ratio is then measured in turns on both (below), so that a
    # machine whose speed drifts during the minutes of the load does not bias it.
    urls = {size: local_database_url(args.db if size == sizes[0] else f"{args.db}_million")
            for size in sizes}
    apps: dict = {}
    created: list[str] = []
    try:
        from flask_migrate import upgrade

        from extensions import db

        questions = make_questions(communes, args.questions, args.seed)
        figures = {}
        for size in sizes:
            print(f"Base du banc d'essai : {make_url(urls[size]).database} (créée, migrée).")
            create_database(urls[size])
            created.append(urls[size])
            # Loading a million rows takes longer than the web statement timeout.
            app = apps[size] = create_app({
                "DATABASE_URL": urls[size], "PASSERELLE_LOCAL_DB": False,
                "PASSERELLE_LOG_LEVEL": "WARNING", "PASSERELLE_STATEMENT_TIMEOUT_MS": 1_800_000,
                "PASSERELLE_WEB_TIMEOUT_S": 3_600})
            with app.app_context():
                upgrade()
                seconds = load_catalogue(db.engine, communes, size, args.seed, args.offerless)
                accepted = db.session.execute(text("SELECT count(*) FROM acceptation")).scalar()
                db.session.rollback()
            print(f"{size} lieux chargés ({accepted} acceptent le pass) en {seconds:.0f} s.")
            base_n = args.baseline_questions_million if size >= MILLION \
                else args.baseline_questions
            match_ms, base_ms, stats = time_match(app, questions, base_n, args.profile)
            figures[size] = report(f"{size} lieux", match_ms, base_ms, stats)
            evening, empty = time_evening(app, questions)
            if evening:
                print(f"  « ouvert maintenant » à {EVENING:%H:%M} : p50 "
                      f"{statistics.median(evening):7.2f} ms   p95 "
                      f"{percentile(evening, 95):7.2f} ms   ({len(evening)} questions, "
                      f"{empty} sans résultat)")
            if size == sizes[0]:
                p95 = figures[size]["match_p95"]
                print(f"  cible p95 en processus ≤ {TARGET_P95_MS} ms : {p95:.2f} ms, "
                      f"{verdict(p95 <= TARGET_P95_MS)}")
            if not args.no_http:
                http = run_http(urls[size], questions, args.seconds, args.connections,
                                None if args.real_clock else NOW)
                if http:
                    clock = "horloge réelle" if args.real_clock else \
                        f"horloge du serveur à {NOW:%d/%m/%Y %H:%M}"
                    print(f"  débit GET /api/v1/match (gunicorn -w 2, wrk -t2 "
                          f"-c{http['connections']}, {http['seconds']} s, 127.0.0.1, "
                          f"{clock}) : "
                          f"{http['rps']:.0f} req/s, {http['requests']} requêtes, "
                          f"latence p50 {http['p50']} p99 {http['p99']}, "
                          f"{http['non_2xx']} réponses non 2xx, erreurs socket : "
                          f"{http['socket_errors']}")
                    if size == sizes[0]:
                        p99 = to_ms(http["p99"])
                        print(f"  cible débit ≥ {TARGET_RPS} req/s : {http['rps']:.0f}, "
                              f"{verdict(http['rps'] >= TARGET_RPS)} ; cible p99 ≤ "
                              f"{TARGET_HTTP_P99_MS} ms : {p99:.0f} ms, "
                              f"{verdict(p99 <= TARGET_HTTP_P99_MS)}")
        if len(figures) == 2:
            small, big = figures[sizes[0]], figures[MILLION]
            big_label = f"{MILLION:,}".replace(",", " ")
            print(f"\np95 à {big_label} / p95 à {sizes[0]}, mesures ci-dessus (l'une après "
                  f"l'autre) : {big['match_p95'] / small['match_p95']:.2f}")
            ratios = []
            for turn in range(1, RATIO_TURNS + 1):
                p95s = [percentile(time_match(apps[size], questions, 0)[0], 95)
                        for size in sizes]
                ratios.append(p95s[1] / p95s[0])
                print(f"  tour {turn} : p95 {p95s[0]:.2f} ms à {sizes[0]} lieux, "
                      f"{p95s[1]:.2f} ms à {big_label}, rapport {ratios[-1]:.2f}")
            ratio = statistics.median(ratios)
            print(f"p95 à {big_label} / p95 à {sizes[0]}, médiane de {RATIO_TURNS} tours en "
                  f"alternance : {ratio:.2f} (cible ≤ {TARGET_MILLION_RATIO}, "
                  f"{verdict(ratio <= TARGET_MILLION_RATIO)})")
        for app in apps.values():
            with app.app_context():
                db.engine.dispose()
    finally:
        for url in created:
            name = make_url(url).database
            if args.keep:
                print(f"Base {name} conservée (--keep).")
            else:
                drop_database(url)
                print(f"Base {name} supprimée.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
