"""The venue page /lieux/<id>: plain French, contacts, passes, hours in words, a small map
that needs nothing from another host and a page that works without JavaScript."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.clock import PARIS
from directory import programmes
from directory.models import Acceptance, Offer, Programme, TrainingSession, Venue, VenueStop
from extensions import db
from tests.conftest import clock_at, make_venue, point
from tests.web.conftest import serious_violations

HOURS = "Mo-Fr 09:00-12:00; Sa 10:00-12:00; PH off"
DEMARCHES = "Aide aux démarches administratives"
# Thursday 26 November 2026, 10:00 in Paris.
THURSDAY_10H = dt.datetime(2026, 11, 26, 10, 0, tzinfo=PARIS)
clock = clock_at(THURSDAY_10H)


def _furnish(session, **fields) -> Venue:
    """A demo venue with hours, contacts, an offer, two sessions and an accepted pass."""
    values = {
        "source": "demo", "nom": "Médiathèque de Bègles", "commune": "Bègles",
        "code_postal": "33130", "adresse": "12 rue du Dr Nancel Pénard", "code_insee": None,
        "geom": point(-0.5476, 44.8086), "horaires": HOURS, "horaires_osm": HOURS,
        "horaires_valides": True, "telephone": ["05 56 00 00 00"],
        "courriels": ["contact@example.org"], "site_web": ["https://mediatheque.example.org/"],
        "prise_rdv": "https://rdv.example.org/begles", "services": [DEMARCHES],
        "modalites_acces": ["Se présenter", "Téléphoner"],
        "presentation_resume": "Aide aux démarches en ligne, sans rendez-vous.",
    }
    values.update(fields)
    venue = make_venue(session, **values)
    pass_, _ = programmes.save_programme(
        session, code="pass-essai-page", name="Pass Numérique Gironde",
        perimeter_codes=["fr"], valid_from=dt.date(2026, 1, 1))
    session.add(Acceptance(lieu_id=venue.id, programme_id=pass_.id,
                           valid_from=dt.date(2026, 1, 1)))
    offer = Offer(lieu_id=venue.id, code="demarches", title="Démarches en ligne",
                  service=DEMARCHES, level=1, format="individual", duration_minutes=60,
                  cheques_required=1)
    session.add(offer)
    session.flush()
    for day, taken in ((1, 2), (3, 4)):
        session.add(TrainingSession(
            offre_id=offer.id, starts_at=dt.datetime(2026, 12, day, 14, tzinfo=PARIS),
            ends_at=dt.datetime(2026, 12, day, 15, tzinfo=PARIS), seats=4, seats_taken=taken))
    session.flush()
    return venue


# --------------------------------------------------------------------------- server-side


def test_page_speaks_plain_french(client, db_session, clock):
    venue = _furnish(db_session)
    response = client.get(f"/lieux/{venue.id}")  # CheckedClient: no external asset
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Données de démonstration" in page
    assert page.count("<h1") == 1 and "<h1>Médiathèque de Bègles</h1>" in page
    assert "Ouvert aujourd&#39;hui de 9 h à 12 h." in page
    assert "Ouvert en ce moment, jusqu&#39;à 12 h." in page
    assert re.search(r"<th scope=\"row\">Samedi</th>\s*<td>10 h – 12 h</td>", page)
    assert "Accepte le Pass Numérique Gironde" in page
    assert 'href="tel:0556000000"' in page and "Appeler le 05 56 00 00 00" in page
    assert 'href="mailto:contact@example.org"' in page
    assert 'href="https://rdv.example.org/begles"' in page
    assert "Prendre rendez-vous en ligne" in page
    assert "mediatheque.example.org" in page
    assert "Mardi 1er décembre de 14 h à 15 h" in page and "2 places libres." in page
    assert "Complet." in page  # the 3 December session
    # Which of the passes it accepts pays for the offer (no pass in context).
    assert "Payé par le Pass Numérique Gironde : 1 chèque par séance." in page
    assert "Une pièce d&#39;identité" in page  # what to bring for administrative help
    assert "Pour venir :</strong> Venir sur place, téléphoner." in page
    # The map is data for the script, never inline code.
    assert 'id="carte-lieu"' in page and 'data-basemap-url=""' in page
    assert '"lat": 44.8086, "lon": -0.5476' in page
    assert "Informations mises à jour le 15 janvier 2026." in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert "/static/vendor/leaflet/leaflet.js" in page and "//unpkg" not in page


def test_closed_day_and_no_demo_banner(client, db_session, clock):
    venue = make_venue(db_session, source="test", horaires=HOURS, horaires_osm=HOURS,
                       horaires_valides=True, telephone=["+33 5 56 00 00 01"])
    clock.set(dt.datetime(2026, 11, 26, 18, 0, tzinfo=PARIS))  # Thursday evening
    page = client.get(f"/lieux/{venue.id}").get_data(as_text=True)
    assert "Ouvert aujourd&#39;hui de 9 h à 12 h." in page
    assert "<strong>Fermé en ce moment.</strong> Prochaine ouverture : demain à 9 h." in page
    assert 'href="tel:+33556000001">Appeler le 05 56 00 00 01</a>' in page
    clock.set(dt.datetime(2026, 11, 29, 10, 0, tzinfo=PARIS))  # a Sunday
    page = client.get(f"/lieux/{venue.id}").get_data(as_text=True)
    assert "Fermé aujourd&#39;hui." in page
    assert "Prochaine ouverture : demain à 9 h." in page
    assert "Données de démonstration" not in page


def test_closures_are_said_plainly(client, db_session, clock):
    works = make_venue(db_session, status="temporarily_closed",
                       closed_from=dt.date(2026, 11, 1), closed_until=dt.date(2026, 12, 6),
                       horaires=HOURS, horaires_osm=HOURS, horaires_valides=True)
    page = client.get(f"/lieux/{works.id}").get_data(as_text=True)
    assert "Fermé temporairement jusqu&#39;au dimanche 6 décembre inclus." in page
    assert "Fermé aujourd&#39;hui (fermeture temporaire)." in page
    assert "Réouverture : lundi 7 décembre à 9 h." in page
    gone = make_venue(db_session, status="closed", geom=None, location_precision=None)
    page = client.get(f"/lieux/{gone.id}").get_data(as_text=True)
    assert "Ce lieu a fermé définitivement." in page
    assert 'id="carte-lieu"' not in page  # no position, no map


def test_imported_text_is_never_markup_or_script(client, db_session, clock):
    venue = make_venue(db_session, nom="<b>Lieu</b>", prise_rdv="javascript:alert(1)",
                       site_web=["javascript:alert(2)"])
    page = client.get(f"/lieux/{venue.id}").get_data(as_text=True)
    assert "&lt;b&gt;Lieu&lt;/b&gt;" in page
    assert "javascript:" not in page
    assert "Prendre rendez-vous en ligne" not in page


def test_invalid_hours_are_shown_as_given(client, db_session, clock):
    venue = make_venue(db_session, horaires="le matin sauf jeudi")
    page = client.get(f"/lieux/{venue.id}").get_data(as_text=True)
    assert "Horaires indiqués par le lieu : « le matin sauf jeudi »." in page
    assert "Téléphonez avant de vous déplacer" in page


def test_unknown_venue_is_a_french_page(client, clock):
    response = client.get("/lieux/987654321")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "Aucun lieu ne porte l&#39;identifiant 987654321." in response.get_data(as_text=True)


def test_print_stylesheet_hides_the_map(client):
    with client.get("/static/css/venue.css") as response:
        assert response.status_code == 200
        css = response.get_data(as_text=True)
    printing = css[css.index("@media print"):]
    assert ".venue-map" in printing and "display: none" in printing


# --------------------------------------------------------------------------- browser


@pytest.fixture
def committed_venue(app):
    """The live server sees committed data only: create, yield the id, then delete."""
    with app.app_context():
        session = Session(db.engine)
        try:
            venue = _furnish(session, source="demo", source_id="page-navigateur",
                             itinerance=["Itinérant"])
            session.add(VenueStop(lieu_id=venue.id, position=1, label="Place du marché",
                                  geom=point(-0.55, 44.80), horaires="We 09:00-12:00",
                                  horaires_osm="We 09:00-12:00"))
            session.commit()
            venue_id = venue.id
            yield venue_id
        finally:
            session.rollback()
            session.execute(delete(Venue).where(Venue.source == "demo",
                                                Venue.source_id == "page-navigateur"))
            session.execute(delete(Programme).where(Programme.code == "pass-essai-page"))
            session.commit()
            session.close()


@pytest.mark.browser
def test_venue_page_in_chromium(page, committed_venue, clock):
    response = page.goto(f"{page.base_url}/lieux/{committed_venue}")
    assert response.status == 200
    assert page.get_by_role("heading", level=1).inner_text() == "Médiathèque de Bègles"
    today = page.locator("[data-hours-today]").inner_text()
    assert today == "Ouvert aujourd'hui de 9 h à 12 h."
    # The map: Leaflet from our static files, no basemap configured, one marker per place.
    page.wait_for_selector("#carte-lieu .leaflet-marker-pane .leaflet-marker-icon", timeout=10000)
    markers = page.locator("#carte-lieu .leaflet-marker-pane .leaflet-marker-icon")
    assert markers.count() == 2
    titles = {markers.nth(i).get_attribute("title") for i in range(2)}
    assert titles == {"Médiathèque de Bègles", "Arrêt : Place du marché"}
    assert page.locator("#carte-lieu img.leaflet-tile").count() == 0
    assert page.locator("#carte-lieu").bounding_box()["height"] > 200
    # Without a basemap, the communes around are named from our own geography.
    page.wait_for_selector("#carte-lieu .territory-label span", timeout=10000)
    names = page.locator("#carte-lieu .territory-label span").all_inner_texts()
    assert "Bègles" in names or "Bordeaux" in names, names
    # Large targets: the call button is at least 44 px high.
    call = page.get_by_role("link", name="Appeler le 05 56 00 00 00")
    assert call.get_attribute("href") == "tel:0556000000"
    assert call.bounding_box()["height"] >= 44
    # axe-core (our own copy) finds no serious or critical accessibility problem.
    assert serious_violations(page) == []
    # Printed: no map, no navigation, the week's hours and the phone number remain; no
    # live "open today" but the printing date.
    page.emulate_media(media="print")
    assert not page.locator("#carte-lieu").is_visible()
    assert not page.locator("[data-hours-today]").is_visible()
    assert page.locator(".print-only").is_visible()
    assert page.locator("table.week").first.is_visible()
    assert call.is_visible()


@pytest.mark.browser
def test_venue_page_without_javascript(browser, live_server, committed_venue, clock):
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/lieux/{committed_venue}")
        assert page.locator("[data-hours-today]").inner_text() == (
            "Ouvert aujourd'hui de 9 h à 12 h.")
        assert page.locator(".leaflet-container").count() == 0
        assert page.get_by_role("link", name="Prendre rendez-vous en ligne").is_visible()
        # Without the script the map takes no room.
        assert page.locator("#carte-lieu").bounding_box()["height"] == 0
    finally:
        context.close()
