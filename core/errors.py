"""One error hierarchy: each class carries its HTTP status and a safe French message.

Errors are answered as JSON under ``/api/`` and as a French HTML page elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# French messages for the HTTP statuses the application answers.
STATUS_MESSAGES = {
    400: "La requête est mal formée.",
    401: "Authentification requise.",
    403: "Accès refusé.",
    404: "La ressource demandée est introuvable.",
    405: "Méthode non autorisée pour cette adresse.",
    409: "La requête est en conflit avec l'état actuel des données.",
    413: "Le contenu envoyé est trop volumineux.",
    415: "Type de contenu non pris en charge.",
    422: "Les paramètres de la requête sont invalides.",
    429: "Trop de requêtes ; réessayez plus tard.",
    500: "Une erreur interne est survenue. L'équipe a été prévenue.",
    503: "Le service est momentanément indisponible ; réessayez dans quelques instants.",
}


class PasserelleError(Exception):
    """Base of every error the application raises on purpose. A subclass that sets its
    ``status`` and no ``message`` answers the French message of that status."""

    status = 500
    message = STATUS_MESSAGES[500]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "status" in cls.__dict__ and "message" not in cls.__dict__:
            cls.message = STATUS_MESSAGES[cls.status]

    def __init__(self, message: str | None = None, *, errors: dict[str, Any] | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.errors = errors or {}


class ConfigurationError(PasserelleError):
    """A setting is missing or invalid; raised at start-up, never during a request."""


class BadRequest(PasserelleError):
    status = 400


class Forbidden(PasserelleError):
    status = 403


class NotFound(PasserelleError):
    status = 404


class Conflict(PasserelleError):
    status = 409


class PayloadTooLarge(PasserelleError):
    status = 413


class UnsupportedMediaType(PasserelleError):
    status = 415


class InvalidInput(PasserelleError):
    status = 422


class AmbiguousPlace(InvalidInput):
    """A place names several communes: the answer lists them (``candidates``) so that the
    person chooses; nothing is searched in the meantime."""

    message = "Ce lieu désigne plusieurs communes : choisissez la vôtre."

    def __init__(self, question: str, query: str, candidates: list[dict[str, Any]],
                 field: str = "address"):
        super().__init__(question, errors={field: [question]})
        self.question = question
        self.query = query
        self.candidates = candidates
        self.extra = {"reason": "lieu_ambigu", "question": question, "query": query,
                      "candidates": candidates}


class ServiceUnavailable(PasserelleError):
    status = 503


def prefers_json() -> bool:
    """The request asks for JSON rather than HTML (``Accept``): a page's script; a
    browser's page request prefers HTML."""
    return request.accept_mimetypes.best_match(("text/html", "application/json")) \
        == "application/json"


def _wants_json() -> bool:
    """The API, and a page's script that asks for JSON."""
    return request.path.startswith("/api/") or request.path == "/api" or prefers_json()


def _answer(status: int, message: str, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None):
    request_id = getattr(g, "request_id", None)
    headers = dict(headers or {})
    if status == 503 and "Retry-After" not in headers:
        headers["Retry-After"] = str(current_app.config.get("PASSERELLE_RETRY_AFTER_S", 5))
    if _wants_json():
        body: dict[str, Any] = {"code": status, "status": status, "message": message}
        if errors:
            body["errors"] = errors
        body.update(extra or {})
        if request_id:
            body["request_id"] = request_id
        return jsonify(body), status, headers
    html = render_template("error.html", status=status, message=message, errors=errors,
                           request_id=request_id)
    return html, status, headers


# --------------------------------------------------------------------------- database outages

DATABASE_DOWN_MESSAGE = ("La base de données est momentanément injoignable ; réessayez dans "
                         "quelques instants.")
STATEMENT_TIMEOUT_MESSAGE = ("La demande a dépassé le temps de calcul permis ; réduisez-la "
                             "(territoire, rayon, nombre de résultats) ou réessayez plus tard.")
# Two transactions waiting for each other (deadlock) or a serialization failure: PostgreSQL
# cancelled this one, whose writes are undone; the same request succeeds when repeated.
CONFLICT_MESSAGE = ("Une autre opération modifiait les mêmes données au même moment ; rien "
                    "n'a été enregistré, réessayez.")


class DatabaseOutage:
    """One log line when the database becomes unreachable and one when it is back, per
    process, however many requests fail in between."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: float | None = None

    def down(self, exc: BaseException) -> None:
        with self._lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.error("base de données injoignable (%s) : réponses 503 jusqu'à son retour",
                  reason[0][:200] if reason else exc.__class__.__name__)

    def up(self) -> None:
        with self._lock:
            if self.since is None:
                return
            seconds, self.since = time.monotonic() - self.since, None
        log.warning("base de données de retour après %.1f s", seconds)


outage = DatabaseOutage()


def database_failure(exc: BaseException) -> str | None:
    """The French message when ``exc`` means the database cannot answer now: unreachable,
    restarting, out of connections (an outage), a statement over its timeout, or a conflict
    with another transaction (not an outage: the server is there)."""
    import psycopg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection came free in time
        return DATABASE_DOWN_MESSAGE
    original = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if isinstance(original, psycopg.errors.QueryCanceled):
        return STATEMENT_TIMEOUT_MESSAGE
    # SQLSTATE class 40, "transaction rollback": deadlock (40P01), serialization failure
    # (40001)… psycopg gives each its own class, not a common parent.
    if isinstance(original, psycopg.Error) and (original.sqlstate or "").startswith("40"):
        return CONFLICT_MESSAGE
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return DATABASE_DOWN_MESSAGE
    if isinstance(original, psycopg.OperationalError | psycopg.InterfaceError):
        return DATABASE_DOWN_MESSAGE
    return None


def _connected(*_args: Any) -> None:
    outage.up()


# webargs' own messages, raised before any of our schemas runs.
_WEBARGS_MESSAGES = {
    "Invalid JSON body.": "Corps JSON illisible.",
    "Invalid input type.": "Type de données invalide.",
}


def _flatten_webargs(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location ({"query": {"lat": [...]}}); keep field names."""
    if not isinstance(messages, dict):
        return {"_": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        elif isinstance(fields, list):
            flat[location] = [_WEBARGS_MESSAGES.get(m, m) if isinstance(m, str) else m
                              for m in fields]
        else:
            flat[location] = fields
    return flat


def init_app(app: Flask) -> None:
    @app.errorhandler(PasserelleError)
    def handle_passerelle_error(exc: PasserelleError):
        if exc.status >= 500:
            log.error("erreur %s : %s", exc.status, exc.message)
        return _answer(exc.status, exc.message, exc.errors, extra=getattr(exc, "extra", None))

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _connected):
        event.listen(Engine, "connect", _connected)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        status = exc.code or 500
        if status == 429:
            return _too_many_requests(exc)
        errors = None
        data = getattr(exc, "data", None)  # set by flask-smorest/webargs on invalid arguments
        if isinstance(data, dict) and "messages" in data:
            errors = _flatten_webargs(data["messages"])
        message = STATUS_MESSAGES.get(status, exc.name)
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            message = data["message"]
        # Werkzeug's own headers of the error: Allow on a 405, Retry-After, WWW-Authenticate.
        headers = {name: value for name, value in exc.get_headers()
                   if name.lower() != "content-type"}
        return _answer(status, message, errors, headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        from extensions import db

        failure = database_failure(exc)
        headers = None
        if failure == DATABASE_DOWN_MESSAGE:
            outage.down(exc)
        elif failure == CONFLICT_MESSAGE:
            log.warning("transaction annulée par la base (%s) : réponse 503, à réessayer",
                        type(getattr(exc, "orig", exc)).__name__)
            headers = {"Retry-After": "1"}
        elif failure is not None:
            log.warning("requête annulée : temps de calcul dépassé (statement_timeout)")
        else:
            log.exception("erreur inattendue")
        try:
            db.session.rollback()
        except Exception:  # the connection itself may be gone
            if failure is None:
                log.exception("échec du rollback après une erreur")
        if failure is not None:
            return _answer(503, failure, headers=headers)
        return _answer(500, STATUS_MESSAGES[500])


def _too_many_requests(exc: HTTPException):
    """429 in French, with Retry-After (also set by Flask-Limiter's headers)."""
    from core.limits import french_limit

    limit = getattr(exc, "limit", None)
    item = getattr(limit, "limit", None)
    retry = None
    if item is not None:
        retry = int(item.get_expiry())
        message = (f"Trop de requêtes : ce service admet {french_limit(item)} par client. "
                   "Réessayez plus tard.")
    else:
        message = STATUS_MESSAGES[429]
    return _answer(429, message, headers={"Retry-After": str(retry)} if retry else None)
