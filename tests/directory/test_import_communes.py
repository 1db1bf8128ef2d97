"""Communes right: the point checked against the commune named (name, INSEE code, postal
code, in that order of trust), 500 m tolerance, arrondissements, the INSEE code never taken
from a wrong point, the commune derived from the point when absent."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from directory.importer import validate
from directory.importer.readers import Candidate
from extensions import db
from tests.directory.test_import_readers import v1_csv, venue
from tests.directory.test_import_write import count, run

TALENCE = ("44.8075", "-0.5885")          # inside Talence (33522)
BORDEAUX = ("44.8378", "-0.5792")         # inside Bordeaux (33063)
SAINT_ETIENNE = ("45.4397", "4.3872")     # inside Saint-Étienne (42218)


def at(point, **values):
    return venue(latitude=point[0], longitude=point[1], **values)


def lieu(app, source_name: str, source_id: str):
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text("""
            SELECT code_insee, commune, code_postal, flags FROM lieu
            WHERE source = :s AND source_id = :i"""), {"s": source_name, "i": source_id}).one()


def outward_point(app, code: str, metres: int) -> tuple[str, str]:
    """A point ``metres`` outside commune ``code``, straight out from its centre."""
    with app.app_context(), db.engine.connect() as connection:
        lon, lat = connection.execute(text("""
            WITH c AS (SELECT geom, ST_Centroid(geom) AS centre FROM commune WHERE code = :c),
                 b AS (SELECT centre, ST_ClosestPoint(ST_Boundary(geom), centre) AS edge FROM c)
            SELECT ST_X(p::geometry), ST_Y(p::geometry) FROM b,
                   ST_Project(edge::geography, :m, ST_Azimuth(centre, edge)) AS p"""),
            {"c": code, "m": metres}).one()
    return f"{lat:.6f}", f"{lon:.6f}"


def test_a_point_contradicting_every_declaration_keeps_the_declared_commune(
        app, runner, source, geography, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(at(SAINT_ETIENNE, id="1", commune="Talence",
                               code_postal="33400")))
    report = tmp_path / "rapport.csv"
    result = run(runner, str(path), "--source", source, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "1 point(s) hors de leur commune" in result.output
    code_insee, commune, _, flags = lieu(app, source, "1")
    assert (code_insee, commune) == ("33522", "Talence")   # never Saint-Étienne's 42218
    message = next(f["message"] for f in flags if f["code"] == "hors_commune")
    assert message.startswith("point à vérifier : à ") and "de Talence (33522)" in message
    metres = int(message.split("à ")[2].split(" m")[0])
    assert 300_000 < metres < 500_000                       # Bordeaux–Saint-Étienne
    assert "déduit de la commune déclarée (point à vérifier) : 33522" in report.read_text()


def test_the_name_is_trusted_before_the_postal_code_and_disagreements_are_said(
        app, runner, source, geography, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(
        at(TALENCE, id="1", commune="TALENCE", code_postal="33000"),       # postal: Bordeaux
        at(BORDEAUX, id="2", commune="Talence", code_insee="33522", code_postal="33000"),
        at(TALENCE, id="3", commune="Talence", code_insee="59350", code_postal="33400")))
    report = tmp_path / "rapport.csv"
    result = run(runner, str(path), "--source", source, "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "0 point(s) hors de leur commune" in result.output
    assert lieu(app, source, "1")[0] == "33522"     # from the point, which the name confirms
    assert lieu(app, source, "3")[0] == "59350"     # declared: reported, never overwritten
    lines = report.read_text(encoding="utf-8").splitlines()
    said = {line.split(",")[0]: line for line in lines if "désaccord" in line}
    assert "code postal contredit le point (commune 33522) et nom de commune" in said["2"]
    assert "nom de commune, code INSEE contredisent le point (commune 33063) et code " \
           "postal" in said["3"]
    assert "code INSEE contredit le point (commune 33522) et nom de commune, code postal" \
           in said["4"]


def test_within_500_metres_of_the_declared_commune_counts_as_inside(app, runner, source,
                                                                    geography, tmp_path):
    near, far = outward_point(app, "33522", 300), outward_point(app, "33522", 2_000)
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(at(near, id="pres", commune="Talence", code_postal="33400"),
                            at(far, id="loin", commune="Talence", code_postal="33400")))
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    near_row, far_row = lieu(app, source, "pres"), lieu(app, source, "loin")
    assert near_row[0] == "33522" and not near_row[3]      # declared commune, no flag
    assert far_row[0] == "33522"
    assert [f["code"] for f in far_row[3]] == ["hors_commune"]


@pytest.mark.parametrize(("code", "city"), [("75101", "75056"), ("75120", "75056"),
                                            ("69381", "69123"), ("69389", "69123"),
                                            ("13201", "13055"), ("13215", "13055")])
def test_arrondissement_codes_name_their_city(code, city):
    candidate = Candidate(2, dict(venue(code_insee=code)))
    record, problems = validate.validate_candidate(candidate, today=__import__(
        "datetime").date(2026, 12, 1))
    assert record is not None and record.values["code_insee"] == city
    assert any("arrondissement municipal" in p.reason for p in problems)


def test_a_paris_arrondissement_is_not_flagged(app, runner, source, geography, tmp_path):
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(venue(id="1", commune="Paris 15e Arrondissement",
                                  code_postal="75015", code_insee="75115",
                                  latitude="48.8412", longitude="2.3003")))
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    code_insee, _, _, flags = lieu(app, source, "1")
    assert code_insee == "75056" and not flags


def test_the_commune_is_derived_from_the_point_when_absent(app, runner, source, geography,
                                                           tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text("""
[source]
format = "csv"
[coordinates]
pair = "gps"
[fields]
id = "ref"
nom = "nom"
pivot = { value = "00000000000000" }
adresse = "adr"
commune = { column = "ville", derive = "point" }
code_postal = { column = "cp", derive = "commune" }
date_maj = { value = "2024-01-01" }
""", encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("ref;nom;adr;ville;cp;gps\n1;EPN;1 rue A;;;44.8075, -0.5885\n"
                    "2;EPN 2;2 rue B;;;\n", encoding="utf-8")
    result = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}",
                 "--skip-invalid", "--quarantine", str(tmp_path / "q.csv"))
    assert result.exit_code == 0, result.output
    code_insee, commune, postal, _ = lieu(app, source, "1")
    assert (code_insee, commune, postal) == ("33522", "Talence", "33400")
    assert count(app, source) == 1      # no point, no commune: rejected, quarantined
    assert "commune absente et impossible à déduire du point" in \
        (tmp_path / "q.csv").read_text(encoding="utf-8")
    # No commune column at all: derived from the point alone.
    mapping.write_text(mapping.read_text(encoding="utf-8").replace(
        'commune = { column = "ville", derive = "point" }', 'commune = { derive = "point" }'),
        encoding="utf-8")
    data.write_text("ref;nom;adr;cp;gps\n3;EPN 3;3 rue C;;44.8378 -0.5792\n",
                    encoding="utf-8")
    again = run(runner, str(data), "--source", source, "--format", f"mapping:{mapping}")
    assert again.exit_code == 0, again.output
    assert lieu(app, source, "3")[:3] == ("33063", "Bordeaux", "33000")


def test_a_point_just_off_the_coast_gets_its_declared_commune(app, runner, source, geography,
                                                              tmp_path):
    """Simplified polygons cut the coast: a point in no commune, 200 m off Arcachon."""
    with app.app_context(), db.engine.connect() as connection:
        lat, lon = connection.execute(text("""
            WITH c AS (SELECT geom, ST_Centroid(geom) AS centre FROM commune
                       WHERE code = '33009'),
                 edges AS (SELECT (ST_DumpPoints(ST_Boundary(geom))).geom AS edge, centre
                           FROM c),
                 near AS (SELECT ST_Project(edge::geography, 200,
                                            ST_Azimuth(centre, edge))::geometry AS p
                          FROM edges)
            SELECT ST_Y(p), ST_X(p) FROM near
            WHERE NOT EXISTS (SELECT 1 FROM commune k WHERE ST_Covers(k.geom, near.p))
            ORDER BY ST_X(p) LIMIT 1""")).one()
    path = tmp_path / "lieux.csv"
    path.write_bytes(v1_csv(at((str(lat), str(lon)), id="1", commune="ARCACHON",
                               code_postal="33120")))
    result = run(runner, str(path), "--source", source)
    assert result.exit_code == 0, result.output
    assert "0 point(s) hors de leur commune" in result.output
    code_insee, _, _, flags = lieu(app, source, "1")
    assert code_insee == "33009" and not flags
    with app.app_context(), db.engine.connect() as connection:
        report = connection.execute(text("SELECT report FROM import_run WHERE source = :s"),
                                    {"s": source}).scalar()
    assert "déduit de la commune déclarée (point à moins de 500 m) : 33009" in report
