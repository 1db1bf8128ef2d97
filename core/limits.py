"""Rate limits per client with Flask-Limiter on Redis (shared by every web process).

Decorate an expensive view with :data:`heavy`, :data:`match`, :data:`export` or (for the
accounts to come) :data:`login`; the limits are settings (``PASSERELLE_RATE_LIMIT_*``,
in the ``limits`` notation, e.g. ``20/minute;200/hour``). A client over its limit gets a
429 in French (JSON under ``/api/``, a page elsewhere) with ``Retry-After``. When Redis is
unreachable the limits fall back to each process's memory rather than failing requests.
"""

from __future__ import annotations

from flask import Flask, current_app, request

from extensions import limiter

_UNITS = {"second": ("seconde", "secondes"), "minute": ("minute", "minutes"),
          "hour": ("heure", "heures"), "day": ("jour", "jours"), "month": ("mois", "mois"),
          "year": ("an", "ans")}


def _setting(name: str):
    return lambda: current_app.config[name]


heavy = limiter.limit(_setting("PASSERELLE_RATE_LIMIT_HEAVY"))
match = limiter.limit(_setting("PASSERELLE_RATE_LIMIT_MATCH"))
# Exports: files (CSV, for spreadsheets or machines); the same endpoints' JSON and GeoJSON
# feed the map and are not counted here.
export = limiter.limit(_setting("PASSERELLE_RATE_LIMIT_EXPORT"),
                       exempt_when=lambda: request.path.startswith("/api/")
                       and request.args.get("format", "json") not in ("csv", "machine"))
login = limiter.limit(_setting("PASSERELLE_RATE_LIMIT_LOGIN"))


def french_limit(item) -> str:
    """``limits``' RateLimitItem in French: « 20 requêtes par minute »."""
    unit = item.GRANULARITY.name
    singular, plural = _UNITS.get(unit, (unit, unit))
    amount = item.amount
    per = f"par {singular}" if item.multiples == 1 else f"toutes les {item.multiples} {plural}"
    return f"{amount} requête{'s' if amount > 1 else ''} {per}"


def init_app(app: Flask) -> None:
    config = app.config
    config.setdefault("RATELIMIT_ENABLED", config["PASSERELLE_RATE_LIMITS_ENABLED"])
    config.setdefault("RATELIMIT_STORAGE_URI", config["PASSERELLE_REDIS_URL"])
    config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1,
                                                    "socket_timeout": 1})
    config.setdefault("RATELIMIT_KEY_PREFIX", config["PASSERELLE_JOBS_NAMESPACE"])
    config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)

    # Registered before the limiter's own hook, so it runs after it (Flask runs them in
    # reverse): Retry-After only where it means something.
    @app.after_request
    def retry_after_on_refusals_only(response):
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
