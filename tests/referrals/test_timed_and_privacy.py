"""Timed work on a settable clock (reminder after 10 days, expiry after 30, anonymisation
after 730), a person's export and erasure by an administrator, the privacy notice, and
canaries that must never reach a log line, an error report or the journal."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

from sqlalchemy import select, text

from accounts.models import JournalEntry
from referrals.models import Referral
from tests.accounts.conftest import advance, csrf_token, post_form, sign_in
from tests.referrals.conftest import path_of, refer


def test_reminder_after_ten_days_then_expiry_after_thirty(app, runner, db_session, world,
                                                          clock, smtp):
    referral = refer(db_session, world, clock.now())
    advance(clock, days=10)
    from core.mail import mailer_from_config

    working = app.extensions["mailer"]
    app.extensions["mailer"] = mailer_from_config({**app.config, "PASSERELLE_SMTP_PORT": 9,
                                                   "PASSERELLE_SMTP_TIMEOUT_S": 2.0})
    try:  # the mail server is down: the reminder waits for the next tick
        assert "0 rappel(s)" in runner.invoke(args=["referrals", "tick"]).output
    finally:
        app.extensions["mailer"] = working
    db_session.refresh(referral)
    assert referral.reminded_at is None
    advance(clock, days=-1)
    assert "0 orientation(s) expirée(s), 0 rappel(s)" in runner.invoke(
        args=["referrals", "tick"]).output
    advance(clock, days=1)
    out = runner.invoke(args=["referrals", "tick"])
    assert out.exit_code == 0, out.output
    assert "0 orientation(s) expirée(s), 1 rappel(s) envoyé(s) aux lieux." in out.output
    [reminder] = smtp.to("gerant@mediatheque.fr")
    assert reminder["Subject"].startswith("Rappel : orientation " + referral.reference)
    assert "1 rappel(s)" not in runner.invoke(args=["referrals", "tick"]).output  # idempotent
    assert app.test_client().get(path_of(smtp.last_link("gerant@mediatheque.fr"))) \
        .status_code == 200
    advance(clock, days=20)
    out = runner.invoke(args=["referrals", "tick"])
    assert "1 orientation(s) expirée(s), 0 rappel(s)" in out.output
    db_session.refresh(referral)
    assert referral.state == "expired"
    [expired] = smtp.to("conseillere@ccas.fr")
    assert expired["Subject"] == f"Orientation {referral.reference} expirée"
    # The reminder's link (8 days) is now out of date.
    stale = app.test_client().get(path_of(smtp.last_link("gerant@mediatheque.fr")))
    assert stale.status_code == 410 and "expiré" in stale.get_data(as_text=True)
    assert "0 orientation(s) expirée(s)" in runner.invoke(args=["referrals", "tick"]).output


def test_anonymisation_after_730_days_on_a_frozen_clock(app, runner, db_session, world,
                                                        clock):
    old = refer(db_session, world, clock.now(), first_name="Ancienne", contact="0611111111")
    advance(clock, days=400)
    recent = refer(db_session, world, clock.now(), first_name="Récente", contact="0622222222",
                   seance=False)
    advance(clock, days=330)  # old is exactly 730 days old: kept until the limit is passed
    assert "0 orientation(s) anonymisée(s)." in runner.invoke(
        args=["referrals", "anonymise"]).output
    advance(clock, days=1)
    out = runner.invoke(args=["referrals", "anonymise"])
    assert "1 orientation(s) anonymisée(s)." in out.output, out.output
    assert "0 orientation(s)" in runner.invoke(args=["referrals", "anonymise"]).output
    db_session.refresh(old)
    db_session.refresh(recent)
    assert (old.first_name, old.contact_value, old.availability, old.note) == (
        None, None, None, None)
    assert old.state == "sent" and old.reference  # the figures keep their count
    assert recent.first_name == "Récente"
    left = db_session.scalar(text(
        "SELECT count(*) FROM orientation WHERE created_at < :limit AND (first_name IS NOT "
        "NULL OR contact_value IS NOT NULL OR availability IS NOT NULL OR note IS NOT NULL "
        "OR cardinality(pass_numbers) > 0)"),
        {"limit": clock.now() - dt.timedelta(days=730)})
    assert left == 0
    assert runner.invoke(args=["referrals", "anonymise", "--jours", "0"]).exit_code != 0


def test_administrator_exports_and_erases_a_persons_data(app, db_session, world, clock):
    mine = refer(db_session, world, clock.now(), first_name="Zoé", contact="0633333333")
    other = refer(db_session, world, clock.now(), first_name="Yann", contact="0644444444")
    admin = app.test_client()
    sign_in(admin, "admin@passerelle.fr")
    url = "/admin/orientations/personne"
    exported = post_form(admin, url, {"recherche": "0633333333", "action": "exporter"})
    data = json.loads(exported.get_data(as_text=True))["orientations"]
    assert [d["prenom_ou_initiales"] for d in data] == ["Zoé"]
    assert data[0]["consentement"]["version"] == "2026-12-v1"
    assert post_form(admin, url, {"recherche": "OR"}).status_code == 422
    found = post_form(admin, url, {"recherche": mine.reference}).get_data(as_text=True)
    assert "Zoé" in found and "Yann" not in found
    erased = post_form(admin, url, {"recherche": mine.reference, "action": "effacer"})
    assert erased.status_code == 302
    db_session.refresh(mine)
    db_session.refresh(other)
    assert mine.first_name is None and mine.contact_value is None
    assert other.first_name == "Yann"
    assert db_session.scalar(select(JournalEntry).where(
        JournalEntry.action == "données d'une personne effacées",
        JournalEntry.object_id == str(mine.id)))
    prescriber = app.test_client()
    sign_in(prescriber, "conseillere@ccas.fr")
    assert prescriber.get("/admin/orientations/personne").status_code == 403


def test_privacy_notice_says_what_why_and_how_long(app, client):
    page = client.get("/confidentialite/orientations").get_data(as_text=True)
    for text_ in ("Pourquoi", "Ce qui est gardé", "Combien de temps", "730 jours",
                  "30 jours", "8 jours", "inférieur à 5"):
        assert text_ in page, text_


def test_canaries_never_reach_the_logs_nor_the_journal(app, db_session, world, clock, smtp,
                                                       job_worker, caplog, capfd):
    """Unique names and contacts go through every path (form with errors, e-mails, link,
    refusals, a mail failure, tick, export, erasure); no log line (this process's and the
    worker's, which sends the pages' e-mails), error report nor journal row contains
    them."""
    caplog.set_level(logging.DEBUG)
    canaries = [f"Canari{uuid.uuid4().hex[:10]}" for _ in range(3)]
    phone = "07" + uuid.uuid4().int.__str__()[:8]
    mail_canary = f"{uuid.uuid4().hex[:12]}@canari.fr"
    prescriber = app.test_client()
    sign_in(prescriber, "conseillere@ccas.fr")
    url = f"/orienter/orientation?lieu={world.venue.id}"
    form = {"prenom": canaries[0], "contact": "telephone", "coordonnee": phone,
            "disponibilites": canaries[1], "note": canaries[2], "cheques": "1",
            "programme": world.programme.id, "consentement": "oui"}
    assert post_form(prescriber, url, {**form, "consentement": ""}).status_code == 422
    assert post_form(prescriber, url, {**form, "coordonnee": "12"}).status_code == 422
    assert post_form(prescriber, url, form).status_code == 302
    assert post_form(prescriber, url, {**form, "contact": "courriel",
                                       "coordonnee": mail_canary}).status_code == 302
    links = [path_of(re.search(r"https?://\S+", m.get_body(("plain",)).get_content())
                     .group(0)) for m in smtp.to("gerant@mediatheque.fr")]
    venue = app.test_client()
    page = venue.get(links[0]).get_data(as_text=True)
    assert canaries[0] in page  # the venue does read it
    venue.post(links[0], data={"action": "refuser", "motif": "nope",
                               "csrf_token": csrf_token(venue, links[0])})
    venue.post(links[0], data={"action": "refuser", "motif": "other",
                               "precision": canaries[1],
                               "csrf_token": csrf_token(venue, links[0])})
    venue.post(links[0], data={"action": "accepter"})  # no CSRF token: refused
    venue.post(links[1], data={"action": "accepter", "csrf_token":
                               csrf_token(venue, links[1])})
    assert len(smtp.to("conseillere@ccas.fr")) == 2  # refused, accepted (by the worker)
    assert post_form(prescriber, url, form).status_code == 302  # left unanswered
    admin = app.test_client()
    sign_in(admin, "admin@passerelle.fr")
    post_form(admin, "/admin/orientations/personne", {"recherche": mail_canary,
                                                      "action": "exporter"})
    runner = app.test_cli_runner()
    advance(clock, days=11)
    # A mail failure (the tick's reminders, sent directly) is logged (its kind only).
    from core.mail import mailer_from_config

    working = app.extensions["mailer"]
    app.extensions["mailer"] = mailer_from_config({**app.config, "PASSERELLE_SMTP_PORT": 9,
                                                   "PASSERELLE_SMTP_TIMEOUT_S": 2.0})
    try:
        runner.invoke(args=["referrals", "tick"])
    finally:
        app.extensions["mailer"] = working
    advance(clock, days=800)
    runner.invoke(args=["referrals", "anonymise"])

    assert any("courriel d'orientation non envoyé" in r.getMessage() for r in caplog.records)
    captured = capfd.readouterr()
    logged = "\n".join([caplog.text, captured.out, captured.err, job_worker.printed()] +
                       [r.getMessage() for r in caplog.records] +
                       [str(r.args) for r in caplog.records])
    journal_text = json.dumps([[e.action, e.object_id, e.before, e.after] for e in
                               db_session.scalars(select(JournalEntry))], ensure_ascii=False)
    for canary in [*canaries, phone, mail_canary]:
        assert canary not in logged, f"{canary} dans les journaux"
        assert canary not in journal_text, f"{canary} dans le journal d'audit"
    assert db_session.scalar(select(Referral).where(Referral.first_name == canaries[0])) \
        is None  # anonymised at the end
