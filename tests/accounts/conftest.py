"""Accounts test harness: a real SMTP server (aiosmtpd on 127.0.0.1) whose messages the
tests read, people with roles, and a client that signs in through the
real login form (CSRF token included)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass, field

import pytest

from accounts import services
from accounts.credentials import hash_password
from accounts.models import Person
from core.mail import mailer_from_config

PASSWORD = "une phrase de passe assez longue"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Inbox:
    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    def to(self, address: str) -> list:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]

    def last_link(self, address: str) -> str:
        message = self.to(address)[-1]
        text = message.get_body(("plain",)).get_content()
        return re.search(r"https?://\S+", text).group(0)


@pytest.fixture
def smtp(app):
    """A real SMTP server on 127.0.0.1; the application sends through it during the test."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks it can connect)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    previous = app.extensions["mailer"]
    app.extensions["mailer"] = mailer_from_config({
        **app.config, "PASSERELLE_SMTP_HOST": "127.0.0.1", "PASSERELLE_SMTP_PORT": port})
    try:
        yield inbox
    finally:
        app.extensions["mailer"] = previous
        controller.stop()


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
