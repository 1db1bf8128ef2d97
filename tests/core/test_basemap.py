"""The basemap: the public Plan IGN of the Géoplateforme by default (no key), with its
attribution, allowed by the Content-Security-Policy; tests run with it off."""

from __future__ import annotations

from app import create_app
from core.config import load_config
from core.security import content_security_policy, tile_origin


def test_default_basemap_is_the_plan_ign_with_attribution():
    config = load_config(environ={})
    url = config["PASSERELLE_BASEMAP_URL"]
    assert url.startswith("https://data.geopf.fr/wmts?")
    assert "LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2" in url and "TILEMATRIXSET=PM" in url
    assert "{z}" in url and "{x}" in url and "{y}" in url and "apikey" not in url.lower()
    assert "IGN" in config["PASSERELLE_BASEMAP_ATTRIBUTION"]
    assert "img-src 'self' data: https://data.geopf.fr;" in content_security_policy(
        tile_origin(url))


def test_an_empty_variable_turns_the_basemap_off():
    # Set but empty: no basemap (maps ask no other host); unset: the Plan IGN.
    assert load_config(environ={"PASSERELLE_BASEMAP_URL": ""})["PASSERELLE_BASEMAP_URL"] == ""
    assert load_config(environ={})["PASSERELLE_BASEMAP_URL"].startswith("https://")


def test_tests_run_with_the_basemap_off(app, client):
    assert app.config["PASSERELLE_BASEMAP_URL"] == ""
    csp = client.get("/recherche").headers["Content-Security-Policy"]
    assert "geopf" not in csp and "img-src 'self' data:;" in csp


def test_pages_carry_the_default_basemap_and_its_origin_in_the_csp(app):
    default = create_app({"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                          "TESTING": True, "PASSERELLE_LOCAL_DB": False},
                         clock=app.extensions.get("clock"))
    response = default.test_client().get("/")
    assert "https://data.geopf.fr" in response.headers["Content-Security-Policy"]
