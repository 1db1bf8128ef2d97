"""The search flow in a real Chromium: fill the form, see results with reasons and the map,
open the printable sheet (one A4 page), the prescriber's view; axe-core finds no serious or
critical violation; the same search completes with JavaScript off.

The live server sees committed data only: a small catalogue over the session's real
geography (Gironde) is committed for this module and deleted at its end."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from directory.models import Acceptance, Offer, Programme, Venue
from extensions import db
from tests.conftest import point, week
from tests.web.conftest import serious_violations

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)  # a Tuesday morning
SOURCE = "test-web-search"
PROGRAMME = "pass-numerique-web"
DEMARCHES = "Aide aux démarches administratives"
MAITRISE = "Maîtrise des outils numériques du quotidien"
ACCOMPAGNEMENT = "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"
SANTE = "numerique--accompagner-les-demarches-de-sante"
SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"

# (name, lon, lat, code INSEE, commune, postal code, hours, services, offer, cheques,
#  the offer's topics)
VENUES = [
    ("Médiathèque Pey-Berland", -0.5775, 44.8375, "33063", "Bordeaux", "33000",
     "Tu-Sa 14:00-18:00", [DEMARCHES, MAITRISE], "Mes démarches en ligne", 1,
     [ACCOMPAGNEMENT]),
    ("Espace numérique de Mérignac", -0.6446, 44.8386, "33281", "Mérignac", "33700",
     "Mo-Fr 09:00-12:00,14:00-17:00", [DEMARCHES], "Créer mon compte Ameli", 2,
     [ACCOMPAGNEMENT, SANTE]),
    ("Point numérique de Pessac", -0.6300, 44.8060, "33318", "Pessac", "33600",
     "Mo-Fr 09:00-12:00", [MAITRISE], "Premiers pas sur smartphone", 1, [SMARTPHONE]),
]


@pytest.fixture(scope="module")
def catalogue(app, geography):
    """Committed: a programme over Gironde accepted by three venues; removed at the end."""
    from directory.programmes import save_programme

    with app.app_context(), Session(db.engine) as session:
        programme, _ = save_programme(session, code=PROGRAMME, name="Pass Numérique Web",
                                      perimeter_codes=["dep:33"],
                                      valid_from=dt.date(2026, 1, 1))
        ids = {}
        for n, (nom, lon, lat, insee, commune, postal, hours, services, title, cheques,
                topics) in enumerate(VENUES):
            venue = Venue(source=SOURCE, source_id=f"web-{n}", nom=nom, commune=commune,
                          code_postal=postal, code_insee=insee, adresse=f"{n + 1} place du Test",
                          geom=point(lon, lat), location_precision="address",
                          horaires=hours, horaires_osm=hours, horaires_valides=True,
                          opening_week=week(hours), services=services,
                          telephone=["05 56 00 00 0" + str(n)])
            session.add(venue)
            session.flush()
            session.add(Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                   valid_from=dt.date(2026, 1, 1)))
            session.add(Offer(lieu_id=venue.id, code=f"web-{n}", title=title,
                              service=services[0], topics=topics, format="individual",
                              cheques_required=cheques, languages=["fr"]))
            ids[nom] = venue.id
        session.commit()
    yield ids
    with app.app_context(), Session(db.engine) as session:
        session.execute(delete(Venue).where(Venue.source == SOURCE))
        session.execute(delete(Programme).where(Programme.code == PROGRAMME))
        session.commit()


@pytest.fixture(autouse=True)
def _on_tuesday_morning(clock):
    clock.set(NOW)


def fill_search(page, where: str = "33000") -> None:
    page.get_by_label("Votre code postal ou votre commune").fill(where)
    page.get_by_label("Le nom écrit sur vos chèques").select_option(label="Pass Numérique Web")
    page.get_by_label("Être aidé pour une démarche en ligne").check()
    page.get_by_label("Mardi").check()
    page.get_by_label("Distance ou temps de trajet").select_option(label="À moins de 20 km")


def result_titles(page) -> list[str]:
    return [re.sub(r"^\d+\s*", "", t).strip()
            for t in page.locator(".result-title").all_inner_texts()]


def test_search_flow_with_javascript(new_page, catalogue):
    page = new_page()
    response = page.goto(page.base_url + "/recherche")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "fr"
    assert serious_violations(page) == []
    # Enhancements present: the position button, commune suggestions from the API.
    assert page.get_by_role("button", name="Utiliser ma position").is_visible()
    page.get_by_label("Votre code postal ou votre commune").press_sequentially("Mérig")
    page.get_by_role("listbox", name="Communes proposées").wait_for()
    options = page.get_by_role("option").all_inner_texts()
    assert "Mérignac (33700)" in options

    fill_search(page)
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"/recherche\?.*where=33000"))
    assert page.get_by_role("heading", level=2, name="2 lieux pour vous").is_visible()
    # Bordeaux's venue is in the commune given by the postal code; Pessac's offers
    # something else.
    assert result_titles(page) == ["Médiathèque Pey-Berland", "Espace numérique de Mérignac"]
    first = page.locator(".result").first
    reasons = first.locator(".reasons li").all_inner_texts()
    assert "Accepte le Pass Numérique Web" in reasons
    assert "Propose « Mes démarches en ligne » (accompagnement individuel)" in reasons
    assert "Dans la commune" in first.inner_text()
    assert ("« Mes démarches en ligne » (accompagnement individuel) — payé par votre pass : "
            "1 chèque") in first.inner_text()
    # The map: two numbered markers, no basemap requested (none configured).
    page.wait_for_selector("#search-map .search-marker")
    assert page.locator("#search-map").is_visible()
    assert page.locator("#search-map .search-marker").count() == 2
    assert serious_violations(page) == []

    with page.expect_navigation():
        page.get_by_role("link", name="Fiche à imprimer : Espace numérique de Mérignac").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Espace numérique de Mérignac"
    sheet = page.locator("article.sheet").inner_text()
    assert "À apporter" in sheet and "Vos chèques du Pass Numérique Web : 2 chèques" in sheet
    assert "Pass Numérique Web" in sheet and "Depuis 33000" in sheet
    assert serious_violations(page) == []
    # One A4 page when printed, without the site's navigation.
    page.emulate_media(media="print")
    assert not page.locator(".site-header").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


def test_geolocation_button_fills_the_position(new_page, catalogue):
    page = new_page(geolocation={"latitude": 44.8386, "longitude": -0.6440},
                    permissions=["geolocation"])
    page.goto(page.base_url + "/recherche")
    page.get_by_role("button", name="Utiliser ma position").click()
    page.wait_for_function("() => document.getElementById('lat').value !== ''")
    assert page.get_by_label("Votre code postal ou votre commune").input_value() == "Ma position"
    page.get_by_label("Être aidé pour une démarche en ligne").check()
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_selector("#resultats")
    assert "Autour de : votre position" in page.inner_text("#resultats")
    assert result_titles(page)[0] == "Espace numérique de Mérignac"


def test_errors_are_announced_and_focused(new_page, catalogue):
    page = new_page()
    page.goto(page.base_url + "/recherche")
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_selector(".error-summary")
    assert page.title().startswith("Erreur")
    # The summary is server-rendered; search.js focuses it once it has run.
    page.wait_for_function(
        "() => document.activeElement && "
        "document.activeElement.classList.contains('error-summary')", timeout=10000)
    field = page.get_by_label("Votre code postal ou votre commune")
    assert field.get_attribute("aria-invalid") == "true"
    assert "Indiquez votre code postal" in page.inner_text("#where-error")
    assert serious_violations(page) == []


def test_prescriber_view_copy_and_axe(new_page, catalogue):
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(page.base_url + "/orienter?where=33000&programme=" + PROGRAMME
              + "&topics=" + ACCOMPAGNEMENT + "&limit=10")
    rows = page.locator(".pro-table tbody tr")
    assert rows.count() == 2
    assert serious_violations(page) == []
    page.get_by_role("button", name="Copier").click()
    page.wait_for_function(
        "() => document.querySelector('.copy-status').textContent.includes('copié')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Lieux pour : 33000")
    assert "1. Médiathèque Pey-Berland" in copied and "2. Espace numérique de Mérignac" in copied


def test_search_flow_with_javascript_off(new_page, catalogue):
    page = new_page(java_script_enabled=False)
    page.goto(page.base_url + "/recherche")
    # Without JavaScript, the enhancements stay hidden; the form is complete.
    assert not page.get_by_role("button", name="Utiliser ma position").is_visible()
    fill_search(page)
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"/recherche\?"))
    assert result_titles(page) == ["Médiathèque Pey-Berland", "Espace numérique de Mérignac"]
    assert "Accepte le Pass Numérique Web" in page.inner_text(".result >> nth=0")
    assert not page.locator("#search-map").is_visible()
    page.get_by_role("link", name="Fiche à imprimer : Médiathèque Pey-Berland").click()
    page.wait_for_url(re.compile(r"/recherche/fiche/\d+"))
    assert "À apporter" in page.inner_text("article.sheet")


def overlapping(boxes: list[dict]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes) if i < j
            and a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


def test_results_map_names_communes_without_a_basemap(new_page, catalogue):
    page = new_page()
    page.goto(page.base_url + "/recherche?where=33000&programme=" + PROGRAMME
              + "&services=aide-aux-demarches-administratives")
    # No basemap in the tests: the names come from our own geography.
    page.wait_for_selector("#search-map .territory-label span", timeout=10000)
    labels = page.locator("#search-map .territory-label span")
    names = labels.all_inner_texts()
    assert {"Bordeaux", "Mérignac"} <= set(names), names
    assert page.locator("#search-map img.leaflet-tile").count() == 0
    assert overlapping([labels.nth(i).bounding_box() for i in range(labels.count())]) == []
    assert serious_violations(page) == []
