"""A small hand-checkable world for the coverage tests, far from the `geography` fixture's
départements and with codes no real territory uses (région and départements 991/992).

All points lie on the meridian 7° E, so distances are along it (≈ 111.2 km per degree):

    lat    commune (dep 991 unless said)      population   venue
    48.00  A 99101 (EPCI 999999991)            1 000
    48.02                                                    V1, capacity 10
    48.10  B 99102 (EPCI 999999991)            2 000
    48.30  C 99103                             3 000
    48.40  F 99105 "=Formule" (town hall 48.45)  500
    48.50  D 99104                             4 000
    48.55                                                    V2 (dep 992), capacity unknown
    48.60  E 99201 (dep 992)                   5 000

Costs (geodesic × 1.3): V1–A 2.9, V1–B 11.6, V1–C 40.5; V2–D 7.2, V2–E 7.2, V2–F 21.7,
V2–C 36.1. Every cost is at least 1.5 km from a threshold.
"""

from __future__ import annotations

import datetime as dt

from directory.models import Programme, Venue
from geodata.models import Commune, Departement, Epci, Region
from tests.conftest import make_venue, point, square

LON = 7.0
COMMUNES = {
    # code: (name, population, lat, departement, epci, town hall lat)
    "99101": ("Aville", 1000, 48.00, "991", "999999991", None),
    "99102": ("Bville", 2000, 48.10, "991", "999999991", None),
    "99103": ("Cville", 3000, 48.30, "991", None, None),
    "99105": ("=Formule", 500, 48.40, "991", None, 48.45),
    "99104": ("Dville", 4000, 48.50, "991", None, None),
    "99201": ("Eville", 5000, 48.60, "992", None, None),
}
TERRITORY = ("99101", "99102", "99103", "99104", "99105")


def make_world(session) -> dict[str, Venue]:
    session.add(Region(code="991", name="Région d'essai", population=15500,
                       geom=square(6.9, 47.9, 7.1, 48.7)))
    session.flush()
    session.add_all([
        Departement(code="991", name="Département d'essai", region_code="991",
                    population=10500, geom=square(6.9, 47.9, 7.1, 48.53)),
        Departement(code="992", name="Département voisin", region_code="991",
                    population=5000, geom=square(6.9, 48.53, 7.1, 48.7)),
        Epci(code="999999991", name="Communauté d'essai", kind="CC", population=3000,
             geom=square(6.95, 47.95, 7.05, 48.15)),
    ])
    session.flush()
    for code, (name, population, lat, dep, epci, hall) in COMMUNES.items():
        session.add(Commune(
            code=code, name=name, search_name=name.lower(), population=population,
            departement_code=dep, region_code="991", epci_code=epci,
            geom=square(LON - 0.04, lat - 0.04, LON + 0.04, lat + 0.04),
            point=point(LON, lat),
            town_hall_point=point(LON, hall) if hall is not None else None))
    session.flush()
    v1 = make_venue(session, nom="Lieu V1", code_insee="99101", geom=point(LON, 48.02),
                    weekly_capacity=10)
    v2 = make_venue(session, nom="Lieu V2", code_insee="99201", geom=point(LON, 48.55),
                    weekly_capacity=None)
    return {"V1": v1, "V2": v2}


def essai_programme(session, **fields) -> Programme:
    """The national programme « pass-essai », open since 1 January 2026; ``fields`` add to it
    (e.g. allowed_services)."""
    programme = Programme(code="pass-essai", name="Pass d'essai", perimeter_codes=["fr"],
                          valid_from=dt.date(2026, 1, 1), **fields)
    session.add(programme)
    session.flush()
    return programme


def cached_geojson(client, url: str, etag_prefix: str) -> dict:
    """GET ``url``: a GeoJSON answer cached five minutes, its ETag starting with
    ``etag_prefix`` (the run's kind and id); returns the body."""
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert etag_prefix in response.headers["ETag"]
    return response.get_json()
