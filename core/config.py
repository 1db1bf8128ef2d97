"""Configuration read once from the environment, validated, with defaults and units.

Every setting is a ``PASSERELLE_*`` environment variable except ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError

# name: (default, type, comment)
DEFAULTS: dict[str, tuple[Any, type, str]] = {
    "DATABASE_URL": (None, str, "URL SQLAlchemy ; sans elle, base locale « passerelle »"),
    "PASSERELLE_LOCAL_DB_NAME": ("passerelle", str, "nom de la base locale par défaut"),
    "PASSERELLE_SECRET_KEY": (None, str, "clé des sessions ; aléatoire par processus sinon"),
    "PASSERELLE_LOG_LEVEL": ("INFO", str, "niveau de journalisation"),
    "PASSERELLE_GEOCODER": ("offline", str, "offline | ban"),
    "PASSERELLE_BAN_DOMAIN": ("data.geopf.fr/geocodage", str, "domaine du géocodeur BAN"),
    "PASSERELLE_GEOCODER_TIMEOUT_S": (3.0, float, "délai du géocodeur en ligne, secondes"),
    "PASSERELLE_BASEMAP_URL": ("", str, "URL de tuiles du fond de carte ; vide = sans fond"),
    "PASSERELLE_BASEMAP_ATTRIBUTION": ("", str, "attribution du fond de carte"),
    "PASSERELLE_STATEMENT_TIMEOUT_MS": (60_000, int, "statement_timeout des requêtes web, ms"),
    "PASSERELLE_IDLE_TX_TIMEOUT_MS": (60_000, int, "idle_in_transaction_session_timeout, ms"),
    "PASSERELLE_MAX_PAGE_SIZE": (500, int, "taille maximale d'une page d'API"),
    "PASSERELLE_DETOUR_FACTOR": (1.3, float, "distance routière ≈ géodésique × ce facteur"),
}


LOCAL_SOCKET_DIR = "/var/run/postgresql"


def local_database_url(name: str) -> str:
    """The local server's database ``name``.

    Debian's socket with peer authentication works on a fresh install, where TCP
    connections need a password; TCP is the fallback where there is no socket.
    """
    if os.path.isdir(LOCAL_SOCKET_DIR):
        return f"postgresql+psycopg:///{name}?host={LOCAL_SOCKET_DIR}"
    return f"postgresql+psycopg://127.0.0.1:5432/{name}"


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"La variable d'environnement {name} vaut {raw!r}, "
            f"attendu : {kind.__name__}."
        ) from exc


def load_config(environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the Flask configuration mapping built from ``environ`` and ``overrides``."""
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    values: dict[str, Any] = {}
    for name, (default, kind, _comment) in DEFAULTS.items():
        if name in overrides:
            values[name] = overrides.pop(name)
        elif environ.get(name, "") != "":
            values[name] = _convert(name, environ[name], kind)
        else:
            values[name] = default

    if values["PASSERELLE_GEOCODER"] not in {"offline", "ban"}:
        raise ConfigurationError(
            "PASSERELLE_GEOCODER doit valoir « offline » ou « ban », "
            f"pas {values['PASSERELLE_GEOCODER']!r}."
        )

    url = values["DATABASE_URL"]
    if url:
        # Plain postgres URLs select psycopg 3 explicitly, not the absent psycopg2.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        values["PASSERELLE_LOCAL_DB"] = False
    else:
        url = local_database_url(values["PASSERELLE_LOCAL_DB_NAME"])
        values["PASSERELLE_LOCAL_DB"] = True
    values["DATABASE_URL"] = url

    config: dict[str, Any] = {
        "SECRET_KEY": values["PASSERELLE_SECRET_KEY"] or secrets.token_hex(32),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "connect_args": {
                "options": (
                    f"-c statement_timeout={values['PASSERELLE_STATEMENT_TIMEOUT_MS']} "
                    "-c idle_in_transaction_session_timeout="
                    f"{values['PASSERELLE_IDLE_TX_TIMEOUT_MS']} -c timezone=UTC"
                ),
                "application_name": "passerelle",
            },
        },
        "JSON_SORT_KEYS": False,
        "API_TITLE": "Passerelle",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        # The interactive documentation is our own page (core.views.api_docs): flask-smorest's
        # starts Swagger UI with an inline script, which our Content-Security-Policy forbids.
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "API de Passerelle : territoires, lieux d'inclusion numérique, "
                    "programmes de Pass Numérique, appariement et couverture."
                ),
                "license": {"name": "AGPL-3.0-or-later"},
            },
        },
        "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    }
    config.update(values)
    config.update(overrides)
    return config
