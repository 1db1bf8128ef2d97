"""Deny by default: before every request, the route's rule (core.access) is checked against
the signed-in person (pages) or the machine's token (``/api/``).

Pages identify people by a server-side session cookie; the JSON API never reads that
cookie, only ``Authorization: Bearer`` tokens, so it needs no CSRF token while every
state-changing page request is checked by Flask-WTF.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, current_app, g, redirect, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from core import clock
from core.access import Rule, holds, rule_for
from core.errors import BadRequest, Forbidden, NotFound
from extensions import db

from . import services
from .journal import Actor

COOKIE = "passerelle_session"
csrf = CSRFProtect()


def is_api() -> bool:
    return request.path.startswith("/api/")


def now():
    return clock.now()


def load_person() -> None:
    g.person = None
    g.grants = frozenset()
    g.api_token = None
    secret = request.cookies.get(COOKIE)
    if is_api() or request.endpoint == "static" or not secret:
        return
    person = services.resolve_session(
        db.session, secret, now(), services.SessionLimits.from_config(current_app.config))
    if person is not None:
        g.person = person
        g.grants = services.grants_of(db.session, person.id)
    db.session.commit()  # the session's last_seen_at / revocation


def actor(role: str | None = None) -> Actor:
    """The journal's actor of the current request, acting as ``role`` (an administrator
    acting without holding it is journaled as administrator)."""
    if getattr(g, "api_token", None) is not None:
        return Actor("api")
    person = getattr(g, "person", None)
    grants = getattr(g, "grants", frozenset())
    if role and not any(r == role for r, _ in grants) and ("administrator", "") in grants:
        role = "administrator"
    return Actor("web", person.id if person else None, role)


def _to_login():
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("accounts.login") + "?" + urlencode({"suivant": target}))


def check_access(rule: Rule | None):
    if rule is None:
        raise Forbidden("Accès refusé : cette adresse n'a pas de règle d'accès.")
    if rule.kind == "public":
        return None
    if rule.kind == "token":
        token = services.resolve_api_token(db.session, request.headers.get("Authorization"),
                                           now())
        allowed = set(rule.scope(request.view_args or {})) if rule.scope else set()
        if token.scope_type != rule.token_scope or token.scope not in allowed:
            raise Forbidden("Ce jeton d'API ne donne pas accès à cette ressource.")
        g.api_token = token
        db.session.commit()  # last_used_at
        return None
    if is_api():
        raise services.Unauthorised("Cette adresse de l'API demande un jeton d'API.")
    if g.person is None:
        return _to_login()
    if rule.kind == "signed_in":
        return None
    if holds("administrator"):
        return None
    if not any(holds(role) for role in rule.roles):
        raise Forbidden("Accès refusé : votre rôle ne permet pas cette action.")
    if rule.scope is None:
        return None
    scopes = set(rule.scope(request.view_args or {}))
    if not scopes:
        raise NotFound()
    if not any(holds(role, scope) for role in rule.roles for scope in scopes):
        raise Forbidden("Accès refusé : cet objet ne relève pas de vous.")
    return None


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # checked below, pages only
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # bound to the session instead
    secure = bool(app.config.get("PASSERELLE_COOKIE_SECURE", 1))
    # Flask's own session cookie only carries the CSRF secret.
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    csrf.init_app(app)

    @app.before_request
    def enforce_access():
        # Per-request values; ``g`` outlives a request when an app context was already
        # pushed (tests, CLI), and Flask-WTF caches the token there.
        for name in ("csrf_token", "csrf_valid"):
            g.pop(name, None)
        load_person()
        if request.endpoint is None or request.routing_exception is not None:
            return None  # an unknown address or method is answered 404 or 405
        answer = check_access(rule_for(current_app, request.endpoint))
        if answer is not None:
            return answer
        if not is_api() and request.method in ("POST", "PUT", "PATCH", "DELETE"):
            try:
                csrf.protect()
            except CSRFError:
                raise BadRequest("Le formulaire a expiré ou son jeton de sécurité manque : "
                                 "rechargez la page et recommencez.") from None
        return None

    @app.after_request
    def no_store_for_people(response):
        if getattr(g, "person", None) is not None:
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("Cookie")
        return response

    @app.context_processor
    def inject_person() -> dict:
        return {"current_person": getattr(g, "person", None),
                "current_grants": getattr(g, "grants", frozenset())}


def set_session_cookie(response, secret: str) -> None:
    config = current_app.config
    response.set_cookie(COOKIE, secret, max_age=config["PASSERELLE_SESSION_MAX_S"],
                        secure=bool(config["PASSERELLE_COOKIE_SECURE"]), httponly=True,
                        samesite="Lax", path="/")


def clear_session_cookie(response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=bool(
        current_app.config["PASSERELLE_COOKIE_SECURE"]), httponly=True, samesite="Lax")
