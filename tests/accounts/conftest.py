"""Accounts test harness: people with roles and a client that signs in through the real
login form (CSRF token included). The real SMTP server (``smtp``) is in tests/conftest.py."""

from __future__ import annotations

import datetime as dt
import re

from accounts import services
from accounts.credentials import hash_password
from accounts.models import Person

PASSWORD = "une phrase de passe assez longue"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def advance(clock, **delta) -> None:
    """Move the application's frozen clock forward."""
    clock.set(clock.now() + dt.timedelta(**delta))


def make_person(session, email: str, *roles: tuple[str, str], password: str = PASSWORD,
                active: bool = True) -> Person:
    person = Person(email=email, password_hash=hash_password(password), active=active)
    session.add(person)
    session.flush()
    for role, scope in roles:
        services.grant(session, person, role, scope)
    return person


def csrf_token(client, url: str) -> str:
    page = client.get(url)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"pas de jeton CSRF dans {url} ({page.status_code})"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD):
    token = csrf_token(client, "/connexion")
    response = client.post("/connexion", data={"email": email, "password": password,
                                               "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def post_form(client, url: str, data: dict, form_url: str | None = None):
    """POST ``data`` with the CSRF token of the page at ``form_url`` (default: ``url``)."""
    token = csrf_token(client, form_url or url)
    return client.post(url, data={**data, "csrf_token": token})
