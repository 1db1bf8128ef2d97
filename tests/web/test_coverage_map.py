"""The coverage map /carte in Chromium: a committed little world with a coverage run, a
click on a département that opens its figures, a switch of measure that changes the legend,
keyboard access, suggested sites, the message when no run exists, the referrals layer —
and nothing requested from another host, no JavaScript error, no Content-Security-Policy violation.

The world (codes no real territory uses; the live server sees committed data only):

    région 96 "Région de la carte", two départements side by side, lat 47.0–47.6
      961 "Val d'essai"  (lon 1.0–1.3): communes 96101 (10 000 h., the venue), 96102
                         (5 000 h., ≈ 14.8 km of cost from the venue), 96103 (2 000 h., ≈ 44 km)
      962 "Mont d'essai" (lon 1.3–1.6): communes 96201 (8 000 h.), 96202 (1 000 h.),
                         both more than 30 km of cost from the venue.
So 961 has 15 000 of 17 000 people within 20 km (88,2 %), 962 has nobody within 30 km.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from coverage.refresh import refresh
from coverage.selection import Selection
from directory.models import Acceptance, Programme, Venue
from extensions import db
from geodata.models import Commune, Departement, Epci, Region
from tests.conftest import make_venue, point, square
from tests.web.conftest import serious_violations

pytestmark = pytest.mark.browser

SOURCE = "test-carte"
PROGRAMME = "carte-essai"
COMMUNES = {
    # code: (name, population, departement, epci, (min lon, min lat, max lon, max lat))
    "96101": ("Aubry-d'essai", 10_000, "961", "999600001", (1.0, 47.0, 1.15, 47.3)),
    "96102": ("Bessé-d'essai", 5_000, "961", "999600001", (1.15, 47.0, 1.3, 47.3)),
    "96103": ("Crécy-d'essai", 2_000, "961", None, (1.0, 47.3, 1.3, 47.6)),
    "96201": ("Dampierre-d'essai", 8_000, "962", "999600002", (1.3, 47.0, 1.6, 47.3)),
    "96202": ("Essey-d'essai", 1_000, "962", "999600002", (1.3, 47.3, 1.6, 47.6)),
}


def _centre(bounds: tuple[float, float, float, float]) -> tuple[float, float]:
    return (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2


def _remove_world(session: Session) -> None:
    session.execute(text("DELETE FROM coverage_run WHERE within = 'reg:96'"))
    for table in ("coverage_shape", "coverage_map_shape"):
        session.execute(text(
            f"DELETE FROM {table} WHERE code IN ('96', '961', '962', '999600001', "
            "'999600002') OR code LIKE '96___'"))
    session.execute(delete(Venue).where(Venue.source == SOURCE))
    session.execute(delete(Programme).where(Programme.code == PROGRAMME))
    session.execute(delete(Commune).where(Commune.code.in_(COMMUNES)))
    session.execute(delete(Epci).where(Epci.code.in_(("999600001", "999600002"))))
    session.execute(delete(Departement).where(Departement.code.in_(("961", "962"))))
    session.execute(delete(Region).where(Region.code == "96"))
    session.commit()


@pytest.fixture(scope="module")
def world(app):
    with app.app_context():
        session = Session(db.engine)
        try:
            _remove_world(session)  # a run interrupted earlier
            session.add(Region(code="96", name="Région de la carte", population=26_000,
                               geom=square(1.0, 47.0, 1.6, 47.6)))
            session.flush()
            session.add_all([
                Departement(code="961", name="Val d'essai", region_code="96",
                            population=17_000, geom=square(1.0, 47.0, 1.3, 47.6)),
                Departement(code="962", name="Mont d'essai", region_code="96",
                            population=9_000, geom=square(1.3, 47.0, 1.6, 47.6)),
                Epci(code="999600001", name="Communauté d'essai", kind="CC",
                     population=15_000, geom=square(1.0, 47.0, 1.3, 47.3)),
                Epci(code="999600002", name="Communauté du Mont d'essai", kind="CC",
                     population=9_000, geom=square(1.3, 47.0, 1.6, 47.6)),
            ])
            session.flush()
            for code, (name, population, dep, epci, bounds) in COMMUNES.items():
                session.add(Commune(
                    code=code, name=name, search_name=name.lower(), population=population,
                    departement_code=dep, region_code="96", epci_code=epci,
                    geom=square(*bounds), point=point(*_centre(bounds)),
                    town_hall_point=point(*_centre(bounds))))
            session.flush()
            venue = make_venue(session, source=SOURCE, nom="Espace numérique d'Aubry",
                               commune="Aubry-d'essai", code_postal="96100",
                               code_insee="96101", geom=point(*_centre(COMMUNES["96101"][4])),
                               weekly_capacity=20)
            programme = Programme(code=PROGRAMME, name="Pass de la carte d'essai",
                                  perimeter_codes=["reg:96"], perimeter_communes=list(COMMUNES),
                                  valid_from=dt.date(2020, 1, 1))
            session.add(programme)
            session.flush()
            session.add(Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                   valid_from=dt.date(2020, 1, 1)))
            report = refresh(session, Selection(within="reg:96"),
                             detour=1.3, today=dt.date(2026, 12, 1))
            session.commit()
            yield {"run_id": report.run_id, "venue_id": venue.id}
        finally:
            session.rollback()
            _remove_world(session)
            session.close()


def _figures(page) -> dict[str, str]:
    """The panel's definition list as {term: value}, spaces normalised, once complete (the
    map draws from a light payload; the panel then fetches the territory's full figures)."""
    expect(page.locator("#carte-panneau")).to_have_attribute("aria-busy", "false")
    terms = page.locator("#carte-panneau-valeurs dt").all_inner_texts()
    values = page.locator("#carte-panneau-valeurs dd").all_inner_texts()
    return {t: re.sub(r"\s+", " ", v.replace("\u202f", " ").replace("\xa0", " "))
            for t, v in zip(terms, values, strict=True)}


def _legend(page) -> list[str]:
    items = page.locator("#carte-legende-classes li").all_inner_texts()
    return [re.sub(r"\s+", " ", item).strip() for item in items]


def _open_map(page, query: str = ""):
    console: list[str] = []
    coverage_requests: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.on("request", lambda request: coverage_requests.append(request.url)
            if "/api/v1/coverage/" in request.url else None)
    response = page.goto(page.base_url + "/carte" + query)
    assert response.status == 200
    return console, coverage_requests


def test_click_a_departement_and_read_its_figures(page, world):
    console, requests = _open_map(page)
    # The study territory is the run's (the only one); level forced to départements.
    # (Locator assertions, not wait_for_function: the page's CSP forbids eval.)
    expect(page.locator("#carte-territoire")).to_have_value("reg:96")
    page.select_option("#carte-maille", "departement")
    page.wait_for_selector('path.coverage-territory[data-code="961"]')
    expect(page.locator("#carte-statut")).to_contain_text("2 départements affichés")

    page.click('path.coverage-territory[data-code="961"]')
    title = page.locator("#carte-panneau-titre")
    assert title.inner_text() == "Val d'essai (département)"
    # The panel takes the focus, so that a screen reader reads it next.
    assert page.evaluate("document.activeElement.id") == "carte-panneau"
    figures = _figures(page)
    assert figures["Population"] == "17 000"
    assert figures["Part de la population à moins de 20 km"] == "88,2 %"
    assert figures["Personnes sans lieu à moins de 20 km"] == "2 000"
    assert figures["Personnes sans lieu à 30 km"] == "2 000"
    assert figures["Communes sans lieu à 30 km"] == "1"

    # Legend of the default measure, the one that separates territories: people without a
    # venue within 20 km, classes from the data (quantiles), said in words.
    assert page.inner_text("#carte-legende-titre") == "Personnes sans lieu à moins de 20 km"
    assert "quantiles" in page.inner_text("#carte-legende-seuils")
    assert "plus de 20 km" in page.inner_text("#carte-legende-explication")
    legend = [item.replace(" ", " ") for item in _legend(page)]
    assert legend == ["jusqu'à 2 000 (1)", "plus de 2 000 (1)"]
    territory = 'path.coverage-territory[data-code="961"]'
    assert page.get_attribute(territory, "fill") == "#f03b20"
    assert page.get_attribute('path.coverage-territory[data-code="962"]', "fill") == "#bd0026"

    # Another measure: the legend changes (title and classes), the map is restyled.
    page.select_option("#carte-mesure", "distance")
    assert page.inner_text("#carte-legende-titre").startswith(
        "Distance moyenne au lieu le plus proche")
    legend = _legend(page)
    # 961: (10 000 × 0 + 5 000 × 14.8 km) / 15 000 ≈ 4.9 km; 962: nobody within 30 km.
    assert "5 km ou moins (1)" in legend and "aucun lieu à 30 km (1)" in legend
    assert page.get_attribute(territory, "fill") == "#ffffb2"
    assert page.get_attribute('path.coverage-territory[data-code="962"]', "fill") == "#bd0026"
    # The panel follows the measure too.
    assert _figures(page)["Distance moyenne au lieu le plus proche"].endswith("km")

    # Keyboard: a territory is reachable and opens with Enter.
    page.focus('path.coverage-territory[data-code="962"]')
    page.keyboard.press("Enter")
    assert title.inner_text() == "Mont d'essai (département)"
    assert _figures(page)["Distance moyenne au lieu le plus proche"] == "aucun lieu à 30 km"

    # Another level: the département's panel does not stay on screen.
    page.select_option("#carte-maille", "epci")
    expect(title).to_have_text("Choisissez un territoire")
    page.select_option("#carte-maille", "departement")
    page.wait_for_selector('path.coverage-territory[data-code="961"]')

    # The exports are the API with the same parameters; the CSV holds what is shown.
    csv_href = page.get_attribute("#carte-export-csv", "href")
    params = parse_qs(urlsplit(csv_href).query)
    assert urlsplit(csv_href).path == "/api/v1/coverage/departement"
    assert params == {"within": ["reg:96"], "format": ["csv"]}
    exported = page.request.get(page.base_url + csv_href)
    assert exported.status == 200
    rows = exported.text().lstrip("\ufeff").strip().splitlines()
    assert rows[0].startswith("Code;Nom;Niveau;Population") and len(rows) == 3
    geojson_href = page.get_attribute("#carte-export-geojson", "href")
    assert parse_qs(urlsplit(geojson_href).query)["format"] == ["geojson"]

    # axe-core (our own copy, loaded from our host: the page's CSP forbids inline scripts)
    # finds no serious or critical accessibility problem.
    assert serious_violations(page) == []
    assert not [m for m in console if "Content Security Policy" in m], console
    # Never a commune-level request without a bounding box.
    for url in requests:
        if urlsplit(url).path.endswith("/commune"):
            assert "bbox=" in url, url


def test_zoomed_view_loads_communes_of_the_view_only(page, world):
    console, requests = _open_map(page, "?within=reg:96")
    # The world is small: framed, the map is past zoom 8, so communes come within a bbox.
    page.wait_for_selector('path.coverage-territory[data-code="96101"]')
    communes = [url for url in requests if urlsplit(url).path.endswith("/commune")]
    assert communes and all("bbox=" in url for url in communes)
    # The choropleth comes from the map's light view, simplified for the zoom shown.
    drawn = urlsplit(communes[-1])
    assert drawn.path == "/api/v1/coverage/map/commune"
    assert int(parse_qs(drawn.query)["zoom"][0]) >= 9
    # The view in one request naming its run: the browser keeps the answer for the session.
    assert len({url for url in communes}) == 1
    assert parse_qs(drawn.query)["run"][0].isdigit()
    page.click('path.coverage-territory[data-code="96102"]')
    figures = _figures(page)
    assert page.inner_text("#carte-panneau-titre") == "Bessé-d'essai (commune)"
    assert figures["Part de la population à moins de 20 km"] == "100 %"
    assert figures["Lieux à moins de 10 / 20 / 30 km"] == "0 / 1 / 1"
    # The venue is on the map (clustered layer, from the venues API within the view).
    page.wait_for_selector(".leaflet-marker-pane .marker-cluster, path.leaflet-interactive"
                           "[fill='#00497a']")
    assert not [m for m in console if "Content Security Policy" in m], console


def test_suggested_sites_and_comparison(page, world):
    _open_map(page, "?within=reg:96&maille=departement")
    page.wait_for_selector('path.coverage-territory[data-code="962"]')
    page.click('path.coverage-territory[data-code="962"]')
    page.fill("#carte-k", "1")
    page.click("#carte-suggestions button[type=submit]")
    page.wait_for_selector("#carte-sites li")
    # One town hall in Mont d'essai: the one of Dampierre covers its 8 000 people.
    assert "+8 000 personnes à portée" in page.inner_text("#carte-sites li").replace(
        "\u202f", " ")
    comparison = {t: v.replace("\u202f", " ") for t, v in zip(
        page.locator("#carte-comparaison-valeurs dt").all_inner_texts(),
        page.locator("#carte-comparaison-valeurs dd").all_inner_texts(), strict=True)}
    assert comparison["Territoire"] == "Mont d'essai"
    assert comparison["Aujourd'hui : part à moins de 20 km"] == "0 %"
    assert comparison["Avec ce site"] == "88,8 %"
    assert comparison["Personnes nouvellement à portée"] == "8 000"
    assert page.locator(".site-marker").count() == 1


def test_selection_without_run_says_which_command_to_run(page, world):
    _open_map(page, "?within=reg:96&maille=departement")
    page.wait_for_selector('path.coverage-territory[data-code="961"]')
    expect(page.locator(f'#carte-programme option[value="{PROGRAMME}"]')).to_have_count(1)
    page.select_option("#carte-programme", PROGRAMME)
    page.wait_for_selector("#carte-absence:not([hidden])")
    assert "Aucun calcul de couverture" in page.inner_text("#carte-absence-message")
    command = page.inner_text("#carte-absence-commande")
    assert command.startswith("flask --app app coverage refresh")
    assert "--programme carte-essai" in command
    assert page.locator("path.coverage-territory").count() == 0


def test_suggested_sites_through_a_background_job(page, world, app, job_worker, monkeypatch):
    """A large territory's suggestions come from the worker: the map follows the job (202,
    then /api/v1/jobs/<id>) and shows the same sites as the direct computation."""
    monkeypatch.setitem(app.config, "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES", 0)
    job_requests: list[str] = []
    page.on("request", lambda request: job_requests.append(request.url)
            if "/api/v1/jobs/" in request.url else None)
    _open_map(page, "?within=reg:96&maille=departement")
    page.wait_for_selector('path.coverage-territory[data-code="962"]')
    page.click('path.coverage-territory[data-code="962"]')
    page.fill("#carte-k", "1")
    page.click("#carte-suggestions button[type=submit]")
    page.wait_for_selector("#carte-sites li", timeout=60_000)
    assert "+8 000 personnes à portée" in page.inner_text("#carte-sites li").replace(
        "\u202f", " ")
    assert job_requests, "la carte n'a pas suivi la tâche de fond"


def test_territory_fills_the_frame_without_a_basemap(browser, live_server, world):
    """On first load without a basemap the studied région fills the frame: its drawn
    bounds take most of the map's width or height (whole zooms left it at half)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"{live_server}/carte?within=reg:96")
        page.wait_for_selector("path.coverage-territory")
        page.wait_for_load_state("networkidle")
        frame = page.locator("#carte-couverture").bounding_box()
        x0, y0, x1, y1 = page.evaluate("""() => {
          const boxes = [...document.querySelectorAll('path.coverage-territory')]
            .map((p) => p.getBoundingClientRect());
          return [Math.min(...boxes.map((b) => b.left)), Math.min(...boxes.map((b) => b.top)),
                  Math.max(...boxes.map((b) => b.right)),
                  Math.max(...boxes.map((b) => b.bottom))];
        }""")
        fill = max((x1 - x0) / frame["width"], (y1 - y0) / frame["height"])
        assert 0.75 <= fill <= 1.0, fill
        # Inside the frame, centred.
        assert frame["x"] <= x0 and x1 <= frame["x"] + frame["width"]
        assert frame["y"] <= y0 and y1 <= frame["y"] + frame["height"]
    finally:
        context.close()


def _french_cells(path) -> list[dict[str, str]]:
    """A CSV read the way a French spreadsheet reads it: UTF-8 with BOM, `;` separator."""
    data = Path(path).read_bytes()
    assert data.startswith("\ufeff".encode()), "BOM attendu"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def _decimal(cell: str) -> float:
    assert "." not in cell, cell   # a decimal comma, never a point
    return float(cell.replace(",", "."))


def test_planner_journey(page, browser, world, tmp_path, app, job_worker, monkeypatch):
    """The planner's way through /carte: the worst EPCI of the région without touching a
    control, its panel, a CSV a French spreadsheet reads, a budget scenario, the territory's
    one-page brief and its standalone map, which requests nothing — both made by a
    background job here, as for a large territory."""
    monkeypatch.setitem(app.config, "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES", 0)
    _open_map(page)
    expect(page.locator("#carte-territoire")).to_have_value("reg:96")
    # The ranked list, beside the map, without touching a control.
    first = page.locator("#carte-classement-liste li").first
    expect(first.locator("a")).to_have_text("Communauté du Mont d'essai")
    expect(page.locator("#carte-classement-titre")).to_have_text(
        "Les intercommunalités les moins bien desservies")
    assert page.locator("#carte-classement-liste li").count() == 2
    # The territory names are on the map, once each at most.
    expect(page.locator(".territory-label span").first).to_be_visible()
    names = page.locator(".territory-label span").all_inner_texts()
    assert len(names) == len(set(names))

    first.locator("a").click()
    title = page.locator("#carte-panneau-titre")
    expect(title).to_have_text("Communauté du Mont d'essai (intercommunalité)")
    figures = _figures(page)
    assert figures["Personnes sans lieu à moins de 20 km"] == "9 000"
    assert figures["Part de la population à moins de 20 km"] == "0 %"
    page.wait_for_selector('path.coverage-territory[data-code="999600002"].is-selected')
    # No internal ids or codes in what the planner reads.
    body = page.inner_text("main")
    for internal in ("e2sfca_step", "999600002", "carte-essai", "reg:96"):
        assert internal not in body, internal

    # The export opens in columns in a French spreadsheet.
    with page.expect_download() as download:
        page.click("#carte-export-csv")
    rows = {r["Code"]: r for r in _french_cells(download.value.path())}
    mont = rows["999600002"]
    assert mont["Nom"] == "Communauté du Mont d'essai" and mont["Niveau"] == "intercommunalité"
    assert (mont["Code département"], mont["Code région"]) == ("962", "96")
    assert _decimal(mont["Personnes sans lieu à 20 km"]) == 9000
    index = rows["999600001"]["Indice d'accessibilité (1 = moyenne de référence)"]
    assert _decimal(index) > 1

    # A budget scenario: 200 000 € at 100 000 € a site pays for two sites.
    page.check("#carte-mode-budget")
    page.fill("#carte-budget", "200000")
    page.fill("#carte-cout", "100000")
    page.fill("#carte-capacite", "20")
    page.click("#carte-suggestions button[type=submit]")
    expect(page.locator("#carte-sites li")).to_have_count(2)
    budget = page.inner_text("#carte-comparaison-budget").replace("\u202f", " ")
    assert budget.startswith("Avec 200 000 €, à 100 000 € par site et 20 accompagnements "
                             "par semaine par site : 2 sites financés")
    comparison = {t: v.replace("\u202f", " ") for t, v in zip(
        page.locator("#carte-comparaison-valeurs dt").all_inner_texts(),
        page.locator("#carte-comparaison-valeurs dd").all_inner_texts(), strict=True)}
    assert comparison["Personnes nouvellement à portée"] == "9 000"
    assert comparison["Avec ces 2 sites"] == "100 %"
    # Against the région's mean, the two sites close part of the EPCI's capacity gap.
    closed, before = comparison["Écart de capacité comblé (accompagnements par semaine)"] \
        .split(" sur ")
    assert 0 < _decimal(closed.replace(" ", "")) <= _decimal(before.replace(" ", ""))

    assert serious_violations(page) == []

    # The brief and the standalone map are made by a background job, started with the
    # scenario: the map says when they are ready.
    expect(page.locator("#carte-suite-etat")).to_have_text("Fiche et carte prêtes.",
                                                           timeout=60_000)
    # The standalone map: downloaded, opened from the disk, it requests nothing.
    with page.expect_download() as download:
        page.click("#carte-folium")
    saved = tmp_path / "carte.html"
    download.value.save_as(saved)
    offline = browser.new_context()
    requested: list[str] = []
    offline.on("request", lambda request: requested.append(request.url))
    try:
        standalone = offline.new_page()
        standalone.goto(saved.as_uri())
        # Leaflet ran from the file itself: the communes are drawn, the sites too.
        expect(standalone.locator("path.leaflet-interactive")).to_have_count(4)
    finally:
        offline.close()
    assert [url for url in requested if not url.startswith("file:")] == []

    # The one-page brief: printed to PDF (A4), one page.
    brief = page.get_attribute("#carte-fiche", "href")
    page.goto(page.base_url + brief)
    expect(page.locator("h1")).to_contain_text("Communauté du Mont d'essai")
    assert "Dampierre-d'essai" in page.inner_text(".brief-sites")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf)) == 1


def test_brief_without_javascript_waits_then_shows(browser, live_server, world, app,
                                                   job_worker, monkeypatch):
    """Without a script, the brief's address answers a page « en préparation » that
    reloads itself until the background job is done, then the brief itself."""
    monkeypatch.setitem(app.config, "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES", 0)
    context = browser.new_context(java_script_enabled=False, locale="fr-FR")
    try:
        page = context.new_page()
        url = (f"{live_server}/carte/fiche?within=epci:999600001&k=2&radius_km=15")
        first = page.goto(url)
        assert first.status == 202
        expect(page.locator("h1")).to_have_text("La fiche est en préparation")
        assert page.locator('meta[http-equiv="refresh"]').count() == 1
        # The page reloads by itself (no script) until the brief is there.
        expect(page.locator("h1")).to_contain_text("Communauté d'essai", timeout=60_000)
        assert "Aubry-d'essai" in page.inner_text("main")
        # Asked again, the same brief comes at once from the job's kept result.
        assert page.goto(url).status == 200
    finally:
        context.close()


@pytest.fixture
def referrals(app, world):
    """Six referrals made to the venue of Aubry (département 961, 17 000 inhabitants), five
    of them refused for lack of capacity — committed, so that the live server sees them."""
    from accounts.journal import Actor
    from accounts.models import Person
    from core import clock
    from directory.models import Offer
    from referrals import services
    from referrals.models import Referral
    from tests import conftest as cat
    from tests.accounts.conftest import make_person

    email = "conseillere@carte-essai.fr"
    with app.app_context():
        session = Session(db.engine)
        try:
            session.execute(delete(Person).where(Person.email == email))
            venue = session.get(Venue, world["venue_id"])
            programme = session.scalar(select(Programme).where(Programme.code == PROGRAMME))
            offer = cat.offer(session, venue, "Aide aux démarches administratives")
            prescriber = make_person(session, email, ("prescriber", "CCAS d'essai"))
            actor = Actor("web", prescriber.id, "prescriber")
            now = clock.now()
            for n in range(6):
                referral = services.create(
                    session, prescriber_id=prescriber.id, structure="CCAS d'essai",
                    lieu_id=venue.id, offre_id=offer.id, seance_id=None,
                    programme_id=programme.id, cheques=1, first_name=f"Carte{n}",
                    contact_kind="telephone", contact_value="0612345678",
                    availability="lundi", note=None, consent=True, now=now, actor=actor)
                if n < 5:
                    services.refuse(session, referral.id, "capacity", None, now, actor)
            session.commit()
            yield
        finally:
            session.rollback()
            session.execute(delete(Referral).where(Referral.lieu_id == world["venue_id"]))
            session.execute(delete(Offer).where(Offer.lieu_id == world["venue_id"]))
            session.execute(delete(Person).where(Person.email == email))
            session.commit()
            session.close()


def test_referrals_layer(page, world, referrals):
    """The planner switches on « Orientations »: a disc per département of the venues from
    /api/v1/stats/carte, a ring for the refusals for lack of capacity, a French tooltip and
    legend line."""
    demand_requests: list[str] = []
    page.on("request", lambda request: demand_requests.append(request.url)
            if "/api/v1/stats/carte" in request.url else None)
    console, _ = _open_map(page, "?within=reg:96&maille=departement")
    page.wait_for_selector('path.coverage-territory[data-code="961"]')
    legend = page.locator("#carte-legende-orientations")
    expect(legend).to_be_hidden()
    assert demand_requests == []  # off by default: nothing asked

    page.check("#carte-couche-orientations")
    disc = page.locator("path.demand-disc")
    expect(disc).to_have_count(1)
    assert [parse_qs(urlsplit(url).query) for url in demand_requests] == [
        {"niveau": ["departement"]}]
    expect(page.locator("path.demand-refusals")).to_have_count(1)
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("orientations pour 1")
    assert "anneau rouge : orientations refusées faute de place" in legend.inner_text()
    # 6 referrals for 17 000 inhabitants: 0,35 per 1 000; 5 refused for lack of capacity.
    disc.hover()
    tooltip = page.locator(".leaflet-tooltip")
    expect(tooltip).to_be_visible()
    said = re.sub(r"\s+", " ", tooltip.inner_text().replace("\u202f", " ").replace("\xa0", " "))
    assert said == ("Val d'essai : 0,35 orientations pour 1 000 habitants ; "
                    "5 refusées faute de place")

    # Régions: another request, the région of the venue.
    page.select_option("#carte-maille", "region")
    expect(disc).to_have_count(1)
    assert parse_qs(urlsplit(demand_requests[-1]).query) == {"niveau": ["region"]}

    # The map's programme selector filters the referrals too (by the programme's code).
    # (The disc is there before and after: wait for the layer's own request, not the disc.)
    def layer_request(with_programme: bool):
        return page.expect_request(lambda r: "/api/v1/stats/carte" in r.url
                                   and ("programme=" in r.url) == with_programme)

    asked = len(demand_requests)
    with layer_request(True):
        page.select_option("#carte-programme", PROGRAMME)
    expect(disc).to_have_count(1)
    assert [parse_qs(urlsplit(url).query) for url in demand_requests[asked:]] == [
        {"niveau": ["region"], "programme": [PROGRAMME]}]
    with layer_request(False):
        page.select_option("#carte-programme", "")
    expect(disc).to_have_count(1)
    assert parse_qs(urlsplit(demand_requests[-1]).query) == {"niveau": ["region"]}

    assert serious_violations(page) == []
    page.uncheck("#carte-couche-orientations")
    expect(disc).to_have_count(0)
    expect(legend).to_be_hidden()
    assert not [m for m in console if "Content Security Policy" in m], console
