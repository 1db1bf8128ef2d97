"""The home page's short search, rendered by the server: what to learn, when, where — the
commune field without JavaScript, the device's position with it —, and the pass taken for
the person only when a single pass is valid where they are (said on the page, with the way
back to every venue); several passes valid there are offered in one tap. « Je ne sais pas »
on the full form stays an answer: every venue. Consent to remember in one tap on the
results."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests import conftest as cat
from tests.conftest import clock_at
from tests.matching.test_views import query, result_names, text_of
from tests.matching.test_ways_out import field_value
from tests.matching.world import ACCOMPAGNEMENT, DEMARCHES, NOW

clock = clock_at(NOW)

# Angoulême (16015), in Nouvelle-Aquitaine (région 75), outside the Gironde (33).
LON, LAT = 0.1560, 45.6484
POSITION = {"where": "Ma position", "lat": f"{LAT}", "lon": f"{LON}"}


@pytest.fixture
def angouleme(db_session, clock, geography):
    """The regional pass (accepted by Alpha), the Gironde's (valid elsewhere, accepted by
    Bêta nonetheless) and Gamma, which takes no pass — three venues of Angoulême."""
    s = db_session
    region = cat.programme(s, "pass-region-na", "Pass Numérique Nouvelle-Aquitaine",
                           perimeter_codes=["reg:75"])
    gironde = cat.programme(s, "pass-gironde", "Pass Numérique Gironde",
                            perimeter_codes=["dep:33"])
    v = {
        "alpha": cat.venue(s, 0.1583, 45.6500, horaires="Sa 09:00-12:00", nom="Atelier Alpha",
                           services=[DEMARCHES], code_insee="16015"),
        "beta": cat.venue(s, 0.1391, 45.6543, horaires="Sa 09:00-12:00", nom="Bibliothèque Bêta",
                          services=[DEMARCHES], code_insee="16015"),
        "gamma": cat.venue(s, 0.1570, 45.6490, horaires="Sa 09:00-12:00", nom="Café Gamma",
                           services=[DEMARCHES], code_insee="16015"),
    }
    cat.accept(s, v["alpha"], region)
    cat.accept(s, v["beta"], gironde)
    for venue in v.values():
        cat.offer(s, venue, DEMARCHES, title=f"Démarches chez {venue.nom}",
                  topics=[ACCOMPAGNEMENT])
    return region, gironde, v


def links(response, attribute: str) -> dict[str, tuple[str, str]]:
    """kind -> (label, href) of the links carrying ``attribute``."""
    html = response.get_data(as_text=True)
    return {kind: (" ".join(unescape(re.sub(r"<[^>]+>", "", label)).split()), unescape(href))
            for href, kind, label in re.findall(
                rf'<a class="button[^"]*" href="([^"]+)" {attribute}="([a-z_]+)">(.*?)</a>',
                html, flags=re.S)}


def pass_links(response) -> list[tuple[str, str]]:
    html = response.get_data(as_text=True)
    return [(" ".join(unescape(label).split()), unescape(href)) for href, label in re.findall(
        r'<a class="button[^"]*" href="([^"]+)" data-pass-choice="pass">(.*?)</a>', html)]


def follow(client, href: str):
    return client.get("/recherche", query_string=parse_qsl(urlsplit(href).query,
                                                           keep_blank_values=True))


def test_home_page_asks_what_when_where_in_one_form_without_javascript(client, angouleme):
    html = client.get("/").get_data(as_text=True)
    form = html[html.index('<form class="search-form home-search"'):]
    form = form[:form.index("</form>")]
    assert 'action="/recherche#resultats"' in form
    assert f'name="topics" value="{ACCOMPAGNEMENT}"' in form
    assert 'name="days" value="samedi"' in form and 'name="moments" value="matin"' in form
    assert 'name="where"' in form
    # The position's button needs JavaScript: hidden until search.js shows it.
    assert re.search(r'<div class="geolocate-go" hidden>\s*<p><button type="button"', form)
    # No pass question: the search takes the pass valid where the person is.
    assert 'name="programme"' not in form


def test_the_only_pass_valid_here_is_taken_and_said(client, angouleme):
    region, _gironde, _v = angouleme
    response = client.get("/recherche", query_string=query(
        **POSITION, topics=ACCOMPAGNEMENT, days="samedi", moments="matin"))
    assert response.status_code == 200
    assert result_names(response) == ["Atelier Alpha"]
    text = text_of(response)
    assert "Autour de : votre position (Angoulême) · pass : Pass Numérique Nouvelle-Aquitaine" \
        in text
    assert ("Votre pass : Pass Numérique Nouvelle-Aquitaine. C'est le seul pass valable à "
            "Angoulême : voici les lieux qui l'acceptent.") in text
    # The links of the page carry the pass: the sheet is the same search.
    sheet = re.search(r'href="(/recherche/fiche/\d+\?[^"]+)"', response.get_data(as_text=True))
    assert "programme=pass-region-na" in unescape(sheet.group(1))

    # « Ce n'est pas mon pass »: every venue, each with its passes — and it stays so.
    label, href = links(response, "data-pass-choice")["any_pass"]
    assert label == "Ce n'est pas mon pass : voir tous les lieux"
    every = follow(client, href)
    assert set(result_names(every)) == {"Atelier Alpha", "Bibliothèque Bêta", "Café Gamma"}
    assert "Votre pass :" not in text_of(every)
    assert pass_links(every) == [("Pass Numérique Nouvelle-Aquitaine",
                                  pass_links(every)[0][1])]
    sheet = re.search(r'href="(/recherche/fiche/\d+\?[^"]+)"', every.get_data(as_text=True))
    assert "programme=&" in unescape(sheet.group(1)) or \
        unescape(sheet.group(1)).endswith("programme=")


def test_full_form_i_do_not_know_is_every_venue_with_the_passes_in_one_tap(client, angouleme):
    response = client.get("/recherche", query_string=query(
        **POSITION, programme="", topics=ACCOMPAGNEMENT))
    assert set(result_names(response)) == {"Atelier Alpha", "Bibliothèque Bêta", "Café Gamma"}
    assert "Votre pass :" not in text_of(response)
    # One tap on the pass valid here (the Gironde's is not): the search again with it.
    [(label, href)] = pass_links(response)
    assert label == "Pass Numérique Nouvelle-Aquitaine"
    with_pass = follow(client, href)
    assert result_names(with_pass) == ["Atelier Alpha"]
    assert "pass : Pass Numérique Nouvelle-Aquitaine" in text_of(with_pass)


def test_several_passes_valid_here_none_is_taken(client, angouleme, db_session):
    region, _gironde, v = angouleme
    national = cat.programme(db_session, "pass-national", "Pass Numérique National")
    cat.accept(db_session, v["gamma"], national)
    response = client.get("/recherche", query_string=query(
        **POSITION, topics=ACCOMPAGNEMENT))
    assert set(result_names(response)) == {"Atelier Alpha", "Bibliothèque Bêta", "Café Gamma"}
    assert "Votre pass :" not in text_of(response)
    assert [label for label, _href in pass_links(response)] == [
        "Pass Numérique Nouvelle-Aquitaine", "Pass Numérique National"]


def test_an_explicit_pass_is_never_replaced(client, angouleme):
    response = client.get("/recherche", query_string=query(
        **POSITION, programme="pass-gironde", topics=ACCOMPAGNEMENT))
    assert "Ce pass n'est pas valable à Angoulême" in text_of(response)
    assert "Votre pass :" not in text_of(response)


def test_remember_in_one_tap_on_the_results_keeps_the_commune_and_the_pass(client, angouleme):
    response = client.get("/recherche", query_string=query(
        **POSITION, topics=ACCOMPAGNEMENT, days="samedi"))
    html = response.get_data(as_text=True)
    form = html[html.index('<form class="remember-now"'):]
    form = form[:form.index("</form>")]
    assert "Garder ma commune et mon pass pour cette visite" in form
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    assert ("remember", "1") in fields and ("programme", "pass-region-na") in fields
    with client.session_transaction() as cookie:
        assert "search_memory" not in cookie
    after = client.get("/recherche", query_string=[(unescape(k), unescape(v))
                                                   for k, v in fields])
    assert result_names(after) == ["Atelier Alpha"]
    assert '<form class="remember-now"' not in after.get_data(as_text=True)
    with client.session_transaction() as cookie:
        assert cookie["search_memory"] == {
            "where": "Angoulême (16000)", "commune": "16015", "lat": "", "lon": "",
            "programme": "pass-region-na",
            "programme_name": "Pass Numérique Nouvelle-Aquitaine"}
    # The home page then asks only what and when.
    home = client.get("/").get_data(as_text=True)
    assert "Près de : <strong>Angoulême (16000)</strong>" in home
    assert field_value(home, "programme") == "pass-region-na"
    assert 'name="lat"' not in home.split('<form class="search-form home-search"')[1]


def test_a_commune_is_named_by_its_postal_code_never_its_insee_code(db_session, geography):
    """« Autour de : Angoulême (16015) » read like a postal code a person does not know."""
    from matching.question import Where
    from matching.services import resolve_place

    assert resolve_place(db_session, Where(commune="16015")).label == "Angoulême (16000)"
    # Bordeaux has several postal codes: its département names it, not one of them.
    assert resolve_place(db_session, Where(commune="33063")).label == "Bordeaux (33)"
