"""Ways in. Password and e-mail link are built in (accounts.views); an external identity
provider such as ProConnect (the State's OpenID Connect login for professionals) plugs in
by implementing :class:`IdentityProvider` and registering it in ``app.extensions``.

The contract: the provider proves an e-mail address; Passerelle then opens a session for
the *existing, active* person with that address (``sign_in_verified``), exactly as the
e-mail link does. Roles stay Passerelle's: a provider never grants any.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from flask import Flask
from sqlalchemy.orm import Session

from .models import Person
from .services import normalise_email, person_by_email


class IdentityProvider(Protocol):
    name: str  # "proconnect": the session's method and the URL segment
    label_fr: str  # the button: "Se connecter avec ProConnect"

    def authorisation_url(self, state: str, nonce: str, redirect_uri: str) -> str:
        """Where to send the browser (state and nonce kept in the Flask session)."""

    def verified_email(self, query: dict[str, str], state: str, nonce: str,
                       redirect_uri: str) -> str:
        """Exchange the callback's code, check the ID token (issuer, audience, nonce,
        signature, expiry) and return the verified e-mail; raise InvalidInput otherwise."""


def providers(app: Flask) -> dict[str, IdentityProvider]:
    return app.extensions.setdefault("identity_providers", {})


def register(app: Flask, provider: IdentityProvider) -> None:
    providers(app)[provider.name] = provider


def sign_in_verified(session: Session, email: str, now: dt.datetime) -> Person | None:
    """The active person a provider vouched for, or None (no account is created)."""
    person = person_by_email(session, normalise_email(email))
    return person if person is not None and person.active else None
