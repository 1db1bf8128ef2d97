"""Benchmark of referrals: creation latency (p50/p95) through the web form (CSRF, checks,
insert, journal, signed link, the venue's e-mail rendered and put in the job queue)
against a bare INSERT of the same row; e-mail throughput of the background worker (RQ,
burst mode, sending the queued messages to a real SMTP server on 127.0.0.1): the first
messages (half, at most 100) by RQ's forking worker as before (one process and one SMTP
connection per message: the baseline), the others by ``jobs.start_worker`` (the quick
queue's worker, no fork, one connection per burst); and of the timed work
(``referrals tick`` sending reminders) against raw ``smtplib`` sends of the same number of
messages.

    .venv/bin/python bench/referrals.py            # 300 creations, 300 reminders
    .venv/bin/python bench/referrals.py -n 1000

Runs in a dedicated database (``passerelle_bench_referrals``, created, migrated, dropped at
the end unless ``--keep``). Figures are ratios to a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import smtplib
import socket
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "passerelle_bench_referrals"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))]


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Banc d'essai des orientations.")
    parser.add_argument("-n", type=int, default=300, help="orientations et rappels (300)")
    parser.add_argument("--keep", action="store_true", help="garder la base à la fin")
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error("-n doit valoir au moins 10.")

    from aiosmtpd.controller import Controller
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from accounts import services as account_services
    from accounts.credentials import hash_password
    from accounts.models import Person
    from app import create_app
    from core import jobs
    from core.clock import FrozenClock
    from core.config import local_database_url
    from core.database import create_database, drop_database
    from core.mail import mailer_from_config
    from directory.models import Offer
    from extensions import db
    from referrals.commands import run_tick
    from referrals.models import Referral
    from tests.conftest import make_venue

    url = local_database_url(BENCH_DB)
    print(f"Base du banc d'essai : {BENCH_DB} (créée, migrée).")
    create_database(url)
    counter = Counter()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(counter, hostname="127.0.0.1", port=port)
    smtp.start()
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    clock = FrozenClock(start)
    namespace = f"passerelle-bench-{os.getpid()}"  # its own queue in Redis, emptied at the end
    app = None
    try:
        app = create_app({"DATABASE_URL": url, "TESTING": True, "PASSERELLE_LOCAL_DB": False,
                          "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": port,
                          "PASSERELLE_LOG_LEVEL": "WARNING",
                          "PASSERELLE_JOBS_NAMESPACE": namespace}, clock=clock)
        app.extensions["mailer"] = mailer_from_config(app.config)
        with app.app_context():
            upgrade()
            venue = make_venue(db.session, nom="Lieu du banc", source="bench")
            password = "une phrase de passe du banc"
            person = Person(email="banc@ccas.fr", password_hash=hash_password(password),
                            active=True)
            manager = Person(email="gerant@banc.fr", active=True)
            db.session.add_all([person, manager,
                                Offer(lieu_id=venue.id, code="o", title="Atelier",
                                      service="Aide aux démarches administratives",
                                      format="individual")])
            db.session.flush()
            account_services.grant(db.session, person, "prescriber", "CCAS du banc")
            account_services.grant(db.session, manager, "venue_manager", str(venue.id))
            db.session.commit()
            venue_id, person_id = venue.id, person.id

        client = app.test_client()
        login = client.get("/connexion").get_data(as_text=True)
        client.post("/connexion", data={"email": "banc@ccas.fr", "password": password,
                                        "csrf_token": CSRF.search(login).group(1)})
        form_url = f"/orienter/orientation?lieu={venue_id}"
        token = CSRF.search(client.get(form_url).get_data(as_text=True)).group(1)
        web_ms = []
        for n in range(args.n):
            t0 = time.perf_counter()
            response = client.post(form_url, data={
                "prenom": f"P{n}", "contact": "telephone", "coordonnee": "0612345678",
                "disponibilites": "mardi", "cheques": "0", "consentement": "oui",
                "csrf_token": token})
            web_ms.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 302:
                print(f"Échec de création : {response.status_code}", file=sys.stderr)
                return 1
        mails_at_creation = counter.count  # none: the page only queues the message
        mail_queue = jobs.queue(app, quick=True)
        queued = mail_queue.count
        # Baseline: the forking worker (a process per job, a connection per message).
        fork_jobs = min(queued // 2, 100)
        jobs._worker_app = app  # what start_worker does for its work horses
        t0 = time.perf_counter()
        jobs.PasserelleWorker([mail_queue], connection=jobs.connection(app)).work(
            burst=True, max_jobs=fork_jobs, logging_level="WARNING")
        fork_s = time.perf_counter() - t0
        fork_mails = counter.count - mails_at_creation
        t0 = time.perf_counter()
        jobs.start_worker(app, burst=True)  # the real worker, as « flask jobs worker »
        worker_s = time.perf_counter() - t0
        worker_mails = counter.count - mails_at_creation - fork_mails
        if mail_queue.count or worker_mails + fork_mails != queued:
            print(f"Courriels perdus : {queued} en file, {fork_mails + worker_mails} reçus.",
                  file=sys.stderr)
            return 1

        with app.app_context():
            base_ms = []
            for n in range(args.n):
                t0 = time.perf_counter()
                db.session.execute(insert(Referral).values(
                    reference=f"BN-{n:06d}", created_at=start, prescriber_id=person_id,
                    structure="CCAS du banc", lieu_id=venue_id, first_name="x",
                    contact_kind="prescripteur", consent_at=start, consent_version="v",
                    state="accepted", state_at=start))
                db.session.commit()
                base_ms.append((time.perf_counter() - t0) * 1000)

        # Reminders: every referral sent by the form is now due (10 days).
        clock.set(start + dt.timedelta(days=10, minutes=1))
        before = counter.count
        with app.app_context():
            t0 = time.perf_counter()
            report = run_tick(app)
            tick_s = time.perf_counter() - t0
        tick_mails = counter.count - before

        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = ("a@b.fr", "gerant@banc.fr",
                                                              "Rappel")
        message.set_content("Bonjour\n" * 10)
        t0 = time.perf_counter()
        for _ in range(tick_mails):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as raw:
                raw.send_message(message)
        raw_s = time.perf_counter() - t0
    finally:
        smtp.stop()
        if app is not None:
            conn = jobs.connection(app)
            for key in conn.scan_iter(match=f"*{namespace}*", count=1000):
                conn.delete(key)
        if args.keep:
            print(f"Base {BENCH_DB} conservée (--keep).")
        else:
            drop_database(url)
            print(f"Base {BENCH_DB} supprimée.")

    p50, p95 = percentile(web_ms, 50), percentile(web_ms, 95)
    b50, b95 = percentile(base_ms, 50), percentile(base_ms, 95)
    print(f"Création d'une orientation par le formulaire ({args.n} fois, courriel au lieu "
          f"rédigé et mis en file : {queued} tâche(s), {mails_at_creation} envoi(s) pendant "
          f"les requêtes) : p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"moyenne {statistics.mean(web_ms):.1f} ms")
    print(f"Référence, INSERT seul de la même ligne : p50 {b50:.2f} ms, p95 {b95:.2f} ms ; "
          f"rapport p95 : × {p95 / b95:.1f}")
    print(f"Rappels de « referrals tick » : {len(report.reminded)} orientation(s), "
          f"{tick_mails} courriel(s) en {tick_s:.2f} s, soit {tick_mails / tick_s:.0f} "
          f"courriels/s")
    worker_rate, fork_rate = worker_mails / worker_s, fork_mails / fork_s
    raw_rate = tick_mails / raw_s
    print(f"Processus de fond, file rapide (sans fork, une connexion SMTP par rafale) : "
          f"{worker_mails} courriel(s) de la file en {worker_s:.2f} s, soit "
          f"{worker_rate:.0f} courriels/s ; × {worker_rate / fork_rate:.1f} de la référence "
          f"ci-dessous, × {worker_rate / raw_rate:.2f} du débit brut")
    print(f"Référence, worker RQ qui forke (un processus et une connexion par courriel) : "
          f"{fork_mails} courriel(s) en {fork_s:.2f} s, soit {fork_rate:.1f} courriels/s")
    print(f"Référence, smtplib seul ({tick_mails} envois, une connexion chacun) : "
          f"{raw_rate:.0f} "
          f"courriels/s ; rapport : × {raw_s / tick_s:.2f} du débit brut")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
