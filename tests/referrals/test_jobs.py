"""The timed work in the job queue: the worker's scheduler puts the tick in the queue by
itself (no cron), ``referrals tick --file`` puts the same job (one per hour), and a real
worker (subprocess, real clock) expires what is overdue."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import delete
from sqlalchemy.orm import Session

from core import jobs
from directory.models import Venue
from extensions import db
from referrals import services
from referrals.models import Referral
from referrals.views import LINK_ACTOR
from tests.conftest import make_venue
from tests.core.job_worker import wait_for


def _overdue_referral(app) -> tuple[int, int]:
    """A committed referral sent 31 days ago by the real clock: the worker is a real
    subprocess and reads the real clock, so the referral is overdue whatever the day."""
    real_now = dt.datetime.now(dt.UTC)
    with app.app_context(), Session(db.engine) as session:
        venue = make_venue(session, nom="Lieu de la file", source="file",
                           source_id=uuid.uuid4().hex)
        overdue = services.create(
            session, prescriber_id=None, structure="CCAS", lieu_id=venue.id, offre_id=None,
            seance_id=None, programme_id=None, cheques=0, first_name="F",
            contact_kind="prescripteur", contact_value=None, availability=None, note=None,
            consent=True, now=real_now - dt.timedelta(days=31), actor=LINK_ACTOR)
        session.commit()
        return venue.id, overdue.id


def _expired(app, referral_id: int) -> bool:
    with app.app_context(), Session(db.engine) as session:
        return session.get(Referral, referral_id).state == "expired"


def _remove(app, venue_id: int, referral_id: int) -> None:
    with app.app_context(), Session(db.engine) as session:
        session.execute(delete(Referral).where(Referral.id == referral_id))
        session.execute(delete(Venue).where(Venue.id == venue_id))
        session.commit()


def test_tick_job_expires_overdue_referrals_in_the_worker(app, job_worker):
    venue_id, referral_id = _overdue_referral(app)
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["referrals", "tick", "--file"])
        assert first.exit_code == 0, first.output
        assert "Tâche mise en file" in first.output
        again = runner.invoke(args=["referrals", "tick", "--file"])
        job_id = re.search(r"file : (\S+) ", first.output).group(1)
        assert "referrals_tick" in job_id
        assert re.search(r"file : (\S+) ", again.output).group(1) == job_id  # once an hour
        wait_for(lambda: _expired(app, referral_id),
                 what="l'expiration par le processus de fond")
    finally:
        _remove(app, venue_id, referral_id)


@pytest.mark.worker_env(PASSERELLE_SCHEDULER="1", PASSERELLE_REFERRAL_TICK_EVERY_S="2",
                        PASSERELLE_CONFIRM_REMIND_EVERY_S="0",
                        PASSERELLE_REFERRAL_ANONYMISE_EVERY_S="0")
def test_the_worker_ticks_by_itself_without_cron(app, job_worker):
    venue_id, referral_id = _overdue_referral(app)
    try:
        # Nobody calls the command: the worker's scheduler enqueues the tick (every 2 s).
        wait_for(lambda: _expired(app, referral_id), timeout=30,
                 what="l'expiration par le planificateur du worker")
        with app.app_context():
            period = jobs.period_start(dt.datetime.now(dt.UTC), 2) - dt.timedelta(seconds=2)
            ids = [jobs.job_id("referrals.tick", {"periode": (period + dt.timedelta(
                seconds=2 * k)).isoformat()}) for k in range(-15, 2)]
            ticks = [job for job in Job.fetch_many(ids, connection=jobs.connection(app))
                     if job is not None]
            assert ticks, "aucune tâche « referrals.tick » des dernières périodes"
            wait_for(lambda: ticks[-1].get_status(refresh=True) == JobStatus.FINISHED,
                     timeout=30, what="la fin de la dernière tâche périodique")
            assert set(ticks[-1].return_value()) == {"expirees", "rappels"}
    finally:
        _remove(app, venue_id, referral_id)
