"""The issue's Angoulême case in a real Chromium: a beneficiary with a regional pass wants to
learn to use a smartphone. The venue whose broad services say « Maîtrise des outils
numériques du quotidien » but which has no smartphone offer is not proposed; the reason
cites the offer on the topic by its title; an offer the pass does not pay says « non
couvert par ce pass », in the results and on the venue page; axe-core finds nothing
serious or critical."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from directory.models import Acceptance, Offer, Programme, Venue
from extensions import db
from tests.conftest import point, week
from tests.web.conftest import serious_violations
from tests.web.test_search_flow import NOW

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("geography")]

SOURCE = "test-web-topics"
PROGRAMME = "pass-numerique-charente-test"
MAITRISE = "Maîtrise des outils numériques du quotidien"
DEMARCHES = "Aide aux démarches administratives"
LOISIRS = "Loisirs et créations numériques"
SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"
ACCOMPAGNEMENT = "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"
SANTE = "numerique--accompagner-les-demarches-de-sante"
CREER = "numerique--creer-avec-le-numerique"

# (name, lon, lat, services, [(offer title, service, topics, level, format)])
VENUES = [
    ("Espace numérique du Champ de Mars", 0.1575, 45.6500, [MAITRISE, DEMARCHES],
     [("Démarches en ligne : CAF, impôts", DEMARCHES, [ACCOMPAGNEMENT], None, "individual"),
      ("Créer son compte Ameli", DEMARCHES, [SANTE], None, "individual"),
      ("Atelier photo du samedi", LOISIRS, [CREER], 3, "collective")]),
    ("Médiathèque de l'Alpha", 0.1530, 45.6530, [MAITRISE],
     [("Prendre en main son smartphone", MAITRISE, [SMARTPHONE], 1, "collective"),
      ("Smartphone : aller plus loin", MAITRISE, [SMARTPHONE], 3, "collective")]),
]


@pytest.fixture(scope="module")
def charente(app, geography):
    """Committed: a pass over Charente for levels 1 and 2, accepted by two venues of
    Angoulême; removed at the end."""
    from directory.programmes import save_programme

    hours = "Tu-Sa 09:00-12:00,14:00-18:00"
    with app.app_context(), Session(db.engine) as session:
        programme, _ = save_programme(session, code=PROGRAMME, name="Pass Numérique Charente",
                                      perimeter_codes=["dep:16"],
                                      valid_from=dt.date(2026, 1, 1), levels=(1, 2))
        ids = {}
        for n, (nom, lon, lat, services, offers) in enumerate(VENUES):
            venue = Venue(source=SOURCE, source_id=f"topics-{n}", nom=nom, commune="Angoulême",
                          code_postal="16000", code_insee="16015",
                          adresse=f"{n + 1} rue du Test", geom=point(lon, lat),
                          location_precision="address", horaires=hours, horaires_osm=hours,
                          horaires_valides=True, opening_week=week(hours), services=services,
                          telephone=["05 45 00 00 0" + str(n)])
            session.add(venue)
            session.flush()
            session.add(Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                   valid_from=dt.date(2026, 1, 1)))
            for k, (title, service, topics, level, fmt) in enumerate(offers):
                session.add(Offer(lieu_id=venue.id, code=f"topics-{n}-{k}", title=title,
                                  service=service, topics=topics, level=level, format=fmt,
                                  cheques_required=1, languages=["fr"]))
            ids[nom] = venue.id
        session.commit()
    yield ids
    with app.app_context(), Session(db.engine) as session, session.begin():
        for removal in (delete(Venue).where(Venue.source == SOURCE),
                        delete(Programme).where(Programme.code == PROGRAMME)):
            session.execute(removal)


@pytest.fixture(autouse=True)
def _on_tuesday_morning(clock):
    clock.set(NOW)


def test_angouleme_smartphone_reason_cites_the_offer_and_unpaid_offers_say_so(
        new_page, charente):
    page = new_page()
    page.goto(page.base_url + "/recherche")
    page.get_by_label("Votre code postal ou votre commune").fill("16000")
    page.get_by_label("Le nom écrit sur vos chèques").select_option(
        label="Pass Numérique Charente")
    page.get_by_label("Me servir d'un smartphone ou d'une tablette").check()
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"/recherche\?.*topics="))
    titles = [re.sub(r"^\d+\s*", "", t).strip()
              for t in page.locator(".result-title").all_inner_texts()]
    # The venue that only says « Maîtrise des outils numériques du quotidien » is not
    # proposed for a smartphone: none of its offers is about it.
    assert titles == ["Médiathèque de l'Alpha"]
    result = page.locator(".result").first
    reasons = result.locator(".reasons li").all_inner_texts()
    assert "Propose « Prendre en main son smartphone » (atelier)" in reasons
    assert not any("Maîtrise des outils" in r for r in reasons)
    offers = result.locator(".offers li").all_inner_texts()
    assert offers == [
        "« Prendre en main son smartphone » (atelier collectif) — payé par votre pass : "
        "1 chèque",
        "« Smartphone : aller plus loin » (atelier collectif) — non couvert par ce pass"]
    assert "N'accepte aucun Pass Numérique" not in result.inner_text()
    assert serious_violations(page) == []

    # The venue page keeps the pass: offer by offer, what it pays.
    with page.expect_navigation():
        result.get_by_role("link", name=re.compile("Voir le lieu")).click()
    assert f"programme={PROGRAMME}" in page.url
    prices = page.locator(".offer-price").all_inner_texts()
    assert "Payé par votre pass : 1 chèque par séance." in prices
    assert "Non couvert par ce pass." in prices
    assert "Avec votre pass (Pass Numérique Charente)" in page.inner_text("main")
    assert serious_violations(page) == []

    # The photo workshop of the other venue: not paid, and no cheque price for it.
    page.goto(f"{page.base_url}/lieux/{charente['Espace numérique du Champ de Mars']}"
              f"?programme={PROGRAMME}")
    photo = page.locator(".offer", has_text="Atelier photo du samedi")
    assert photo.locator(".offer-price").inner_text() == "Non couvert par ce pass."
    assert serious_violations(page) == []
