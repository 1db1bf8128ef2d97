"""Referral test harness: a venue of Bordeaux (real commune) with an offer and a session
of 10 seats, a programme, a prescriber, a venue manager, a programme manager, an
administrator; the accounts' real SMTP server and settable clock."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest

from directory.models import TrainingSession
from referrals import services
from tests import conftest as cat
from tests.accounts.conftest import make_person

STRUCTURE = "CCAS de Bordeaux"


@dataclass
class World:
    venue: object
    offer: object
    seance: object
    programme: object
    prescriber: object
    manager: object
    funder: object
    admin: object


@pytest.fixture
def world(app, db_session, clock, geography):
    programme = cat.programme(db_session, "pass-gironde-orient", "Pass Gironde")
    venue = cat.venue(db_session, -0.57, 44.84, nom="Médiathèque Pey-Berland",
                      code_insee="33063", courriels=["accueil@mediatheque.fr"])
    cat.accept(db_session, venue, programme)
    offer = cat.offer(db_session, venue, "Aide aux démarches administratives",
                      title="Mes démarches en ligne", cheques=2)
    seance = TrainingSession(offre_id=offer.id, starts_at=clock.now() + dt.timedelta(days=7),
                             ends_at=clock.now() + dt.timedelta(days=7, hours=2), seats=10)
    db_session.add(seance)
    db_session.flush()
    return World(
        venue=venue, offer=offer, seance=seance, programme=programme,
        prescriber=make_person(db_session, "conseillere@ccas.fr", ("prescriber", STRUCTURE)),
        manager=make_person(db_session, "gerant@mediatheque.fr",
                            ("venue_manager", str(venue.id))),
        funder=make_person(db_session, "financeur@region.fr",
                           ("programme_manager", str(programme.id))),
        admin=make_person(db_session, "admin@passerelle.fr", ("administrator", "")))


def refer(session, world: World, now, *, first_name="Awa", contact="0612345678",
          seance=True, structure=STRUCTURE):
    """A referral made by the service (the web form is tested on its own)."""
    from accounts.journal import Actor

    return services.create(
        session, prescriber_id=world.prescriber.id, structure=structure,
        lieu_id=world.venue.id, offre_id=world.offer.id,
        seance_id=world.seance.id if seance else None, programme_id=world.programme.id,
        cheques=2, first_name=first_name, contact_kind="telephone", contact_value=contact,
        availability="mardi après-midi", note=None, consent=True, now=now,
        actor=Actor("web", world.prescriber.id, "prescriber"))


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)
