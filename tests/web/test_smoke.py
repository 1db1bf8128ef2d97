"""The pages open in a real Chromium and request nothing from an external host."""

import pytest

pytestmark = pytest.mark.browser


def test_home_page_in_chromium(page):
    response = page.goto(page.base_url + "/")
    assert response.status == 200
    assert page.title().startswith("Accueil")
    heading = page.get_by_role("heading", level=1)
    assert "Pass Numérique" in heading.inner_text()
    # The three kinds of users each have their card.
    assert page.locator("article.card").count() == 3
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Aller au contenu"


def test_api_docs_served_from_local_assets(page):
    response = page.goto(page.base_url + "/api/v1/docs")
    assert response.status == 200
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "Passerelle" in page.inner_text(".swagger-ui .info .title")


def test_external_request_is_detected(browser, live_server):
    """The guard itself works: a page asking for another host is caught."""
    from tests.web.conftest import RequestLog

    # The pages' Content-Security-Policy would stop the fetch before it leaves the
    # browser; bypassing it here tests the request log itself.
    context = browser.new_context(bypass_csp=True)
    log = RequestLog(live_server)
    context.on("request", log.record)
    context.route("**/*", lambda route: route.abort()
                  if "example.org" in route.request.url else route.continue_())
    page = context.new_page()
    page.goto(live_server + "/")
    # Waits for the request itself, not for a fixed time.
    with page.expect_request("https://example.org/x"):
        page.evaluate("() => fetch('https://example.org/x').catch(() => null)")
    context.close()
    assert log.external == ["https://example.org/x"]


def test_pages_forbid_requests_to_other_hosts(browser, live_server):
    """Even a script that tried would be stopped by the page's policy."""
    from tests.web.conftest import RequestLog

    context = browser.new_context()
    log = RequestLog(live_server)
    context.on("request", log.record)
    page = context.new_page()
    page.goto(live_server + "/")
    outcome = page.evaluate(
        "() => fetch('https://example.org/x').then(() => 'envoyée', () => 'refusée')")
    context.close()
    assert outcome == "refusée"
    assert log.external == []  # refused before leaving the browser
