"""The venue manager's pages in Chromium: sign-in, the hours editor that shows the week in
French words as one types, the offer and session forms, on a phone-sized screen; axe-core
finds no serious violation; the basics work without JavaScript."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from accounts.models import Person
from directory.models import Venue
from extensions import db
from tests import conftest as cat
from tests.accounts.conftest import PASSWORD, make_person
from tests.conftest import TEST_NOW
from tests.web.conftest import serious_violations

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def manager(app):
    """Committed (the live server sees committed data only): a venue, an offer, a manager;
    deleted afterwards (the journal keeps its rows: it is append-only)."""
    email = f"gestion-{uuid.uuid4().hex[:8]}@lieu.fr"
    with app.app_context(), Session(db.engine) as session:
        venue = cat.venue(session, -0.57, 44.84, nom="Médiathèque du navigateur",
                          source="navigateur", source_id=uuid.uuid4().hex)
        offer = cat.offer(session, venue, "Aide aux démarches administratives",
                          title="Atelier démarches")
        make_person(session, email, ("venue_manager", str(venue.id)))
        session.commit()
        ids = (venue.id, offer.id)
    try:
        yield email, *ids
    finally:
        with app.app_context(), Session(db.engine) as session:
            session.execute(delete(Person).where(Person.email == email))
            session.execute(delete(Venue).where(Venue.id == ids[0]))
            session.commit()


def _sign_in(page, email: str) -> None:
    page.goto(f"{page.base_url}/connexion")
    assert serious_violations(page) == []
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/espace")


def test_hours_editor_speaks_french_as_one_types(page, manager):
    email, venue_id, offer_id = manager
    page.set_viewport_size(PHONE)
    _sign_in(page, email)
    assert serious_violations(page) == []
    page.goto(f"{page.base_url}/espace/lieux/{venue_id}/horaires")
    field = page.get_by_label("Horaires au format OpenStreetMap")
    field.fill("Mo-Fr 09:00-12:00; Sa 10:00-12:30")
    preview = page.locator("#apercu")
    preview.get_by_text("10 h – 12 h 30").wait_for()
    assert "Samedi" in preview.inner_text() and "fermé" in preview.inner_text()
    field.fill("Mo-Fr 25:00-26:00")
    preview.get_by_text("Horaires invalides").wait_for()
    assert field.get_attribute("aria-invalid") == "true"
    assert serious_violations(page) == []
    field.fill("Mo-Fr 09:00-12:00")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url(f"**/espace/lieux/{venue_id}")
    assert "Horaires enregistrés." in page.locator(".notices").inner_text()
    assert "horaires modifiés" in page.locator("table.history").inner_text()
    assert serious_violations(page) == []
    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")

    page.goto(f"{page.base_url}/espace/lieux/{venue_id}/offres/{offer_id}")
    assert serious_violations(page) == []
    in_a_month = (TEST_NOW.date() + dt.timedelta(days=30)).isoformat()  # the app's clock
    page.get_by_label("Jour").fill(in_a_month)
    page.get_by_label("Heure de début").fill("14:00")
    page.get_by_label("Heure de fin").fill("16:00")
    page.get_by_label("Places").fill("6")
    page.get_by_role("button", name="Ajouter la séance").click()
    page.get_by_text("Séance ajoutée.").wait_for()
    assert "6 place(s)" in page.locator("main").inner_text()

    for path in ("/espace", f"/espace/lieux/{venue_id}/fermeture",
                 f"/espace/lieux/{venue_id}/coordonnees",
                 f"/espace/lieux/{venue_id}/offres/nouvelle"):
        page.goto(page.base_url + path)
        assert serious_violations(page) == [], path


def test_hours_preview_without_javascript(browser, live_server, manager):
    email, venue_id, _offer_id = manager
    context = browser.new_context(java_script_enabled=False, locale="fr-FR",
                                  viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/connexion")
        page.get_by_label("Adresse électronique").fill(email)
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url("**/espace")
        page.goto(f"{live_server}/espace/lieux/{venue_id}/horaires")
        page.get_by_label("Horaires au format OpenStreetMap").fill("Tu 14:00-17:00")
        page.get_by_role("button", name="Voir l'aperçu").click()
        assert "14 h – 17 h" in page.locator("#apercu").inner_text()
    finally:
        context.close()
