"""Seats are never overbooked: 50 acceptances at once (threads, each with its own
database connection) for a session of 10 seats give exactly 10 accepted referrals."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accounts.models import Person
from core.errors import Conflict
from directory.models import Offer, TrainingSession, Venue
from extensions import db
from referrals import services
from referrals.models import Referral
from referrals.views import LINK_ACTOR
from tests.conftest import make_venue

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_fifty_concurrent_acceptances_for_ten_seats(app):
    with app.app_context():
        engine = db.engine
        with Session(engine) as setup:  # committed: every thread's connection sees it
            venue = make_venue(setup, nom="Lieu très demandé", source="concurrence")
            offer = Offer(lieu_id=venue.id, code="course", title="Atelier couru",
                          service="Aide aux démarches administratives", format="collective")
            setup.add(offer)
            setup.flush()
            seance = TrainingSession(offre_id=offer.id, starts_at=NOW + dt.timedelta(days=3),
                                     ends_at=NOW + dt.timedelta(days=3, hours=2), seats=10)
            person = Person(email="concurrence@ccas.fr", active=True)
            setup.add_all([seance, person])
            setup.flush()
            ids = [services.create(
                setup, prescriber_id=person.id, structure="CCAS", lieu_id=venue.id,
                offre_id=offer.id, seance_id=seance.id, programme_id=None, cheques=0,
                first_name=f"P{n}", contact_kind="prescripteur", contact_value=None,
                availability=None, note=None, consent=True, now=NOW, actor=LINK_ACTOR).id
                for n in range(50)]
            setup.commit()
            venue_id, seance_id, person_id = venue.id, seance.id, person.id
        try:
            start = threading.Barrier(50)
            outcomes: list[str] = []
            lock = threading.Lock()

            def accept(referral_id: int) -> None:
                with Session(engine) as session:
                    start.wait()
                    try:
                        services.accept(session, referral_id, NOW, LINK_ACTOR)
                        session.commit()
                        result = "acceptée"
                    except Conflict as exc:
                        session.rollback()
                        result = exc.message
                with lock:
                    outcomes.append(result)

            threads = [threading.Thread(target=accept, args=(i,)) for i in ids]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            with Session(engine) as check:
                accepted = check.scalar(select(db.func.count()).select_from(Referral).where(
                    Referral.lieu_id == venue_id, Referral.state == "accepted"))
                taken = check.get(TrainingSession, seance_id).seats_taken
            assert outcomes.count("acceptée") == 10
            assert accepted == 10 and taken == 10
            assert len(outcomes) == 50
            assert all("complète" in o for o in outcomes if o != "acceptée")
        finally:
            with Session(engine) as cleanup:
                cleanup.execute(delete(Venue).where(Venue.id == venue_id))  # cascades
                cleanup.execute(delete(Person).where(Person.id == person_id))
                cleanup.commit()
