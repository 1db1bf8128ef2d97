"""Hostile input answers a French 4xx, never a 500 (issue 12, item 3): non-finite numbers in
the search forms, NUL bytes wherever a path or a query string reaches SQL, JSON bodies nested
deep or carrying huge numbers (refused before parsing), methods not allowed."""

from __future__ import annotations

import pytest

from core import request_guard
from tests.matching.test_views import HERE, clock, text_of, town  # noqa: F401 (fixtures)

NON_FINITE = ("nan", "inf", "-inf", "1e999", "NaN", "Infinity")
FORM_FIELDS = ("lat", "lon", "max_km", "max_minutes", "limit")


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("name", FORM_FIELDS)
def test_non_finite_numbers_in_the_prescriber_form(client, town, name, value):  # noqa: F811
    fields = {**HERE, "programme": "pass-vue", name: value}
    page = client.get("/orienter", query_string=fields)
    assert page.status_code == 422
    assert "Il y a un problème" in text_of(page)
    csv = client.get("/orienter/resultats.csv", query_string=fields)
    assert csv.status_code == 422
    assert "Les paramètres de la requête sont invalides." in text_of(csv)


@pytest.mark.parametrize("value", ("nan", "inf", "1e999"))
@pytest.mark.parametrize("name", FORM_FIELDS)
def test_non_finite_numbers_on_the_printable_sheet(client, town, name, value):  # noqa: F811
    _, venues = town
    response = client.get(f"/recherche/fiche/{venues['a'].id}", query_string={
        **HERE, "programme": "pass-vue", "page": "orienter", name: value})
    assert response.status_code == 422
    text = text_of(response)
    assert "Atelier Alpha" in text  # the sheet still shows the venue
    assert "La recherche de départ est invalide" in text


@pytest.mark.parametrize("value", ("nan", "inf", "1e999"))
def test_non_finite_position_in_the_beneficiary_form(client, town, value):  # noqa: F811
    response = client.get("/recherche", query_string={**HERE, "lat": value})
    assert response.status_code == 422
    assert "La position de l'appareil est illisible" in text_of(response)


@pytest.mark.parametrize("url", [
    "/api/v1/territories/communes/%00",
    "/api/v1/territories/communes/33%0063",
    "/api/v1/territories/departements/%00",
    "/api/v1/territories/regions/7%005",
    "/api/v1/territories/epci/%00",
    "/api/v1/territories/communes?q=%00",
    "/api/v1/programmes/pass%00",
    "/api/v1/programmes?on_date=%00",
    "/api/v1/venues?programme=%00",
    "/api/v1/venues?q=bor%00",
    "/api/v1/match?lat=44.8&lon=-0.5&programme=%00",
    "/api/v1/match?commune=%00",
    "/api/v1/match?address=Bordeaux%00",
    "/api/v1/coverage/suggestions?within=%00",
    "/api/v1/geocode?q=Bordeaux%00",
    "/api/v1/match?%00=1",
])
def test_nul_byte_in_an_api_address_is_a_french_400(client, url):
    response = client.get(url)
    assert response.status_code == 400
    body = response.get_json()
    assert body["status"] == 400
    assert body["message"] == request_guard.NUL_MESSAGE
    assert body["request_id"]


@pytest.mark.parametrize("url", ["/orienter?where=x&programme=pass%00",
                                 "/recherche?where=Bordeaux%00",
                                 "/lieux/1?x=%00"])
def test_nul_byte_in_a_page_address_is_a_french_page(client, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Caractère nul (octet 0) refusé" in text_of(response)


def test_nul_byte_inside_a_json_string_is_refused(client):
    response = client.post("/api/v1/match", data='{"postal_code": "33000", '
                           '"programme": "a\\u0000b"}', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == request_guard.NUL_JSON_MESSAGE
    # An escaped backslash followed by "u0000" is ordinary text, not a NUL.
    response = client.post("/api/v1/match", data='{"programme": "a\\\\u0000b"}',
                           content_type="application/json")
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/match", "/api/v1/match/cohort"])
@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000,
                                  '{"people": ' + "[" * 5000 + "]" * 5000 + "}",
                                  '{"a": ' + '{"a": ' * 4999 + "1" + "}" * 5000])
def test_deeply_nested_json_is_a_french_400(client, path, body):
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == request_guard.DEPTH_MESSAGE


@pytest.mark.parametrize("path", ["/api/v1/match", "/api/v1/match/cohort"])
@pytest.mark.parametrize("number", ["9" * 5000, "-" + "1" * 5000, "0." + "1" * 5000,
                                    "1e" + "9" * 5000])
def test_huge_number_literal_is_a_french_400(client, path, number):
    response = client.post(path, data='{"lat": ' + number + ', "lon": 0}',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == request_guard.NUMBER_MESSAGE


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_refused(client, literal):
    response = client.post("/api/v1/match", data='{"lat": ' + literal + ', "lon": 0}',
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["message"] == request_guard.NON_FINITE_MESSAGE


def test_strings_that_look_like_brackets_or_numbers_are_not_counted(client):
    text = "[" * 100 + "9" * 100 + "NaN"
    response = client.post("/api/v1/match", data='{"address": "' + text + '", "lat": 1}',
                           content_type="application/json")
    assert response.status_code == 422  # the schema's answer, not the guard's


def test_json_body_above_the_cap_is_refused_from_its_length(client, monkeypatch):
    monkeypatch.setattr(request_guard, "MAX_JSON_BYTES", 100)
    response = client.post("/api/v1/match", data='{"address": "' + "x" * 200 + '"}',
                           content_type="application/json")
    assert response.status_code == 413
    assert "trop volumineux" in response.get_json()["message"]


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH"])
def test_method_not_allowed_says_which_are(client, method):
    response = client.open("/api/v1/match", method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["message"] == "Méthode non autorisée pour cette adresse."
    page = client.open("/recherche", method=method)
    assert page.status_code == 405
    assert "GET" in page.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/match", "/api/v1/match/cohort"])
@pytest.mark.parametrize(("data", "content_type"), [
    ("postal_code=33000", "application/x-www-form-urlencoded"),
    ('{"postal_code": "33000"}', "text/plain")])
def test_api_bodies_that_are_not_json_are_a_french_415(client, path, data, content_type):
    response = client.post(path, data=data, content_type=content_type)
    assert response.status_code == 415
    assert response.get_json()["message"] == request_guard.JSON_EXPECTED_MESSAGE


@pytest.mark.parametrize("path", ["/api/v1/match", "/api/v1/match/cohort"])
def test_api_post_without_a_body_is_a_french_4xx(client, path):
    # A POST without a body is not refused for its type (some operations take their
    # arguments from the query string); an operation that needs a body says it is missing.
    response = client.post(path)
    assert 400 <= response.status_code < 500
    assert response.get_json()["message"]


def test_a_method_not_allowed_stays_405_with_any_body(client):
    response = client.post("/api/v1/territories/regions", data="x", content_type="text/plain")
    assert response.status_code == 405
    assert response.headers["Allow"]


@pytest.mark.parametrize(("body", "refused"), [
    (b'{"a": "\\"' + b"[" * 40 + b'"}', None),  # an escaped quote keeps the string open
    (b'{"a": "\\\\", "b": ' + b"[" * 40 + b"]" * 40 + b"}", request_guard.DEPTH_MESSAGE),
    (b'{"a": "\\\\\\"' + b"9" * 100 + b'"}', None),  # three backslashes: still inside
    (b'{"a": "\\\\u0000"}', None),  # an escaped backslash, then the text u0000
    (b'{"a": "\\\\\\u0000"}', request_guard.NUL_JSON_MESSAGE),
    (b"[" + b"1" * 64 + b"]", None), (b"[" + b"1" * 65 + b"]", request_guard.NUMBER_MESSAGE),
    (b"[" * 32 + b"]" * 32, None), (b"[" * 33 + b"]" * 33, request_guard.DEPTH_MESSAGE),
])
def test_the_guard_reads_strings_as_the_parser_does(body, refused):
    from core.errors import BadRequest

    if refused is None:
        request_guard.check_json_body(body)
    else:
        with pytest.raises(BadRequest) as caught:
            request_guard.check_json_body(body)
        assert caught.value.message == refused
