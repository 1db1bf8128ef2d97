"""Access rules, declared on every route; enforced by accounts (deny by default).

A view gets its rule with a decorator (``@public``, ``@signed_in``, ``@requires(...)``); a
blueprint whose every route is open to all is declared once with :func:`public_blueprint`.
A route with no rule is refused (403). This module only records the rules and reads the
grants accounts loaded for the request (:func:`holds`), so that any package can declare
and consult them without importing accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import Blueprint, Flask, g

# A scope function receives the view's arguments and returns the scopes that give access
# (e.g. the venue's id as text); an empty result means the object does not exist (404).
ScopeFunction = Callable[[dict], Iterable[str]]


@dataclass(frozen=True)
class Rule:
    kind: str  # public | signed_in | role | token
    roles: tuple[str, ...] = ()
    scope: ScopeFunction | None = field(default=None, compare=False)
    token_scope: str | None = None  # for kind == token: source | structure

    @property
    def label_fr(self) -> str:
        if self.kind == "public":
            return "public"
        if self.kind == "signed_in":
            return "connecté"
        if self.kind == "token":
            return f"jeton d'API ({self.token_scope})"
        return " ou ".join(self.roles) + (" (propriétaire)" if self.scope else "")


PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in")


def _mark(view, rule: Rule):
    view.access_rule = rule
    return view


def public(view):
    return _mark(view, PUBLIC)


def signed_in(view):
    return _mark(view, SIGNED_IN)


def requires(*roles: str, scope: ScopeFunction | None = None):
    """Only people holding one of ``roles``; with ``scope``, for that object (administrators
    pass every rule)."""
    return lambda view: _mark(view, Rule("role", tuple(roles), scope))


def requires_token(token_scope: str, scope: ScopeFunction):
    """Only a machine's API token whose scope is one of ``scope(view_args)``."""
    return lambda view: _mark(view, Rule("token", (), scope, token_scope))


def public_blueprint(bp: Blueprint) -> Blueprint:
    """Every route of ``bp`` is public (read-only catalogue pages and APIs)."""
    bp.access_rule = PUBLIC
    return bp


def holds(role: str, scope: str | None = None) -> bool:
    """The signed-in person of this request holds ``role`` (for ``scope`` when given);
    an administrator holds every role. The grants are those accounts loaded for the
    request (none for the API, which reads no session)."""
    grants = getattr(g, "grants", frozenset())
    if ("administrator", "") in grants:
        return True
    return any(r == role and (scope is None or s == scope) for r, s in grants)


def rule_for(app: Flask, endpoint: str | None) -> Rule | None:
    """The rule of an endpoint, or None (refused)."""
    if endpoint is None:
        return None
    if endpoint == "static":
        return PUBLIC
    view = app.view_functions.get(endpoint)
    rule = getattr(view, "access_rule", None)
    if rule is None:
        view_class = getattr(view, "view_class", None)  # flask-smorest MethodView
        rule = getattr(view_class, "access_rule", None)
    if rule is None and "." in endpoint:
        bp = app.blueprints.get(endpoint.rsplit(".", 1)[0])
        rule = getattr(bp, "access_rule", None)
    return rule
