"""A search on a phone from the home page, in a real Chromium with a phone's screen, touch
and position: the actions (taps and keystrokes) are counted as the issue counts them. The
common case — a person in Angoulême with the regional pass who wants to learn to use a
smartphone and is free on Saturday mornings — takes at most 5 actions the first time (what,
when, « Voir les lieux autour de moi », and the browser's question about the position: the
only pass valid in Angoulême is taken and said), and 4 once the commune and the pass are
remembered for the visit (with the person's consent, one tap on the results). Typing the
commune instead is counted too. axe-core finds nothing serious on the pages; the home page's
form works without JavaScript."""

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

SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"
ACCOMPAGNEMENT = "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"

# (name, lon, lat, hours, service, offer, topic)
VENUES = [
    ("Espace numérique de Basseau", 0.1391, 45.6543, "Sa 09:00-12:00", MAITRISE,
     "Premiers pas sur smartphone", SMARTPHONE),
    ("Médiathèque l'Alpha", 0.1583, 45.6500, "Tu-Fr 14:00-18:00", DEMARCHES,
     "Mes démarches en ligne", ACCOMPAGNEMENT),
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
        for n, (nom, lon, lat, hours, service, title, topic) in enumerate(VENUES):
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
                              service=service, topics=[topic], format="collective",
                              cheques_required=1,
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
    keystroke one action (a drop-down list would be two: open it, pick)."""

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

    def answer_the_browser(self) -> None:
        """The browser asks, the first time, whether the site may know the position: one
        tap (« Autoriser »). The test's browser was told yes beforehand (the
        ``permissions`` of its context), so the tap is only counted."""
        self.count += 1


# Angoulême's centre, where the phone is.
POSITION = {"latitude": 45.6484, "longitude": 0.1560}
LEARN = "Me servir d'un smartphone ou d'une tablette"
MORNING = "Le matin (8 h – 12 h)"


def result_titles(page) -> list[str]:
    return [re.sub(r"^\d+\s*", "", t).strip()
            for t in page.locator(".result-title").all_inner_texts()]


def what_and_when(page, actions: Actions) -> None:
    """What to learn, when: a tile, a day, a moment — each one tap."""
    actions.tap(page.get_by_role("checkbox", name=LEARN))
    actions.tap(page.get_by_role("checkbox", name="Samedi"))
    actions.tap(page.get_by_role("checkbox", name=MORNING))


def test_phone_search_in_at_most_five_actions_the_first_time(phone, catalogue, capsys):
    page = phone(geolocation=POSITION, permissions=["geolocation"])
    page.goto(page.base_url + "/")
    assert serious_violations(page) == []

    # First search of the visit: what, when, then the position in one tap.
    first = Actions(page)
    what_and_when(page, first)
    with page.expect_navigation():
        first.tap(page.get_by_role("button", name="Voir les lieux autour de moi"))
        first.answer_the_browser()
    assert page.locator("#resultats").is_visible()
    assert result_titles(page) == ["Espace numérique de Basseau"]
    results = page.inner_text("#resultats")
    assert f"Autour de : votre position (Angoulême) · pass : {PROGRAMME_NAME}" in results
    assert f"Votre pass : {PROGRAMME_NAME}. C'est le seul pass valable à Angoulême" in results
    assert serious_violations(page) == []

    # The consent, in one tap on the results: the commune and the pass for the visit.
    with page.expect_navigation():
        page.get_by_role("button", name="Garder ma commune et mon pass pour cette visite").tap()
    assert result_titles(page) == ["Espace numérique de Basseau"]

    # Later in the visit: from the home page again, what and when only.
    page.goto(page.base_url + "/")
    assert "Près de : Angoulême (16000)" in page.inner_text(".home-search")
    assert PROGRAMME_NAME in page.inner_text(".home-search")
    assert serious_violations(page) == []
    again = Actions(page)
    what_and_when(page, again)
    with page.expect_navigation():
        again.tap(page.get_by_role("button", name="Voir les lieux", exact=True))
    assert result_titles(page) == ["Espace numérique de Basseau"]
    assert re.search(rf"Autour de : Angoulême \(\d{{5}}\) · pass : {re.escape(PROGRAMME_NAME)}",
                     page.inner_text("#resultats"))
    with capsys.disabled():
        print(f"\nactions sur téléphone : première recherche {first.count} (position), "
              f"commune et pass gardés {again.count} (avant : {BEFORE})")
    assert first.count <= 5
    assert again.count <= 5

    # Forget: one tap, and the home page asks the place again.
    with page.expect_navigation():
        page.get_by_role("button", name="Oublier").tap()
    assert "C'est oublié" in page.inner_text("main")
    page.goto(page.base_url + "/")
    assert page.get_by_label("Votre code postal ou votre commune").is_visible()


def test_phone_search_typing_the_commune(phone, catalogue, capsys):
    """Without the position: the commune typed and picked in the suggestions."""
    page = phone()
    page.goto(page.base_url + "/")
    typed = Actions(page)
    what_and_when(page, typed)
    typed.type(page.get_by_label("Votre code postal ou votre commune"), "angou")
    page.get_by_role("option", name="Angoulême (16000)").wait_for()
    typed.tap(page.get_by_role("option", name="Angoulême (16000)"))
    with page.expect_navigation():
        typed.tap(page.get_by_role("button", name="Voir les lieux", exact=True))
    assert result_titles(page) == ["Espace numérique de Basseau"]
    assert f"Votre pass : {PROGRAMME_NAME}" in page.inner_text("#resultats")
    with capsys.disabled():
        print(f"\nactions sur téléphone : première recherche {typed.count} (commune écrite)")
    assert typed.count < BEFORE


def test_position_refused_says_so_and_gives_the_commune_field(phone, catalogue):
    page = phone()  # the browser was not allowed to tell the position
    page.goto(page.base_url + "/")
    page.get_by_role("button", name="Voir les lieux autour de moi").tap()
    status = page.locator(".geolocate-go [role=status]")
    status.filter(has_text="écrivez votre code postal ou votre commune").wait_for()
    assert "Vous n'avez pas autorisé la position" in status.inner_text()
    assert page.evaluate("document.activeElement.id") == "where"
    assert page.url.rstrip("/") == page.base_url


def test_home_page_place_without_javascript(phone, catalogue):
    page = phone(java_script_enabled=False)
    page.goto(page.base_url + "/")
    assert not page.get_by_role("button", name="Voir les lieux autour de moi").is_visible()
    page.get_by_role("checkbox", name="Samedi").check()
    page.get_by_label("Votre code postal ou votre commune").fill("16000")
    with page.expect_navigation():
        page.get_by_role("button", name="Voir les lieux", exact=True).click()
    assert set(result_titles(page)) == {"Espace numérique de Basseau"}
    assert f"Votre pass : {PROGRAMME_NAME}" in page.inner_text("#resultats")


def test_the_home_page_tiles_fit_a_phone(phone, catalogue):
    """On a phone the 18 tiles are one column of two-line tiles (the margins give their
    width to the words): about a screen and a half to scroll, where they took 2.4 screens
    (1,995 px at 390 px wide) when each tile's words ran over three lines."""
    page = phone()
    page.goto(page.base_url + "/")
    screen = PHONE["viewport"]["height"]
    tiles = page.locator(".tiles-compact .tile")
    assert tiles.count() == 18
    lines = page.evaluate("""() => [...document.querySelectorAll('.tiles-compact .tile span')]
        .map(s => Math.round(s.getBoundingClientRect().height
                             / parseFloat(getComputedStyle(s).lineHeight)))""")
    assert max(lines) <= 3 and sorted(lines)[len(lines) // 2] <= 2, lines
    block = page.locator(".tiles-compact").bounding_box()
    assert block["height"] < 1.9 * screen, block
    for box in (tiles.nth(i).bounding_box() for i in range(tiles.count())):
        assert box["height"] >= 44 and box["width"] >= 0.8 * PHONE["viewport"]["width"]
