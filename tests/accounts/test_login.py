"""Sign-in: argon2id passwords, links by e-mail, server-side sessions with idle and
absolute timeouts, rotation, logout everywhere, CSRF, throttling, password reset."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from accounts.access import COOKIE
from accounts.models import LoginSession, Person
from tests.accounts.conftest import PASSWORD, advance, csrf_token, make_person, post_form, sign_in


def session_cookie(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def test_password_is_argon2id_and_sign_in_opens_a_server_side_session(client, db_session,
                                                                      clock):
    person = make_person(db_session, "gestion@lieu.fr")
    assert person.password_hash.startswith("$argon2id$")
    assert PASSWORD not in person.password_hash

    assert client.get("/espace").status_code == 302  # to the login page
    response = sign_in(client, "gestion@lieu.fr")
    assert response.headers["Location"] == "/espace"
    cookie = client.get_cookie(COOKIE)
    assert cookie.http_only and cookie.same_site == "Lax"
    stored = db_session.scalars(select(LoginSession.token_hash)).all()
    assert len(stored) == 1 and cookie.value not in stored  # only its hash is kept
    page = client.get("/espace")
    assert page.status_code == 200
    assert "gestion@lieu.fr" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"


def test_wrong_password_and_unknown_account_get_the_same_french_answer(client, db_session,
                                                                      clock):
    make_person(db_session, "gestion@lieu.fr")
    token = csrf_token(client, "/connexion")
    wrong = client.post("/connexion", data={"email": "gestion@lieu.fr", "password": "non",
                                            "csrf_token": token})
    unknown = client.post("/connexion", data={"email": "personne@lieu.fr", "password": "non",
                                              "csrf_token": token})
    for response in (wrong, unknown):
        assert response.status_code == 422
        assert "Adresse électronique ou mot de passe incorrect." in response.get_data(
            as_text=True)
    assert session_cookie(client) is None


def test_session_rotates_on_login_and_expires_when_idle_and_at_its_absolute_limit(
        app, client, db_session, clock):
    make_person(db_session, "gestion@lieu.fr")
    sign_in(client, "gestion@lieu.fr")
    first = session_cookie(client)
    sign_in(client, "gestion@lieu.fr")
    second = session_cookie(client)
    assert first != second
    # The first session was revoked by the second sign-in (rotation).
    client.set_cookie(COOKIE, first)
    assert client.get("/espace").status_code == 302
    client.set_cookie(COOKIE, second)

    idle = app.config["PASSERELLE_SESSION_IDLE_S"]
    advance(clock, seconds=idle - 60)
    assert client.get("/espace").status_code == 200  # activity renews the idle timer
    advance(clock, seconds=idle - 60)
    assert client.get("/espace").status_code == 200
    advance(clock, seconds=idle + 1)
    assert client.get("/espace").status_code == 302  # idle too long

    sign_in(client, "gestion@lieu.fr")
    absolute = app.config["PASSERELLE_SESSION_MAX_S"]
    steps = absolute // (idle - 60) + 1
    for _ in range(steps):
        advance(clock, seconds=idle - 60)
        client.get("/espace")
    assert client.get("/espace").status_code == 302  # past the absolute lifetime


def test_logout_everywhere_revokes_every_session(app, db_session, clock):
    make_person(db_session, "gestion@lieu.fr")
    phone, laptop = app.test_client(), app.test_client()
    sign_in(phone, "gestion@lieu.fr")
    sign_in(laptop, "gestion@lieu.fr")
    assert phone.get("/espace").status_code == 200
    response = post_form(laptop, "/deconnexion/partout", {}, form_url="/espace")
    assert response.status_code == 302
    assert phone.get("/espace").status_code == 302
    assert laptop.get("/espace").status_code == 302
    assert db_session.scalar(select(func.count()).select_from(LoginSession)
                             .where(LoginSession.revoked_at.is_(None))) == 0


def test_every_form_needs_its_csrf_token(client, db_session, clock):
    make_person(db_session, "gestion@lieu.fr")
    response = client.post("/connexion", data={"email": "gestion@lieu.fr",
                                               "password": PASSWORD})
    assert response.status_code == 400
    assert "jeton de sécurité" in response.get_data(as_text=True)
    sign_in(client, "gestion@lieu.fr")
    forged = client.post("/deconnexion/partout", data={"csrf_token": "faux"})
    assert forged.status_code == 400
    assert client.get("/espace").status_code == 200  # nothing was done


def test_login_is_throttled_per_account_then_per_address(app, client, db_session, clock):
    make_person(db_session, "gestion@lieu.fr")
    token = csrf_token(client, "/connexion")
    per_account = app.config["PASSERELLE_LOGIN_ACCOUNT_PER_MIN"]
    statuses = []
    for _ in range(per_account + 2):
        response = client.post("/connexion", data={"email": "gestion@lieu.fr",
                                                   "password": "mauvais",
                                                   "csrf_token": token})
        statuses.append(response.status_code)
        advance(clock, seconds=1)
    # Three failures, then each try must wait 1 s, 2 s… (slowed), then refused (429).
    assert statuses[:3] == [422, 422, 422]
    assert 429 in statuses
    refused = client.post("/connexion", data={"email": "gestion@lieu.fr",
                                              "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "réessayez dans" in refused.get_data(as_text=True)
    # A minute later, the right password works again.
    advance(clock, seconds=301)
    assert client.post("/connexion", data={"email": "gestion@lieu.fr", "password": PASSWORD,
                                           "csrf_token": token}).status_code == 302

    # Per address: many accounts tried from one address.
    per_address = app.config["PASSERELLE_LOGIN_ADDRESS_PER_MIN"]
    advance(clock, seconds=120)
    codes = [client.post("/connexion", data={"email": f"x{i}@lieu.fr", "password": "x",
                                             "csrf_token": token}).status_code
             for i in range(per_address + 1)]
    assert codes[:per_address] == [422] * per_address and codes[-1] == 429
    other_address = app.test_client()
    token2 = csrf_token(other_address, "/connexion")
    assert other_address.post("/connexion", data={
        "email": "gestion@lieu.fr", "password": PASSWORD, "csrf_token": token2},
        environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 302


def test_sign_in_link_by_email_is_single_use(client, db_session, clock, smtp):
    make_person(db_session, "gestion@lieu.fr")
    response = post_form(client, "/connexion/lien", {"email": "gestion@lieu.fr"})
    assert response.status_code == 200
    unknown = post_form(client, "/connexion/lien", {"email": "inconnu@lieu.fr"})
    assert unknown.get_data(as_text=True) == response.get_data(as_text=True)  # no enumeration
    assert smtp.to("inconnu@lieu.fr") == []
    [message] = smtp.to("gestion@lieu.fr")
    assert message["Subject"] == "Votre lien de connexion à Passerelle"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "valable 15 minutes" in text and "Me connecter" in html
    link = smtp.last_link("gestion@lieu.fr")
    path = "/" + link.split("/", 3)[3]
    # Opening the link shows a button (mail scanners do not use it up); the POST signs in.
    assert client.get(path).status_code == 200
    assert session_cookie(client) is None
    signed = post_form(client, path, {})
    assert signed.status_code == 302 and session_cookie(client)
    again = post_form(client, "/connexion/lien", {"email": "gestion@lieu.fr"})
    assert again.status_code == 200
    replay = client.get(path)
    assert replay.status_code == 410 and "n'est plus valable" in replay.get_data(as_text=True)


def test_sign_in_link_expires(app, client, db_session, clock, smtp):
    make_person(db_session, "gestion@lieu.fr")
    post_form(client, "/connexion/lien", {"email": "gestion@lieu.fr"})
    path = "/" + smtp.last_link("gestion@lieu.fr").split("/", 3)[3]
    advance(clock, seconds=app.config["PASSERELLE_LINK_TTL_S"] + 1)
    assert client.get(path).status_code == 410


def test_password_reset_by_email(client, db_session, clock, smtp):
    person = make_person(db_session, "gestion@lieu.fr")
    other_browser_cookie = None
    sign_in(client, "gestion@lieu.fr")
    other_browser_cookie = session_cookie(client)
    post_form(client, "/mot-de-passe/oubli", {"email": "gestion@lieu.fr"})
    [message] = smtp.to("gestion@lieu.fr")
    assert message["Subject"] == "Choisir un nouveau mot de passe"
    assert PASSWORD not in message.as_string()
    path = "/" + smtp.last_link("gestion@lieu.fr").split("/", 3)[3]
    short = post_form(client, path, {"password": "court", "password2": "court"})
    assert short.status_code == 422 and "au moins 12 caractères" in short.get_data(
        as_text=True)
    new = "un tout nouveau mot de passe"
    assert post_form(client, path, {"password": new, "password2": new}).status_code == 302
    db_session.refresh(person)
    assert person.password_hash.startswith("$argon2id$")
    # The old session was closed by the new password; the new one works.
    client.set_cookie(COOKIE, other_browser_cookie)
    assert client.get("/espace").status_code == 302
    sign_in(client, "gestion@lieu.fr", new)
    assert re.search(r"Mon espace", client.get("/espace").get_data(as_text=True))
    assert db_session.get(Person, person.id).active
