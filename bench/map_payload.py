"""Benchmark: what the coverage map (/carte) actually loads, measured in Chromium.

    .venv/bin/python bench/map_payload.py [--programme CODE] [--within fr] [--views 12]
                                          [--seed 1] [--replay 5] [--server gunicorn|thread]

Serves the application on 127.0.0.1 over the local ``passerelle`` database (or
DATABASE_URL) — with gunicorn as ``make run`` does (gunicorn.conf.py), or with
``--server thread`` in a thread of this process (werkzeug) — opens /carte in
the Debian Chromium through Playwright — a fresh browser context (empty cache) for every
view, a 1400 × 900 window — and prints:

1. the national view (``#6/46.6/2.4``: France, département level): every request with the
   bytes that crossed the wire, split into the view's data (API), the page and the static
   assets (Leaflet, markercluster, our JS/CSS); target: the view's data ≤ 300 KB;
2. for zoom 6 to 10, over ``--views`` centres drawn (seeded) among the communes of
   metropolitan France: each request of the view's territories (asked at the view's zoom:
   one for départements, one per view or band for EPCI and communes) as the browser saw it
   (request sent → last byte), p50 / p95 / max, the time until the view's last territory
   byte (the full view; target at zoom 7–10: p95 ≤ 150 ms), the requests and bytes per
   view (territories, venues), and apart the ranked list beside the map (asked once the
   view is drawn). The browser is watched, not intercepted: a request to another host
   stops the script;
3. the same territory URLs replayed ``--replay`` times by a plain HTTP client (server time
   without the browser), once cold (the process's answer caches emptied) then warm, p50 / p95;
   target: cold p95 ≤ 50 ms per request (tile or view).

Needs a coverage run for the selection: the national one of bench/coverage_refresh.py
(programme ``bench-national``, 20,000 venues — the default when it exists), or
``flask --app app coverage refresh --within fr``. bench/coverage_refresh.py measures the API
through the test client; this script measures the map as a user's browser loads it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_PAYLOAD_KB = 300.0
TARGET_P95_MS = 50.0          # one request (tile or view), server side
TARGET_VIEW_P95_MS = 150.0    # a full view at zoom 7–10, as the browser sees it
NATIONAL_VIEW = (6, 46.6, 2.4)
ZOOMS = (6, 7, 8, 9, 10)
VIEW_TARGET_ZOOMS = (7, 8, 9, 10)
VIEWPORT = {"width": 1400, "height": 900}
# Our map alone: the basemap's tiles come from IGN's servers (unreachable here), in parallel.
NO_BASEMAP = {"PASSERELLE_BASEMAP_URL": ""}
# Metropolitan France (overseas territories have their own views).
METROPOLE = (-5.5, 41.3, 9.7, 51.2)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def kind_of(url: str) -> str:
    path = urlsplit(url).path
    if path.startswith("/api/v1/coverage/") and path.rsplit("/", 1)[1] in (
            "region", "departement", "epci", "commune"):
        return "territoires"
    if path.startswith("/api/v1/venues"):
        return "lieux"
    if path.startswith("/api/"):
        return "api (autres)"
    if path.startswith("/static/"):
        return "statique"
    return "page"


def serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


def serve_gunicorn():
    """gunicorn as ``make run`` starts it (gunicorn.conf.py: workers sized to the machine),
    on a free port, its access log silenced; returns (process, base URL)."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py",
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--access-logfile", "/dev/null",
         "wsgi:app"], cwd=ROOT, stdout=subprocess.DEVNULL,
        env={**os.environ, **NO_BASEMAP})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/sante", timeout=2):
                return process, base
        except urllib.error.HTTPError:  # 503 without the queue's worker: the server answers
            return process, base
        except OSError:
            time.sleep(0.3)
    process.terminate()
    sys.exit("gunicorn n'a pas démarré en 60 s.")


def stop(server) -> None:
    """Stop what :func:`serve` (a werkzeug server) or :func:`serve_gunicorn` (a process)
    started."""
    if hasattr(server, "shutdown"):
        server.shutdown()
    else:
        server.terminate()
        server.wait(timeout=30)


def default_selection(app, programme: str | None, within: str) -> tuple[str, str]:
    from sqlalchemy import text

    from extensions import db

    with app.app_context():
        if programme is None:
            found = db.session.execute(text(
                "SELECT 1 FROM coverage_run WHERE programme_code = 'bench-national' "
                "AND within = :w LIMIT 1"), {"w": within}).scalar()
            programme = "bench-national" if found else ""
        run = db.session.execute(text(
            "SELECT id FROM coverage_run WHERE coalesce(programme_code, '') = :p "
            "AND within = :w ORDER BY created_at DESC LIMIT 1"),
            {"p": programme, "w": within}).scalar()
        if run is None:
            sys.exit(f"Aucun calcul de couverture pour programme={programme or '(tous)'} "
                     f"within={within} : lancez bench/coverage_refresh.py ou "
                     f"flask --app app coverage refresh --within {within}.")
    return programme, within


def centres(app, count: int, seed: int) -> list[tuple[float, float]]:
    from sqlalchemy import text

    from extensions import db

    with app.app_context():
        rows = db.session.execute(text(
            "SELECT ST_Y(point), ST_X(point) FROM commune WHERE point IS NOT NULL "
            "AND ST_X(point) BETWEEN :x0 AND :x1 AND ST_Y(point) BETWEEN :y0 AND :y1 "
            "ORDER BY code"), dict(zip(("x0", "y0", "x1", "y1"), METROPOLE, strict=True))).all()
    return random.Random(seed).sample([(lat, lon) for lat, lon in rows], count)


def load_view(browser, base: str, query: str, zoom: int, lat: float, lon: float) -> list[dict]:
    """Open the map on one view with an empty cache; every finished request's figures."""
    context = browser.new_context(viewport=VIEWPORT, locale="fr-FR")
    page = context.new_page()
    finished: list = []
    sent: list[str] = []
    page.on("requestfinished", lambda request: finished.append(request))
    # Nothing may leave the machine (no basemap is configured). Watched, not intercepted:
    # routing every request through this process (Playwright's ``route``) held each one
    # back 20–40 ms on this 2-core machine, a delay no user's browser has.
    page.on("request", lambda request: sent.append(request.url))
    page.goto(f"{base}/carte{query}#{zoom}/{lat:.4f}/{lon:.4f}")
    page.wait_for_load_state("networkidle")
    foreign = sorted({u for u in sent if urlsplit(u).netloc != urlsplit(base).netloc})
    if foreign:
        sys.exit(f"La carte a demandé un autre hôte : {', '.join(foreign)}")
    status = page.inner_text("#carte-statut")
    records = []
    for request in finished:
        sizes = request.sizes()
        timing = request.timing
        response = request.response()
        records.append({
            "url": request.url, "kind": kind_of(request.url),
            "status": response.status if response else 0,
            "bytes": sizes["responseBodySize"] + sizes["responseHeadersSize"],
            "body": sizes["responseBodySize"],
            "ms": timing["responseEnd"] - timing["requestStart"]
            if timing["responseEnd"] > 0 else float("nan"),
            "start": timing["startTime"] + max(timing["requestStart"], 0),
            "end": timing["startTime"] + timing["responseEnd"],
        })
    context.close()
    records.append({"url": "", "kind": "statut", "bytes": 0, "body": 0, "ms": 0,
                    "status": status})  # the page's status line, popped by the caller
    return records


def replay(urls: list[str], times: int) -> list[float]:
    """Durations in ms of ``times`` GETs of each URL (errors, e.g. 422, are timed too)."""
    durations = []
    for url in urls:
        for _ in range(times):
            request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                error.read()
            durations.append((time.perf_counter() - started) * 1000)
    return durations


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} Ko".replace(",", " ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programme", default=None,
                        help="code du programme (défaut : bench-national s'il a un calcul)")
    parser.add_argument("--within", default="fr")
    parser.add_argument("--views", type=int, default=12, help="vues par niveau de zoom")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replay", type=int, default=5)
    parser.add_argument("--zooms", default=",".join(map(str, ZOOMS)),
                        help="zooms des vues, séparés par des virgules (6,7,8,9,10)")
    parser.add_argument("--server", choices=("gunicorn", "thread"), default="gunicorn",
                        help="serveur : gunicorn comme make run (défaut) ou un fil de ce "
                             "processus (werkzeug)")
    args = parser.parse_args()
    try:
        zooms = [int(z) for z in args.zooms.split(",")]
    except ValueError:
        parser.error("--zooms : des entiers séparés par des virgules, par exemple 7,9")

    from playwright.sync_api import sync_playwright

    from app import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app(dict(NO_BASEMAP))
    programme, within = default_selection(app, args.programme, args.within)
    query = "?" + "&".join(f"{k}={quote(v)}" for k, v in
                           (("programme", programme), ("within", within)) if v)
    points = centres(app, args.views, args.seed)
    if args.server == "gunicorn":
        server, base = serve_gunicorn()
    else:
        server, base = serve(app)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    print(f"Sélection : programme={programme or '(tous les lieux)'} within={within} ; "
          f"serveur {args.server} {base} ; Chromium {chromium} ; fenêtre {VIEWPORT['width']} × "
          f"{VIEWPORT['height']}.")
    ok = True
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            # Warm-up (first connection, Python imports, PostgreSQL caches).
            load_view(browser, base, query, *NATIONAL_VIEW)

            print("\n1. Vue nationale (#6/46.6/2.4) : octets transférés (en-têtes compris)")
            records = load_view(browser, base, query, *NATIONAL_VIEW)
            status = records.pop()["status"]
            totals: dict[str, int] = {}
            for record in records:
                totals[record["kind"]] = totals.get(record["kind"], 0) + record["bytes"]
                parts = urlsplit(record["url"])
                shown = parts.path + (f"?{parts.query}" if parts.query else "")
                print(f"   {kb(record['bytes']):>10}  {record['ms']:7.1f} ms  "
                      f"{record['status']}  {shown}")
            data = sum(v for k, v in totals.items() if k in ("territoires", "lieux",
                                                            "api (autres)"))
            print(f"   statut de la page : {status}")
            for kind, total in sorted(totals.items()):
                print(f"   {kind:<14} {kb(total):>10}")
            print(f"   données de la vue (API) : {kb(data)} — cible ≤ {TARGET_PAYLOAD_KB:.0f} Ko "
                  f"({data / 1000 / TARGET_PAYLOAD_KB:.2f} × la cible) ; "
                  f"tout compris : {kb(sum(totals.values()))}")
            ok &= data / 1000 <= TARGET_PAYLOAD_KB

            print(f"\n2. Vues par zoom ({args.views} centres tirés parmi les communes, "
                  f"graine {args.seed}) : requêtes des territoires vues par le navigateur")
            replay_urls: dict[int, list[str]] = {}
            for zoom in zooms:
                times, views, counts, levels, errors, ranking_ms = [], [], [], set(), 0, []
                terr_bytes, venue_bytes = [], []
                replay_urls[zoom] = []
                for lat, lon in points:
                    records = load_view(browser, base, query, zoom, lat, lon)
                    records.pop()
                    # The view's territories are asked at its zoom; the ranked list beside
                    # the map (coarser shapes, asked once the view is drawn) is apart.
                    territory = [r for r in records if r["kind"] == "territoires"
                                 and parse_qs(urlsplit(r["url"]).query).get("zoom") == [str(zoom)]]
                    ranking = [r for r in records if r["kind"] == "territoires"
                               and r not in territory]
                    ranking_ms.extend(r["ms"] for r in ranking)
                    for r in territory:
                        levels.add(urlsplit(r["url"]).path.rsplit("/", 1)[1])
                        errors += r["status"] != 200
                        times.append(r["ms"])
                        replay_urls[zoom].append(r["url"])
                    if territory:
                        views.append(max(r["end"] for r in territory)
                                     - min(r["start"] for r in territory))
                    counts.append(len(territory))
                    terr_bytes.append(sum(r["bytes"] for r in territory))
                    venue_bytes.append(sum(r["bytes"] for r in records if r["kind"] == "lieux"))
                p95 = percentile(times, 0.95)
                print(f"   zoom {zoom:>2} ({', '.join(sorted(levels))}) : {len(times)} requêtes, "
                      f"p50 {statistics.median(times):6.1f} ms, p95 {p95:6.1f} ms, "
                      f"max {max(times):6.1f} ms"
                      + (f" ; {errors} réponse(s) en erreur" if errors else ""))
                print(f"           par vue : {statistics.median(counts):.0f} requête(s), "
                      f"complète en {statistics.median(views):6.1f} ms (médiane), "
                      f"{percentile(views, 0.95):6.1f} ms (p95) ; territoires "
                      f"{kb(statistics.median(terr_bytes))} (médiane), {kb(max(terr_bytes))} "
                      f"(max) ; lieux {kb(statistics.median(venue_bytes))} (médiane), "
                      f"{kb(max(venue_bytes))} (max)")
                if ranking_ms:
                    print(f"           liste « les moins bien desservis » (après la vue) : "
                          f"p50 {statistics.median(ranking_ms):6.1f} ms, p95 "
                          f"{percentile(ranking_ms, 0.95):6.1f} ms")
                if zoom in VIEW_TARGET_ZOOMS:
                    view_p95 = percentile(views, 0.95)
                    print(f"           vue complète (navigateur) p95 {view_p95:6.1f} ms — cible "
                          f"≤ {TARGET_VIEW_P95_MS:.0f} ms ({view_p95 / TARGET_VIEW_P95_MS:.2f} × "
                          "la cible)")
                    ok &= view_p95 <= TARGET_VIEW_P95_MS
                ok &= errors == 0
            browser.close()

        print("\n3. Mêmes URL rejouées une à une par un client HTTP simple (sans navigateur) : "
              "une fois à froid (caches de réponses du processus vidés), puis "
              f"{args.replay} fois à chaud")
        from coverage.map_api import reset_caches

        # Replayed on a server in this process, whose caches can be emptied (gunicorn's
        # workers keep theirs): "cold" is cold whatever served the browser.
        if args.server == "gunicorn":
            stop(server)
            server, local = serve(app)
            replay_urls = {zoom: [local + u[len(base):] for u in urls]
                           for zoom, urls in replay_urls.items()}
        reset_caches(app)
        for zoom, urls in replay_urls.items():
            cold = replay(urls, 1)
            warm = replay(urls, args.replay)
            cold_p95 = percentile(cold, 0.95)
            print(f"   zoom {zoom:>2} : à froid p50 {statistics.median(cold):6.1f} ms, "
                  f"p95 {cold_p95:6.1f} ms — p95/cible {cold_p95 / TARGET_P95_MS:.2f} ; à chaud "
                  f"p50 {statistics.median(warm):6.1f} ms, p95 {percentile(warm, 0.95):6.1f} ms "
                  f"({len(urls)} URL)")
            ok &= cold_p95 <= TARGET_P95_MS
    finally:
        stop(server)
    print("\nCibles atteintes." if ok else "\nAu moins une cible n'est pas atteinte.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
