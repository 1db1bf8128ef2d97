"""A place that names several communes is never resolved silently: the API answers 422
with ``reason: lieu_ambigu``, the question and the candidates; once a commune is chosen
(its code INSEE), the search runs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("geography")


def test_a_name_shared_by_two_departements_is_asked(client):
    response = client.get("/api/v1/match", query_string={"address": "Saint-Paul"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["reason"] == "lieu_ambigu" and body["question"] == "Quel Saint-Paul ?"
    found = {(c["commune_code"], c["departement_name"]) for c in body["candidates"]}
    assert found == {("33458", "Gironde"), ("97415", "La Réunion")}
    assert all(c["postal_code"] for c in body["candidates"])


def test_a_postal_code_shared_by_several_communes_is_asked(client):
    response = client.get("/api/v1/match", query_string={"address": "16700"})
    body = response.get_json()
    assert response.status_code == 422 and body["reason"] == "lieu_ambigu"
    assert body["question"] == "Quelle commune du 16700 ?"
    names = {c["commune_name"] for c in body["candidates"]}
    assert {"Ruffec", "Bernac"} <= names and len(names) > 10


def test_one_commune_is_not_asked(client):
    for query in ("Pessac", "33000", "Saint-Paul 33390"):
        response = client.get("/api/v1/match", query_string={"address": query})
        assert response.status_code == 200, (query, response.get_json())


def test_the_page_asks_which_commune_then_searches_the_chosen_one(client):
    page = client.get("/recherche", query_string={"where": "Mérignac"})
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Quel Mérignac ?" in html
    assert 'value="33281"' in html and 'value="16216"' in html
    assert "Gironde (33)" in html and "Charente (16)" in html
    chosen = client.get("/recherche", query_string={"where": "Mérignac", "commune": "16216"})
    assert chosen.status_code == 200
    assert "Quel Mérignac ?" not in chosen.get_data(as_text=True)
