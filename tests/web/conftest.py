"""Browser harness: the application served on 127.0.0.1 in a thread, driven by the Debian
Chromium through Playwright (no browser download). Every page a test opens is checked: it
must request nothing from a host other than the application itself."""

from __future__ import annotations

import shutil
import threading
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def live_server(app):
    """The session application over HTTP; it sees committed data only."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):
        pytest.fail("Chromium est absent : lancez `make test`, qui installe le paquet Debian.")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class RequestLog:
    def __init__(self, allowed_origin: str) -> None:
        self.allowed = urlsplit(allowed_origin).netloc
        self.external: list[str] = []
        self.failed: list[str] = []

    def record(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != self.allowed:
            self.external.append(request.url)


@pytest.fixture
def page(browser, live_server):
    """A fresh page; at the end, the test fails if anything went to another host."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    log = RequestLog(live_server)
    # Anything not addressed to the application is recorded and refused.
    context.route(
        "**/*",
        lambda route: route.continue_()
        if urlsplit(route.request.url).netloc == log.allowed
        or urlsplit(route.request.url).scheme in ("data", "blob")
        else route.abort(),
    )
    context.on("request", log.record)
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A resource or script refused by the page's Content-Security-Policy is a bug too.
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None)
    page.base_url = live_server
    yield page
    context.close()
    assert not log.external, f"requêtes vers des hôtes externes : {log.external}"
    assert not errors, f"erreurs JavaScript dans la page : {errors}"


@pytest.fixture
def new_page(browser, live_server):
    """Like the `page` fixture (anything for another host is refused and fails the test,
    so do JavaScript errors), with options of the browser context: JavaScript off,
    a position for the geolocation…"""
    opened = []

    def make(**options):
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", **options)
        log = RequestLog(live_server)
        context.route("**/*", lambda route: route.continue_()
                      if urlsplit(route.request.url).netloc == log.allowed
                      or urlsplit(route.request.url).scheme in ("data", "blob")
                      else route.abort())
        context.on("request", log.record)
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.base_url = live_server
        opened.append((context, log, errors))
        return page

    yield make
    for context, log, errors in opened:
        context.close()
        assert not log.external, f"requêtes vers des hôtes externes : {log.external}"
        assert not errors, f"erreurs JavaScript dans la page : {errors}"


def serious_violations(page) -> list[str]:
    """axe-core's serious or critical violations on the page. Our own copy is loaded from
    our host: the pages' Content-Security-Policy forbids injected inline scripts."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return [f"{v['id']} ({v['impact']}) : {v['help']} — {v['nodes']}"
            for v in violations if v["impact"] in ("serious", "critical")]
