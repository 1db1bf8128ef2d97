"""Configuration read once from the environment, validated, with defaults and units.

Every setting is a ``PASSERELLE_*`` environment variable except ``DATABASE_URL``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError

# name: (default, type, comment)
DEFAULTS: dict[str, tuple[Any, type, str]] = {
    "DATABASE_URL": (None, str, "URL SQLAlchemy ; sans elle, base locale « passerelle »"),
    "PASSERELLE_LOCAL_DB_NAME": ("passerelle", str, "nom de la base locale par défaut"),
    "PASSERELLE_SECRET_KEY": (None, str, "clé des sessions (ou SECRET_KEY) ; sinon générée une "
                                         "fois dans le dossier d'instance"),
    "PASSERELLE_INSTANCE_PATH": ("", str, "dossier d'instance (chemin absolu) ; défaut "
                                          "instance/ à la racine"),
    "PASSERELLE_LOG_LEVEL": ("INFO", str, "niveau de journalisation"),
    "PASSERELLE_GEOCODER": ("offline", str, "offline | ban"),
    "PASSERELLE_BAN_DOMAIN": ("data.geopf.fr/geocodage", str, "domaine du géocodeur BAN"),
    "PASSERELLE_GEOCODER_TIMEOUT_S": (3.0, float, "délai du géocodeur en ligne, secondes"),
    # Plan IGN v2 of the Géoplateforme: public, no key (WMTS, Web Mercator tiles).
    "PASSERELLE_BASEMAP_URL": (
        "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&STYLE=normal&TILEMATRIXSET=PM"
        "&FORMAT=image/png&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}", str,
        "URL de tuiles du fond de carte (Plan IGN) ; vide = sans fond"),
    "PASSERELLE_BASEMAP_ATTRIBUTION": ("© IGN – Plan IGN", str, "attribution du fond de carte"),
    "PASSERELLE_STATEMENT_TIMEOUT_MS": (20_000, int,
                                        "statement_timeout des requêtes web, ms ; sous "
                                        "PASSERELLE_WEB_TIMEOUT_S"),
    "PASSERELLE_JOB_STATEMENT_TIMEOUT_MS": (1_800_000, int,
                                            "statement_timeout des tâches de fond, ms"),
    "PASSERELLE_IDLE_TX_TIMEOUT_MS": (60_000, int, "idle_in_transaction_session_timeout, ms"),
    "PASSERELLE_MAX_PAGE_SIZE": (500, int, "taille maximale d'une page d'API"),
    "PASSERELLE_DETOUR_FACTOR": (1.3, float, "distance routière ≈ géodésique × ce facteur"),
    "PASSERELLE_DB_CONNECT_TIMEOUT_S": (3, int, "délai de connexion à PostgreSQL, secondes"),
    "PASSERELLE_RETRY_AFTER_S": (5, int, "Retry-After des réponses 503, secondes"),
    # Serving (gunicorn.conf.py) and the job queue (core/jobs.py).
    "PASSERELLE_WEB_TIMEOUT_S": (30, int, "délai d'un processus web gunicorn, secondes"),
    "PASSERELLE_WEB_WORKERS": (0, int, "processus web gunicorn ; 0 = 2 × cœurs + 1"),
    "PASSERELLE_WEB_BIND": ("127.0.0.1:5000", str, "adresse d'écoute de gunicorn"),
    "PASSERELLE_PROXY_COUNT": (0, int, "mandataires inverses devant l'application "
                                       "(X-Forwarded-For cru sur ce nombre de sauts)"),
    "PASSERELLE_REDIS_URL": ("redis://127.0.0.1:6379/0", str,
                             "Redis : file des tâches et compteurs de limites"),
    "PASSERELLE_JOBS_NAMESPACE": ("passerelle", str,
                                  "préfixe des files, tâches et compteurs dans Redis"),
    "PASSERELLE_JOB_TIMEOUT_S": (3600, int, "durée maximale d'une tâche de fond, secondes"),
    "PASSERELLE_JOB_RESULT_TTL_S": (3600, int,
                                    "durée de conservation d'un résultat de tâche, secondes"),
    "PASSERELLE_JOB_RETRIES": (3, int, "reprises d'une tâche abandonnée (processus tué)"),
    "PASSERELLE_SCHEDULER": (True, bool, "le processus de fond met lui-même en file les "
                                         "tâches périodiques (sans cron)"),
    "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES": (1000, int,
                                             "au-delà, les suggestions, la fiche et la "
                                             "carte d'un territoire passent en tâche de "
                                             "fond (nombre de communes du territoire)"),
    "PASSERELLE_COHORT_SYNC_MAX_PEOPLE": (300, int,
                                          "au-delà, une cohorte passe en tâche de fond"),
    "PASSERELLE_RATE_LIMITS_ENABLED": (True, bool, "limites de débit par client"),
    "PASSERELLE_RATE_LIMIT_MATCH": ("600/minute", str, "limite de /api/v1/match par client"),
    "PASSERELLE_RATE_LIMIT_HEAVY": ("20/minute;200/hour", str,
                                    "limite des calculs lourds (cohorte, suggestions, "
                                    "recalcul) par client"),
    "PASSERELLE_RATE_LIMIT_EXPORT": ("60/minute", str, "limite des exports par client"),
    "PASSERELLE_RATE_LIMIT_LOGIN": ("5/minute;30/hour", str,
                                    "limite des connexions par client (comptes)"),
    # --- courriel
    "PASSERELLE_SMTP_HOST": ("127.0.0.1", str, "serveur SMTP"),
    "PASSERELLE_SMTP_PORT": (25, int, "port SMTP"),
    "PASSERELLE_SMTP_TLS": ("none", str, "none | starttls | ssl"),
    "PASSERELLE_SMTP_USER": ("", str, "identifiant SMTP ; vide = sans authentification"),
    "PASSERELLE_SMTP_PASSWORD": ("", str, "mot de passe SMTP"),
    "PASSERELLE_SMTP_TIMEOUT_S": (10.0, float, "délai du serveur SMTP, secondes"),
    "PASSERELLE_MAIL_SENDER": ("Passerelle <ne-pas-repondre@passerelle.invalid>", str,
                               "expéditeur des courriels"),
    "PASSERELLE_MAIL_ONCE_S": (604_800, int,
                               "un même courriel (même événement, même destinataire) n'est "
                               "envoyé qu'une fois pendant cette durée, secondes"),
    "PASSERELLE_PUBLIC_URL": ("http://127.0.0.1:5000", str,
                              "adresse publique, pour les liens des courriels envoyés en CLI"),
    # --- comptes
    "PASSERELLE_SESSION_IDLE_S": (1800, int, "session fermée après cette inactivité, secondes"),
    "PASSERELLE_SESSION_MAX_S": (43_200, int, "durée maximale d'une session, secondes"),
    "PASSERELLE_COOKIE_SECURE": (1, int, "1 = cookie de session Secure (HTTPS), 0 = non"),
    "PASSERELLE_LINK_TTL_S": (900, int, "validité d'un lien de connexion ou de mot de passe, s"),
    "PASSERELLE_INVITE_TTL_S": (604_800, int, "validité d'une invitation, secondes"),
    "PASSERELLE_CLAIM_TTL_S": (604_800, int, "validité d'un lien de revendication, secondes"),
    "PASSERELLE_LOGIN_ACCOUNT_PER_MIN": (5, int, "échecs de connexion admis par compte, /min"),
    "PASSERELLE_LOGIN_ADDRESS_PER_MIN": (20, int, "tentatives admises par adresse IP, /min"),
    "PASSERELLE_CONFIRM_AFTER_MONTHS": (6, int, "rappel de confirmation après N mois"),
    "PASSERELLE_CONFIRM_REMIND_EVERY_S": (86_400, int,
                                          "période des rappels de confirmation aux "
                                          "gestionnaires (tâche périodique), secondes ; "
                                          "0 = jamais"),
    "PASSERELLE_API_IMPORT_MAX_BYTES": (5_000_000, int, "taille maximale d'un fichier d'API"),
    "PASSERELLE_REFERRAL_LINK_DAYS": (8, int, "validité du lien de réponse d'un lieu, jours"),
    "PASSERELLE_REFERRAL_REMIND_DAYS": (10, int, "rappel au lieu sans réponse après N jours"),
    "PASSERELLE_REFERRAL_EXPIRE_DAYS": (30, int, "orientation sans réponse expirée après N jours"),
    "PASSERELLE_REFERRAL_ANONYMISE_DAYS": (730, int,
                                           "données personnelles d'une orientation effacées "
                                           "après N jours"),
    "PASSERELLE_REFERRAL_TICK_EVERY_S": (3600, int,
                                         "période de l'expiration et des rappels (tâche "
                                         "périodique), secondes ; 0 = jamais"),
    "PASSERELLE_REFERRAL_ANONYMISE_EVERY_S": (86_400, int,
                                              "période de l'anonymisation (tâche "
                                              "périodique), secondes ; 0 = jamais"),
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


SECRET_KEY_FILE = "secret_key"


def instance_secret_key(instance_path: str) -> str:
    """The key of the instance folder, generated by the first process that needs it (file
    readable by its owner only) and read by every other: all gunicorn workers, the worker of
    the queue and the command line sign with the same key."""
    path = os.path.join(instance_path, SECRET_KEY_FILE)
    try:
        with open(path, encoding="ascii") as handle:
            key = handle.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, mode=0o700, exist_ok=True)
    # Written aside then linked into place: a concurrent reader never sees a partial key,
    # and when two processes race, the first link wins and both use its key.
    fd, temporary = tempfile.mkstemp(dir=instance_path, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    with open(path, encoding="ascii") as handle:
        key = handle.read().strip()
    if not key:
        raise ConfigurationError(f"Le fichier de clé secrète {path} est vide : supprimez-le "
                                 "ou définissez PASSERELLE_SECRET_KEY.")
    return key


_TRUE = {"1", "true", "yes", "oui", "on"}
_FALSE = {"0", "false", "no", "non", "off"}


def _convert(name: str, raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigurationError(
            f"La variable d'environnement {name} vaut {raw!r}, attendu : 1 ou 0.")
    try:
        return kind(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"La variable d'environnement {name} vaut {raw!r}, "
            f"attendu : {kind.__name__}."
        ) from exc

# Settings where a variable set but empty means "none" (not "the default"): the basemap, on
# by default, is turned off with PASSERELLE_BASEMAP_URL= (maps then ask no other host).
BLANK_IS_A_VALUE = frozenset({"PASSERELLE_BASEMAP_URL"})


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
        elif name in BLANK_IS_A_VALUE and name in environ:
            values[name] = ""
        else:
            values[name] = default

    if values["PASSERELLE_GEOCODER"] not in {"offline", "ban"}:
        raise ConfigurationError(
            "PASSERELLE_GEOCODER doit valoir « offline » ou « ban », "
            f"pas {values['PASSERELLE_GEOCODER']!r}."
        )

    if not 0 < values["PASSERELLE_STATEMENT_TIMEOUT_MS"] < \
            values["PASSERELLE_WEB_TIMEOUT_S"] * 1000:
        raise ConfigurationError(
            "PASSERELLE_STATEMENT_TIMEOUT_MS "
            f"({values['PASSERELLE_STATEMENT_TIMEOUT_MS']} ms) doit être positif et "
            f"inférieur à PASSERELLE_WEB_TIMEOUT_S ({values['PASSERELLE_WEB_TIMEOUT_S']} s) : "
            "une requête trop longue doit être annulée avant que gunicorn ne tue le "
            "processus.")

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
        # None: create_app reads (or creates once) the instance folder's key file.
        "SECRET_KEY": values["PASSERELLE_SECRET_KEY"] or environ.get("SECRET_KEY") or None,
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
                "connect_timeout": values["PASSERELLE_DB_CONNECT_TIMEOUT_S"],
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
