"""Read API of venues: filters, keyset pagination, GeoJSON, one venue with its hours."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from core.clock import PARIS
from core.request_guard import NUL_MESSAGE
from directory import programmes
from directory.models import Acceptance, Offer, TrainingSession, VenueStop
from tests.conftest import clock_at, make_small_geography, make_venue, point

DEMARCHES = "Aide aux démarches administratives"
OUTILS = "Maîtrise des outils numériques du quotidien"
INSERTION = "Insertion professionnelle via le numérique"
LOISIRS = "Loisirs et créations numériques"
HOURS = "Mo-Fr 09:00-12:00,14:00-17:00; PH off"
# Thursday 26 November 2026, 10:00 in Paris.
THURSDAY_10H = dt.datetime(2026, 11, 26, 10, 0, tzinfo=PARIS)
clock = clock_at(THURSDAY_10H)


def _with_hours(osm: str | None, **fields) -> dict:
    return {"horaires": osm, "horaires_osm": osm, "horaires_valides": osm is not None, **fields}


@pytest.fixture
def catalogue(db_session, clock):
    """Seven venues over the small geography, two programmes, acceptances."""
    make_small_geography(db_session)
    v = {
        "bordeaux": make_venue(
            db_session, source_id="bdx", nom="Médiathèques de Bordeaux",
            services=[DEMARCHES, OUTILS], publics_specifiquement_adresses=["Seniors"],
            **_with_hours(HOURS)),
        "merignac": make_venue(
            db_session, source_id="mer", nom="Espace emploi", commune="Mérignac",
            code_insee="99002", code_postal="33700", geom=point(-0.6446, 44.8386),
            services=[INSERTION], publics_specifiquement_adresses=["Jeunes"],
            presentation_detail="Ateliers dans la médiathèque du quartier."),
        # No code INSEE: located by its point (inside La Teste-de-Buch).
        "teste": make_venue(
            db_session, source_id="teste", nom="Tiers-lieu du bassin", commune="La Teste",
            code_insee=None, code_postal="33260", geom=point(-1.1451, 44.6303),
            services=[OUTILS]),
        "perigueux": make_venue(
            db_session, source_id="per", nom="EPN de Périgueux", commune="Périgueux",
            code_insee="99101", code_postal="24000", geom=point(0.7218, 45.1846),
            services=[LOISIRS]),
        "paris": make_venue(
            db_session, source_id="par", nom="Point numérique Paris Centre", commune="Paris",
            code_insee="99201", code_postal="75001", geom=point(2.3522, 48.8566),
            status="temporarily_closed", closed_until=dt.date(2026, 12, 31)),
        "closed": make_venue(db_session, source_id="clos", nom="Ancien cybercentre",
                             status="closed"),
        "other": make_venue(db_session, source="api-autre", source_id="x1", nom="Lieu d'ailleurs",
                            geom=point(-0.58, 44.84)),
    }
    gironde, _ = programmes.save_programme(
        db_session, code="pass-numerique-gironde", name="Pass Numérique Gironde",
        perimeter_codes=["dep:990"], valid_from=dt.date(2026, 1, 1),
        allowed_services=[DEMARCHES, OUTILS, INSERTION])
    region, _ = programmes.save_programme(
        db_session, code="pass-na", name="Pass Nouvelle-Aquitaine",
        perimeter_codes=["reg:91"], valid_from=dt.date(2026, 1, 1))
    db_session.add_all([
        Acceptance(lieu_id=v["bordeaux"].id, programme_id=gironde.id,
                   valid_from=dt.date(2026, 1, 1), services=[DEMARCHES]),
        # Expired in June.
        Acceptance(lieu_id=v["merignac"].id, programme_id=gironde.id,
                   valid_from=dt.date(2026, 1, 1), valid_to=dt.date(2026, 6, 30)),
        # Starts in December.
        Acceptance(lieu_id=v["perigueux"].id, programme_id=region.id,
                   valid_from=dt.date(2026, 12, 1)),
    ])
    db_session.flush()
    return v


# Other tests may have committed venues of their own sources in the session database.
OUR_SOURCES = ("test", "api-autre", "page")


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.get_json()
    return {item["id"] for item in response.get_json()["items"]
            if item["source"] in OUR_SOURCES}


def _expect(catalogue, *names) -> set[int]:
    return {catalogue[n].id for n in names}


# --------------------------------------------------------------------------- filters


def test_default_statuses_exclude_closed_venues(client, catalogue):
    everyone = _ids(client.get("/api/v1/venues"))
    assert everyone == _expect(catalogue, "bordeaux", "merignac", "teste", "perigueux",
                               "paris", "other")
    assert _ids(client.get("/api/v1/venues?status=closed")) == _expect(catalogue, "closed")
    both = _ids(client.get("/api/v1/venues?status=closed&status=temporarily_closed"))
    assert both == _expect(catalogue, "closed", "paris")


def test_list_item_keeps_the_standard_names(client, catalogue):
    item = next(i for i in client.get("/api/v1/venues").get_json()["items"]
                if i["id"] == catalogue["bordeaux"].id)
    assert item["nom"] == "Médiathèques de Bordeaux"
    assert item["code_insee"] == "99001" and item["commune"] == "Bordeaux"
    assert item["services"] == [DEMARCHES, OUTILS]
    assert item["publics_specifiquement_adresses"] == ["Seniors"]
    assert (item["longitude"], item["latitude"]) == pytest.approx((-0.5792, 44.8378))
    assert item["source"] == "test" and item["source_id"] == "bdx"
    assert item["status"] == "open" and item["location_precision"] == "address"
    assert item["programmes"] == ["pass-numerique-gironde"]
    assert item["flags"] == []


def test_bbox_filter(client, catalogue):
    metropole = _ids(client.get("/api/v1/venues?bbox=-0.8,44.7,-0.4,45.0"))
    assert metropole == _expect(catalogue, "bordeaux", "merignac", "other")
    assert _ids(client.get("/api/v1/venues?bbox=0.6,45.1,0.8,45.3")) == _expect(
        catalogue, "perigueux")
    assert _ids(client.get("/api/v1/venues?bbox=5,45,6,46")) == set()


@pytest.mark.parametrize("bbox, reason", [
    ("a,b,c,d", "nombres"),
    ("-0.8,44.7,-0.4", "quatre nombres"),
    ("-0.4,44.7,-0.8,45.0", "minlon < maxlon"),
    ("-0.8,45.0,-0.4,44.7", "minlat < maxlat"),
    ("-200,44.7,-0.4,45.0", "entre -180 et 180"),
    ("-0.8,44.7,-0.4,95", "entre -90 et 90"),
    ("nan,44.7,-0.4,45.0", "finis"),
])
def test_bad_bbox_is_refused_in_french(client, catalogue, bbox, reason):
    response = client.get("/api/v1/venues", query_string={"bbox": bbox})
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"] == "Les paramètres de la requête sont invalides."
    assert reason in " ".join(body["errors"]["bbox"])


def test_unknown_parameter_is_refused(client, catalogue):
    response = client.get("/api/v1/venues?ville=Bordeaux")
    assert response.status_code == 422
    assert response.get_json()["errors"]["ville"] == ["Paramètre inconnu."]


@pytest.mark.parametrize("args, expected", [
    ("departement=990", ("bordeaux", "merignac", "teste")),  # teste: by its point
    ("region=91", ("bordeaux", "merignac", "teste", "perigueux")),
    ("epci=999000001", ("bordeaux", "merignac")),
    ("commune=99002", ("merignac",)),
    ("commune=99003", ("teste",)),
    ("region=92", ("paris",)),
])
def test_territory_filters(client, catalogue, args, expected):
    got = _ids(client.get(f"/api/v1/venues?{args}&source=test"))
    assert got == _expect(catalogue, *expected)


def test_declared_commune_wins_over_the_point(client, db_session, catalogue):
    # Declared in Mérignac although its point lies in Bordeaux: it belongs to Mérignac.
    odd = make_venue(db_session, source_id="odd", code_insee="99002", commune="Mérignac")
    assert odd.id not in _ids(client.get("/api/v1/venues?commune=99001"))
    assert odd.id in _ids(client.get("/api/v1/venues?commune=99002"))


def test_itinerant_venue_is_found_through_its_stops(client, db_session, catalogue):
    bus = make_venue(db_session, source_id="bus", nom="Bus numérique", itinerance=["Itinérant"],
                     code_insee="99101", commune="Périgueux", geom=point(0.7218, 45.1846))
    db_session.add(VenueStop(lieu_id=bus.id, position=1, label="Place du marché",
                             code_insee="99003", geom=point(-1.15, 44.63)))
    db_session.flush()
    assert bus.id in _ids(client.get("/api/v1/venues?commune=99003"))
    assert bus.id in _ids(client.get("/api/v1/venues?bbox=-1.2,44.6,-1.1,44.7"))
    assert bus.id not in _ids(client.get("/api/v1/venues?commune=99001"))


def test_unknown_territory_is_refused(client, catalogue):
    response = client.get("/api/v1/venues?departement=99")
    assert response.status_code == 422
    assert "inconnu" in response.get_json()["errors"]["departement"][0]
    response = client.get("/api/v1/venues?departement=990&region=91")
    assert response.status_code == 422


def test_programme_filter_uses_validity_dates(client, catalogue):
    url = "/api/v1/venues?programme=pass-numerique-gironde"
    assert _ids(client.get(url)) == _expect(catalogue, "bordeaux")
    assert _ids(client.get(url + "&date=2026-03-01")) == _expect(catalogue, "bordeaux",
                                                                 "merignac")
    region = "/api/v1/venues?programme=pass-na"
    assert _ids(client.get(region)) == set()
    assert _ids(client.get(region + "&date=2026-12-15")) == _expect(catalogue, "perigueux")
    # Before the programme itself starts, nobody accepts it.
    assert _ids(client.get(url + "&date=2025-06-01")) == set()
    unknown = client.get("/api/v1/venues?programme=pass-inconnu")
    assert unknown.status_code == 422
    assert "Aucun programme" in unknown.get_json()["errors"]["programme"][0]


def test_programme_with_service_requires_the_pass_to_cover_it(client, catalogue):
    base = "/api/v1/venues?programme=pass-numerique-gironde&service="
    # Bordeaux offers both services but its acceptance covers only the démarches.
    assert _ids(client.get(base + DEMARCHES)) == _expect(catalogue, "bordeaux")
    assert _ids(client.get(base + OUTILS)) == set()


def test_service_and_public_filters(client, catalogue):
    assert _ids(client.get(f"/api/v1/venues?service={INSERTION}")) == _expect(
        catalogue, "merignac")
    either = _ids(client.get(f"/api/v1/venues?service={INSERTION}&service={LOISIRS}"))
    assert either == _expect(catalogue, "merignac", "perigueux")
    assert _ids(client.get("/api/v1/venues?public=Seniors")) == _expect(catalogue, "bordeaux")
    bad = client.get("/api/v1/venues?service=Cuisine")
    assert bad.status_code == 422
    assert "Service inconnu" in str(bad.get_json()["errors"]["service"])


def test_source_filter(client, catalogue):
    assert _ids(client.get("/api/v1/venues?source=api-autre")) == _expect(catalogue, "other")


def test_french_full_text_search_is_ranked(client, catalogue):
    response = client.get("/api/v1/venues?q=médiathèque&source=test")
    items = response.get_json()["items"]
    # Singular finds the plural; the name (weight A) ranks above the description (D).
    assert [i["id"] for i in items] == [catalogue["bordeaux"].id, catalogue["merignac"].id]
    assert _ids(client.get("/api/v1/venues?q=mediatheque emploi")) == set()
    assert _ids(client.get('/api/v1/venues?q="tiers-lieu"')) == _expect(catalogue, "teste")
    assert _ids(client.get("/api/v1/venues?q=périgueux -bordeaux")) == _expect(
        catalogue, "perigueux")


def test_modified_since(client, db_session, catalogue):
    db_session.execute(text("UPDATE lieu SET updated_at = '2026-01-01T00:00:00Z'"))
    db_session.execute(
        text("UPDATE lieu SET updated_at = :t WHERE id IN (:a, :b)"),
        {"t": dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC), "a": catalogue["teste"].id,
         "b": catalogue["paris"].id})
    db_session.execute(
        text("UPDATE lieu SET updated_at = :t WHERE id = :a"),
        {"t": dt.datetime(2026, 11, 10, 8, tzinfo=dt.UTC), "a": catalogue["perigueux"].id})
    response = client.get("/api/v1/venues",
                          query_string={"modified_since": "2026-11-15T09:00:00+01:00"})
    items = response.get_json()["items"]
    assert {i["id"] for i in items} == _expect(catalogue, "teste", "paris")
    # Sorted by modification date (then id) when modified_since is given.
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    # Inclusive bound; a naive datetime is UTC.
    since = client.get("/api/v1/venues?modified_since=2026-11-10T08:00:00")
    assert _ids(since) == _expect(catalogue, "teste", "paris", "perigueux")
    bad = client.get("/api/v1/venues?modified_since=hier")
    assert bad.status_code == 422
    assert "ISO 8601" in bad.get_json()["errors"]["modified_since"][0]


# --------------------------------------------------------------------------- pagination


@pytest.fixture
def many(db_session, clock):
    """23 venues, updated_at in three tied groups, same words in every name."""
    ids = []
    for n in range(23):
        venue = make_venue(db_session, source="page", source_id=f"p{n:02d}",
                           nom=f"Atelier numérique {n}",
                           presentation_resume="atelier" if n % 2 else None)
        ids.append(venue.id)
    stamps = ["2026-05-01T10:00:00Z", "2026-03-01T10:00:00Z", "2026-04-01T10:00:00Z"]
    for n, venue_id in enumerate(ids):
        db_session.execute(text("UPDATE lieu SET updated_at = :t WHERE id = :i"),
                           {"t": stamps[n % 3], "i": venue_id})
    db_session.flush()
    return ids


def _walk(client, url: str) -> tuple[list[int], int]:
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["count"] == len(body["items"])
        seen += [item["id"] for item in body["items"]]
        pages += 1
        if body["next"]:
            assert response.headers["Link"] == f'<{body["next"]}>; rel="next"'
        else:
            assert "Link" not in response.headers
        url = body["next"]
        assert pages < 50
    return seen, pages


@pytest.mark.parametrize("extra", ["", "&sort=updated_at", "&q=atelier numérique",
                                   "&modified_since=2026-01-01T00:00:00Z"])
def test_keyset_pagination_walks_every_row_once(client, db_session, many, extra):
    seen, pages = _walk(client, f"/api/v1/venues?source=page&limit=4{extra}")
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == set(many)
    assert pages == 6
    if "updated_at" in extra or "modified_since" in extra:
        order = db_session.execute(text(
            "SELECT id FROM lieu WHERE source = 'page' ORDER BY updated_at, id")).scalars()
        assert seen == list(order)
    elif "q=" in extra:
        # The odd ones also mention "atelier" in their summary: they rank first.
        assert set(seen[:11]) == set(many[1::2])
    else:
        assert seen == sorted(many)


def test_next_link_keeps_the_filters(client, many):
    body = client.get(f"/api/v1/venues?source=page&limit=5&service={OUTILS}&format=json")
    assert body.status_code == 200
    body = client.get("/api/v1/venues?source=page&limit=5").get_json()
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["source"] == ["page"] and query["limit"] == ["5"] and query["cursor"]


def test_page_size_is_capped_by_configuration(client, app, monkeypatch, many):
    monkeypatch.setitem(app.config, "PASSERELLE_MAX_PAGE_SIZE", 7)
    body = client.get("/api/v1/venues?source=page&limit=1000").get_json()
    assert body["count"] == 7 and body["next"]
    assert client.get("/api/v1/venues?limit=0").status_code == 422


def test_bad_cursors_are_refused(client, many):
    assert client.get("/api/v1/venues?cursor=nimportequoi").status_code == 422
    first = client.get("/api/v1/venues?source=page&limit=2").get_json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    other_sort = client.get(f"/api/v1/venues?source=page&sort=updated_at&cursor={cursor}")
    assert other_sort.status_code == 422
    assert "autre recherche" in other_sort.get_json()["errors"]["cursor"][0]


# --------------------------------------------------------------------------- GeoJSON


@pytest.mark.parametrize("how", ["param", "header"])
def test_geojson_feature_collection_in_lon_lat(client, catalogue, how):
    if how == "param":
        response = client.get("/api/v1/venues?format=geojson&source=test")
    else:
        response = client.get("/api/v1/venues?source=test",
                              headers={"Accept": "application/geo+json"})
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    collection = response.get_json(force=True)
    assert collection["type"] == "FeatureCollection"
    features = {f["id"]: f for f in collection["features"]}
    assert set(features) == _expect(catalogue, "bordeaux", "merignac", "teste", "perigueux",
                                    "paris")
    for feature in features.values():
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert feature["properties"]["longitude"] == lon
    # RFC 7946: longitude first. Bordeaux is west of Greenwich, so lon < 0 < lat.
    bordeaux = features[catalogue["bordeaux"].id]["geometry"]["coordinates"]
    assert bordeaux == pytest.approx([-0.5792, 44.8378])
    paris = features[catalogue["paris"].id]["geometry"]["coordinates"]
    assert paris == pytest.approx([2.3522, 48.8566])
    # Valid GeoJSON as shapely reads it.
    from shapely.geometry import shape
    assert shape(features[catalogue["paris"].id]["geometry"]).x == pytest.approx(2.3522)


def test_plain_json_stays_the_default(client, catalogue):
    response = client.get("/api/v1/venues", headers={"Accept": "*/*"})
    assert response.mimetype == "application/json"
    response = client.get("/api/v1/venues?format=json",
                          headers={"Accept": "application/geo+json"})
    assert response.mimetype == "application/json"


# --------------------------------------------------------------------------- one venue


def test_unknown_venue_is_a_french_404(client, catalogue):
    for venue_id in (987654321, 10**20):
        response = client.get(f"/api/v1/venues/{venue_id}")
        assert response.status_code == 404
        assert response.get_json()["message"] == (
            f"Aucun lieu ne porte l'identifiant {venue_id}.")


def test_venue_detail_has_offers_sessions_and_programmes(client, db_session, catalogue):
    venue = catalogue["bordeaux"]
    offer = Offer(lieu_id=venue.id, code="tablette", title="Premiers pas avec une tablette",
                  service=OUTILS, level=1, format="collective", duration_minutes=120,
                  cheques_required=2, languages=["fr", "en"])
    gone = Offer(lieu_id=venue.id, code="ancien", title="Ancien atelier", service=OUTILS,
                 format="individual", active=False)
    db_session.add_all([offer, gone])
    db_session.flush()

    def at(day: int, month: int = 12, hour: int = 14) -> dt.datetime:
        return dt.datetime(2026, month, day, hour, tzinfo=PARIS)

    db_session.add_all([
        TrainingSession(offre_id=offer.id, starts_at=at(1), ends_at=at(1, hour=16),
                        seats=8, seats_taken=3),
        TrainingSession(offre_id=offer.id, starts_at=at(8), ends_at=at(8, hour=16),
                        seats=8, seats_taken=8),
        # Already past, and beyond 60 days: not shown.
        TrainingSession(offre_id=offer.id, starts_at=at(20, 11), ends_at=at(20, 11, 16),
                        seats=8),
        TrainingSession(offre_id=offer.id, starts_at=dt.datetime(2027, 2, 1, 14, tzinfo=PARIS),
                        ends_at=dt.datetime(2027, 2, 1, 16, tzinfo=PARIS), seats=8),
        TrainingSession(offre_id=gone.id, starts_at=at(2), ends_at=at(2, hour=16), seats=4),
    ])
    db_session.flush()

    body = client.get(f"/api/v1/venues/{venue.id}").get_json()
    assert body["nom"] == "Médiathèques de Bordeaux" and body["timezone"] == "Europe/Paris"
    assert [o["code"] for o in body["offers"]] == ["tablette"]
    tablet = body["offers"][0]
    assert tablet["cheques_required"] == 2 and tablet["level"] == 1
    assert tablet["level_label"] == "Découvrir"
    assert tablet["format"] == "collective" and tablet["format_label"] == "atelier collectif"
    assert tablet["languages"] == ["fr", "en"]
    sessions = body["sessions"]
    assert [s["starts_at"] for s in sessions] == ["2026-12-01T14:00:00+01:00",
                                                  "2026-12-08T14:00:00+01:00"]
    assert [s["free_seats"] for s in sessions] == [5, 0]
    assert sessions[0]["when"] == "mardi 1er décembre de 14 h à 16 h"
    [accepted] = body["accepted_programmes"]
    assert accepted["code"] == "pass-numerique-gironde"
    assert accepted["name"] == "Pass Numérique Gironde"
    assert accepted["services"] == [DEMARCHES] and accepted["all_services"] is False
    assert accepted["valid_from"] == "2026-01-01" and accepted["valid_to"] is None
    assert body["programmes"] == ["pass-numerique-gironde"]
    # The expired acceptance of Mérignac is not listed.
    other = client.get(f"/api/v1/venues/{catalogue['merignac'].id}").get_json()
    assert other["accepted_programmes"] == [] and other["programmes"] == []


def test_itinerant_stops_with_their_hours(client, db_session, catalogue):
    bus = make_venue(db_session, source_id="bus2", nom="Bus numérique",
                     itinerance=["Itinérant"])
    db_session.add_all([
        VenueStop(lieu_id=bus.id, position=2, label="Place de l'église",
                  geom=point(-0.64, 44.84), horaires="Th 14:00-17:00",
                  horaires_osm="Th 14:00-17:00"),
        VenueStop(lieu_id=bus.id, position=1, label="Marché", geom=point(-0.58, 44.83),
                  horaires="Tu 09:00-12:00", horaires_osm="Tu 09:00-12:00"),
    ])
    db_session.flush()
    body = client.get(f"/api/v1/venues/{bus.id}").get_json()
    assert [s["label"] for s in body["stops"]] == ["Marché", "Place de l'église"]
    church = body["stops"][1]
    assert (church["longitude"], church["latitude"]) == pytest.approx((-0.64, 44.84))
    assert church["today"] == "ouvert aujourd'hui de 14 h à 17 h"
    assert ("jeudi", "14 h – 17 h") in [(r["day"], r["hours"]) for r in church["week"]]
    assert body["open_now"] is None  # the bus itself has no hours


def test_open_now_and_hours_in_words(client, catalogue, clock):
    url = f"/api/v1/venues/{catalogue['bordeaux'].id}"
    body = client.get(url).get_json()
    assert body["open_now"] is True
    assert body["hours"]["today"] == "ouvert aujourd'hui de 9 h à 12 h et de 14 h à 17 h"
    assert body["next_opening"]["text"] == "ouvert en ce moment, jusqu'à 12 h"
    assert {"day": "samedi", "hours": "fermé"} in body["hours"]["week"]
    assert {"day": "lundi", "hours": "9 h – 12 h, 14 h – 17 h"} in body["hours"]["week"]

    clock.set(dt.datetime(2026, 11, 26, 12, 30, tzinfo=PARIS))
    body = client.get(url).get_json()
    assert body["open_now"] is False
    assert body["next_opening"]["at"] == "2026-11-26T14:00:00+01:00"
    assert body["next_opening"]["text"] == "prochaine ouverture : aujourd'hui à 14 h"


def test_christmas_is_closed_with_ph_off(client, catalogue, clock):
    # Friday 25 December 2026, 10:00: a weekday, but a public holiday.
    clock.set(dt.datetime(2026, 12, 25, 9, 0, tzinfo=dt.UTC))
    body = client.get(f"/api/v1/venues/{catalogue['bordeaux'].id}").get_json()
    assert body["open_now"] is False
    assert body["hours"]["today"] == "fermé aujourd'hui (jour férié)"
    assert body["next_opening"]["at"] == "2026-12-28T09:00:00+01:00"
    assert body["next_opening"]["text"] == "prochaine ouverture : lundi 28 décembre à 9 h"


def test_good_friday_is_a_holiday_in_moselle_only(client, db_session, clock):
    metz = make_venue(db_session, source_id="metz", nom="Espace numérique", commune="Metz",
                      code_insee="57463", code_postal="57000", geom=point(6.1757, 49.1193),
                      **_with_hours("Mo-Fr 09:00-12:00; PH off"))
    bordeaux = make_venue(db_session, source_id="bx", **_with_hours("Mo-Fr 09:00-12:00; PH off"))
    clock.set(dt.datetime(2026, 4, 3, 8, 0, tzinfo=dt.UTC))  # Good Friday, 10:00 in France
    there = client.get(f"/api/v1/venues/{metz.id}").get_json()
    assert there["open_now"] is False
    assert there["hours"]["today"] == "fermé aujourd'hui (jour férié)"
    assert there["next_opening"]["at"] == "2026-04-07T09:00:00+02:00"  # after Easter Monday
    here = client.get(f"/api/v1/venues/{bordeaux.id}").get_json()
    assert here["open_now"] is True


def test_reunion_venue_is_evaluated_in_its_own_time_zone(client, db_session, catalogue,
                                                         clock):
    reunion = make_venue(db_session, source_id="run", nom="Case numérique",
                         commune="Saint-Denis", code_insee="97411", code_postal="97400",
                         geom=point(55.4504, -20.8823), timezone="Indian/Reunion",
                         **_with_hours("Mo-Fr 09:00-12:00; PH off"))
    paris_hours = make_venue(db_session, source_id="pm", **_with_hours(
        "Mo-Fr 09:00-12:00; PH off"))
    # 06:00 UTC: 10:00 in La Réunion (UTC+4), 07:00 in Paris.
    clock.set(dt.datetime(2026, 11, 26, 6, 0, tzinfo=dt.UTC))
    there = client.get(f"/api/v1/venues/{reunion.id}").get_json()
    assert there["timezone"] == "Indian/Reunion"
    assert there["open_now"] is True
    assert there["next_opening"]["text"] == "ouvert en ce moment, jusqu'à 12 h"
    assert there["next_opening"]["at"] == "2026-11-26T10:00:00+04:00"
    here = client.get(f"/api/v1/venues/{paris_hours.id}").get_json()
    assert here["open_now"] is False
    assert here["next_opening"]["at"] == "2026-11-26T09:00:00+01:00"


def test_temporary_closure_overrides_the_hours(client, db_session, catalogue):
    venue = make_venue(db_session, source_id="travaux", status="temporarily_closed",
                       closed_from=dt.date(2026, 11, 1), closed_until=dt.date(2026, 11, 30),
                       **_with_hours(HOURS))
    body = client.get(f"/api/v1/venues/{venue.id}").get_json()
    assert body["open_now"] is False
    assert body["closure"] == "Fermé temporairement jusqu'au lundi 30 novembre inclus."
    assert body["next_opening"]["at"] == "2026-12-01T09:00:00+01:00"


def test_invalid_hours_are_shown_as_given(client, db_session, catalogue):
    venue = make_venue(db_session, source_id="libre", horaires="le matin sauf le jeudi")
    body = client.get(f"/api/v1/venues/{venue.id}").get_json()
    assert body["open_now"] is None and body["next_opening"] is None
    assert body["hours"] == {"valid": False, "osm": None, "raw": "le matin sauf le jeudi",
                             "today": None, "week": []}


# --------------------------------------------------------------------------- document


def test_routes_are_in_the_openapi_document(client):
    from openapi_spec_validator import validate

    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    assert "/api/v1/venues" in document["paths"]
    assert "/api/v1/venues/{venue_id}" in document["paths"]
    listing = document["paths"]["/api/v1/venues"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"bbox", "departement", "programme", "service", "public", "q", "modified_since",
            "status", "cursor", "limit", "format"} <= names
    content = listing["responses"]["200"]["content"]
    assert {"application/json", "application/geo+json"} <= set(content)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("query", [
    "q=%00", "source=%00", "q=le%20la%20les", "q=!!!%20%22%20-", "date=2026-13-01",
    "limit=99999999999999999999", "modified_since=0001-01-01T00:00:00-05:00",
    "modified_since=2026-01-01T00:00:00%2B25:00", "cursor=WyJpZCIsMS41XQ",
    "cursor=WyJyZWxldmFuY2UiLCJ4IiwxXQ", "bbox=1e400,0,1,1", "commune=%00",
    "programme=PASS-NUMERIQUE-GIRONDE", "service=", "limit=", "q=%F0%9F%98%80",
    "status=", "format=xml", "sort=relevance", "epci=12",
])
def test_odd_input_never_breaks_the_server(client, catalogue, query):
    response = client.get(f"/api/v1/venues?{query}")
    assert response.status_code in (200, 400, 422), response.get_json()
    if response.status_code == 422:
        assert response.get_json()["errors"]
    if response.status_code == 400:  # a NUL byte, refused before any schema (core)
        assert response.get_json()["message"] == NUL_MESSAGE


def test_random_query_strings_get_a_4xx_at_worst(client, catalogue):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    names = st.sampled_from(["bbox", "commune", "departement", "region", "epci", "programme",
                             "date", "service", "public", "q", "modified_since", "status",
                             "source", "sort", "cursor", "limit", "format", "zzz"])

    @settings(max_examples=150, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(names, st.text(max_size=30)), max_size=4))
    def check(pairs):
        response = client.get("/api/v1/venues", query_string=pairs)
        assert response.status_code in (200, 400, 422), (pairs, response.get_json())
        if response.status_code == 400:
            assert response.get_json()["message"] == NUL_MESSAGE

    check()
