"""A venue manager, as a new user: invitation by e-mail, password, hours with a preview in
French words, a session with seats, a programme request approved by its manager; the
beneficiary's search sees each change at once; every change is in the venue's history."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from accounts.models import AcceptanceRequest, JournalEntry, Person, VenueClaim
from core.clock import PARIS
from core.text import date_fr as fr_date
from directory.edits import VenueEditedField
from directory.models import Acceptance, TrainingSession
from tests import conftest as cat
from tests.accounts.conftest import csrf_token, make_person, post_form, sign_in

DEMARCHES = "Aide aux démarches administratives"


@pytest.fixture
def venue(db_session):
    programme = cat.programme(db_session, "pass-gironde", "Pass Numérique Gironde")
    lieu = cat.venue(db_session, -0.57, 44.84, nom="Médiathèque du Port",
                     services=[DEMARCHES], courriels=["contact@mediatheque.fr"])
    cat.accept(db_session, lieu, programme)
    offer = cat.offer(db_session, lieu, DEMARCHES, format="collective",
                      title="Atelier démarches")
    return lieu, offer


def _path(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def _match(client, **extra):
    response = client.get("/api/v1/match", query_string={
        "lat": 44.84, "lon": -0.58, "programme": "pass-gironde",
        "services": "aide-aux-demarches-administratives", **extra})
    assert response.status_code == 200, response.get_json()
    return {r["nom"]: r for r in response.get_json()["results"]}


def test_invited_manager_edits_hours_and_adds_a_session_seen_at_once(
        app, client, runner, db_session, clock, smtp, venue):
    lieu, offer = venue
    result = runner.invoke(args=["accounts", "invite", "gestion@mediatheque.fr",
                                 "--role", f"venue_manager:{lieu.id}"])
    assert result.exit_code == 0, result.output
    assert "Invitation envoyée à gestion@mediatheque.fr (1 rôle(s))." in result.output
    [mail] = smtp.to("gestion@mediatheque.fr")
    assert mail["Subject"] == "Invitation à Passerelle"
    assert "gestionnaire du lieu" in mail.get_body(("plain",)).get_content()
    assert "Médiathèque" not in mail.as_string()  # no more than the message needs

    invitation = _path(smtp.last_link("gestion@mediatheque.fr"))
    password = "ma phrase de passe du port"
    response = post_form(client, invitation, {"password": password, "password2": password})
    assert response.status_code == 302  # signed in straight away
    home = client.get(f"/espace/lieux/{lieu.id}")
    assert home.status_code == 200 and "Médiathèque du Port" in home.get_data(as_text=True)

    # Saturday morning: not open before the change (no hours known).
    saturday = {"days": "samedi", "time_from": "10:00", "time_to": "12:00"}
    before = _match(client, **saturday)
    assert before["Médiathèque du Port"]["next_slot"] is None

    hours_url = f"/espace/lieux/{lieu.id}/horaires"
    # The preview without JavaScript, then an invalid string refused in French.
    preview = post_form(client, hours_url, {"horaires": "Mo-Sa 09:00-12:30",
                                            "action": "apercu"})
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "9 h – 12 h 30" in text and "Samedi" in text
    bad = post_form(client, hours_url, {"horaires": "lundi matin", "action": "enregistrer"})
    assert bad.status_code == 422 and "Horaires invalides" in bad.get_data(as_text=True)
    live = client.get("/espace/horaires/apercu", query_string={"horaires": "Sa 10:00-12:00"})
    assert {"jour": "samedi", "horaires": "10 h – 12 h"} in live.get_json()["semaine"]
    saved = post_form(client, hours_url, {"horaires": "Mo-Sa 09:00-12:30",
                                          "action": "enregistrer"})
    assert saved.status_code == 302

    after = _match(client, **saturday)
    assert after["Médiathèque du Port"]["next_slot"]["kind"] == "opening"
    assert db_session.scalar(select(VenueEditedField.field)
                             .where(VenueEditedField.lieu_id == lieu.id)) == "horaires"

    # A session with seats on the offer; the venue's API shows it at once.
    offer_url = f"/espace/lieux/{lieu.id}/offres/{offer.id}"
    day = clock.now().astimezone(PARIS).date() + dt.timedelta(days=8)
    added = post_form(client, f"{offer_url}/seances",
                      {"jour": day.isoformat(), "debut": "14:00", "fin": "16:00", "places": "8"},
                      form_url=offer_url)
    assert added.status_code == 302
    past = post_form(client, f"{offer_url}/seances",
                     {"jour": (day - dt.timedelta(days=30)).isoformat(), "debut": "14:00",
                      "fin": "16:00", "places": "8"},
                     form_url=offer_url)
    assert past.status_code == 422 and "dans le futur" in past.get_data(as_text=True)
    detail = client.get(f"/api/v1/venues/{lieu.id}").get_json()
    [session_row] = detail["sessions"]
    assert session_row["seats"] == 8
    assert session_row["starts_at"].startswith(f"{day.isoformat()}T14:00:00+0")
    assert db_session.scalar(select(TrainingSession.seats)
                             .where(TrainingSession.offre_id == offer.id)) == 8

    # The history shows who (role), what, before → after.
    history = client.get(f"/espace/lieux/{lieu.id}").get_data(as_text=True)
    assert "horaires modifiés" in history and "séance ajoutée" in history
    assert "Mo-Sa 09:00-12:30" in history
    entry = db_session.scalar(select(JournalEntry).where(
        JournalEntry.lieu_id == lieu.id, JournalEntry.action == "horaires modifiés"))
    assert entry.before == {"horaires": None}
    assert entry.after == {"horaires": "Mo-Sa 09:00-12:30"}
    assert entry.actor_role == "venue_manager" and entry.channel == "web"


def test_programme_manager_approves_and_refuses_acceptance_requests(
        app, client, db_session, clock, venue):
    lieu, _offer = venue
    other = cat.programme(db_session, "pass-cdc", "Pass Numérique CDC")
    manager = make_person(db_session, "gestion@mediatheque.fr",
                          ("venue_manager", str(lieu.id)))
    funder = make_person(db_session, "financeur@departement.fr",
                         ("programme_manager", str(other.id)))
    assert manager and funder
    venue_client, funder_client = app.test_client(), app.test_client()
    sign_in(venue_client, "gestion@mediatheque.fr")
    sign_in(funder_client, "financeur@departement.fr")

    asked = post_form(venue_client, f"/espace/lieux/{lieu.id}/programmes",
                      {"programme": "pass-cdc"}, form_url=f"/espace/lieux/{lieu.id}")
    assert asked.status_code == 302
    twice = post_form(venue_client, f"/espace/lieux/{lieu.id}/programmes",
                      {"programme": "pass-cdc"}, form_url=f"/espace/lieux/{lieu.id}")
    assert twice.status_code == 409
    request_row = db_session.scalar(select(AcceptanceRequest))
    page = funder_client.get(f"/espace/programmes/{other.id}")
    assert "Médiathèque du Port" in page.get_data(as_text=True)

    # A refusal needs a reason.
    no_reason = post_form(funder_client, f"/espace/demandes/{request_row.id}",
                          {"decision": "refuser", "motif": ""},
                          form_url=f"/espace/programmes/{other.id}")
    assert no_reason.status_code == 302
    db_session.refresh(request_row)
    assert request_row.status == "pending"
    approved = post_form(funder_client, f"/espace/demandes/{request_row.id}",
                         {"decision": "approuver"}, form_url=f"/espace/programmes/{other.id}")
    assert approved.status_code == 302
    db_session.refresh(request_row)
    assert request_row.status == "approved"
    assert db_session.scalar(select(Acceptance).where(Acceptance.lieu_id == lieu.id,
                                                      Acceptance.programme_id == other.id))
    found = client.get("/api/v1/match", query_string={
        "lat": 44.84, "lon": -0.58, "programme": "pass-cdc"}).get_json()
    assert "Médiathèque du Port" in [r["nom"] for r in found["results"]]

    # A second request, refused with its reason, shown to the venue.
    third = cat.programme(db_session, "pass-ville", "Pass de la ville")
    make_person(db_session, "ville@mairie.fr", ("programme_manager", str(third.id)))
    city = app.test_client()
    sign_in(city, "ville@mairie.fr")
    post_form(venue_client, f"/espace/lieux/{lieu.id}/programmes",
              {"programme": "pass-ville"}, form_url=f"/espace/lieux/{lieu.id}")
    second = db_session.scalar(select(AcceptanceRequest).where(
        AcceptanceRequest.programme_id == third.id))
    post_form(city, f"/espace/demandes/{second.id}",
              {"decision": "refuser", "motif": "Hors de notre périmètre d'ateliers"},
              form_url=f"/espace/programmes/{third.id}")
    page = venue_client.get(f"/espace/lieux/{lieu.id}").get_data(as_text=True)
    assert "refusée — Hors de notre périmètre d" in page


def test_closure_contacts_offer_and_confirmation(app, client, db_session, clock, venue):
    lieu, _offer = venue
    make_person(db_session, "gestion@mediatheque.fr", ("venue_manager", str(lieu.id)))
    sign_in(client, "gestion@mediatheque.fr")
    base = f"/espace/lieux/{lieu.id}"

    today = clock.now().astimezone(PARIS).date()
    day = [(today + dt.timedelta(days=n)).isoformat() for n in range(9)]
    wrong = post_form(client, f"{base}/fermeture", {"debut": day[8], "fin": day[1]})
    assert wrong.status_code == 422 and "doit suivre" in wrong.get_data(as_text=True)
    closed = post_form(client, f"{base}/fermeture", {"debut": day[0], "fin": day[6],
                                                     "motif": "inventaire"})
    assert closed.status_code == 302
    public = client.get(f"/lieux/{lieu.id}").get_data(as_text=True)
    assert "inventaire" in public
    # The matcher reads the closure at once (it asks about a day within it).
    assert "Médiathèque du Port" not in _match(client, date=day[2])
    assert "Médiathèque du Port" in _match(client, date=day[7])

    bad = post_form(client, f"{base}/coordonnees", {"telephone": "pas un numéro",
                                                    "courriels": "x", "site_web": ""})
    assert bad.status_code == 422
    assert "Numéro invalide" in bad.get_data(as_text=True)
    good = post_form(client, f"{base}/coordonnees", {
        "telephone": "05 56 00 00 00", "courriels": "accueil@mediatheque.fr",
        "site_web": "https://mediatheque.fr", "prise_rdv": ""})
    assert good.status_code == 302
    db_session.refresh(lieu)
    assert lieu.telephone == ["05 56 00 00 00"]

    new_offer = post_form(client, f"{base}/offres/nouvelle", {
        "titre": "Premiers pas sur ordinateur", "service": DEMARCHES, "niveau": "1",
        "format": "individual", "langues": "fr, ar", "cheques": "2", "duree_minutes": "90",
        "active": "1"})
    assert new_offer.status_code == 302
    refused = post_form(client, f"{base}/offres/nouvelle", {
        "titre": "", "service": "Inconnu", "format": "x", "cheques": "-1", "langues": "fr"},
        form_url=f"{base}/offres/nouvelle")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Choisissez un service" in text

    confirmed = post_form(client, f"{base}/confirmer", {}, form_url=base)
    assert confirmed.status_code == 302
    public = client.get(f"/lieux/{lieu.id}").get_data(as_text=True)
    assert (f"Informations confirmées le {fr_date(today)} par gestionnaire du lieu."
            in public)
    assert "gestion@mediatheque.fr" not in public


def test_claim_confirmed_by_the_venue_public_email_or_a_programme_manager(
        app, client, db_session, clock, smtp, venue):
    lieu, _offer = venue
    person = make_person(db_session, "nouveau@mediatheque.fr")
    sign_in(client, "nouveau@mediatheque.fr")
    assert client.get(f"/espace/lieux/{lieu.id}").status_code == 403
    asked = post_form(client, f"/espace/revendiquer/{lieu.id}", {})
    assert asked.status_code == 302
    [mail] = smtp.to("contact@mediatheque.fr")
    assert "nouveau@mediatheque.fr" not in mail.as_string()  # the claimant stays private
    link = _path(smtp.last_link("contact@mediatheque.fr"))
    anonymous = app.test_client()
    assert anonymous.get(link).status_code == 200
    confirmed = post_form(anonymous, link, {})
    assert confirmed.status_code == 200 and "Merci" in confirmed.get_data(as_text=True)
    assert client.get(f"/espace/lieux/{lieu.id}").status_code == 200
    assert db_session.get(Person, person.id).roles[0].role == "venue_manager"

    # Without a public e-mail, a manager of a programme the venue accepts confirms.
    silent = cat.venue(db_session, -0.56, 44.84, nom="Tiers-lieu sans courriel")
    programme = cat.programme(db_session, "pass-tl", "Pass tiers-lieux")
    cat.accept(db_session, silent, programme)
    make_person(db_session, "financeur@region.fr", ("programme_manager", str(programme.id)))
    post_form(client, f"/espace/revendiquer/{silent.id}", {})
    funder = app.test_client()
    sign_in(funder, "financeur@region.fr")
    page = funder.get(f"/espace/programmes/{programme.id}")
    assert "Tiers-lieu sans courriel" in page.get_data(as_text=True)
    claim = db_session.scalar(select(VenueClaim).where(VenueClaim.lieu_id == silent.id))
    decided = post_form(funder, f"/espace/revendications/{claim.id}",
                        {"decision": "confirmer"}, form_url=f"/espace/programmes/{programme.id}")
    assert decided.status_code == 302
    assert client.get(f"/espace/lieux/{silent.id}").status_code == 200


def test_french_hours_preview_reuses_the_public_page_wording(client, db_session, clock, venue):
    lieu, _offer = venue
    make_person(db_session, "gestion@mediatheque.fr", ("venue_manager", str(lieu.id)))
    sign_in(client, "gestion@mediatheque.fr")
    token = csrf_token(client, f"/espace/lieux/{lieu.id}/horaires")
    page = client.post(f"/espace/lieux/{lieu.id}/horaires", data={
        "horaires": "Tu,Th 14:00-18:00; PH off", "action": "apercu", "csrf_token": token})
    text = page.get_data(as_text=True)
    assert "Mardi" in text and "14 h – 18 h" in text and "fermé" in text
