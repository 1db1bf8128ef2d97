"""Fault injection: SIGKILL the importer in the middle of a 20,000-venue import.

    .venv/bin/python bench/import_fault.py [--rows 20000] [--at merge|geography|copy]

1. generates a standard v1.0.2 file (the generator of bench/import_venues.py);
2. takes a fingerprint of the catalogue (count and digest of every row of lieu and
   acceptation);
3. starts ``flask --app app directory import`` in a subprocess and watches the server
   (pg_stat_activity) until that import is executing the chosen step inside its
   transaction — by default the INSERT … ON CONFLICT into lieu — then SIGKILLs it;
4. waits for the server to end the dead client's backend and checks the fingerprint is
   exactly the one before (nothing half-written);
5. runs the same import to completion and checks every venue is there.
The source ``bench-fault`` is deleted at the end. Exit status 0 when all holds.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from import_venues import _libpq, communes, database_url, generate_file  # noqa: E402

SOURCE = "bench-fault"
APPLICATION_NAME = f"passerelle-import:{SOURCE}"  # set by the importer's transaction
STEPS = {
    "copy": "COPY import_lieu",
    "geography": "UPDATE import_lieu t SET pip",
    "merge": "INSERT INTO lieu",
}


def fingerprint(connection) -> tuple:
    return connection.execute("""
        SELECT (SELECT count(*) FROM lieu),
               (SELECT md5(COALESCE(string_agg(md5(l::text), '' ORDER BY l.id), ''))
                FROM lieu l),
               (SELECT count(*) FROM acceptation),
               (SELECT md5(COALESCE(string_agg(md5(a::text), '' ORDER BY a.id), ''))
                FROM acceptation a)""").fetchone()


def command(path: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", "directory", "import",
            str(path), "--source", SOURCE, "--format", "standard-v1-csv"]


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--at", choices=sorted(STEPS), default="merge",
                        help="étape de l'import pendant laquelle le tuer")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    url = database_url()
    watcher = psycopg.connect(_libpq(url), autocommit=True)
    watcher.execute("DELETE FROM lieu WHERE source = %s", (SOURCE,))
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lieux.csv"
        generate_file(path, args.rows, communes(url), seed=7)
        print(f"Fichier : {args.rows} lieux")
        before = fingerprint(watcher)
        print(f"Catalogue avant : {before[0]} lieux, empreinte {before[1][:12]}…, "
              f"{before[2]} acceptations")

        started = time.perf_counter()
        process = subprocess.Popen(command(path), cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        pattern = STEPS[args.at]
        backend = None
        while time.perf_counter() - started < args.timeout:
            row = watcher.execute("""
                SELECT pid, left(regexp_replace(query, '\\s+', ' ', 'g'), 70),
                       now() - xact_start
                FROM pg_stat_activity
                WHERE application_name = %s AND datname = current_database()
                  AND state = 'active' AND query LIKE %s""",
                                  (APPLICATION_NAME, f"%{pattern}%")).fetchone()
            if row:
                backend = row
                process.send_signal(signal.SIGKILL)
                break
            if process.poll() is not None:
                break
            time.sleep(0.01)
        process.wait()
        if backend is None:
            print(f"ÉCHEC : l'import n'a pas été vu à l'étape « {args.at} » "
                  f"(code {process.returncode}) :\n{process.stdout.read()}")
            sys.exit(2)
        killed_at = time.perf_counter() - started
        print(f"SIGKILL à {killed_at:.1f} s, pendant « {backend[1]} » (transaction ouverte "
              f"depuis {backend[2].total_seconds():.1f} s, processus serveur {backend[0]})")

        # The server rolls the dead client's transaction back as soon as it notices it
        # (client_connection_check_interval, idle_in_transaction_session_timeout).
        gone_after = None
        wait_start = time.perf_counter()
        while time.perf_counter() - wait_start < 60:
            alive = watcher.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                    (backend[0],)).fetchone()
            if not alive:
                gone_after = time.perf_counter() - wait_start
                break
            time.sleep(0.05)
        if gone_after is None:
            print("ÉCHEC : le processus serveur de l'import tué est toujours là après 60 s")
            ok = False
        else:
            print(f"Transaction annulée par le serveur {gone_after:.1f} s après le SIGKILL")
        after = fingerprint(watcher)
        same = after == before
        print(f"Catalogue après : {after[0]} lieux, empreinte {after[1][:12]}…, "
              f"{after[2]} acceptations — " + ("IDENTIQUE" if same else "DIFFÉRENT"))
        ok = ok and same

        done = subprocess.run(command(path), cwd=ROOT, capture_output=True, text=True,
                              check=False)
        count = watcher.execute("SELECT count(*) FROM lieu WHERE source = %s",
                                (SOURCE,)).fetchone()[0]
        completed = done.returncode == 0 and count == args.rows
        last = [line for line in done.stdout.splitlines() if line.startswith("Lignes")]
        print(f"Import relancé : code {done.returncode}, {count} lieux de la source "
              f"{SOURCE} ({last[0] if last else done.stderr.strip()[-200:]})")
        ok = ok and completed
    removed = watcher.execute("DELETE FROM lieu WHERE source = %s", (SOURCE,)).rowcount
    print(f"Nettoyage : {removed} lieux supprimés")
    print("Résultat : " + ("catalogue intact après le SIGKILL, import repris"
                           if ok else "ÉCHEC"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
