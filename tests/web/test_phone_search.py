"""A search on a phone from the home page, in a real Chromium with a phone's screen and
touch: the actions (taps and keystrokes) are counted. The common case — a person in
Angoulême with the regional pass who wants to learn to use a smartphone and is free on
Saturday mornings — takes at most 5 actions once the place and the pass are remembered for
the visit (with the person's consent); the first search, with the consent given, is counted
too. axe-core finds nothing serious on either page; the home page's form works without
JavaScript."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.clock import PARIS
from directory.models import Acceptance, Offer, Programme, Venue
from extensions import db
from tests.conftest import clock_at, point, week
from tests.web.conftest import serious_violations

pytestmark = pytest.mark.browser

SOURCE = "test-web-phone"
PROGRAMME = "pass-na-phone"
PROGRAMME_NAME = "Pass Numérique Nouvelle-Aquitaine (essai)"
MAITRISE = "Maîtrise des outils numériques du quotidien"
DEMARCHES = "Aide aux démarches administratives"
clock = clock_at(dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS))  # a Tuesday

# A phone (Pixel 5's screen) with touch.
PHONE = {"viewport": {"width": 393, "height": 727}, "device_scale_factor": 2.75,
         "is_mobile": True, "has_touch": True}
# Actions the issue counted for the same search before (9 taps and 9 keystrokes).
BEFORE = 18

# (name, lon, lat, hours, service, offer)
VENUES = [
    ("Espace numérique de Basseau", 0.1391, 45.6543, "Sa 09:00-12:00", MAITRISE,
     "Premiers pas sur smartphone"),
    ("Médiathèque l'Alpha", 0.1583, 45.6500, "Tu-Fr 14:00-18:00", DEMARCHES,
     "Mes démarches en ligne"),
]


@pytest.fixture(scope="module")
def catalogue(app, geography):
    """Committed: a regional pass (Nouvelle-Aquitaine) accepted by two venues of
    Angoulême, one open on Saturday mornings for smartphones."""
    from directory.programmes import save_programme

    with app.app_context(), Session(db.engine) as session:
        programme, _ = save_programme(session, code=PROGRAMME, name=PROGRAMME_NAME,
                                      perimeter_codes=["reg:75"],
                                      valid_from=dt.date(2026, 1, 1))
        for n, (nom, lon, lat, hours, service, title) in enumerate(VENUES):
            venue = Venue(source=SOURCE, source_id=f"phone-{n}", nom=nom, commune="Angoulême",
                          code_postal="16000", code_insee="16015", adresse=f"{n + 1} rue du Test",
                          geom=point(lon, lat), location_precision="address",
                          horaires=hours, horaires_osm=hours, horaires_valides=True,
                          opening_week=week(hours), services=[service])
            session.add(venue)
            session.flush()
            session.add(Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                   valid_from=dt.date(2026, 1, 1)))
            session.add(Offer(lieu_id=venue.id, code=f"phone-{n}", title=title,
                              service=service, format="collective", cheques_required=1,
                              languages=["fr"]))
        session.commit()
    yield
    with app.app_context(), Session(db.engine) as session:
        session.execute(delete(Venue).where(Venue.source == SOURCE))
        session.execute(delete(Programme).where(Programme.code == PROGRAMME))
        session.commit()


@pytest.fixture
def phone(new_page):
    """A phone's page (anything for another host refused and failing the test)."""
    return lambda **options: new_page(**PHONE, **options)


class Actions:
    """What the person does, counted as the issue counts it: each tap one action, each
    keystroke one action, a drop-down list two (open it, pick)."""

    def __init__(self, page) -> None:
        self.page = page
        self.count = 0

    def tap(self, locator) -> None:
        locator.tap()
        self.count += 1

    def type(self, locator, text: str) -> None:
        self.tap(locator)  # the field first gets the finger
        locator.press_sequentially(text, delay=30)
        self.count += len(text)

    def choose(self, select, label: str) -> None:
        select.select_option(label=label)
        self.count += 2


def result_titles(page) -> list[str]:
    return [re.sub(r"^\d+\s*", "", t).strip()
            for t in page.locator(".result-title").all_inner_texts()]


def refine(page, actions: Actions) -> None:
    """What to learn, when: a tile, a day, a moment; then the button."""
    actions.tap(page.get_by_role("checkbox", name="Me servir d'un téléphone ou d'un ordinateur"))
    actions.tap(page.get_by_role("checkbox", name="Samedi"))
    actions.tap(page.get_by_role("checkbox", name="Le matin (8 h – 12 h)"))
    with page.expect_navigation():
        actions.tap(page.get_by_role("button", name="Voir les lieux", exact=True))


def test_phone_search_in_at_most_five_actions_once_remembered(phone, catalogue, capsys):
    page = phone()
    page.goto(page.base_url + "/")
    assert serious_violations(page) == []

    # First search of the visit: the place from the home page (suggestions), then the pass
    # and the consent to remember them, what to learn, when.
    first = Actions(page)
    first.type(page.get_by_label("Où êtes-vous ? Votre code postal ou votre commune"), "angou")
    page.get_by_role("option", name="Angoulême (16000)").wait_for()
    first.tap(page.get_by_role("option", name="Angoulême (16000)"))
    with page.expect_navigation():
        first.tap(page.get_by_role("button", name="Voir les lieux près de chez moi"))
    assert page.locator("#resultats").is_visible()
    first.choose(page.get_by_label("Le nom écrit sur vos chèques"), PROGRAMME_NAME)
    first.tap(page.get_by_label("Se souvenir de ma commune et de mon pass pour cette visite"))
    refine(page, first)
    assert result_titles(page) == ["Espace numérique de Basseau"]
    assert serious_violations(page) == []

    # Later in the visit: from the home page again, place and pass remembered.
    page.goto(page.base_url + "/")
    assert "Angoulême (16000)" in page.inner_text(".home-search")
    assert PROGRAMME_NAME in page.inner_text(".home-search")
    assert serious_violations(page) == []
    again = Actions(page)
    with page.expect_navigation():
        again.tap(page.get_by_role("link", name=re.compile("^Préciser ma recherche")))
    assert page.get_by_label("Votre code postal ou votre commune").input_value() \
        == "Angoulême (16000)"
    refine(page, again)
    assert result_titles(page) == ["Espace numérique de Basseau"]
    assert f"pass : {PROGRAMME_NAME}" in page.inner_text("#resultats")
    with capsys.disabled():
        print(f"\nactions sur téléphone : première recherche {first.count}, "
              f"commune et pass gardés {again.count} (avant : {BEFORE})")
    assert again.count <= 5
    assert first.count < BEFORE

    # Forget: one tap, and the home page asks the place again.
    with page.expect_navigation():
        page.get_by_role("button", name="Oublier").tap()
    assert "C'est oublié" in page.inner_text("main")
    page.goto(page.base_url + "/")
    assert page.get_by_label("Où êtes-vous ? Votre code postal ou votre commune").is_visible()


def test_home_page_place_without_javascript(phone, catalogue):
    page = phone(java_script_enabled=False)
    page.goto(page.base_url + "/")
    page.get_by_label("Où êtes-vous ? Votre code postal ou votre commune").fill("16000")
    with page.expect_navigation():
        page.get_by_role("button", name="Voir les lieux près de chez moi").click()
    assert set(result_titles(page)) >= {"Espace numérique de Basseau", "Médiathèque l'Alpha"}
