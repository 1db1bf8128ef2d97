"""Serving through gunicorn (gunicorn.conf.py, wsgi.py): French error pages of gunicorn
itself, a Server header without a version, compressed static files with long lifetimes
behind content-digest URLs."""

from __future__ import annotations

import gzip
import http.client
import os
import re
import socket
import subprocess
import sys

import brotli
import pytest

from tests.conftest import ROOT
from tests.core.job_worker import wait_for
from tests.pg_cluster import free_port

# A PostgreSQL cluster or a gunicorn started for the module: `make test-fast` leaves it.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(app):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=app.config["DATABASE_URL"],
               PASSERELLE_WEB_BIND=f"127.0.0.1:{port}", PASSERELLE_WEB_WORKERS="1",
               PASSERELLE_JOBS_NAMESPACE=app.config["PASSERELLE_JOBS_NAMESPACE"],
               PASSERELLE_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--access-logfile",
         "/dev/null", "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)

    def answers():
        if process.poll() is not None:
            raise AssertionError("gunicorn s'est arrêté :\n" + process.stderr.read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_for(answers, what="gunicorn")
    yield port
    process.terminate()
    process.communicate(timeout=30)


def _get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def test_server_header_has_no_version(server):
    response, _ = _get(server, "/")
    assert response.status == 200
    assert response.getheader("Server") == "Passerelle"


def test_gunicorn_own_errors_are_french(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(b"GET /\x01 nimporte\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    page = body.decode()
    assert '<html lang="fr">' in page and "Requête mal formée" in page
    assert "La requête est mal formée." in page
    assert "Invalid" not in page and "Bad Request" not in page

    response, body = _get(server, "/?" + "x" * 9000)  # request line over the limit
    assert response.status == 414
    assert "Adresse trop longue" in body.decode()


def test_static_files_compressed_with_long_lifetimes(server):
    response, page = _get(server, "/recherche")
    assert response.status == 200
    stylesheet = re.search(r'href="(/static/css/search\.css\?v=[0-9a-f]{12})"',
                           page.decode()).group(1)
    response, body = _get(server, stylesheet, {"Accept-Encoding": "gzip, deflate, br"})
    assert response.status == 200
    assert response.getheader("Content-Encoding") == "br"
    assert response.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    css = brotli.decompress(body)
    assert css == (ROOT / "static/css/search.css").read_bytes()
    response, body = _get(server, stylesheet, {"Accept-Encoding": "gzip"})
    assert response.getheader("Content-Encoding") == "gzip" and gzip.decompress(body) == css
    etag = response.getheader("ETag")
    response, _ = _get(server, stylesheet, {"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert response.status == 304
    # Without the digest (or with an old one) the lifetime stays short.
    response, _ = _get(server, "/static/css/search.css?v=000000000000")
    assert response.getheader("Cache-Control") == "public, max-age=3600"


def test_api_answers_are_compressed(server):
    response, body = _get(server, "/api/v1/openapi.json", {"Accept-Encoding": "br"})
    assert response.status == 200 and response.getheader("Content-Encoding") == "br"
    assert brotli.decompress(body).startswith(b"{")
