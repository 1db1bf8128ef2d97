"""What the read API never hands out (issue 12, item 6): links of another scheme than http,
https, mailto or tel, and the import diagnostics that name other sources."""

from __future__ import annotations

import pytest

from core.urls import safe_url
from tests import conftest as cat
from tests.conftest import make_venue

HOSTILE = ["javascript:alert(1)", " JavaScript:alert(1)", "\x01javascript:alert(1)",
           "java\nscript:alert(1)", "data:text/html,<script>alert(1)</script>",
           "vbscript:msgbox(1)", "file:///etc/passwd"]
SAFE = ["https://exemple.fr/rdv", "http://exemple.fr", "mailto:accueil@exemple.fr",
        "tel:+33556000000"]
DUPLICATE = {"code": "doublon_probable", "field": "id",
             "message": "doublon probable du lieu 12 (source dora, id d-77) : même SIRET"}
HOURS_FLAG = {"code": "horaires_non_conformes", "field": "horaires",
              "message": "horaires illisibles, gardés tels quels"}


@pytest.mark.parametrize("url", HOSTILE)
def test_safe_url_refuses_other_schemes(url):
    assert safe_url(url) is None


@pytest.mark.parametrize("url", SAFE)
def test_safe_url_keeps_web_mail_and_phone(url):
    assert safe_url(f"  {url} ") == url


def test_a_link_without_scheme_runs_nothing_but_is_no_web_link():
    from directory.views import web_url

    assert safe_url("www.exemple.fr") == "www.exemple.fr"  # as the importer keeps it
    assert web_url("www.exemple.fr") is None and web_url("mailto:a@b.fr") is None
    assert web_url(" https://exemple.fr ") == "https://exemple.fr"


@pytest.fixture
def hostile_venue(db_session):
    return make_venue(db_session, nom="Lieu piégé", site_web=[*HOSTILE, *SAFE[:2]],
                      prise_rdv="javascript:alert(document.cookie)",
                      fiche_acces_libre="data:text/html,<b>x</b>",
                      flags=[DUPLICATE, HOURS_FLAG])


def test_one_venue_gives_only_safe_links_and_public_flags(client, hostile_venue):
    data = client.get(f"/api/v1/venues/{hostile_venue.id}").get_json()
    assert data["site_web"] == SAFE[:2]
    assert data["prise_rdv"] is None and data["fiche_acces_libre"] is None
    assert data["flags"] == [HOURS_FLAG]
    assert "dora" not in str(data)


@pytest.mark.parametrize("fmt", ["json", "geojson"])
def test_venue_list_gives_only_safe_links_and_public_flags(client, hostile_venue, fmt):
    response = client.get("/api/v1/venues", query_string={"q": "piégé", "format": fmt})
    assert response.status_code == 200
    data = response.get_json()
    [item] = data["items"] if fmt == "json" else [f["properties"] for f in data["features"]]
    assert item["site_web"] == SAFE[:2]
    assert item["prise_rdv"] is None
    assert item["flags"] == [HOURS_FLAG]
    assert "javascript" not in response.get_data(as_text=True).lower()


def test_match_results_give_only_safe_links(client, db_session):
    venue = cat.venue(db_session, -0.58, 44.84, nom="Lieu piégé", site_web=HOSTILE[:3],
                      prise_rdv="javascript:alert(1)")
    response = client.get("/api/v1/match", query_string={"lat": 44.84, "lon": -0.58})
    assert response.status_code == 200
    [result] = [r for r in response.get_json()["results"] if r["venue_id"] == venue.id]
    assert result["site_web"] == [] and result["prise_rdv"] is None
    assert "javascript" not in response.get_data(as_text=True).lower()


def test_venue_page_links_only_web_sites(client, hostile_venue):
    html = client.get(f"/lieux/{hostile_venue.id}").get_data(as_text=True)
    assert "javascript:" not in html.lower() and "data:text/html" not in html
    assert 'href="https://exemple.fr/rdv"' in html
