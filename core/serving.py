"""Serving: compressed responses, static files with long cache lifetimes (their URL carries
a digest of their content, so a new version gets a new URL), the proxy's client address,
and gunicorn's own error pages in French (installed by ``gunicorn.conf.py``)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import mimetypes
import os
from pathlib import Path

from flask import Flask, Response, abort, current_app, request
from werkzeug.security import safe_join

STATIC_IMMUTABLE = "public, max-age=31536000, immutable"
STATIC_DEFAULT_MAX_AGE_S = 3600
# Compressible types: text and the JSON family (images and fonts are compressed already).
COMPRESSIBLE = ("text/", "application/javascript", "application/json",
                "application/geo+json", "image/svg+xml", "application/xml")
_MIN_COMPRESS_BYTES = 500


@functools.lru_cache(maxsize=1024)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    del mtime_ns, size  # part of the cache key only
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:12]


def static_version(app: Flask, filename: str) -> str | None:
    """A digest of the static file's content, or None when there is no such file."""
    path = safe_join(app.static_folder or "", filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _digest(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _compressed(path: str, mtime_ns: int, size: int, encoding: str) -> bytes:
    del mtime_ns, size
    data = Path(path).read_bytes()
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=11)
    return gzip.compress(data, compresslevel=9, mtime=0)


def _serve_static(filename: str):
    """Flask's static view, plus a compressed copy made once per file and process."""
    app = current_app
    path = safe_join(app.static_folder or "", filename)
    if path is None or not os.path.isfile(path):
        abort(404)
    stat = os.stat(path)
    mimetype = mimetypes.guess_type(path)[0] or "application/octet-stream"
    accepted = request.accept_encodings
    encoding = None
    if mimetype.startswith(COMPRESSIBLE) and stat.st_size >= _MIN_COMPRESS_BYTES:
        encoding = "br" if accepted["br"] else "gzip" if accepted["gzip"] else None
    if encoding is None:
        return app.send_static_file(filename)
    body = _compressed(path, stat.st_mtime_ns, stat.st_size, encoding)
    version = _digest(path, stat.st_mtime_ns, stat.st_size)
    response = Response(body, mimetype=mimetype)
    if mimetype.startswith("text/") or mimetype == "application/javascript":
        response.charset = "utf-8"
    response.headers["Content-Encoding"] = encoding
    response.set_etag(f"{version}-{encoding}")
    response.last_modified = stat.st_mtime
    response.headers["Vary"] = "Accept-Encoding"
    return response.make_conditional(request)


def french_gunicorn_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` in French (bad request lines, headers too large…)."""
    from gunicorn import util

    from .errors import STATUS_MESSAGES

    titles = {400: "Requête mal formée", 403: "Accès refusé", 414: "Adresse trop longue",
              417: "Attente non satisfaite", 431: "En-têtes trop volumineux",
              500: "Erreur du service", 501: "Non pris en charge"}
    title = titles.get(status_int, "Erreur")
    message = STATUS_MESSAGES.get(status_int, "La requête n'a pas pu être traitée.")
    page = (f'<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
            f"<title>{title} — Passerelle</title></head><body><h1>{title}</h1>"
            f"<p>{html.escape(message)}</p></body></html>\n").encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Language: fr\r\n"
            f"Content-Length: {len(page)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + page)


def init_app(app: Flask) -> None:
    from flask_compress import Compress

    count = app.config["PASSERELLE_PROXY_COUNT"]
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    app.config.setdefault("SEND_FILE_MAX_AGE_DEFAULT", STATIC_DEFAULT_MAX_AGE_S)
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/csv", "text/plain", "text/javascript",
        "application/javascript", "application/json", "application/geo+json",
        "application/vnd.oai.openapi+json", "image/svg+xml"])
    # Dynamic answers are compressed on the fly (small brotli level); static files are
    # compressed once per process at the best level by _serve_static.
    app.config.setdefault("COMPRESS_STREAMS", False)
    Compress(app)
    app.view_functions["static"] = _serve_static

    @app.url_defaults
    def static_cache_busting(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            version = static_version(app, values["filename"])
            if version:
                values["v"] = version

    @app.after_request
    def static_cache_lifetime(response):
        if request.endpoint == "static" and response.status_code in (200, 304):
            filename = (request.view_args or {}).get("filename", "")
            wanted = request.args.get("v")
            if wanted and wanted == static_version(app, filename):
                response.headers["Cache-Control"] = STATIC_IMMUTABLE
                response.expires = None
            else:
                response.headers["Cache-Control"] = f"public, max-age={STATIC_DEFAULT_MAX_AGE_S}"
        return response
