"""What a person asks (a topic) and what the pass pays, on a real PostGIS catalogue: a venue
answers a topic only through an active offer on it, which the pass pays for; the reason
cites that offer by its title; each offer says « payé par votre pass : N chèque(s) » or
« non couvert par ce pass » (engine, API, pages, venue page with and without a pass)."""

from __future__ import annotations

import re

import pytest

from matching.question import Question, Where
from matching.services import match
from tests import conftest as cat
from tests.conftest import clock_at
from tests.matching.test_views import query, result_names, text_of
from tests.matching.world import (
    ACCOMPAGNEMENT,
    CREER,
    DEMARCHES,
    LAT0,
    LOISIRS,
    LON0,
    MAITRISE,
    NOW,
    SMARTPHONE,
    at,
)

clock = clock_at(NOW)


@pytest.fixture
def smartphones(db_session, clock):
    """The issue's case around (LON0, LAT0), a regional pass for levels 1 and 2:

    - N (500 m): its broad services say « Maîtrise des outils numériques du quotidien »,
      its offers are démarches and a photo workshop: no smartphone offer;
    - S (2 km): « Prendre en main son smartphone » (workshop, level 1, paid) and
      « Smartphone : aller plus loin » (level 3, not paid), and the photo workshop;
    - X (1 km): a smartphone workshop for level 3 only: the pass pays for none;
    - O (3 km): a smartphone workshop, accepts no pass."""
    s = db_session
    prog = cat.programme(s, "pass-region", "Pass Numérique Région", levels=(1, 2))
    v = {
        "n": cat.venue(s, *at(-0.5), nom="N (services larges)", services=[MAITRISE, DEMARCHES]),
        "s": cat.venue(s, *at(2), nom="S (smartphone)", services=[MAITRISE]),
        "x": cat.venue(s, *at(1), nom="X (niveau 3)", services=[MAITRISE]),
        "o": cat.venue(s, *at(3), nom="O (sans pass)", services=[MAITRISE]),
    }
    for key in "nsx":
        cat.accept(s, v[key], prog)
    cat.offer(s, v["n"], DEMARCHES, title="Démarches en ligne : CAF, impôts",
              topics=[ACCOMPAGNEMENT])
    cat.offer(s, v["n"], LOISIRS, title="Retoucher ses photos", format="collective",
              topics=[CREER], level=3)
    cat.offer(s, v["s"], MAITRISE, title="Prendre en main son smartphone",
              format="collective", level=1, topics=[SMARTPHONE])
    cat.offer(s, v["s"], MAITRISE, title="Smartphone : aller plus loin", format="collective",
              level=3, cheques=2, topics=[SMARTPHONE])
    cat.offer(s, v["s"], LOISIRS, title="Retoucher ses photos", format="collective",
              topics=[CREER], level=3)
    cat.offer(s, v["x"], MAITRISE, title="Smartphone pour experts", format="collective",
              level=3, topics=[SMARTPHONE])
    cat.offer(s, v["o"], MAITRISE, title="Mon smartphone pas à pas", topics=[SMARTPHONE])
    return prog, v


def here(**kwargs) -> Question:
    return Question(where=Where(lat=LAT0, lon=LON0), **kwargs)


def names(result) -> list[str]:
    return [r.nom for r in result.results]


# --------------------------------------------------------------------------- the engine


def test_a_topic_is_answered_by_an_offer_the_pass_pays_for(db_session, smartphones):
    result = match(here(programme="pass-region", topics=(SMARTPHONE,)), now=NOW, limit=10,
                   session=db_session)
    # N only has broad services; X's only smartphone offer is level 3, which the pass does
    # not pay for; O accepts no pass.
    assert names(result) == ["S (smartphone)"]
    s = result.results[0]
    assert "propose « Prendre en main son smartphone » (atelier)" in s.reasons
    assert not any("Maîtrise" in r for r in s.reasons)
    offers = {o.title: (o.covered, o.payment) for o in s.offers}
    assert offers == {
        "Prendre en main son smartphone": (True, "payé par votre pass : 1 chèque"),
        "Smartphone : aller plus loin": (False, "non couvert par ce pass"),
    }  # the photo workshop is about something else: not listed


def test_without_a_pass_a_topic_needs_an_offer_and_says_who_pays(db_session, smartphones):
    result = match(here(topics=(SMARTPHONE,)), now=NOW, limit=10, session=db_session)
    assert names(result) == ["X (niveau 3)", "S (smartphone)", "O (sans pass)"]
    payments = {o.title: (o.covered, o.payment) for r in result.results for o in r.offers}
    assert payments["Smartphone pour experts"] == (
        None, "non couvert par les pass acceptés ici")
    assert payments["Prendre en main son smartphone"] == (
        None, "payé par le Pass Numérique Région : 1 chèque")
    assert payments["Mon smartphone pas à pas"] == (None, None)  # no pass there: no price


def test_a_topic_the_programme_never_pays_for_is_said(db_session, smartphones):
    cat.programme(db_session, "pass-demarches", "Pass Démarches",
                  allowed_services=(DEMARCHES,))
    result = match(here(programme="pass-demarches", topics=(SMARTPHONE,)), now=NOW,
                   limit=10, session=db_session)
    assert result.results == []
    assert result.hints == ["Le Pass Démarches ne couvre pas « Me servir d'un smartphone ou "
                            "d'une tablette »."]


def test_nothing_on_the_topic_gives_a_topic_hint(db_session, smartphones):
    result = match(here(programme="pass-region", topics=(CREER,)), now=NOW, limit=10,
                   session=db_session)
    # Photo workshops are level 3 everywhere: the pass pays for none of them.
    assert result.results == []
    assert any("mais aucun n'annonce d'offre pour « Photos, vidéos et créations »" in h
               for h in result.hints), result.hints


def test_services_are_still_understood(db_session, smartphones):
    """``services`` (the broad v1.0.2 ones) keep their meaning for the API's old callers."""
    result = match(here(programme="pass-region", services=(MAITRISE,)), now=NOW, limit=10,
                   session=db_session)
    assert names(result) == ["N (services larges)", "X (niveau 3)", "S (smartphone)"]


# --------------------------------------------------------------------------- the API


@pytest.mark.parametrize("method", ["get", "post"])
def test_match_api_asks_for_topics(client, smartphones, method):
    fields = {"lat": LAT0, "lon": LON0, "programme": "pass-region", "topics": [SMARTPHONE]}
    if method == "get":
        response = client.get("/api/v1/match", query_string=fields)
    else:
        response = client.post("/api/v1/match", json=fields)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [r["nom"] for r in body["results"]] == ["S (smartphone)"]
    result = body["results"][0]
    assert "propose « Prendre en main son smartphone » (atelier)" in result["reasons"]
    by_title = {o["title"]: o for o in result["offers"]}
    assert by_title["Prendre en main son smartphone"]["covered"] is True
    assert by_title["Prendre en main son smartphone"]["topics"] == [SMARTPHONE]
    assert by_title["Smartphone : aller plus loin"]["payment"] == "non couvert par ce pass"


def test_match_api_accepts_a_topic_label_and_refuses_an_unknown_one(client, smartphones):
    ok = client.get("/api/v1/match", query_string={
        "lat": LAT0, "lon": LON0, "topics": "Prendre en main un smartphone ou une tablette"})
    assert ok.status_code == 200
    assert len(ok.get_json()["results"]) == 3
    bad = client.get("/api/v1/match", query_string={"lat": LAT0, "lon": LON0,
                                                   "topics": "cuisine"})
    assert bad.status_code == 422
    assert "Thématique inconnue : « cuisine »" in str(bad.get_json())


# --------------------------------------------------------------------------- the pages


def test_results_say_per_offer_what_the_pass_pays(client, smartphones):
    response = client.get("/recherche", query_string=query(
        where="Ma position", lat=str(LAT0), lon=str(LON0), programme="pass-region",
        topics=SMARTPHONE))
    assert response.status_code == 200
    assert result_names(response) == ["S (smartphone)"]
    text = text_of(response)
    assert "Propose « Prendre en main son smartphone » (atelier)" in text
    assert ("« Prendre en main son smartphone » (atelier collectif) — payé par votre pass : "
            "1 chèque") in text
    assert "« Smartphone : aller plus loin » (atelier collectif) — non couvert par ce pass" \
        in text
    assert "2 chèques" not in text  # never a price for what the pass does not pay
    # The prescriber's view and its CSV: the same per offer.
    pro = text_of(client.get("/orienter", query_string=query(
        where="Ma position", lat=str(LAT0), lon=str(LON0), programme="pass-region",
        topics=SMARTPHONE)))
    assert "« Smartphone : aller plus loin » (atelier collectif) — non couvert par ce pass" \
        in pro


def test_without_a_pass_a_venue_that_accepts_none_says_so_once_without_prices(client,
                                                                              smartphones):
    # « Je ne sais pas » on the form (an empty pass): every venue, each with its passes.
    response = client.get("/recherche", query_string=query(
        where="Ma position", lat=str(LAT0), lon=str(LON0), programme="", topics=SMARTPHONE))
    html = response.get_data(as_text=True)
    item = re.search(r'<li class="result" id="lieu-{}".*?</li>\s*(?=<li class="result"|</ol>)'
                     .format(smartphones[1]["o"].id), html, flags=re.S).group(0)
    assert item.count("N'accepte aucun Pass Numérique") == 1
    assert "chèque" not in item
    assert "« Mon smartphone pas à pas » (accompagnement individuel)" in text_of(response)


def test_printable_sheet_says_what_the_pass_pays(client, smartphones):
    _, v = smartphones
    response = client.get(f"/recherche/fiche/{v['s'].id}", query_string=query(
        where="Ma position", lat=str(LAT0), lon=str(LON0), programme="pass-region",
        topics=SMARTPHONE, page="recherche"))
    text = text_of(response)
    assert "— payé par votre pass : 1 chèque" in text
    assert "« Smartphone : aller plus loin » (atelier collectif) — non couvert par ce pass" \
        in text
    # What to bring: the cheques of the offer the pass pays for, not of the other.
    assert "Vos chèques du Pass Numérique Région : 1 chèque par séance" in text


def test_venue_page_with_and_without_a_pass_in_context(client, smartphones):
    _, v = smartphones
    with_pass = text_of(client.get(f"/lieux/{v['s'].id}?programme=pass-region"))
    assert "Avec votre pass (Pass Numérique Région), offre par offre : ce qu'il paie." \
        in with_pass
    assert "Payé par votre pass : 1 chèque par séance." in with_pass
    assert with_pass.count("Non couvert par ce pass.") == 2  # level 3: smartphone, photos
    without = text_of(client.get(f"/lieux/{v['s'].id}"))
    assert "Payé par le Pass Numérique Région : 1 chèque par séance." in without
    assert without.count("Non couvert par les pass acceptés ici.") == 2
    assert "N'accepte aucun Pass Numérique" not in without
    # A venue that accepts no pass: said once, no price in cheques.
    none = text_of(client.get(f"/lieux/{v['o'].id}"))
    assert none.count("Ce lieu n'accepte aucun Pass Numérique") == 1
    assert "chèque Pass Numérique par séance" not in none and "Payé par" not in none
    # A pass the venue does not accept.
    other = text_of(client.get(f"/lieux/{v['o'].id}?programme=pass-region"))
    assert "Ce lieu n'accepte pas votre pass (Pass Numérique Région)." in other
    # An unknown pass: a French 4xx.
    unknown = client.get(f"/lieux/{v['o'].id}?programme=pass-inconnu")
    assert unknown.status_code == 422
    assert "Aucun pass ne porte le code « pass-inconnu »." in text_of(unknown)


def test_venue_api_says_who_pays_each_offer(client, smartphones):
    _, v = smartphones
    body = client.get(f"/api/v1/venues/{v['s'].id}").get_json()
    payments = {o["title"]: o["payment"] for o in body["offers"]}
    assert payments["Prendre en main son smartphone"] == \
        "payé par le Pass Numérique Région : 1 chèque"
    assert payments["Smartphone : aller plus loin"] == "non couvert par les pass acceptés ici"


# --------------------------------------------------------------------------- the cohort


def test_the_cohort_assigns_by_topic_through_offers_the_pass_pays(db_session, smartphones):
    from matching.cohort.assignment import PersonNeed, assign_cohort
    from matching.schemas import parse_question

    def person(key, km, **fields):
        lon, lat = at(km)
        return PersonNeed(key, parse_question({"lon": lon, "lat": lat,
                                               "programme": "pass-region", **fields}))

    cat.programme(db_session, "pass-demarches", "Pass Démarches",
                  allowed_services=(DEMARCHES,))
    # Nearest to N and X: neither has a smartphone offer the pass pays for.
    needs = [person("smartphone", -0.4, topics=[SMARTPHONE]),
             person("demarches", -0.4, topics=[ACCOMPAGNEMENT]),
             person("hors-pass", 0, topics=[SMARTPHONE], programme="pass-demarches")]
    result = assign_cohort(needs, now=NOW, session=db_session, default_capacity=5)
    placed = {a.key: a.venue_id for a in result.assignments}
    _, v = smartphones
    assert placed == {"smartphone": v["s"].id, "demarches": v["n"].id}
    reasons = {u.key: (u.code, u.reason) for u in result.unassigned}
    assert reasons["hors-pass"] == ("services", "Le Pass Démarches ne couvre pas « Me servir "
                                                "d'un smartphone ou d'une tablette ».")
