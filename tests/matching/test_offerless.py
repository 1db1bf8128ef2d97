"""Venues that list no offer (almost every venue of a real file): they answer a topic
through the topics they declare (v0.1 services, presentation) or, failing that, the broad
v1.0.2 service it belongs to, say so in the reason (« appelez avant de venir »), come after
a venue with an offer on the topic at a similar distance, and what the pass pays there is
« à confirmer avec le lieu ». A venue that has offers, none on the topic, never answers."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from directory.models import Venue
from extensions import db
from matching.question import Question, Where
from matching.services import match
from tests import conftest as cat
from tests.conftest import clock_at, shared_data
from tests.matching.test_views import query, result_names, text_of
from tests.matching.world import (
    ACCOMPAGNEMENT,
    DEMARCHES,
    LAT0,
    LON0,
    MAITRISE,
    NOW,
    SMARTPHONE,
    at,
)

clock = clock_at(NOW)

DECLARED_REASON = ("annonce « Prendre en main un smartphone ou une tablette » (le lieu ne "
                   "détaille pas ses ateliers : appelez avant de venir)")
SERVICE_REASON = ("accompagne à « Maîtrise des outils numériques du quotidien » — sans "
                  "précision sur le smartphone ou la tablette : appelez avant de venir")
COURRIELS = "numerique--envoyer-recevoir-gerer-ses-courriels"


@pytest.fixture
def offerless(db_session, clock):
    """Around (LON0, LAT0), a regional pass for levels 1 and 2, accepted everywhere but at
    Z (no pass) and P (its qualification covers démarches only):

    - N (300 m): offers (démarches) but none on the smartphone, though it declares it;
    - B (500 m): no offer, only the broad service « Maîtrise… »;
    - P (800 m): no offer, declares the smartphone, the pass does not pay « Maîtrise… »;
    - D (1 km): no offer, declares the smartphone;
    - S (2 km): an offer « Prendre en main son smartphone » (level 1);
    - Q (600 m): no offer, démarches only;
    - Z (1.5 km): no offer, declares the smartphone, accepts no pass."""
    s = db_session
    prog = cat.programme(s, "pass-region", "Pass Numérique Région", levels=(1, 2))
    v = {
        "n": cat.venue(s, *at(-0.3), nom="N (offres sans smartphone)", services=[MAITRISE],
                       topics=[SMARTPHONE]),
        "b": cat.venue(s, *at(0.5), nom="B (service large)", services=[MAITRISE]),
        "p": cat.venue(s, *at(0, 0.8), nom="P (pass limité)", services=[MAITRISE],
                       topics=[SMARTPHONE]),
        "d": cat.venue(s, *at(1), nom="D (annonce)", services=[MAITRISE], topics=[SMARTPHONE]),
        "s": cat.venue(s, *at(2), nom="S (offre)", services=[MAITRISE]),
        "q": cat.venue(s, *at(0, -0.6), nom="Q (démarches)", services=[DEMARCHES],
                       topics=[ACCOMPAGNEMENT]),
        "z": cat.venue(s, *at(-1.5), nom="Z (sans pass)", services=[MAITRISE],
                       topics=[SMARTPHONE]),
    }
    for key in "nbdsq":
        cat.accept(s, v[key], prog)
    cat.accept(s, v["p"], prog, services=[DEMARCHES])
    cat.offer(s, v["n"], DEMARCHES, title="Démarches en ligne : CAF, impôts",
              topics=[ACCOMPAGNEMENT])
    cat.offer(s, v["s"], MAITRISE, title="Prendre en main son smartphone", format="collective",
              level=1, topics=[SMARTPHONE])
    return prog, v


def here(**kwargs) -> Question:
    return Question(where=Where(lat=LAT0, lon=LON0), **kwargs)


def by_name(result) -> dict:
    return {r.nom: r for r in result.results}


def test_offerless_venues_answer_a_topic_after_offers_and_say_so(db_session, offerless):
    result = match(here(programme="pass-region", topics=(SMARTPHONE,)), now=NOW, limit=10,
                   session=db_session)
    # S (offer, 2 km) before D (declared, 1 km) before B (broad service, 500 m); N has
    # offers, none on the smartphone; P's pass does not pay « Maîtrise… »; Q is démarches
    # only; Z accepts no pass.
    assert [r.nom for r in result.results] == ["S (offre)", "D (annonce)", "B (service large)"]
    found = by_name(result)
    assert found["S (offre)"].certainty == {SMARTPHONE: "offer"}
    assert "propose « Prendre en main son smartphone » (atelier)" in found["S (offre)"].reasons
    assert found["S (offre)"].payment is None  # its offer says it: 1 chèque
    assert found["S (offre)"].offers[0].payment == "payé par votre pass : 1 chèque"
    declared = found["D (annonce)"]
    assert declared.certainty == {SMARTPHONE: "declared"}
    assert DECLARED_REASON in declared.reasons
    assert declared.offers == []
    assert declared.payment == "payé par votre pass (à confirmer avec le lieu)"
    broad = found["B (service large)"]
    assert broad.certainty == {SMARTPHONE: "service"}
    assert SERVICE_REASON in broad.reasons
    assert broad.payment == "payé par votre pass (à confirmer avec le lieu)"
    assert all("chèque" not in r.payment for r in (declared, broad))


def test_a_venue_with_offers_none_on_the_topic_never_answers(db_session, offerless):
    """The issue's bug: N's broad services and even its declared topics do not make it
    answer « smartphone » while its offers are about something else."""
    for programme in ("pass-region", None):
        result = match(here(programme=programme, topics=(SMARTPHONE,), max_distance_m=700),
                       now=NOW, limit=10, session=db_session)
        assert "N (offres sans smartphone)" not in by_name(result)
    result = match(here(programme="pass-region", topics=(ACCOMPAGNEMENT,)), now=NOW,
                   limit=10, session=db_session)
    assert by_name(result)["N (offres sans smartphone)"].certainty == {ACCOMPAGNEMENT: "offer"}


def test_without_a_pass_offerless_venues_say_which_pass_pays(db_session, offerless):
    result = match(here(topics=(SMARTPHONE,)), now=NOW, limit=10, session=db_session)
    found = by_name(result)
    assert set(found) == {"S (offre)", "D (annonce)", "B (service large)", "P (pass limité)",
                          "Z (sans pass)"}
    assert found["D (annonce)"].payment == \
        "payé par le Pass Numérique Région (à confirmer avec le lieu)"
    assert found["P (pass limité)"].payment == "non couvert par les pass acceptés ici"
    assert found["Z (sans pass)"].payment is None  # accepts no pass: no price at all


def test_a_topic_under_a_declared_service_but_not_declared_is_the_service_answer(db_session,
                                                                                offerless):
    result = match(here(programme="pass-region", topics=(COURRIELS,)), now=NOW, limit=10,
                   session=db_session)
    found = by_name(result)
    assert found["D (annonce)"].certainty == {COURRIELS: "service"}
    assert ("accompagne à « Maîtrise des outils numériques du quotidien » — sans précision "
            "sur les e-mails : appelez avant de venir") in found["D (annonce)"].reasons
    assert "S (offre)" not in found  # it has an offer, not on e-mails


def test_api_says_how_each_topic_is_answered(client, offerless):
    response = client.get("/api/v1/match", query_string={
        "lat": LAT0, "lon": LON0, "programme": "pass-region", "topics": SMARTPHONE})
    assert response.status_code == 200, response.get_json()
    results = {r["nom"]: r for r in response.get_json()["results"]}
    assert results["D (annonce)"]["certainty"] == {SMARTPHONE: "declared"}
    assert results["D (annonce)"]["payment"] == "payé par votre pass (à confirmer avec le lieu)"
    assert results["B (service large)"]["certainty"] == {SMARTPHONE: "service"}
    assert results["S (offre)"]["certainty"] == {SMARTPHONE: "offer"}
    assert results["S (offre)"]["payment"] is None


def test_pages_say_the_venue_does_not_detail_its_workshops(client, offerless):
    fields = query(where="Ma position", lat=str(LAT0), lon=str(LON0), programme="pass-region",
                   topics=SMARTPHONE)
    response = client.get("/recherche", query_string=fields)
    assert result_names(response) == ["S (offre)", "D (annonce)", "B (service large)"]
    page = text_of(response)
    assert "Annonce « Prendre en main un smartphone ou une tablette » (le lieu ne détaille " \
        "pas ses ateliers : appelez avant de venir)" in page
    assert "Ce que ça coûte : payé par votre pass (à confirmer avec le lieu)." in page
    pro = text_of(client.get("/orienter", query_string=fields))
    assert "Le lieu ne détaille pas ses offres : payé par votre pass (à confirmer avec le " \
        "lieu)" in pro
    _, v = offerless
    sheet = text_of(client.get(f"/recherche/fiche/{v['d'].id}", query_string=query(
        where="Ma position", lat=str(LAT0), lon=str(LON0), programme="pass-region",
        topics=SMARTPHONE, page="recherche")))
    assert "Le lieu ne détaille pas ses ateliers : appelez avant de venir. Ce que ça coûte : " \
        "payé par votre pass (à confirmer avec le lieu)." in sheet


# --------------------------------------------------------------------------- a real file


@pytest.fixture
def charente(app, runner):
    """The Charente v0.1 file (188 venues, no offer), imported as a user would."""
    path = str(shared_data("venues", "standard-v0", "20230711-charente.json"))
    source = f"test-offerless-{uuid.uuid4().hex[:10]}"
    result = runner.invoke(args=["directory", "import", path, "--source", source,
                                 "--format", "standard-v0-json"])
    assert result.exit_code == 0, result.output
    yield source
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": source})
        connection.execute(text("DELETE FROM import_run WHERE source = :s"), {"s": source})


def test_a_real_v0_file_answers_topic_questions(db_session, charente):
    """Its v0.1 services are stored as the venues' topics: a smartphone question beside the
    Châteaubernard media library (which declares it) finds it, with the reason."""
    venue = db_session.query(Venue).filter_by(source=charente, nom="Médiathèque chateaubernard") \
        .one()
    assert venue.topics == ["numerique--prendre-en-main-un-smartphone-ou-une-tablette",
                            "numerique--prendre-en-main-un-ordinateur",
                            "numerique--utiliser-le-numerique-au-quotidien",
                            "numerique--approfondir-ma-culture-numerique"]
    assert venue.services == [MAITRISE, "Compréhension du monde numérique"]
    near = Question(where=Where(lat=45.6814, lon=-0.3313), topics=(SMARTPHONE,),
                    max_distance_m=3_000)
    result = match(near, now=NOW, limit=10, session=db_session)
    found = by_name(result)
    assert "Médiathèque chateaubernard" in found, [r.nom for r in result.results]
    assert found["Médiathèque chateaubernard"].certainty == {SMARTPHONE: "declared"}
    assert DECLARED_REASON in found["Médiathèque chateaubernard"].reasons
    # E-mails: not among its v0.1 services, but under « Maîtrise… », which it declares.
    result = match(Question(where=near.where, topics=(COURRIELS,), max_distance_m=3_000),
                   now=NOW, limit=10, session=db_session)
    mediatheque = by_name(result)["Médiathèque chateaubernard"]
    assert mediatheque.certainty == {COURRIELS: "service"}
    assert any(r.startswith("accompagne à « Maîtrise des outils numériques du quotidien » — "
                            "sans précision sur les e-mails") for r in mediatheque.reasons)
    # Every venue found answers through what it declares, never through nothing.
    assert all(r.certainty for r in result.results)
