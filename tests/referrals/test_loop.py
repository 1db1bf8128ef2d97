"""End to end as new users: a prescriber refers a person to a session, the venue accepts
from the e-mail link (read from a real SMTP server), the person attends, the venue records
2 cheques honoured, the programme's figures show it; replays and illegal moves refused."""

from __future__ import annotations

import io
import re
from html import unescape

from sqlalchemy import select

from accounts.models import JournalEntry
from core.clock import PARIS
from directory.models import TrainingSession
from referrals.models import Referral
from tests.accounts.conftest import csrf_token, post_form, sign_in
from tests.referrals.conftest import STRUCTURE, path_of, refer

FORM = {"prenom": "Awa", "contact": "telephone", "coordonnee": "06 12 34 56 78",
        "disponibilites": "les mardis après-midi", "cheques": "2",
        "note": "Première démarche en ligne.", "consentement": "oui"}


def test_refer_accept_by_link_attend_honour_and_figures(app, db_session, world, smtp, clock):
    prescriber = app.test_client()
    sign_in(prescriber, "conseillere@ccas.fr")
    url = (f"/orienter/orientation?lieu={world.venue.id}&offre={world.offer.id}"
           f"&seance={world.seance.id}&pass={world.programme.code}")
    page = prescriber.get(url).get_data(as_text=True)
    assert "aucune donnée de santé, de handicap" in page
    assert "Mes démarches en ligne" in page and "10 place(s) libre(s)" in page

    missing = post_form(prescriber, url, {**FORM, "consentement": "", "prenom": ""})
    assert missing.status_code == 422
    body = missing.get_data(as_text=True)
    assert "Le consentement de la personne est nécessaire" in body
    assert "Indiquez le prénom ou les initiales" in body

    sent = post_form(prescriber, url, {**FORM, "offre": world.offer.id,
                                       "seance": world.seance.id,
                                       "programme": world.programme.id})
    assert sent.status_code == 302, sent.get_data(as_text=True)[:800]
    referral = db_session.scalar(select(Referral))
    assert (referral.state, referral.structure, referral.consent_by) == (
        "sent", STRUCTURE, world.prescriber.id)
    assert referral.consent_version == "2026-12-v1" and referral.consent_at == clock.now()
    slip = prescriber.get(path_of(sent.headers["Location"])).get_data(as_text=True)
    for text in (referral.reference, "Médiathèque Pey-Berland", "1 place Pey-Berland",
                 "Quoi apporter", "Vos chèques Pass Gironde (2 chèques)", "Séance du"):
        assert text in slip, text

    # The venue's manager gets the signed link; the mail carries no personal data.
    [mail] = smtp.to("gerant@mediatheque.fr")
    assert referral.reference in mail["Subject"]
    assert "Awa" not in mail.as_string() and "56 78" not in mail.as_string()
    link = path_of(smtp.last_link("gerant@mediatheque.fr"))

    venue_browser = app.test_client()  # no account
    answer = venue_browser.get(link).get_data(as_text=True)
    assert "Awa" in answer and "06 12 34 56 78" in answer
    accepted = venue_browser.post(link, data={"action": "accepter",
                                              "csrf_token": csrf_token(venue_browser, link)})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)[:800]
    assert "acceptée" in accepted.get_data(as_text=True)
    db_session.refresh(referral)
    assert referral.state == "accepted"
    assert db_session.get(TrainingSession, world.seance.id).seats_taken == 1
    [told] = smtp.to("conseillere@ccas.fr")
    assert told["Subject"] == f"Orientation {referral.reference} acceptée"

    replay = venue_browser.get(link)
    assert replay.status_code == 410
    assert "déjà servi" in replay.get_data(as_text=True)
    assert venue_browser.post(link, data={"action": "refuser", "motif": "other"}).status_code \
        in (400, 410)
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    assert "signature invalide" in venue_browser.get(tampered).get_data(as_text=True)

    manager = app.test_client()
    sign_in(manager, "gerant@mediatheque.fr")
    board = f"/espace/lieux/{world.venue.id}/orientations"
    assert referral.reference in manager.get(board).get_data(as_text=True)
    act = f"{board}/{referral.id}"
    illegal = post_form(manager, act, {"action": "honorer", "cheques": "2"}, board)
    assert illegal.status_code == 303
    flashed = manager.get(board).get_data(as_text=True)
    assert "Une orientation acceptée ne peut pas être marquée comme pass honoré" in flashed
    assert post_form(manager, act, {"action": "venue"}, board).status_code == 302
    assert post_form(manager, act, {"action": "honorer", "cheques": "2",
                                    "numeros": "PN-001 PN-002"}, board).status_code == 302
    db_session.refresh(referral)
    assert (referral.state, referral.cheques_honoured, referral.pass_numbers) == (
        "honoured", 2, ["PN-001", "PN-002"])

    actions = list(db_session.scalars(select(JournalEntry.action).where(
        JournalEntry.object_type == "orientation", JournalEntry.object_id == str(referral.id))
        .order_by(JournalEntry.id)))
    assert actions == ["orientation envoyée", "orientation acceptée", "personne venue",
                       "pass honoré"]

    # Four more honoured referrals: five in the month, shown; fewer would be hidden.
    from referrals import services
    from referrals.views import LINK_ACTOR

    for n in range(4):
        other = refer(db_session, world, clock.now(), first_name=f"P{n}")
        services.accept(db_session, other.id, clock.now(), LINK_ACTOR)
        services.record_visit(db_session, other.id, True, clock.now(), LINK_ACTOR)
        services.honour(db_session, other.id, 2, None, clock.now(), LINK_ACTOR)
    [row] = app.test_client().get("/api/v1/stats?niveau=commune").get_json()["lignes"]
    assert (row["territoire"], row["mois"], row["envoyees"], row["acceptees"],
            row["honorees"], row["cheques_honores"], row["refusees"]) == (
        "Bordeaux", clock.now().astimezone(PARIS).strftime("%Y-%m"), 5, 5, 5, 10, 0)
    assert row["delai_median_jours"] == 0.0
    funder = app.test_client()
    sign_in(funder, "financeur@region.fr")
    figures = funder.get("/statistiques/orientations?niveau=region").get_data(as_text=True)
    assert "Nouvelle-Aquitaine" in figures and "Pass Gironde" in figures


def test_small_counts_are_suppressed(app, db_session, world, clock):
    from referrals import services
    from referrals.views import LINK_ACTOR

    for n in range(6):
        referral = refer(db_session, world, clock.now(), first_name=f"R{n}")
        if n < 2:
            services.refuse(db_session, referral.id, "capacity", None, clock.now(), LINK_ACTOR)
    [row] = app.test_client().get("/api/v1/stats").get_json()["lignes"]
    assert row["envoyees"] == 6
    assert row["refusees"] is None  # 2 < 5
    assert row["refusees_par_motif"]["plus de place ou de créneau disponible"] is None
    assert row["acceptees"] == 0 and row["delai_median_jours"] is None
    bad = app.test_client().get("/api/v1/stats?niveau=pays")
    assert bad.status_code == 422


def test_follow_up_filters_and_csv_neutralises_formulas(app, db_session, world, clock):
    from referrals import services
    from referrals.views import LINK_ACTOR

    first = refer(db_session, world, clock.now(), first_name="=HYPERLINK(1)")
    refer(db_session, world, clock.now(), first_name="Léa")
    refer(db_session, world, clock.now(), first_name="Autre", structure="Mission locale")
    services.refuse(db_session, first.id, "not_offered", None, clock.now(), LINK_ACTOR)
    client = app.test_client()
    sign_in(client, "conseillere@ccas.fr")
    page = client.get("/orienter/suivi").get_data(as_text=True)
    assert "Léa" in page and "Autre" not in page  # another structure's referral
    refused = client.get("/orienter/suivi?etat=refused").get_data(as_text=True)
    assert "HYPERLINK" in refused and "Léa" not in refused
    assert client.get("/orienter/suivi?etat=payee").status_code == 422
    csv_text = client.get("/orienter/suivi.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in csv_text and "Autre" not in csv_text
    assert csv_text.splitlines()[0].lstrip("\ufeff").startswith("référence;envoyée le;état")
    # Another structure's slip is refused.
    foreign = db_session.scalar(select(Referral).where(Referral.structure == "Mission locale"))
    assert client.get(f"/orienter/orientations/{foreign.id}/fiche").status_code == 403


def test_orienter_results_link_to_the_referral_form(app, db_session, world, clock):
    client = app.test_client()
    sign_in(client, "conseillere@ccas.fr")
    html = client.get("/orienter", query_string={
        "where": "Ma position", "lat": "44.84", "lon": "-0.57",
        "programme": world.programme.code}).get_data(as_text=True)
    link = re.search(r'href="(/orienter/orientation\?lieu=' + str(world.venue.id)
                     + r'[^"]*)"', html)
    assert link, "pas de lien « Orienter ici »"
    target = unescape(link.group(1))
    assert f"pass={world.programme.code}" in target
    form = client.get(target).get_data(as_text=True)
    assert f'<option value="{world.programme.id}" selected>Pass Gironde</option>' in form


def test_planner_layer_counts_per_thousand_and_capacity_refusals(app, db_session, world,
                                                                  clock):
    from referrals import services
    from referrals.views import LINK_ACTOR

    for n in range(7):
        referral = refer(db_session, world, clock.now(), first_name=f"C{n}", seance=False)
        if n < 5:
            services.refuse(db_session, referral.id, "capacity", None, clock.now(), LINK_ACTOR)
    layer = app.test_client().get("/api/v1/stats/carte?niveau=commune").get_json()
    [feature] = layer["features"]
    props = feature["properties"]
    assert feature["geometry"]["type"] in ("MultiPolygon", "Polygon")
    assert (props["code"], props["orientations"], props["refus_manque_de_place"]) == (
        "33063", 7, 5)
    assert props["orientations_pour_1000_habitants"] == round(7000 / props["population"], 2)
    departement = app.test_client().get("/api/v1/stats/carte").get_json()["features"][0]
    assert departement["properties"]["code"] == "33"


def test_figures_and_planner_layer_filter_by_programme_code_or_id(app, db_session, world,
                                                                    clock):
    from tests import conftest as cat

    other = cat.programme(db_session, "pass-autre-orient", "Pass Autre")
    for n in range(6):
        refer(db_session, world, clock.now(), first_name=f"D{n}", seance=False)
    client = app.test_client()

    def layer(query):
        return client.get("/api/v1/stats/carte" + query)

    by_code = layer(f"?niveau=commune&programme={world.programme.code}").get_json()
    assert [f["properties"]["orientations"] for f in by_code["features"]] == [6]
    assert layer(f"?niveau=commune&programme={world.programme.id}").get_json() == by_code
    assert layer(f"?niveau=commune&programme={other.code}").get_json()["features"] == []
    unknown = layer("?programme=pass-inconnu")
    assert unknown.status_code == 404
    assert unknown.get_json()["message"] == "Aucun programme ne porte le code « pass-inconnu »."
    assert layer("?programme=" + "0" * 99).status_code == 404
    rows = client.get(f"/api/v1/stats?programme={world.programme.code}").get_json()["lignes"]
    assert [(r["programme_id"], r["envoyees"]) for r in rows] == [(world.programme.id, 6)]
    assert client.get(f"/api/v1/stats?programme={other.code}").get_json()["lignes"] == []


def test_group_upload_assign_adjust_and_send(app, db_session, world, clock, smtp):
    client = app.test_client()
    sign_in(client, "conseillere@ccas.fr")
    token = csrf_token(client, "/orienter/groupe")
    personal = client.post("/orienter/groupe", data={
        "csrf_token": token, "fichier": (io.BytesIO(b"id,nom,postal_code\nP-1,Dupont,33000\n"),
                                         "groupe.csv")}, content_type="multipart/form-data")
    assert personal.status_code == 422
    assert "Données personnelles refusées" in unescape(personal.get_data(as_text=True))
    csv_body = b"id,lat,lon\nP-1,44.84,-0.57\nP-2,44.84,-0.57\nP-3,44.841,-0.571\n"
    page = client.post("/orienter/groupe", data={
        "csrf_token": token, "programme": str(world.programme.id),
        "fichier": (io.BytesIO(csv_body), "groupe.csv")}, content_type="multipart/form-data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:600]
    assert "3 personne(s) placée(s)" in html and "Médiathèque Pey-Berland" in html
    fields = dict(re.findall(r'name="(p-\d+-id)" value="([^"]*)"', html))
    fields.update(re.findall(r'name="(p-\d+-lieu)" data-assigned="(\d+)"', html))
    assert len(fields) == 6
    data = {"csrf_token": token, "n": "3", "programme": str(world.programme.id),
            "cheques": "1", "consentement": "oui", **fields,
            "p-0-garder": "oui", "p-1-garder": "oui"}  # P-3 left out
    assert client.post("/orienter/groupe/envoyer", data={**data, "consentement": ""}) \
        .status_code == 303
    assert db_session.scalar(select(Referral).where(Referral.first_name == "P-1")) is None
    done = client.post("/orienter/groupe/envoyer", data=data)
    assert done.status_code == 302
    sent = list(db_session.scalars(select(Referral.first_name).order_by(Referral.id)))
    assert sent == ["P-1", "P-2"]
    assert len(smtp.to("gerant@mediatheque.fr")) == 2


def test_venue_proposes_another_session_and_a_full_session_is_refused(app, db_session,
                                                                       world, clock, smtp):
    import datetime as dt

    from referrals import services
    from referrals.views import LINK_ACTOR

    later = TrainingSession(offre_id=world.offer.id,
                            starts_at=clock.now() + dt.timedelta(days=14),
                            ends_at=clock.now() + dt.timedelta(days=14, hours=2), seats=1)
    db_session.add(later)
    db_session.flush()
    first = refer(db_session, world, clock.now(), first_name="A")
    token = services.new_link(db_session, first, clock.now(),
                              services.Settings.from_config(app.config))
    link = f"/orientation/reponse/{token}"
    browser = app.test_client()
    page = browser.post(link, data={"action": "autre_seance", "seance": str(later.id),
                                    "csrf_token": csrf_token(browser, link)})
    assert page.status_code == 200, page.get_data(as_text=True)[:600]
    db_session.refresh(first)
    assert (first.state, first.seance_id) == ("accepted", later.id)
    assert db_session.get(TrainingSession, later.id).seats_taken == 1
    assert db_session.get(TrainingSession, world.seance.id).seats_taken == 0
    second = refer(db_session, world, clock.now(), first_name="B")
    token = services.new_link(db_session, second, clock.now(),
                              services.Settings.from_config(app.config))
    db_session.commit()  # the view's rollback must not undo the test's own rows
    link = f"/orientation/reponse/{token}"
    full = browser.post(link, data={"action": "autre_seance", "seance": str(later.id),
                                    "csrf_token": csrf_token(browser, link)})
    assert full.status_code == 409
    assert "Cette séance est complète" in unescape(full.get_data(as_text=True))
    assert browser.get(link).status_code == 200  # the link was not spent by the failure
    db_session.refresh(second)
    assert second.state == "sent"
    services.refuse(db_session, second.id, "capacity", "complet", clock.now(), LINK_ACTOR)
    answered = browser.get(link)  # answered from elsewhere: the link shows nothing more
    assert answered.status_code == 410
    assert "déjà reçu une réponse (elle est refusée)" in unescape(answered.get_data(as_text=True))


def test_group_person_moved_to_another_venue_is_referred_there_without_the_old_session(
        app, db_session, world, clock):
    from accounts.journal import Actor
    from referrals import groups
    from tests import conftest as cat

    other = cat.venue(db_session, -0.55, 44.86, nom="Espace du nord", code_insee="33063")
    rows = [{"id": "M-1", "lieu": other.id, "seance": world.seance.id, "garder": True},
            {"id": "M-2", "lieu": world.venue.id, "seance": world.seance.id, "garder": True}]
    moved, stayed = groups.send(
        db_session, rows, prescriber_id=world.prescriber.id, structure=STRUCTURE,
        programme_id=None, cheques="0", consent=True, now=clock.now(),
        actor=Actor("web", world.prescriber.id, "prescriber"))
    assert (moved.lieu_id, moved.seance_id) == (other.id, None)
    assert (stayed.lieu_id, stayed.seance_id) == (world.venue.id, world.seance.id)
