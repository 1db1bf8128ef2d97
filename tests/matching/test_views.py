"""The search pages rendered by the server, without JavaScript: form -> results, French
errors next to the fields and in a summary, the printable sheet, the prescriber's table,
its plain-text summary and its CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from directory.vocabulary import SERVICES, TOPICS
from matching import forms
from tests import conftest as cat
from tests.conftest import clock_at
from tests.matching.world import ACCOMPAGNEMENT, CREER, DEMARCHES, LAT0, LOISIRS, LON0, NOW, at

ROOT = Path(__file__).resolve().parents[2]
HERE = {"where": "Ma position", "lat": str(LAT0), "lon": str(LON0)}


clock = clock_at(NOW)


@pytest.fixture
def town(db_session, clock):
    """A pass accepted by A (1 km east, afternoons), B (3 km north, mornings, deafness
    support) and G (15 km); C (500 m west) does not accept it."""
    s = db_session
    prog = cat.programme(s, "pass-vue", "Pass Numérique Vue")
    v = {
        "a": cat.venue(s, *at(1), horaires="Tu-Sa 14:00-18:00", nom="Atelier Alpha",
                       services=[DEMARCHES], telephone=["05 56 00 00 01"]),
        "b": cat.venue(s, *at(0, 3), horaires="Mo-Fr 09:00-12:00", nom="Bibliothèque Bêta",
                       services=[DEMARCHES, LOISIRS], prise_en_charge_specifique=["Surdité"]),
        "c": cat.venue(s, *at(-0.5), horaires="Mo-Su 00:00-24:00", nom="Café Gamma",
                       services=[DEMARCHES]),
        "g": cat.venue(s, *at(15), nom="Garage Delta", services=[LOISIRS]),
    }
    for key in "abg":
        cat.accept(s, v[key], prog)
    cat.offer(s, v["a"], DEMARCHES, title="Mes démarches en ligne", cheques=1,
              topics=[ACCOMPAGNEMENT])
    cat.offer(s, v["b"], DEMARCHES, title="Les papiers sur internet", format="collective",
              cheques=2, topics=[ACCOMPAGNEMENT])
    cat.offer(s, v["b"], LOISIRS, title="Retoucher ses photos", format="collective",
              topics=[CREER])
    cat.offer(s, v["c"], DEMARCHES, title="Un coup de main pour vos papiers",
              topics=[ACCOMPAGNEMENT])
    cat.offer(s, v["g"], LOISIRS, title="Monter ses vidéos", format="collective",
              topics=[CREER])
    return prog, v


def text_of(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def result_names(response) -> list[str]:
    html = response.get_data(as_text=True)
    return [unescape(m.strip()) for m in re.findall(
        r'<h3 class="result-title"><span class="result-rank"[^>]*>\d+</span>\s*(.*?)</h3>',
        html, flags=re.S)]


def query(**fields) -> MultiDict:
    return MultiDict([(k, v) for k, values in fields.items()
                      for v in (values if isinstance(values, list) else [values])])


# --------------------------------------------------------------------------- the form


def test_search_page_without_javascript_is_a_complete_get_form(client, town):
    response = client.get("/recherche")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert re.search(r'<form class="search-form" method="get" action="/recherche', html)
    assert "<h1>Où utiliser mon Pass Numérique ?</h1>" in html
    # One large tile per topic (what one learns), each with its service's icon, which exists.
    for topic in TOPICS:
        assert f'name="topics" value="{topic.code}"' in html
        assert topic.plain.replace("'", "&#39;") in html
    assert 'name="services"' not in html
    icons = re.findall(r'src="/static/(img/services/[a-z-]+\.svg)(?:\?v=[0-9a-f]+)?"', html)
    assert len(icons) == len(TOPICS) and len(set(icons)) == len(SERVICES)
    assert all((ROOT / "static" / icon).is_file() for icon in icons)
    # The programmes of the database, and "je ne sais pas".
    assert '<option value="pass-vue">Pass Numérique Vue</option>' in html
    assert '<option value="">Je ne sais pas</option>' in html
    # Every visible field has a label; no results yet.
    for field_id in re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html):
        if f'id="{field_id}"' in html and f'type="hidden" name="{field_id}"' not in html:
            assert f'for="{field_id}"' in html, field_id
    assert 'id="resultats"' not in html
    assert "error-summary" not in html and "field-error" not in html  # nothing sent yet
    # JS-only controls are hidden until the script shows them.
    assert re.search(r'<p class="geolocate" hidden>', html)


def test_search_form_to_results_with_reasons(client, town):
    _, v = town
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, reach=""))
    assert response.status_code == 200
    # Distance order without availability; C does not accept the pass, G is too far off
    # the service.
    assert result_names(response) == ["Atelier Alpha", "Bibliothèque Bêta"]
    text = text_of(response)
    assert "2 lieux pour vous" in text
    # The commune of the position is named when the session's geography has it.
    assert re.search(r"Autour de : votre position (\(Bordeaux\) )?· pass : Pass Numérique Vue",
                     text)
    assert "À 1,0 km" in text and "À 3,0 km" in text
    assert "Accepte le Pass Numérique Vue" in text
    # The reason cites the offer on the topic asked, not the venue's broad service.
    assert "Propose « Mes démarches en ligne » (accompagnement individuel)" in text
    assert DEMARCHES not in text
    assert ("« Mes démarches en ligne » (accompagnement individuel) — payé par votre pass : "
            "1 chèque") in text
    assert "« Les papiers sur internet » (atelier collectif) — payé par votre pass : 2 chèques" \
        in text
    assert "Trajet : environ 17 min à pied" in text  # 1 km × 1,3 at 4,5 km/h
    html = response.get_data(as_text=True)
    assert f'href="/lieux/{v["a"].id}?programme=pass-vue"' in html
    sheet = re.search(rf'href="(/recherche/fiche/{v["a"].id}\?[^"]+)"', html).group(1)
    assert "programme=pass-vue" in sheet and "page=recherche" in sheet
    # The map's data: a JSON script element, no inline code.
    data = json.loads(unescape(re.search(
        r'<script type="application/json" id="search-map-data">(.*?)</script>', html,
        flags=re.S).group(1)))
    assert [p["nom"] for p in data["venues"]] == ["Atelier Alpha", "Bibliothèque Bêta"]
    assert (data["place"]["lat"], data["place"]["lon"]) == (LAT0, LON0)
    assert data["venues"][0]["url"].startswith(f"/recherche/fiche/{v['a'].id}?")
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)


def test_basemap_comes_from_the_configuration(client, town, app):
    fields = query(**HERE, programme="pass-vue", topics=ACCOMPAGNEMENT)
    html = client.get("/recherche", query_string=fields).get_data(as_text=True)
    assert 'data-basemap-url=""' in html  # none configured: markers on a plain background
    app.config["PASSERELLE_BASEMAP_URL"] = "https://tuiles.example.fr/{z}/{x}/{y}.png"
    try:
        html = client.get("/recherche", query_string=fields).get_data(as_text=True)
    finally:
        app.config["PASSERELLE_BASEMAP_URL"] = ""
    assert 'data-basemap-url="https://tuiles.example.fr/{z}/{x}/{y}.png"' in html


def test_availability_from_days_and_moments(client, town):
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, days="mardi",
        moments="apres-midi"))
    assert response.status_code == 200
    # B opens on mornings only: known to be closed on Tuesday afternoons.
    assert result_names(response) == ["Atelier Alpha"]
    assert "Prochaine possibilité : ouvert aujourd'hui de 14 h à 18 h" in text_of(response)


def test_now_overrides_days_and_says_so(client, town):
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, now="1", days="samedi"))
    assert response.status_code == 200
    assert result_names(response) == ["Bibliothèque Bêta"]  # open at 10:00 on Tuesday
    assert "les jours et moments cochés ne sont pas utilisés" in text_of(response)


def test_without_a_pass_each_result_says_which_passes_it_accepts(client, town):
    # « Je ne sais pas » on the form (an empty pass): every venue, each with its passes.
    response = client.get("/recherche", query_string=query(**HERE, programme="",
                                                           topics=ACCOMPAGNEMENT))
    assert response.status_code == 200
    assert result_names(response) == ["Café Gamma", "Atelier Alpha", "Bibliothèque Bêta"]
    html = response.get_data(as_text=True)
    passes = [" ".join(re.sub(r"<[^>]+>", " ", unescape(m)).split()) for m in
              re.findall(r'<p class="result-passes">(.*?)</p>', html, flags=re.S)]
    assert passes == ["N'accepte aucun Pass Numérique pour l'instant.",
                      "Pass accepté : Pass Numérique Vue", "Pass accepté : Pass Numérique Vue"]


def test_nothing_fits_gives_a_relaxation_hint(client, town):
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, days="dimanche", reach="5km"))
    assert response.status_code == 200
    text = text_of(response)
    assert "Aucun lieu ne correspond à votre recherche" in text
    assert "Ce qui pourrait marcher" in text
    assert "mais aucun le dimanche" in text


def test_radius_widening_is_said(client, town):
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-vue", topics=CREER))
    assert response.status_code == 200
    assert result_names(response) == ["Bibliothèque Bêta", "Garage Delta"]
    assert "recherche élargie" in text_of(response)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"where": ""}, "where", "Indiquez votre code postal ou le nom de votre commune."),
    ({"where": "330"}, "where", "Un code postal a 5 chiffres, par exemple 33000."),
    ({"where": "33000", "topics": "cuisine"}, "topics",
     "Choisissez parmi les cases proposées."),
    ({"where": "33000", "days": "jour-ferie"}, "days", "Choisissez parmi les jours proposés."),
    ({"where": "33000", "reach": "1000km"}, "reach", "Choisissez une distance dans la liste."),
    ({**HERE, "programme": "pass-inconnu"}, "programme", "Programme inconnu : « pass-inconnu »."),
    ({"where": "Zzyzx-les-Oubliettes"}, "where", "Adresse introuvable"),
])
def test_errors_in_french_next_to_the_field_and_in_the_summary(client, town, fields, field,
                                                                message):
    response = client.get("/recherche", query_string=query(**fields))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<title>Erreur : Où utiliser mon Pass Numérique ?" in html
    summary = re.search(r'<div class="error-summary" role="alert".*?</div>', html, flags=re.S)
    assert summary and f'href="#field-{field}"' in summary.group(0)
    assert message in unescape(summary.group(0))
    inline = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, flags=re.S)
    assert inline and message in unescape(inline.group(1))
    assert f'id="field-{field}"' in html
    assert 'id="resultats"' not in html


def test_the_form_keeps_what_was_typed(client, town):
    response = client.get("/recherche", query_string=query(
        where="", topics=[ACCOMPAGNEMENT, CREER], days="mardi", reach="10km"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'value="{ACCOMPAGNEMENT}" checked', html)
    assert re.search(rf'value="{CREER}" checked', html)
    assert re.search(r'value="mardi" checked', html)
    assert '<option value="10km" selected>' in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="where-hint where-error"' in html


# --------------------------------------------------------------------------- the sheet


def test_printable_sheet_for_a_search(client, town):
    _, v = town
    response = client.get(f"/recherche/fiche/{v['b'].id}", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, page="recherche"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '/static/css/search.css' in html and "@media print" in (
        ROOT / "static/css/search.css").read_text()
    text = text_of(response)
    assert "Fiche à imprimer : Bibliothèque Bêta" in text
    assert "1 place Pey-Berland 33000 Bordeaux" in text
    assert "Téléphone : 05 56 00 00 01" not in text  # B has no phone; A's is formatted:
    sheet_a = text_of(client.get(f"/recherche/fiche/{v['a'].id}"))
    assert "Téléphone : 05 56 00 00 01" in sheet_a
    assert "Depuis votre position : à 3,0 km à vol d'oiseau." in text
    assert "Temps de trajet environ 52 min à pied" in text
    assert "Lundi 9 h – 12 h" in text and "Samedi fermé" in text
    assert "Vos chèques du Pass Numérique Vue : 2 chèques par séance" in text
    assert "Une pièce d'identité" in text and "Vos codes pour" in text
    assert "mots de passe" not in text
    assert "Pass Numérique Vue (chèques de 10 €) : c'est votre pass" in text
    back = re.search(r'<a href="([^"]+)">Revenir à la recherche</a>', html).group(1)
    assert back.startswith("/recherche?") and "programme=pass-vue" in unescape(back)


def test_sheet_from_the_prescriber_view_keeps_its_filters(client, town):
    _, v = town
    html = client.get("/orienter", query_string=query(
        **HERE, programme="pass-vue", support="Surdité", limit="20")).get_data(as_text=True)
    link = unescape(re.search(rf'href="(/recherche/fiche/{v["b"].id}\?[^"]+)"', html).group(1))
    assert "page=orienter" in link and "support=Surd" in link
    response = client.get(link)
    assert response.status_code == 200
    text = text_of(response)
    assert "Depuis votre position : à 3,0 km à vol d'oiseau." in text
    back = unescape(re.search(r'<a href="([^"]+)">Revenir à la recherche</a>',
                              response.get_data(as_text=True)).group(1))
    assert back.startswith("/orienter?") and "limit=20" in back


def test_sheet_of_a_venue_outside_the_search_still_helps(client, town):
    _, v = town
    response = client.get(f"/recherche/fiche/{v['c'].id}", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT))
    assert response.status_code == 200
    text = text_of(response)
    assert "Ce lieu ne fait pas partie des résultats de votre recherche" in text
    assert "Ce lieu n'accepte aucun Pass Numérique (le " in text


def test_sheet_of_an_unknown_venue_is_a_french_404(client, town):
    response = client.get("/recherche/fiche/987654321")
    assert response.status_code == 404
    assert "Aucun lieu ne porte l'identifiant 987654321." in text_of(response)


# --------------------------------------------------------------------------- prescribers


def test_prescriber_view_with_every_filter(client, town):
    _, v = town
    response = client.get("/orienter", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, level="1",
        support="Surdité", formats="collective", publics="Seniors", languages="fr",
        days=["lundi", "mardi"], time_from="09:00", time_to="12:00", max_km="20", limit="20"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = re.findall(r'<tr id="lieu-(\d+)">', html)
    assert rows == [str(v["b"].id)]  # the only one with deafness support
    text = text_of(response)
    assert "prise en charge : Surdité" in text
    assert "pas d'accueil spécifique : Seniors" in text  # a preference, not met
    summary = re.search(r'<textarea id="copy-text" readonly rows="10">(.*?)</textarea>', html,
                        flags=re.S).group(1)
    summary = unescape(summary)
    assert summary.startswith("Lieux pour : votre position — Pass Numérique Vue")
    assert "1. Bibliothèque Bêta — 1 place Pey-Berland, 33000 Bordeaux" in summary
    assert ("Offre : « Les papiers sur internet » (atelier collectif) — payé par votre pass : "
            "2 chèques") in summary
    assert 'data-copy="#copy-text" hidden' in html  # shown by search.js
    csv_link = re.search(r'href="(/orienter/resultats\.csv\?[^"]+)"', html).group(1)
    assert "support=Surd" in csv_link and "limit=20" in csv_link


def test_prescriber_number_of_results(client, town):
    _, v = town
    response = client.get("/orienter", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT, limit="1"))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.findall(r'<tr id="lieu-(\d+)">', html) == [str(v["a"].id)]
    assert '<option value="1" selected>1</option>' in html


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"max_km": "loin"}, "max_km", "Distance en kilomètres, entre 0,1 et 300."),
    ({"travel_mode": "walk"}, "max_minutes", "Indiquez la durée de trajet maximale en minutes."),
    ({"max_minutes": "20"}, "travel_mode", "Choisissez le mode de déplacement de la durée."),
    ({"travel_mode": "walk", "max_minutes": "20", "max_km": "3"}, "max_km",
     "Donnez une distance ou une durée de trajet, pas les deux."),
    ({"limit": "500"}, "limit", "Nombre de résultats : de 1 à 50."),
    ({"limit": "2,5"}, "limit", "Nombre de résultats : de 1 à 50."),
    ({"languages": "klingon"}, "languages", "Langue inconnue : « klingon »."),
    ({"time_from": "17:00", "time_to": "09:00"}, "time_to",
     "L'heure de fin doit suivre l'heure de début."),
    ({"support": "Télépathie"}, "support", "Prise en charge inconnu"),
])
def test_prescriber_errors_in_french(client, town, fields, field, message):
    response = client.get("/orienter", query_string=query(**HERE, **fields))
    assert response.status_code == 422
    html = unescape(response.get_data(as_text=True))
    assert re.search(rf'<p class="field-error" id="{field}-error">.*?{re.escape(message)}',
                     html, flags=re.S), html[:200]
    assert f'href="#field-{field}"' in html


def test_prescriber_csv(client, town, db_session):
    _, v = town
    # Imported text that a spreadsheet would run as a formula is neutralised.
    v["a"].nom = "=HYPERLINK(\"http://example.org\")"
    db_session.flush()
    response = client.get("/orienter/resultats.csv", query_string=query(
        **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:]), delimiter=";"))
    assert rows[0][:6] == ["rang", "lieu", "adresse", "code_postal", "commune", "distance_m"]
    assert [r[1] for r in rows[1:]] == ["'=HYPERLINK(\"http://example.org\")",
                                        "Bibliothèque Bêta"]
    assert [int(r[5]) for r in rows[1:]] == [pytest.approx(1000, abs=5),
                                             pytest.approx(3000, abs=5)]
    assert rows[2][10] == ("« Les papiers sur internet » (atelier collectif) — payé par votre "
                           "pass : 2 chèques")
    assert rows[1][-1].endswith(f"/lieux/{v['a'].id}")


def test_prescriber_csv_refuses_an_invalid_search(client, town):
    response = client.get("/orienter/resultats.csv", query_string=query(where=""))
    assert response.status_code == 422


def test_navigation_links_to_the_search(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/recherche"' in html and 'href="/orienter"' in html


# --------------------------------------------------------------------------- pure parsing


def test_form_reading_into_the_api_fields():
    form = forms.read_beneficiary(query(where="33 000", topics=[ACCOMPAGNEMENT],
                                        days=["mardi", "jeudi"],
                                        moments=["matin", "apres-midi"], reach="walk30"))
    assert form.valid
    assert form.api == {"address": "33000", "topics": [ACCOMPAGNEMENT],
                        "days": ["mardi", "jeudi"], "time_from": "08:00", "time_to": "18:00",
                        "travel_mode": "walk", "max_minutes": 30}
    picked = forms.read_beneficiary(query(where="Bordeaux (33000)", commune="33063"))
    assert picked.api == {"commune": "33063"}
    typed = forms.read_beneficiary(query(where="Saint-Médard-en-Jalles"))
    assert typed.api == {"address": "Saint-Médard-en-Jalles"}
    located = forms.read_beneficiary(query(where="Ma position", lat="44.8", lon="-0.5",
                                           commune="33063"))
    assert located.api == {"lat": 44.8, "lon": -0.5}
    assert not forms.read_beneficiary(query(programme="x")).submitted


def test_every_service_of_the_standard_has_a_plain_label_and_an_icon():
    assert tuple(forms.SERVICE_CHOICES) == SERVICES
    for label, icon in forms.SERVICE_CHOICES.values():
        assert len(label) <= 50
        svg = (ROOT / "static" / "img" / "services" / f"{icon}.svg").read_text()
        assert svg.startswith("<svg") and "http://" not in svg.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")


def test_languages_are_chosen_by_their_french_names():
    from werkzeug.datastructures import MultiDict

    form = forms.read_prescriber(MultiDict({"where": "33000",
                                            "languages": "Arabe, anglais et turc"}))
    assert form.api["languages"] == ["ar", "en", "tr"] and not form.errors
    form = forms.read_prescriber(MultiDict({"where": "33000", "languages": "ar"}))
    assert form.api["languages"] == ["ar"]  # a code still works


# Words a beneficiary does not use (DOMAIN.md): never in a page written for them, unless
# it comes from a venue's own data (names, offer titles are the venue's words).
FORBIDDEN_FOR_BENEFICIARIES = ("prescripteur", "fablab", "visio", "rdv", "parcours",
                               "niveau 3", "modalités", "mots de passe", "identifiants",
                               "iso 639", "zoom in", "zoom out")


def _forbidden_in(text: str) -> list[str]:
    lowered = text.lower()
    return [w for w in FORBIDDEN_FOR_BENEFICIARIES if re.search(rf"\b{re.escape(w)}\b", lowered)]


def test_glossary_beneficiary_templates_use_plain_words():
    templates = ["home.html", "base.html", "matching/search.html", "matching/sheet.html",
                 "matching/_results.html", "matching/_macros.html", "matching/_ways_out.html",
                 "matching/_remote.html", "directory/venue.html",
                 "directory/_week.html", "directory/_contacts.html"]
    found = {name: _forbidden_in((ROOT / "templates" / name).read_text(encoding="utf-8"))
             for name in templates}
    assert {name: words for name, words in found.items() if words} == {}


def test_glossary_rendered_beneficiary_pages_use_plain_words(client, town, db_session):
    prog, v = town
    v["a"].modalites_acces = ["Prendre un RDV en ligne", "Téléphoner"]
    v["a"].typologie = ["FABLAB"]
    cat.offer(db_session, v["a"], DEMARCHES, title="Aide à distance", format="remote", level=3)
    db_session.flush()
    pages = {
        "recherche": client.get("/recherche", query_string=query(
            **HERE, programme="pass-vue", topics=ACCOMPAGNEMENT)),
        "fiche": client.get(f"/recherche/fiche/{v['a'].id}", query_string=query(**HERE)),
        "lieu": client.get(f"/lieux/{v['a'].id}"),
        "accueil": client.get("/"),
    }
    problems = {name: _forbidden_in(text_of(response)) for name, response in pages.items()}
    assert {name: words for name, words in problems.items() if words} == {}
