"""Answers a person can act on, in a real Chromium (issue « Answers a person can act
on »): an ambiguous place is asked, never guessed, with or without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import serious_violations
from tests.web.test_search_flow import new_page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("geography")]


@pytest.mark.parametrize("javascript", [False, True])
def test_an_ambiguous_commune_is_asked_then_chosen(new_page, javascript):  # noqa: F811
    page = new_page(java_script_enabled=javascript)
    page.goto(page.base_url + "/recherche")
    page.get_by_label("Votre code postal ou votre commune").fill("Saint-Paul")
    page.get_by_role("button", name="Voir les lieux").click()
    page.wait_for_url(re.compile(r"/recherche\?"))
    group = page.get_by_role("group", name="Quel Saint-Paul ?")
    assert group.is_visible()
    assert page.locator(".result").count() == 0  # nothing searched in the meantime
    options = group.get_by_role("radio")
    assert options.count() == 2
    labels = group.locator("label").all_inner_texts()
    assert any("Gironde (33)" in t and "33390" in t for t in labels)
    assert any("La Réunion (974)" in t for t in labels)
    if javascript:  # axe-core is a script
        assert serious_violations(page) == []
    group.get_by_label(re.compile("Gironde")).check()
    group.get_by_role("button", name="Choisir cette commune").click()
    page.wait_for_url(re.compile(r"commune=33458"))
    assert not page.get_by_role("group", name="Quel Saint-Paul ?").count()
    assert "Saint-Paul" in page.inner_text("main")
