"""The referral form and the printed slip in Chromium: a prescriber signs in, fills the
form (the warning about sensitive data is visible), sends it, and the slip prints on one
A4 page; axe-core finds no serious violation on either page."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from accounts.models import Person
from directory.models import TrainingSession, Venue
from extensions import db
from tests import conftest as cat
from tests.accounts.conftest import make_person
from tests.conftest import TEST_NOW
from tests.web.conftest import serious_violations
from tests.web.test_accounts_pages import _sign_in


@pytest.fixture
def prescriber(app):
    """Committed (the live server sees committed data only); deleted afterwards."""
    email = f"conseil-{uuid.uuid4().hex[:8]}@ccas.fr"
    with app.app_context():
        session = Session(db.engine)
        venue = cat.venue(session, -0.57, 44.84, nom="Médiathèque imprimée",
                          source="navigateur", source_id=uuid.uuid4().hex,
                          courriels=["accueil@imprimee.fr"])
        offer = cat.offer(session, venue, "Aide aux démarches administratives",
                          title="Atelier démarches")
        start = TEST_NOW + dt.timedelta(days=5)
        session.add(TrainingSession(offre_id=offer.id, starts_at=start,
                                    ends_at=start + dt.timedelta(hours=2), seats=8))
        make_person(session, email, ("prescriber", "CCAS du navigateur"))
        session.commit()
        venue_id = venue.id
    try:
        yield email, venue_id
    finally:
        with app.app_context(), Session(db.engine) as session:
            session.execute(delete(Venue).where(Venue.id == venue_id))  # cascades
            session.execute(delete(Person).where(Person.email == email))
            session.commit()


def test_referral_form_then_slip_on_one_a4_page(page, prescriber, smtp):  # noqa: F811
    email, venue_id = prescriber
    _sign_in(page, email)
    page.goto(f"{page.base_url}/orienter/orientation?lieu={venue_id}")
    assert page.get_by_role("note").is_visible()
    assert "aucune donnée de santé" in page.get_by_role("note").inner_text()
    assert serious_violations(page) == []
    page.get_by_label("Prénom ou initiales").fill("J. M.")
    page.get_by_label("Comment la personne souhaite être contactée").select_option("sms")
    page.get_by_label("Le numéro ou l'adresse choisis").fill("06 00 00 00 01")
    page.get_by_label("Séance (facultatif)").select_option(index=1)
    page.get_by_label("J'ai lu ce texte à la personne").check()
    page.get_by_role("button", name="Envoyer l'orientation").click()
    page.wait_for_url(re.compile(r".*/orienter/orientations/\d+/fiche$"))
    text = page.inner_text("body")
    assert "Quoi apporter" in text and "Séance du" in text and "OR-" in text
    assert serious_violations(page) == []
    pdf = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    assert len(smtp.to("accueil@imprimee.fr")) == 1
