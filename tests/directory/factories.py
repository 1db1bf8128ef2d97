"""Small factories for catalogue tests: venues, territories, programmes."""

from __future__ import annotations

import datetime as dt
import itertools

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box

from directory.models import Venue
from geodata.models import Commune, Departement, Epci, Region

_counter = itertools.count(1)


def point(lon: float, lat: float):
    return from_shape(Point(lon, lat), srid=4326)


def square(min_lon: float, min_lat: float, max_lon: float, max_lat: float):
    return from_shape(MultiPolygon([box(min_lon, min_lat, max_lon, max_lat)]), srid=4326)


def make_venue(session, **fields) -> Venue:
    n = next(_counter)
    values = {
        "source": "test",
        "source_id": f"lieu-{n}",
        "nom": f"Espace numérique de test {n}",
        "commune": "Bordeaux",
        "code_postal": "33000",
        "code_insee": "99001",
        "adresse": "1 place Pey-Berland",
        "date_maj": dt.date(2026, 1, 15),
        "geom": point(-0.5792, 44.8378),
        "location_precision": "address",
    }
    values.update(fields)
    venue = Venue(**values)
    session.add(venue)
    session.flush()
    return venue


def make_small_geography(session) -> dict[str, str]:
    """Two régions, three départements, one EPCI, five communes with rectangular shapes.

    Codes are fictional so that they never collide with the real geography some tests
    load (session fixture ``geography``). Layout: région 91 ("Nouvelle-Aquitaine") / dep
    990 ("Gironde") holds communes 99001 (Bordeaux, in EPCI 999000001) and 99002
    (Mérignac, same EPCI) and 99003 (La Teste); dep 991 ("Dordogne") holds 99101
    (Périgueux); région 92 / dep 992 ("Paris") holds 99201 (Paris).
    """
    session.add_all([
        Region(code="91", name="Nouvelle-Aquitaine", population=6_000_000,
               geom=square(-1.8, 43.0, 2.6, 47.2)),
        Region(code="92", name="Île-de-France", population=12_000_000,
               geom=square(1.4, 48.1, 3.6, 49.3)),
    ])
    session.flush()
    session.add_all([
        Departement(code="990", name="Gironde", region_code="91", population=1_600_000,
                    geom=square(-1.3, 44.2, 0.3, 45.6)),
        Departement(code="991", name="Dordogne", region_code="91", population=410_000,
                    geom=square(0.3, 44.6, 1.4, 45.7)),
        Departement(code="992", name="Paris", region_code="92", population=2_100_000,
                    geom=square(2.2, 48.8, 2.5, 48.9)),
        Epci(code="999000001", name="Bordeaux Métropole", kind="METRO", population=800_000,
             geom=square(-0.8, 44.7, -0.4, 45.0)),
    ])
    session.flush()
    communes = [
        ("99001", "Bordeaux", 260_000, "990", "91", "999000001", (-0.64, 44.8, -0.5, 44.9),
         (-0.5792, 44.8378)),
        ("99002", "Mérignac", 72_000, "990", "91", "999000001", (-0.75, 44.8, -0.64, 44.9),
         (-0.6446, 44.8386)),
        ("99003", "La Teste-de-Buch", 27_000, "990", "91", None, (-1.25, 44.5, -1.05, 44.7),
         (-1.1451, 44.6303)),
        ("99101", "Périgueux", 30_000, "991", "91", None, (0.68, 45.15, 0.76, 45.22),
         (0.7218, 45.1846)),
        ("99201", "Paris", 2_100_000, "992", "92", None, (2.25, 48.81, 2.42, 48.90),
         (2.3522, 48.8566)),
    ]
    for code, name, pop, dep, reg, epci, bbox, hall in communes:
        session.add(Commune(
            code=code, name=name, search_name=name.lower(), population=pop,
            departement_code=dep, region_code=reg, epci_code=epci, geom=square(*bbox),
            point=point((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2),
            town_hall_point=point(*hall), town_hall_address=f"Mairie, {name}"))
    session.flush()
    return {c[0]: c[1] for c in communes}
