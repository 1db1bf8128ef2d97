"""E-mail through a real SMTP server (French, plain text and HTML), the administrator's
invitation page, and the reminder to confirm a venue's data after N months."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accounts.models import JournalEntry, Person
from core.errors import ConfigurationError, ServiceUnavailable
from core.mail import Mail, mailer_from_config
from directory.models import Venue
from extensions import db
from tests import conftest as cat
from tests.accounts.conftest import advance, make_person, post_form, sign_in
from tests.conftest import make_venue
from tests.core.job_worker import wait_for


def test_smtp_mail_is_french_plain_text_and_html(app, smtp):
    app.extensions["mailer"].send(Mail(to="a@exemple.fr", subject="Évènement à venir",
                                       text="Bonjour, à bientôt.",
                                       html="<p>Bonjour, à bientôt.</p>"))
    [message] = smtp.to("a@exemple.fr")
    assert message["Subject"] == "Évènement à venir"
    assert message["Content-Language"] == "fr"
    assert message["From"] == app.config["PASSERELLE_MAIL_SENDER"]
    assert message.get_body(("plain",)).get_content().strip() == "Bonjour, à bientôt."
    assert "<p>Bonjour, à bientôt.</p>" in message.get_body(("html",)).get_content()


def test_mail_settings_and_failures_are_reported_in_french(app):
    with pytest.raises(ConfigurationError, match="PASSERELLE_SMTP_TLS"):
        mailer_from_config({**app.config, "PASSERELLE_SMTP_TLS": "oui"})
    closed = mailer_from_config({**app.config, "PASSERELLE_SMTP_PORT": 9,
                                 "PASSERELLE_SMTP_TIMEOUT_S": 2.0})
    with pytest.raises(ServiceUnavailable, match="n'a pas pu être envoyé"):
        closed.send(Mail("a@exemple.fr", "x", "x", "<p>x</p>"))


def test_administrator_invites_from_the_page(app, client, db_session, clock, smtp):
    make_person(db_session, "admin@passerelle.fr", ("administrator", ""))
    programme = cat.programme(db_session, "pass-invite", "Pass invité")
    sign_in(client, "admin@passerelle.fr")
    bad = post_form(client, "/admin/invitations", {"email": "financeur@region.fr",
                                                   "role": "programme_manager",
                                                   "portee": "pas-un-programme"})
    assert bad.status_code == 422
    assert "Programme « pas-un-programme » introuvable." in bad.get_data(as_text=True)
    done = post_form(client, "/admin/invitations", {"email": "Financeur@Region.fr",
                                                    "role": "programme_manager",
                                                    "portee": programme.code})
    assert done.status_code == 302
    [mail] = smtp.to("financeur@region.fr")
    assert "gestionnaire de programme" in mail.get_body(("plain",)).get_content()


def test_reminder_after_n_months_then_not_again_for_a_month(app, runner, db_session, clock,
                                                            smtp):
    old = cat.venue(db_session, -0.57, 44.84, nom="Lieu oublié")
    fresh = cat.venue(db_session, -0.56, 44.84, nom="Lieu suivi")
    for lieu in (old, fresh):
        lieu.created_at = clock.now() - dt.timedelta(days=400)
    fresh.confirmed_at = clock.now() - dt.timedelta(days=30)
    make_person(db_session, "oublie@lieu.fr", ("venue_manager", str(old.id)))
    make_person(db_session, "suivi@lieu.fr", ("venue_manager", str(fresh.id)))
    db_session.flush()

    result = runner.invoke(args=["accounts", "remind"])
    assert result.exit_code == 0, result.output
    assert "1 lieu(x) à confirmer (plus de 6 mois), 1 rappel(s) envoyé(s)." in result.output
    [mail] = smtp.to("oublie@lieu.fr")
    assert "Lieu oublié" in mail["Subject"]
    assert f"/espace/lieux/{old.id}" in mail.get_body(("plain",)).get_content()
    assert smtp.to("suivi@lieu.fr") == []
    again = runner.invoke(args=["accounts", "remind"])
    assert "0 lieu(x) à confirmer" in again.output
    advance(clock, days=31)
    assert "1 lieu(x) à confirmer" in runner.invoke(args=["accounts", "remind"]).output
    assert runner.invoke(args=["accounts", "remind", "--months", "0"]).exit_code != 0
    assert db_session.scalar(select(JournalEntry).where(
        JournalEntry.action == "rappel de confirmation envoyé",
        JournalEntry.lieu_id == old.id))


@pytest.mark.worker_env(PASSERELLE_SCHEDULER="1", PASSERELLE_CONFIRM_REMIND_EVERY_S="2",
                        PASSERELLE_REFERRAL_TICK_EVERY_S="0",
                        PASSERELLE_REFERRAL_ANONYMISE_EVERY_S="0")
def test_the_worker_sends_the_reminders_by_itself_without_cron(app, smtp, job_worker):
    # Committed (the worker is a real subprocess) and old by the real clock it reads.
    email = f"rappel-{uuid.uuid4().hex[:8]}@lieu.fr"
    with app.app_context(), Session(db.engine) as session:
        venue = make_venue(session, nom="Lieu sans nouvelles", source="rappel",
                           source_id=uuid.uuid4().hex)
        venue.created_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        make_person(session, email, ("venue_manager", str(venue.id)))
        session.commit()
        venue_id = venue.id
    try:
        # Nobody runs the command: the worker's scheduler enqueues the reminders.
        wait_for(lambda: smtp.to(email), timeout=30, what="le rappel envoyé par le worker")
        [mail] = smtp.to(email)
        assert mail["Subject"] == "Les informations de « Lieu sans nouvelles » sont-elles à jour ?"
        assert f"/espace/lieux/{venue_id}" in mail.get_body(("plain",)).get_content()
    finally:
        with app.app_context(), Session(db.engine) as session:
            session.execute(delete(Person).where(Person.email == email))
            session.execute(delete(Venue).where(Venue.id == venue_id))
            session.commit()
