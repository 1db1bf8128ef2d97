"""No dead ends: an answer without any venue offers one-click ways out (widen to the
distance of the nearest venue that fits, drop the day and time, see the remote help with
its phone number), each link followed here to a page that does list venues; outside the
pass's perimeter the page says « Ce pass n'est pas valable à <commune> » and names the
passes that are. Beneficiary words on /recherche, prescriber words on /orienter; the API
gives the same facts in structured form."""

from __future__ import annotations

import re
from html import unescape

import pytest
from flask import json

from matching.api import result_payload
from matching.question import slug
from matching.schemas import MatchResponseSchema, parse_question
from matching.services import match
from tests import conftest as cat
from tests.conftest import clock_at
from tests.matching.test_views import query, result_names, text_of
from tests.matching.world import DEMARCHES, LAT0, LON0, NOW, at

clock = clock_at(NOW)

# 7 km west of the venues: nothing within 5 km.
WEST_LON, WEST_LAT = at(-7)
WEST = {"where": "Ma position", "lat": f"{WEST_LAT:.5f}", "lon": f"{WEST_LON:.5f}"}
HERE = {"where": "Ma position", "lat": str(LAT0), "lon": str(LON0)}


@pytest.fixture
def town(db_session, clock):
    """A national pass accepted by A (1 km east of the origin, afternoons) and B (3 km
    north, mornings); C (500 m west, always open) does not accept it. R, 40 km away,
    gives help by phone (a remote offer)."""
    s = db_session
    prog = cat.programme(s, "pass-issue", "Pass Numérique Issue")
    v = {
        "a": cat.venue(s, *at(1), horaires="Tu-Sa 14:00-18:00", nom="Atelier Alpha",
                       services=[DEMARCHES]),
        "b": cat.venue(s, *at(0, 3), horaires="Mo-Fr 09:00-12:00", nom="Bibliothèque Bêta",
                       services=[DEMARCHES]),
        "c": cat.venue(s, *at(-0.5), horaires="Mo-Su 00:00-24:00", nom="Café Gamma",
                       services=[DEMARCHES]),
        "r": cat.venue(s, *at(40), horaires="Mo-Fr 09:00-17:00", nom="Réseau à distance",
                       services=[DEMARCHES], telephone=["+33556000042"],
                       site_web=["https://aide.example.org/numerique"]),
    }
    for key in "abr":
        cat.accept(s, v[key], prog)
    cat.offer(s, v["a"], DEMARCHES, title="Mes démarches en ligne")
    cat.offer(s, v["b"], DEMARCHES, title="Les papiers sur internet")
    cat.offer(s, v["r"], DEMARCHES, title="Démarches par téléphone", format="remote")
    return prog, v


def ways_out(response) -> dict[str, tuple[str, str]]:
    """kind -> (label, href) of the page's one-click ways out."""
    html = response.get_data(as_text=True)
    return {kind: (" ".join(unescape(re.sub(r"<[^>]+>", "", label)).split()), unescape(href))
            for href, kind, label in re.findall(
                r'<a class="button[^"]*" href="([^"]+)" data-way-out="([a-z_]+)">(.*?)</a>',
                html, flags=re.S)}


def follow(client, path: str, href: str):
    assert href.startswith("?"), href
    return client.get(path + href.split("#")[0])


def test_nothing_within_the_distance_widens_in_one_click(client, town):
    response = client.get("/recherche", query_string=query(
        **WEST, programme="pass-issue", services=slug(DEMARCHES), reach="5km"))
    assert response.status_code == 200
    assert result_names(response) == []
    ways = ways_out(response)
    assert ways["widen"][0] == "Chercher jusqu'à 10 km"
    widened = follow(client, "/recherche", ways["widen"][1])
    assert widened.status_code == 200
    assert set(result_names(widened)) == {"Atelier Alpha", "Bibliothèque Bêta"}
    # The rest of the search is kept: the pass, what to learn.
    assert "pass : Pass Numérique Issue" in text_of(widened)


def test_nothing_on_that_day_drops_the_day_in_one_click(client, town):
    response = client.get("/recherche", query_string=query(
        **HERE, programme="pass-issue", services=slug(DEMARCHES), days="dimanche",
        moments="matin", reach="5km"))
    assert result_names(response) == []
    label, href = ways_out(response)["when"]
    assert label == "Voir 2 lieux, quels que soient le jour et l'heure"
    assert "days=" not in href and "moments=" not in href
    assert set(result_names(follow(client, "/recherche", href))) == {
        "Atelier Alpha", "Bibliothèque Bêta"}


def test_remote_help_is_listed_with_its_phone_number_and_link(client, town):
    response = client.get("/recherche", query_string=query(
        **WEST, programme="pass-issue", services=slug(DEMARCHES), reach="5km"))
    html = response.get_data(as_text=True)
    assert ways_out(response)["remote"] == (
        "Voir l'aide à distance, sans se déplacer (1 offre)", "#a-distance")
    section = html[html.index('id="a-distance"'):]
    assert "Réseau à distance" in section and "Démarches par téléphone" in section
    assert 'href="tel:+33556000042"' in section
    assert "Appeler le 05 56 00 00 42" in text_of(response)
    assert 'href="https://aide.example.org/numerique"' in section


def test_beneficiary_and_prescriber_wording(client, town):
    fields = dict(programme="pass-issue", services=slug(DEMARCHES))
    beneficiary = text_of(client.get("/recherche", query_string=query(
        **WEST, **fields, reach="5km")))
    prescriber_response = client.get("/orienter", query_string=query(
        **WEST, **fields, max_km="5"))
    prescriber = text_of(prescriber_response)
    assert "la personne qui vous a donné le pass" in beneficiary
    assert "prescripteur" not in prescriber.lower()
    assert "prescripteur" not in beneficiary.lower()
    assert "Orientez" in prescriber or "Proposez l'aide à distance" in prescriber
    ways = ways_out(prescriber_response)
    assert ways["widen"][0] == "Élargir à 10 km"
    widened = follow(client, "/orienter", ways["widen"][1])
    assert widened.status_code == 200
    assert "2 lieux" in text_of(widened)


def test_with_nothing_anywhere_the_fallback_names_no_prescriber(client, db_session, clock):
    cat.programme(db_session, "pass-vide", "Pass Vide")
    response = client.get("/orienter", query_string=query(**HERE, programme="pass-vide"))
    text = text_of(response)
    assert "Aucun lieu ne correspond" in text
    assert "prescripteur" not in text.lower()


@pytest.fixture
def charente_pass(db_session, clock, geography):
    """A pass for Charente only, one for Gironde; Bordeaux is in Gironde."""
    s = db_session
    charente = cat.programme(s, "pass-charente-t", "Pass Numérique Charente",
                             perimeter_codes=("dep:16",))
    gironde = cat.programme(s, "pass-gironde-t", "Pass Numérique Gironde",
                            perimeter_codes=("dep:33",))
    venue = cat.venue(s, -0.5775, 44.8375, horaires="Mo-Fr 09:00-17:00",
                      nom="Médiathèque de Bordeaux", services=[DEMARCHES], code_insee="33063",
                      commune="Bordeaux")
    cat.accept(s, venue, gironde)
    cat.offer(s, venue, DEMARCHES, title="Mes démarches")
    return charente, gironde


def test_outside_the_perimeter_says_the_pass_is_not_valid_here(client, charente_pass):
    response = client.get("/recherche", query_string=query(
        where="Bordeaux (33000)", commune="33063", programme="pass-charente-t"))
    assert response.status_code == 200
    text = text_of(response)
    assert "Ce pass n'est pas valable à Bordeaux." in text
    assert re.search(r"Pass valables? à Bordeaux : .*Pass Numérique Gironde", text)
    assert "même en relâchant" not in text
    assert "Pass Numérique Charente" not in text.split("Pass valable")[1].split(".")[0]
    label, href = ways_out(response)["other_programme"]
    assert label == "Chercher avec le Pass Numérique Gironde"
    other = follow(client, "/recherche", href)
    assert result_names(other) == ["Médiathèque de Bordeaux"]
    assert "n'est pas valable" not in text_of(other)


def test_prescriber_outside_the_perimeter(client, charente_pass):
    response = client.get("/orienter", query_string=query(
        where="Bordeaux (33000)", commune="33063", programme="pass-charente-t"))
    text = text_of(response)
    assert "Ce pass n'est pas valable à Bordeaux." in text
    assert "Pass Numérique Gironde" in text
    assert "Ce pass n'est pas valable à Bordeaux." in unescape(
        re.search(r"<textarea[^>]*>(.*?)</textarea>", response.get_data(as_text=True),
                  flags=re.S).group(1))


def test_api_gives_the_perimeter_and_the_relaxations(client, charente_pass):
    body = client.get("/api/v1/match", query_string={
        "commune": "33063", "programme": "pass-charente-t"}).get_json()
    perimeter = body["perimeter"]
    assert perimeter["valid_here"] is False
    assert perimeter["commune_code"] == "33063" and perimeter["commune_name"] == "Bordeaux"
    codes = [p["code"] for p in perimeter["valid_programmes"]]
    assert "pass-gironde-t" in codes and "pass-charente-t" not in codes
    assert body["count"] == 0
    assert not any("même en relâchant" in h for h in body["hints"])
    inside = client.get("/api/v1/match", query_string={
        "commune": "33063", "programme": "pass-gironde-t"}).get_json()
    assert inside["perimeter"]["valid_here"] is True
    assert inside["count"] == 1 and inside["relaxations"] == []
    assert client.get("/api/v1/match", query_string={"commune": "33063"}).get_json()[
        "perimeter"] is None


def _statements_of(db_session, call):
    """(the SQL statements ``call()`` sent, its result)."""
    from sqlalchemy import event

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    connection = db_session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        return statements, call()
    finally:
        event.remove(connection, "before_cursor_execute", count)


def test_perimeter_at_a_point_in_one_round_trip(db_session, charente_pass):
    """Without a commune given, the commune of the point decides (Bordeaux, in Gironde); at
    sea there is none and the point itself does. The whole check is one statement."""

    from matching.question import Where
    from matching.services import (
        PerimeterCheck,
        ProgrammeName,
        load_programme,
        perimeter_at,
        resolve_place,
    )

    cat.programme(db_session, "pass-france-t", "Pass Numérique France")
    gironde = load_programme(db_session, "pass-gironde-t")
    bordeaux = resolve_place(db_session, Where(lat=44.8375, lon=-0.5775))
    sea = resolve_place(db_session, Where(lat=45.0, lon=-1.6))
    statements, here = _statements_of(
        db_session, lambda: perimeter_at(db_session, bordeaux, gironde, NOW.date()))
    assert len(statements) == 1
    france = ProgrammeName("pass-france-t", "Pass Numérique France")
    assert here == PerimeterCheck(True, "33063", "Bordeaux", [
        ProgrammeName("pass-gironde-t", "Pass Numérique Gironde"), france])
    assert perimeter_at(db_session, sea, gironde, NOW.date()) == PerimeterCheck(
        False, None, None, [france])


@pytest.mark.parametrize("programme", ["pass-gironde-t", "pass-charente-t", None])
def test_match_checks_the_pass_with_its_settings_in_its_first_statement(
        db_session, charente_pass, programme):
    """With a pass, the match's first statement loads it, checks its perimeter at the place
    (the same check as ``perimeter_at``) and applies the transaction's settings; without
    one, the settings alone. They hold for the rest of the match's transaction."""
    from sqlalchemy import text

    from matching.question import Question, Where
    from matching.services import load_programme, perimeter_at, resolve_place

    bordeaux = resolve_place(db_session, Where(lat=44.8375, lon=-0.5775))
    statements, result = _statements_of(db_session, lambda: match(
        Question(where=Where(lat=44.8375, lon=-0.5775), programme=programme),
        now=NOW, session=db_session, place=bordeaux))
    assert "set_config('jit', 'off', true)" in statements[0]
    assert ("programme" in statements[0]) == (programme is not None)
    assert db_session.execute(text(
        "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather'), "
        "current_setting('plan_cache_mode')")).one() == ("off", "0", "force_custom_plan")
    if programme is None:
        assert result.perimeter is None
        return
    assert not any("here AS" in s for s in statements[1:])  # no second perimeter check
    pass_ = load_programme(db_session, programme)
    assert result.programme == pass_
    assert result.perimeter == perimeter_at(db_session, bordeaux, pass_, NOW.date())
    assert result.perimeter.valid_here == (programme == "pass-gironde-t")


def test_api_relaxations_and_remote_contacts(client, town):
    body = client.get("/api/v1/match", query_string={
        "lat": WEST["lat"], "lon": WEST["lon"], "programme": "pass-issue",
        "max_distance_m": 5000}).get_json()
    assert body["count"] == 0
    far = next(r for r in body["relaxations"] if r["constraint"] == "distance")
    assert 6000 < far["nearest_m"] < 10000
    assert far["nearest_name"].startswith(("Atelier Alpha", "Bibliothèque Bêta"))
    assert far["text"] in body["hints"]
    remote = body["remote"][0]
    assert remote["venue_nom"] == "Réseau à distance"
    assert remote["telephone"] == ["+33556000042"]
    assert remote["site_web"] == ["https://aide.example.org/numerique"]


# --------------------------------------------------------------------------- memory

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def field_value(html: str, name: str) -> str | None:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


def selected_programme(html: str) -> str | None:
    found = re.search(r'<option value="([^"]*)" selected>', html)
    return found.group(1) if found else None


def test_place_and_pass_remembered_only_with_consent_and_forgotten(client, town, geography):
    search = dict(**HERE, programme="pass-issue", services=slug(DEMARCHES), remember_asked="1")
    # Without the box ticked: nothing kept.
    client.get("/recherche", query_string=query(**search))
    with client.session_transaction() as cookie:
        assert "search_memory" not in cookie
    assert field_value(client.get("/recherche").get_data(as_text=True), "where") == ""

    # Ticked: the place and the pass, nothing else (not what to learn, not when); the
    # device's position as its commune, not as the point.
    client.get("/recherche", query_string=query(**search, remember="1", days="mardi"))
    with client.session_transaction() as cookie:
        assert cookie["search_memory"] == {
            "where": "Bordeaux (33000)", "commune": "33063", "lat": "", "lon": "",
            "programme": "pass-issue", "programme_name": "Pass Numérique Issue"}
    html = client.get("/recherche").get_data(as_text=True)
    assert field_value(html, "where") == "Bordeaux (33000)"
    assert selected_programme(html) == "pass-issue"
    assert re.search(r'name="remember" value="1" checked', html)
    assert "Nous nous souvenons de votre commune et de votre pass" in text_of(
        client.get("/recherche"))
    assert 'name="days" value="mardi" checked' not in html
    # The home page asks no place again: it searches from the remembered one.
    home = client.get("/").get_data(as_text=True)
    assert "Près de : <strong>Bordeaux (33000)</strong>" in home
    assert field_value(home, "programme") == "pass-issue"

    # A one-click way out (a link) changes nothing in the memory.
    client.get("/recherche", query_string=query(**HERE, programme="pass-issue", reach="5km"))
    with client.session_transaction() as cookie:
        assert cookie["search_memory"]["programme"] == "pass-issue"

    # Forget: the button (a POST with its token), back to the search, nothing prefilled.
    token = CSRF.search(html).group(1)
    response = client.post("/recherche/oublier", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/recherche?oubli=1")
    after = client.get("/recherche?oubli=1")
    assert "C'est oublié" in text_of(after)
    assert field_value(after.get_data(as_text=True), "where") == ""
    with client.session_transaction() as cookie:
        assert "search_memory" not in cookie

    # Ticked again, then unticked on the next search: forgotten too.
    client.get("/recherche", query_string=query(**search, remember="1"))
    client.get("/recherche", query_string=query(**search))
    with client.session_transaction() as cookie:
        assert "search_memory" not in cookie


def test_forget_without_its_token_is_a_french_400(client, town):
    response = client.post("/recherche/oublier")
    assert response.status_code == 400
    assert "jeton de sécurité" in response.get_data(as_text=True)


@pytest.mark.parametrize("question", [
    # Results with slots and offers; then none within 5 km: relaxations and remote help;
    # days and hours; no pass (who pays); outside the pass's perimeter.
    {"programme": "pass-issue"},
    {"programme": "pass-issue", "max_distance_m": 5000, "west": True},
    {"programme": "pass-issue", "days": "samedi", "time_from": "14:00", "time_to": "17:00"},
    {},
    {"programme": "pass-charente-t", "bordeaux": True},
    {"programme": "pass-gironde-t", "bordeaux": True, "now": "true"},
])
def test_the_answer_sent_is_what_the_response_schema_dumps(client, db_session, clock, town,
                                                           charente_pass, question):
    """The API sends its answer without the schema's dump (matching.api.json_response): the
    JSON must be what MatchResponseSchema, its contract and documentation, would give —
    hostile links dropped too."""
    prog, _venues = town
    hostile = ["javascript:alert(1)", " JavaScript:alert(1)", "https://exemple.fr/ok"]
    for name, east, fmt in (("Lieu piégé", 0.2, "collective"), ("Aide piégée", 30, "remote")):
        venue = cat.venue(db_session, *at(east), nom=name, services=[DEMARCHES],
                          site_web=hostile, prise_rdv="javascript:alert(1)")
        cat.accept(db_session, venue, prog)
        cat.offer(db_session, venue, DEMARCHES, title=f"Offre de {name}", format=fmt)
    args = dict(question)
    if args.pop("west", False):
        lon, lat = at(-7)
    elif args.pop("bordeaux", False):
        lon, lat = -0.5792, 44.8378
    else:
        lon, lat = LON0, LAT0
    args.update(lat=f"{lat:.5f}", lon=f"{lon:.5f}")
    sent = client.get("/api/v1/match", query_string=args)
    assert sent.status_code == 200, sent.get_data(as_text=True)[:300]
    result = match(parse_question(args), now=clock.now(), limit=10, session=db_session)
    dumped = json.loads(json.dumps(MatchResponseSchema().dump(result_payload(result))))
    assert sent.get_json() == dumped
    assert sent.get_json()["count"] == len(dumped["results"])
    assert "javascript" not in sent.get_data(as_text=True).lower()
