"""Deny by default, proven on the route list: every route × every role × own/other object.

Reading or writing another structure's data is refused (403 or 404) and its content never
appears in the answer; a route without a rule is refused."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.journal import CLI
from accounts.models import AcceptanceRequest, VenueClaim
from core.access import public, rule_for
from tests import conftest as cat
from tests.accounts.conftest import make_person, sign_in

PERSONAS = ("anonymous", "nobody", "administrator", "programme_manager", "venue_manager",
            "prescriber", "planner")
DENIED = (401, 403, 404)
# URL arguments that designate an object belonging to someone: a route with a role rule
# and one of these must refuse another's object, whatever its declaration says.
OWNED = {"venue_id", "offer_id", "programme_id", "request_id", "claim_id", "source"}


@pytest.fixture
def world(app, db_session, clock):
    """Two structures' worlds: venue, offer, programme, request, claim, token each."""
    objects = {}
    for owner, lon in (("own", -0.57), ("other", -0.50)):
        programme = cat.programme(db_session, f"pass-{owner}", f"Pass {owner}")
        venue = cat.venue(db_session, lon, 44.84, nom=f"Lieu secret {owner}",
                          source=f"source-{owner}")
        cat.accept(db_session, venue, programme)
        offer = cat.offer(db_session, venue, "Aide aux démarches administratives")
        asking = cat.venue(db_session, lon, 44.85, nom=f"Lieu demandeur {owner}")
        request_row = AcceptanceRequest(lieu_id=asking.id, programme_id=programme.id,
                                        requested_at=clock.now())
        claimant = make_person(db_session, f"revendique-{owner}@lieu.fr")
        claim = VenueClaim(person_id=claimant.id, lieu_id=venue.id, created_at=clock.now())
        db_session.add_all([request_row, claim])
        db_session.flush()
        token, secret = services.create_api_token(db_session, f"jeton {owner}", "source",
                                                  f"source-{owner}", clock.now(), CLI)
        objects[owner] = {"venue_id": venue.id, "offer_id": offer.id,
                          "programme_id": programme.id, "request_id": request_row.id,
                          "claim_id": claim.id, "token_id": token.id, "secret": secret,
                          "source": f"source-{owner}", "code": programme.code,
                          "name": venue.nom}
    own = objects["own"]
    grants = {
        "nobody": [],
        "administrator": [("administrator", "")],
        "programme_manager": [("programme_manager", str(own["programme_id"]))],
        "venue_manager": [("venue_manager", str(own["venue_id"]))],
        "prescriber": [("prescriber", "CCAS de Bordeaux")],
        "planner": [("planner", "dep:33")],
    }
    clients = {"anonymous": app.test_client()}
    for persona, roles in grants.items():
        make_person(db_session, f"{persona}@test.fr", *roles)
        clients[persona] = app.test_client()
        sign_in(clients[persona], f"{persona}@test.fr")
    return objects, clients


def _url(rule, objects: dict) -> str:
    values = {}
    for name in rule.arguments:
        if name in objects:
            values[name] = objects[name]
        elif name == "level":
            values[name] = "commune"
        elif name == "filename":
            values[name] = "css/site.css"
        elif name == "token":
            values[name] = "jeton-inconnu"
        else:
            values[name] = objects["venue_id"]
    return rule.build(values, append_unknown=False)[1]


def _expected(rule_kind, roles, owned, persona, owner) -> bool:
    """True when ``persona`` may use the route on ``owner``'s object (``owned``: the URL
    names an object that belongs to someone)."""
    if rule_kind == "public":
        return True
    if rule_kind == "token" or persona == "anonymous":
        return False
    if rule_kind == "signed_in" or persona == "administrator":
        return True
    return persona in roles and (not owned or owner == "own")


def test_every_route_declares_a_rule(app):
    missing = [r.endpoint for r in app.url_map.iter_rules() if rule_for(app, r.endpoint) is None]
    assert missing == []


def test_a_route_without_a_rule_is_refused(app):
    from app import create_app

    fresh = create_app({"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True})

    @fresh.get("/sans-regle")
    def no_rule():
        return "secret"

    @fresh.get("/avec-regle")
    @public
    def with_rule():
        return "ouvert"

    client = fresh.test_client()
    refused = client.get("/sans-regle")
    assert refused.status_code == 403
    assert "secret" not in refused.get_data(as_text=True)
    assert "pas de règle d" in refused.get_data(as_text=True)
    assert client.get("/avec-regle").status_code == 200


def test_permission_matrix_of_every_route(app, world, capsys):
    objects, clients = world
    checked = 0
    failures = []
    routes = [r for r in app.url_map.iter_rules()]
    for rule in routes:
        access = rule_for(app, rule.endpoint)
        owners = ("own", "other") if rule.arguments - {"filename", "level"} else ("own",)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for persona in PERSONAS:
            for owner in owners:
                url = _url(rule, objects[owner])
                headers = {}
                if access.kind == "token" and persona == "administrator":
                    # A machine with its token: own source allowed, other's refused.
                    headers = {"Authorization": f"Bearer {objects['own']['secret']}"}
                for method in methods:
                    # The API reads JSON bodies (others are refused 415 before any rule).
                    body = {"json": {}} if url.startswith("/api/") and method != "GET" else {}
                    response = clients[persona].open(url, method=method, headers=headers,
                                                     **body)
                    status = response.status_code
                    body = response.get_data(as_text=True)
                    response.close()
                    to_login = status == 302 and "/connexion" in response.headers.get(
                        "Location", "")
                    allowed = _expected(access.kind, access.roles,
                                        bool(rule.arguments & OWNED), persona, owner)
                    if access.kind == "token" and headers:
                        allowed = owner == "own"
                    checked += 1
                    if status >= 500 and status != 503:  # 503: a dependency is down (/sante)
                        failures.append((method, url, persona, owner, status, "erreur 500"))
                    elif allowed and (status in (401, 403) or to_login):
                        failures.append((method, url, persona, owner, status, "refusé à tort"))
                    elif not allowed:
                        if not (status in DENIED or to_login):
                            failures.append((method, url, persona, owner, status,
                                             "accordé à tort"))
                        elif owner == "other" and objects["other"]["name"] in body:
                            failures.append((method, url, persona, owner, status, "fuite"))
    assert failures == [], failures[:20]
    with capsys.disabled():
        print(f"\nmatrice des droits : {len(routes)} routes × {len(PERSONAS)} profils × "
              f"propriétaire/autre = {checked} requêtes vérifiées")
    assert checked > len(routes) * len(PERSONAS)


def test_pages_of_another_venue_are_refused_even_with_a_valid_csrf_token(app, world):
    from tests.accounts.conftest import csrf_token

    objects, clients = world
    manager = clients["venue_manager"]
    other = objects["other"]["venue_id"]
    token = csrf_token(manager, f"/espace/lieux/{objects['own']['venue_id']}/horaires")
    for path, data in ((f"/espace/lieux/{other}/horaires",
                        {"horaires": "Mo 09:00-12:00", "action": "enregistrer"}),
                       (f"/espace/lieux/{other}/confirmer", {}),
                       (f"/espace/lieux/{other}/offres/{objects['other']['offer_id']}",
                        {"titre": "pirate"})):
        response = manager.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403
    # An offer of another venue reached through one's own venue is not found.
    mixed = manager.get(f"/espace/lieux/{objects['own']['venue_id']}/offres/"
                        f"{objects['other']['offer_id']}")
    assert mixed.status_code == 404


def test_unknown_roles_and_scopes_are_refused_in_french(db_session, clock):
    person = make_person(db_session, "x@test.fr")
    with pytest.raises(services.InvalidInput) as exc:
        services.grant(db_session, person, "venue_manager", "999999999")
    assert "Lieu « 999999999 » introuvable." in exc.value.errors["role"]
    with pytest.raises(services.InvalidInput):
        services.grant(db_session, person, "superuser", "")
    with pytest.raises(services.InvalidInput):
        services.grant(db_session, person, "administrator", "tout")
