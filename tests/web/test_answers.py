"""Answers a person can act on, in a real Chromium (issue « Answers a person can act
on »): an ambiguous place is asked, never guessed, with or without JavaScript."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from directory.models import Programme, Venue
from extensions import db
from tests.web.conftest import serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("geography")]


@pytest.mark.parametrize("javascript", [False, True])
def test_an_ambiguous_commune_is_asked_then_chosen(new_page, javascript):  # noqa: F811
    page = new_page(java_script_enabled=javascript)
    page.goto(page.base_url + "/recherche")
    page.get_by_label("Votre code postal ou votre commune").fill("Saint-Paul")
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"/recherche\?"))
    group = page.get_by_role("group", name="Quel Saint-Paul ?")
    assert group.is_visible()
    assert page.locator(".result").count() == 0  # nothing searched in the meantime
    options = group.get_by_role("radio")
    assert options.count() == 2
    labels = group.locator("label").all_inner_texts()
    assert any("Gironde (33)" in t and "33390" in t for t in labels)
    assert any("La Réunion (974)" in t for t in labels)
    if javascript:  # axe-core is a script
        assert serious_violations(page) == []
    group.get_by_label(re.compile("Gironde")).check()
    group.get_by_role("button", name="Choisir cette commune").click()
    page.wait_for_url(re.compile(r"commune=33458"))
    assert not page.get_by_role("group", name="Quel Saint-Paul ?").count()
    assert "Saint-Paul" in page.inner_text("main")


@pytest.fixture(scope="module")
def demo_catalogue(app, geography):
    """The demo data of Nouvelle-Aquitaine, committed for the live server; removed after."""
    from directory import demo

    with app.app_context(), Session(db.engine) as session:
        before = set(session.scalars(select(Programme.id)))
        demo.load_demo(session, reference_date=dt.date(2026, 11, 26), region_code="75",
                       seed=7)
        session.commit()
        created = set(session.scalars(select(Programme.id))) - before
    yield
    with app.app_context(), Session(db.engine) as session:
        session.execute(delete(Venue).where(Venue.source == demo.SOURCE))
        session.execute(delete(Programme).where(Programme.id.in_(created)))
        session.commit()


def _longest_demo_venue(app) -> tuple[int, float, float]:
    """The demo venue whose sheet holds the most: offers, passes, long texts."""
    with app.app_context(), Session(db.engine) as session:
        return session.execute(text("""
            SELECT l.id, ST_Y(l.geom), ST_X(l.geom) FROM lieu l
            WHERE l.source = 'demo'
            ORDER BY (SELECT count(*) FROM offre o WHERE o.lieu_id = l.id) DESC,
                     (SELECT count(*) FROM acceptation a WHERE a.lieu_id = l.id) DESC,
                     (SELECT coalesce(sum(length(o.title)), 0) FROM offre o
                      WHERE o.lieu_id = l.id)
                     + length(l.nom) + length(coalesce(l.adresse, '')) DESC, l.id
            LIMIT 1""")).one()


def test_the_sheet_of_the_longest_demo_venue_prints_on_one_page_a4_or_letter(new_page, app,  # noqa: F811
                                                                   demo_catalogue):
    venue_id, lat, lon = _longest_demo_venue(app)
    page = new_page()
    page.goto(f"{page.base_url}/recherche/fiche/{venue_id}?page=orienter&lat={lat}&lon={lon}"
              "&limit=50")
    sheet = page.locator("article.sheet").inner_text()
    assert "Ce que vous pouvez y faire" in sheet  # the venue is found: its offers are listed
    assert "mots de passe" not in sheet.lower()
    bring = page.locator(".sheet-bring li").all_inner_texts()
    assert any("pièce d'identité" in b for b in bring)
    assert any(b.startswith("Votre téléphone") for b in bring)
    assert any(b.startswith("Vos codes") and "si vous les avez" in b for b in bring)
    page.emulate_media(media="print")
    for paper in ("A4", "Letter"):  # the sheet printed on two pages of either
        pdf = page.pdf(format=paper, print_background=True)
        assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1, paper


def test_the_venue_page_links_to_its_sheet_and_prints_a_date_not_a_live_state(
        new_page, app, demo_catalogue):  # noqa: F811
    venue_id, _, _ = _longest_demo_venue(app)
    page = new_page()
    page.goto(f"{page.base_url}/lieux/{venue_id}")
    link = page.get_by_role("link", name="Fiche à imprimer sur une page")
    assert link.get_attribute("href") == f"/recherche/fiche/{venue_id}"
    # French map controls.
    page.wait_for_selector(".leaflet-control-zoom-in")
    assert page.locator(".leaflet-control-zoom-in").get_attribute("title") == \
        "Agrandir la carte"
    assert serious_violations(page) == []
    page.emulate_media(media="print")
    printed = page.locator("main").inner_text()
    assert "Page imprimée le " in printed
    assert not page.locator("[data-hours-today]").is_visible()
    assert "en ce moment" not in printed
    assert page.locator("table.week").first.is_visible()
    assert not link.is_visible()


def test_place_field_is_an_accessible_combobox(new_page, geography):  # noqa: F811
    page = new_page()
    page.goto(page.base_url + "/recherche")
    field = page.get_by_role("combobox", name="Votre code postal ou votre commune")
    assert field.get_attribute("aria-expanded") == "false"
    field.press_sequentially("Saint-Pau")
    listbox = page.get_by_role("listbox", name="Communes proposées")
    listbox.wait_for()
    assert field.get_attribute("aria-expanded") == "true"
    options = listbox.get_by_role("option").all_inner_texts()
    assert "Saint-Paul (33390)" in options
    assert "commune(s) proposée(s)" in page.locator("#where-status").inner_text()
    assert serious_violations(page) == []
    # Keyboard only: arrows move the active option (announced), Enter chooses it.
    wanted = options.index("Saint-Paul (33390)")
    for _ in range(wanted + 1):
        field.press("ArrowDown")
    active = field.get_attribute("aria-activedescendant")
    assert page.locator(f"#{active}").inner_text() == "Saint-Paul (33390)"
    field.press("Enter")
    assert field.input_value() == "Saint-Paul (33390)"
    assert page.locator("#commune").input_value() == "33458"
    assert field.get_attribute("aria-expanded") == "false"
    # The chosen commune is searched, nothing asked again.
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"commune=33458"))
    assert not page.get_by_role("group", name="Quel Saint-Paul ?").count()
