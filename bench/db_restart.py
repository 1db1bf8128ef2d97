"""PostgreSQL restarted under load: seconds to recovery and errors other than 503.

A throw-away cluster (tests/pg_cluster.py) on a free loopback port holds a migrated empty
database; gunicorn serves the application on it (gunicorn.conf.py, 2 workers); client
threads ask a database-backed API endpoint without pause. The server is stopped
(``immediate``: every connection dropped, as a crash), left down, then started again.

Prints: requests and statuses before, during and after the outage; the seconds from the
server being back (pg_ctl start returned) to the first 2xx and to every worker answering
2xx; the count of answers that are neither 2xx nor 503 (the promise: 0).

    PYTHONPATH=. .venv/bin/python bench/db_restart.py [--clients 8] [--down 3] [--seconds 12]
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATH = "/api/v1/territories/departements"


def client_loop(port: int, stop: threading.Event, log: list, lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        started = time.monotonic()
        try:
            conn.request("GET", PATH)
            response = conn.getresponse()
            response.read()
            outcome = response.status
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            outcome = f"exception {exc.__class__.__name__}"
            conn.close()
        with lock:
            log.append((started, time.monotonic(), outcome))


def wait_http(port: int, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", PATH)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn ne répond pas.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="fils clients (défaut 8)")
    parser.add_argument("--down", type=float, default=3.0,
                        help="secondes serveur arrêté (défaut 3)")
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="durée totale de la charge, bornée à 120 s (défaut 12)")
    args = parser.parse_args()
    total = min(args.seconds, 120.0)

    from tests import pg_cluster

    reason = pg_cluster.available()
    if reason:
        print(f"Impossible : {reason}.")
        return 1
    from app import create_app
    from core.database import create_database

    with pg_cluster.TemporaryCluster() as cluster:
        url = cluster.url("passerelle_bench_restart")
        create_database(url)
        app = create_app({"DATABASE_URL": url, "PASSERELLE_LOCAL_DB": False,
                          "PASSERELLE_LOG_LEVEL": "WARNING"})
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
        port = pg_cluster.free_port()
        env = dict(os.environ, DATABASE_URL=url, PASSERELLE_WEB_BIND=f"127.0.0.1:{port}",
                   PASSERELLE_WEB_WORKERS="2", PASSERELLE_LOG_LEVEL="WARNING",
                   PASSERELLE_JOBS_NAMESPACE=f"passerelle-bench-{os.getpid()}",
                   PASSERELLE_RATE_LIMITS_ENABLED="0", PYTHONPATH=str(ROOT))
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
             "--access-logfile", "/dev/null", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_http(port)
            log: list = []
            lock = threading.Lock()
            stop = threading.Event()
            threads = [threading.Thread(target=client_loop, args=(port, stop, log, lock))
                       for _ in range(args.clients)]
            t0 = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(min(3.0, total / 4))
            down_at = time.monotonic()
            cluster.stop("immediate")
            time.sleep(args.down)
            cluster.start()
            up_at = time.monotonic()
            time.sleep(max(0.0, total - (up_at - t0)))
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            _out, errors = server.communicate(timeout=30)

    phases = {"avant": Counter(), "pendant": Counter(), "après": Counter()}
    first_ok = None
    last_bad = None
    for started, ended, outcome in log:
        phase = "avant" if started < down_at else "pendant" if started < up_at else "après"
        phases[phase][outcome] += 1
        if started >= up_at and outcome == 200 and first_ok is None:
            first_ok = ended
        if ended >= up_at and outcome != 200:
            last_bad = ended
    bad = sum(n for c in phases.values() for outcome, n in c.items()
              if not (outcome == 503 or (isinstance(outcome, int) and 200 <= outcome < 300)))
    print(f"Charge : {args.clients} clients, {total:g} s ; PostgreSQL arrêté {args.down:g} s "
          f"(mode immediate) puis relancé ; {len(log)} réponses.")
    for phase, counts in phases.items():
        shown = ", ".join(f"{k} × {v}" for k, v in sorted(counts.items(), key=str))
        print(f"  {phase} : {shown or 'aucune'}")
    if first_ok is None:
        print("Retour : aucune réponse 200 après la relance.")
    else:
        print(f"Retour : première réponse 200 {first_ok - up_at:.2f} s après la relance ; "
              f"plus aucune erreur {max(0.0, (last_bad or up_at) - up_at):.2f} s après.")
    print(f"Erreurs autres que 503 : {bad} (attendu : 0).")
    tracebacks = errors.count("Traceback")
    outage_lines = errors.count("base de données injoignable")
    print(f"Journal de gunicorn : {outage_lines} ligne(s) « base de données injoignable » "
          f"(une par processus web et par panne), {tracebacks} trace(s) d'appel.")
    return 0 if bad == 0 and first_ok is not None else 1


if __name__ == "__main__":
    sys.exit(main())
