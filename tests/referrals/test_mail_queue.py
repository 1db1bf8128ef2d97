"""E-mails leave the request path: a page renders the message and puts it in the job
queue; the real worker subprocess sends it to the real SMTP server, once per event even
when asked twice or run again."""

from __future__ import annotations

import datetime as dt

from rq.job import JobStatus

from core import jobs
from core.mail import mailer_from_config, send_later
from tests.accounts.conftest import make_person, post_form, sign_in
from tests.core.job_worker import wait_for

FORM = {"prenom": "Awa", "contact": "telephone", "coordonnee": "06 12 34 56 78",
        "cheques": "0", "consentement": "oui"}


def _smtp_down_in_this_process(app):
    """Any e-mail sent from the request itself would fail: the in-process mailer points
    at a closed port (the worker keeps its own, working, configuration)."""
    return mailer_from_config({**app.config, "PASSERELLE_SMTP_PORT": 9,
                               "PASSERELLE_SMTP_TIMEOUT_S": 2.0})


def test_referral_mail_waits_in_the_queue_then_the_worker_sends_it(
        app, db_session, world, clock, smtp, no_job_worker):
    app.extensions["mailer"] = _smtp_down_in_this_process(app)
    prescriber = app.test_client()
    sign_in(prescriber, "conseillere@ccas.fr")
    url = f"/orienter/orientation?lieu={world.venue.id}"
    sent = post_form(prescriber, url, FORM)
    assert sent.status_code == 302, sent.get_data(as_text=True)[:600]
    follow = prescriber.get(sent.headers["Location"]).get_data(as_text=True)
    assert "n'a pas pu être envoyé" not in follow
    [pending] = smtp.pending_mail_jobs()  # no worker yet: the message waits, unsent
    assert smtp.messages == []
    [mail] = smtp.to("gerant@mediatheque.fr")  # reading starts a worker: it sends
    assert mail["Subject"].startswith("Nouvelle orientation OR-")
    assert jobs.get(pending).get_status() == JobStatus.FINISHED


def test_sign_in_link_is_sent_by_the_worker(app, client, db_session, clock, smtp):
    make_person(db_session, "gestion@lieu.fr")
    app.extensions["mailer"] = _smtp_down_in_this_process(app)
    page = post_form(client, "/connexion/lien", {"email": "gestion@lieu.fr"})
    assert page.status_code == 200
    [message] = smtp.to("gestion@lieu.fr")
    assert "/connexion/lien/" in smtp.last_link("gestion@lieu.fr")
    assert message["Subject"] == "Votre lien de connexion à Passerelle"


def test_the_same_event_is_sent_once_even_when_its_job_runs_again(app, smtp, job_worker):
    with app.test_request_context():
        first = send_later("une@adresse.fr", "Invitation à Passerelle", "invitation",
                           key="evenement-1", link="http://127.0.0.1:5000/invitation/x",
                           roles=["prescripteur"], days=7)
        again = send_later("une@adresse.fr", "Invitation à Passerelle", "invitation",
                           key="evenement-1", link="http://127.0.0.1:5000/invitation/x",
                           roles=["prescripteur"], days=7)
        other = send_later("autre@adresse.fr", "Invitation à Passerelle", "invitation",
                           key="evenement-1", link="http://127.0.0.1:5000/invitation/y",
                           roles=["prescripteur"], days=7)
        assert first == again and other != first  # one job per event and recipient
        assert len(smtp.to("une@adresse.fr")) == 1
        job = jobs.get(first)
        assert job.return_value() == {"envoye": True}
        # The worker died after sending, before recording the end: the job runs again.
        jobs.queue(app).enqueue_job(job)
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED
                 and job.return_value(refresh=True) != {"envoye": True},
                 timeout=30, what="la seconde exécution de la tâche")
        assert job.return_value() == {"envoye": False, "motif": "déjà envoyé"}
    assert len(smtp.to("une@adresse.fr")) == 1 and len(smtp.to("autre@adresse.fr")) == 1


def test_periodic_jobs_are_enqueued_once_per_period_whoever_asks(app, no_job_worker):
    moment = dt.datetime(2001, 3, 4, 10, 20, tzinfo=dt.UTC)  # far from the real clock
    half_hour, hour = dt.timedelta(minutes=30), dt.timedelta(hours=1)
    enqueued = []
    with app.app_context():
        try:
            enqueued += jobs.enqueue_due(app, moment)  # one worker's scheduler
            assert sorted(j.meta["kind"] for j in enqueued) == [
                "accounts.remind", "referrals.anonymise", "referrals.tick"]  # daily, daily, hourly
            tick = next(j for j in enqueued if j.meta["kind"] == "referrals.tick")
            assert tick.args[1] == {"periode": "2001-03-04T10:00:00+00:00"}
            assert jobs.enqueue_due(app, moment + half_hour) == []  # another, same period
            same, mine = jobs.enqueue_period("referrals.tick", moment + half_hour)  # --file
            assert not mine and same.id == tick.id
            enqueued += jobs.enqueue_due(app, moment + hour)  # the next hour, the same day
            assert [j.meta["kind"] for j in enqueued[3:]] == ["referrals.tick"]
            assert enqueued[3].args[1] == {"periode": "2001-03-04T11:00:00+00:00"}
        finally:
            for job in enqueued:
                job.delete()


def test_a_burst_of_mails_goes_through_one_connection_of_the_quick_worker(
        app, smtp, no_job_worker):
    addresses = [f"rafale-{n}@adresse.fr" for n in range(3)]
    with app.test_request_context():
        ids = [send_later(address, "Invitation à Passerelle", "invitation", key="rafale",
                          link="http://127.0.0.1:5000/invitation/r", roles=["prescripteur"],
                          days=7) for address in addresses]
        assert all(jobs.get(i).origin.endswith("-quick") for i in ids)  # not the long jobs'
    for address in addresses:  # the first read starts the worker: the three are waiting
        assert len(smtp.to(address)) == 1
    # Sent one after another in the quick worker's own process, on one SMTP connection.
    assert len({smtp.peers[address] for address in addresses}) == 1
    with app.app_context():
        for identifier in ids:
            job = jobs.get(identifier)
            assert job.get_status() == JobStatus.FINISHED
            assert job.worker_name.endswith("-rapide")
