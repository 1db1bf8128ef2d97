"""Programmes and acceptance: perimeter computed from territory codes, the CLI, the API."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely import wkb
from sqlalchemy import func, select

from core.errors import Conflict, InvalidInput, NotFound
from directory import programmes as service
from directory.models import Acceptance, Programme
from tests.conftest import make_small_geography, make_venue, point

GIRONDE = ["99001", "99002", "99003"]


@pytest.fixture
def geography(db_session):
    return make_small_geography(db_session)


def _perimeter(session, programme):
    raw = session.scalar(select(func.ST_AsBinary(Programme.perimeter))
                         .where(Programme.id == programme.id))
    return wkb.loads(bytes(raw))


@pytest.mark.parametrize("code, expected", [
    ("dep:33", ("dep", "33")), ("DEP:2a", ("dep", "2A")), ("reg:75", ("reg", "75")),
    ("epci:999000001", ("epci", "999000001")), ("com:99001", ("com", "99001")),
    ("fr", ("fr", "")),
])
def test_perimeter_codes_are_parsed(code, expected):
    assert service.parse_perimeter_code(code) == expected


@pytest.mark.parametrize("code", ["33", "dep:", "dep:333x", "epci:123", "pays:fr", "com:3306"])
def test_malformed_perimeter_codes_are_refused_in_french(code):
    with pytest.raises(InvalidInput, match="Code de territoire"):
        service.parse_perimeter_code(code)


def test_departement_perimeter_is_its_polygon_and_its_communes(db_session, geography):
    programme, changed = service.save_programme(
        db_session, code="pass-numerique-gironde", name="Pass Numérique Gironde",
        perimeter_codes=["dep:990"], valid_from=dt.date(2026, 1, 1))
    assert changed
    assert programme.perimeter_codes == ["dep:990"]
    assert programme.perimeter_communes == sorted(GIRONDE)
    shape = _perimeter(db_session, programme)
    assert shape.geom_type == "MultiPolygon"
    assert shape.bounds == pytest.approx((-1.3, 44.2, 0.3, 45.6))
    from shapely.geometry import Point
    assert shape.covers(Point(-0.5792, 44.8378))      # Bordeaux
    assert not shape.covers(Point(0.7218, 45.1846))   # Périgueux (Dordogne)


def test_perimeter_of_several_codes_is_their_union(db_session, geography):
    programme, _ = service.save_programme(
        db_session, code="pass-mixte", name="Pass mixte",
        perimeter_codes=["epci:999000001, com:99101", "com:99201"],
        valid_from=dt.date(2026, 1, 1))
    assert programme.perimeter_codes == ["epci:999000001", "com:99101", "com:99201"]
    assert programme.perimeter_communes == ["99001", "99002", "99101", "99201"]
    shape = _perimeter(db_session, programme)
    expected_area = 0.4 * 0.3 + 0.08 * 0.07 + 0.17 * 0.09  # EPCI + Périgueux + Paris
    assert shape.area == pytest.approx(expected_area, rel=1e-6)
    assert len(shape.geoms) == 3


def test_region_perimeter_includes_communes_of_all_its_departements(db_session, geography):
    programme, _ = service.save_programme(
        db_session, code="pass-na", name="Pass Nouvelle-Aquitaine", perimeter_codes=["reg:91"],
        valid_from=dt.date(2026, 1, 1))
    assert programme.perimeter_communes == ["99001", "99002", "99003", "99101"]


def test_all_france_has_no_geometry_and_no_commune_list(db_session, geography):
    programme, _ = service.save_programme(
        db_session, code="pass-national", name="Pass national",
        perimeter_codes=["dep:990", "fr"], valid_from=dt.date(2026, 1, 1))
    assert programme.perimeter_codes == ["fr"]
    assert programme.perimeter is None and programme.perimeter_communes == []


def test_unknown_territory_is_refused(db_session, geography):
    with pytest.raises(InvalidInput, match="Territoire inconnu.*département « 989 »"):
        service.save_programme(db_session, code="pass-x", name="X", perimeter_codes=["dep:989"],
                               valid_from=dt.date(2026, 1, 1))


def test_saving_again_the_same_programme_changes_nothing(db_session, geography):
    args = dict(code="pass-numerique-gironde", name="Pass Numérique Gironde",
                perimeter_codes=["dep:990"], valid_from=dt.date(2026, 1, 1))
    first, _ = service.save_programme(db_session, **args)
    again, changed = service.save_programme(db_session, **args)
    assert again.id == first.id and not changed
    with pytest.raises(Conflict):
        service.save_programme(db_session, create_only=True, **args)


def test_accept_and_revoke(db_session, geography):
    service.save_programme(db_session, code="pass-gironde", name="Pass Gironde",
                           perimeter_codes=["dep:990"], valid_from=dt.date(2026, 1, 1))
    bordeaux = make_venue(db_session, source="t", source_id="bx")
    perigueux = make_venue(db_session, source="t", source_id="pg", commune="Périgueux",
                           code_insee="99101", geom=point(0.7218, 45.1846))
    acceptance, outcome = service.accept(
        db_session, programme_code="pass-gironde", venue_reference="t:bx",
        valid_from=dt.date(2026, 2, 1), services=["Aide aux démarches administratives"])
    assert outcome == "created" and acceptance.lieu_id == bordeaux.id
    _, outcome = service.accept(
        db_session, programme_code="pass-gironde", venue_reference=str(bordeaux.id),
        valid_from=dt.date(2026, 2, 1), services=["Aide aux démarches administratives"])
    assert outcome == "unchanged"
    with pytest.raises(InvalidInput, match="hors du périmètre"):
        service.accept(db_session, programme_code="pass-gironde",
                       venue_reference=str(perigueux.id), valid_from=dt.date(2026, 2, 1))
    with pytest.raises(NotFound, match="Lieu introuvable"):
        service.accept(db_session, programme_code="pass-gironde", venue_reference="t:nope",
                       valid_from=dt.date(2026, 2, 1))
    with pytest.raises(NotFound, match="Aucun programme"):
        service.accept(db_session, programme_code="pass-inconnu", venue_reference="t:bx",
                       valid_from=dt.date(2026, 2, 1))
    revoked = service.revoke(db_session, programme_code="pass-gironde", venue_reference="t:bx",
                             on_date=dt.date(2026, 6, 15), reason="charte non respectée")
    assert revoked.valid_to == dt.date(2026, 6, 14) and revoked.revoked_at is not None
    assert service.acceptance_counts(db_session, dt.date(2026, 6, 14)) == {
        revoked.programme_id: 1}
    assert service.acceptance_counts(db_session, dt.date(2026, 6, 15)) == {}
    with pytest.raises(Conflict, match="déjà pris fin"):
        service.revoke(db_session, programme_code="pass-gironde", venue_reference="t:bx",
                       on_date=dt.date(2026, 7, 1))


# --------------------------------------------------------------------------- CLI


def _create(runner, *extra):
    return runner.invoke(args=[
        "directory", "programme", "create", "pass-numerique-gironde",
        "--name", "Pass Numérique Gironde", "--perimeter", "dep:990", "--from", "2026-01-01",
        "--to", "2026-12-31", "--issuer", "Coopérative fictive", "--funder",
        "Département de la Gironde", "--cheque-value", "10", *extra])


def test_cli_create_list_accept_revoke(runner, db_session, geography):
    result = _create(runner)
    assert result.exit_code == 0, result.output
    assert "Programme « pass-numerique-gironde » enregistré" in result.output
    assert "3 communes" in result.output
    make_venue(db_session, source="demo", source_id="v1")
    make_venue(db_session, source="demo", source_id="v2")

    result = runner.invoke(args=["directory", "programme", "accept", "pass-numerique-gironde",
                                 "demo:v1", "demo:v2", "--from", "2026-01-01",
                                 "--reference", "QUAL-2026-001"])
    assert result.exit_code == 0, result.output
    assert "2 acceptation(s) créée(s), 0 mise(s) à jour, 0 inchangée(s)." in result.output

    result = runner.invoke(args=["directory", "programme", "list", "--date", "2026-03-01"])
    assert result.exit_code == 0, result.output
    assert "pass-numerique-gironde\tPass Numérique Gironde\tdep:990" in result.output
    assert "10,00 €" in result.output and "1 programme(s)." in result.output

    result = runner.invoke(args=["directory", "programme", "list", "--date", "2027-03-01"])
    assert "0 programme(s)." in result.output

    result = runner.invoke(args=["directory", "programme", "revoke", "pass-numerique-gironde",
                                 "demo:v2", "--date", "2026-04-01", "--reason", "test"])
    assert result.exit_code == 0, result.output
    assert "1 acceptation(s) retirée(s) à compter du 2026-04-01." in result.output
    rows = db_session.execute(select(Acceptance.valid_to).order_by(Acceptance.id)).all()
    assert [r[0] for r in rows] == [None, dt.date(2026, 3, 31)]


@pytest.mark.parametrize("args, message", [
    (["--perimeter", "dep:989"], "Territoire inconnu"),
    (["--perimeter", "departement-33"], "Code de territoire"),
    (["--from", "2026-13-01"], "Date invalide pour --from"),
    (["--to", "2025-01-01"], "précède la date de début"),
    (["--service", "Cuisine"], "Service inconnu"),
    (["--levels", "4"], "Les niveaux"),
])
def test_cli_create_refuses_bad_input(runner, geography, args, message):
    base = ["directory", "programme", "create", "pass-x", "--name", "X"]
    defaults = {"--perimeter": "dep:990", "--from": "2026-01-01"}
    for option, value in defaults.items():
        if option not in args:
            base += [option, value]
    result = runner.invoke(args=base + args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Erreur :" in result.output


def test_cli_create_twice_is_a_conflict_unless_update(runner, geography):
    assert _create(runner).exit_code == 0
    result = _create(runner)
    assert result.exit_code == 1 and "existe déjà" in result.output
    result = _create(runner, "--update")
    assert result.exit_code == 0 and "inchangé" in result.output


def test_cli_accept_unknown_venue_fails_and_writes_nothing(runner, db_session, geography):
    assert _create(runner).exit_code == 0
    make_venue(db_session, source="demo", source_id="v1")
    db_session.commit()  # a failing command rolls back its own work only
    result = runner.invoke(args=["directory", "programme", "accept", "pass-numerique-gironde",
                                 "demo:v1", "demo:absent"])
    assert result.exit_code == 1
    assert "Lieu introuvable : « demo:absent »" in result.output
    assert db_session.scalar(select(func.count()).select_from(Acceptance)) == 0


def test_cli_accept_bad_dates_and_unknown_programme(runner, db_session, geography):
    assert _create(runner).exit_code == 0
    make_venue(db_session, source="demo", source_id="v1")
    db_session.commit()  # a failing command rolls back its own work only
    result = runner.invoke(args=["directory", "programme", "accept", "pass-numerique-gironde",
                                 "demo:v1", "--from", "2026-05-01", "--to", "2026-04-01"])
    assert result.exit_code == 1 and "précède" in result.output
    result = runner.invoke(args=["directory", "programme", "accept", "pass-absent", "demo:v1"])
    assert result.exit_code == 1 and "Aucun programme ne porte le code" in result.output
    result = runner.invoke(args=["directory", "programme", "revoke", "pass-numerique-gironde",
                                 "demo:v1"])
    assert result.exit_code == 1 and "n'accepte pas" in result.output


# --------------------------------------------------------------------------- API


def test_api_lists_programmes_with_code_and_geojson_perimeter(client, db_session, geography):
    service.save_programme(db_session, code="pass-numerique-gironde",
                           name="Pass Numérique Gironde", perimeter_codes=["dep:990"],
                           valid_from=dt.date(2020, 1, 1))
    service.save_programme(db_session, code="pass-national", name="Pass national",
                           perimeter_codes=["fr"], valid_from=dt.date(2020, 1, 1),
                           valid_to=dt.date(2021, 1, 1))
    venue = make_venue(db_session)
    service.accept(db_session, programme_code="pass-numerique-gironde",
                   venue_reference=str(venue.id), valid_from=dt.date(2020, 1, 1))
    response = client.get("/api/v1/programmes")
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 2
    by_code = {item["code"]: item for item in body["items"]}
    gironde = by_code["pass-numerique-gironde"]
    assert gironde["perimeter"]["type"] == "MultiPolygon"
    lon, lat = gironde["perimeter"]["coordinates"][0][0][0]
    assert -1.31 <= lon <= 0.31 and 44.19 <= lat <= 45.61  # lon/lat order
    assert gironde["perimeter_names"] == ["Gironde"]
    assert gironde["communes_count"] == 3 and gironde["accepting_venues"] == 1
    assert by_code["pass-national"]["perimeter"] is None

    response = client.get("/api/v1/programmes?date=2022-06-01&geometry=none")
    items = response.get_json()["items"]
    assert [i["code"] for i in items] == ["pass-numerique-gironde"]
    assert items[0]["perimeter"] is None

    response = client.get("/api/v1/programmes/pass-numerique-gironde")
    assert response.status_code == 200
    assert response.get_json()["perimeter"]["type"] == "MultiPolygon"


def test_api_errors_are_french_json(client, db_session):
    response = client.get("/api/v1/programmes/inconnu")
    assert response.status_code == 404
    assert response.get_json()["message"] == "Aucun programme ne porte le code « inconnu »."
    response = client.get("/api/v1/programmes?date=demain")
    assert response.status_code == 422
    response = client.get("/api/v1/programmes?champ=1")
    assert response.status_code == 422


def test_programme_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/api/v1/programmes" in paths
    assert "/api/v1/programmes/{code}" in paths
