"""The timed work in the job queue: ``referrals tick --file`` puts one job per hour in the
queue and a real worker (subprocess, real clock) expires what is overdue."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session

from extensions import db
from referrals import services
from referrals.models import Referral
from referrals.views import LINK_ACTOR
from tests.conftest import make_venue
from tests.core.job_worker import wait_for


def test_tick_job_expires_overdue_referrals_in_the_worker(app, job_worker):
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
        venue_id, referral_id = venue.id, overdue.id
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["referrals", "tick", "--file"])
        assert first.exit_code == 0, first.output
        assert "Tâche mise en file" in first.output
        again = runner.invoke(args=["referrals", "tick", "--file"])
        job_id = re.search(r"file : (\S+) ", first.output).group(1)
        assert "referrals_tick" in job_id
        assert re.search(r"file : (\S+) ", again.output).group(1) == job_id  # once an hour

        def expired():
            with app.app_context(), Session(db.engine) as session:
                return session.get(Referral, referral_id).state == "expired"

        wait_for(expired, what="l'expiration par le processus de fond")
    finally:
        with app.app_context(), Session(db.engine) as session:
            session.execute(delete(Referral).where(Referral.id == referral_id))
            session.execute(delete(type(venue)).where(type(venue).id == venue_id))
            session.commit()
