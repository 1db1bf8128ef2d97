"""The planner's next step: the one-page brief of a territory and its standalone folium map
(assets inlined: the file requests nothing)."""

from __future__ import annotations

import html as markup
import re

import pytest


def _text(response) -> str:
    return markup.unescape(response.get_data(as_text=True))


def test_brief_has_figures_sites_and_method(client, world):
    response = client.get("/carte/fiche?within=dep:991&k=3&radius_km=20&site_capacity=10")
    assert response.status_code == 200
    page = _text(response)
    assert "Département d'essai" in page
    # Cville's town hall is the one site that brings anyone newly within reach.
    assert "Mairie de Cville (Cville) : +3\u202f500 personnes à portée" in page
    assert "Avec ce site" in page and "Écart de capacité comblé" in page
    assert "Comment c'est calculé" in page and "partage sa capacité" in page
    assert page.count("<path ") == 5          # the five communes of the département
    assert "e2sfca_step" not in page and "dep:991" not in page.split("<main")[1].split(
        "carte.html")[0]


def test_brief_with_a_budget_states_it(client, world):
    page = _text(client.get("/carte/fiche?within=dep:991&budget=200000&site_cost=50000"
                      "&site_capacity=12"))
    assert "Avec 200\u202f000 €, à 50\u202f000 € par site et 12 accompagnements" in page


@pytest.mark.parametrize("query", ["within=fr", "within=dep:000", "k=0&within=dep:991",
                                   "within=dep:991&budget=10"])
def test_brief_refuses_bad_input_in_french(client, world, query):
    response = client.get(f"/carte/fiche?{query}")
    assert response.status_code in (404, 422)
    assert "Traceback" not in response.get_data(as_text=True)


def test_folium_map_is_standalone(client, world):
    response = client.get("/carte/fiche/carte.html?within=dep:991&k=2")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    html = _text(response)
    assert "L.map(" in html or "L.map (" in html
    assert "Cville" in html and "Mairie de Cville" in html
    # Nothing fetched from elsewhere: no src/href to a host, Leaflet's code inlined.
    assert not re.findall(r"<script[^>]*\ssrc=|<link[^>]*\shref=|<img[^>]*\ssrc=", html)
    assert "cdn." not in html
    assert "leaflet" in html.lower() and len(html) > 100_000


def test_large_territory_brief_is_prepared_by_a_job(app, client, world, monkeypatch,
                                                    no_job_worker):
    """Past PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES communes, the brief and the map are left
    to a background job: a page « en préparation » that reloads itself (202), the job's
    state for a script; the same inputs find the same job. (No worker listens here: the
    job's end is tested in Chromium, tests/web/test_coverage_map.py.)"""
    monkeypatch.setitem(app.config, "PASSERELLE_SUGGEST_SYNC_MAX_COMMUNES", 0)
    url = "/carte/fiche?within=dep:991&k=2"
    waiting = client.get(url)
    assert waiting.status_code == 202 and waiting.headers["Cache-Control"] == "no-store"
    page = _text(waiting)
    assert "La fiche est en préparation" in page and "en attente" in page
    assert re.search(r'<meta http-equiv="refresh" content="\d+">', page)
    folium = client.get("/carte/fiche/carte.html?within=dep:991&k=2")
    assert folium.status_code == 202 and "La carte autonome est en préparation" in _text(folium)
    job = client.get(url, headers={"Accept": "application/json"})
    assert job.status_code == 202 and job.get_json()["url"].startswith("/api/v1/jobs/")
    again = client.get("/carte/fiche/carte.html?within=dep:991&k=2",
                       headers={"Accept": "application/json"})
    assert again.get_json()["id"] == job.get_json()["id"]     # one job for both documents
    assert "result" not in client.get(job.get_json()["url"]).get_json()


def test_small_territory_documents_are_ready_at_once(client, world):
    ready = client.get("/carte/fiche?within=dep:991&k=2", headers={"Accept": "application/json"})
    assert ready.status_code == 200
    assert ready.get_json() == {"fiche": "/carte/fiche?within=dep:991&k=2",
                                "carte": "/carte/fiche/carte.html?within=dep:991&k=2"}


def test_brief_errors_are_french_json_for_a_script(client, world):
    response = client.get("/carte/fiche?within=fr", headers={"Accept": "application/json"})
    assert response.status_code == 422 and "territoire" in response.get_json()["message"]
