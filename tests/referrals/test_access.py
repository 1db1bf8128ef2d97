"""The permission matrix on the referral routes with real referrals: every route × the
accounts' seven profiles × own/other referral (and venue); another structure's referral
never shows in an answer."""

from __future__ import annotations

import datetime as dt

from core.access import rule_for
from directory.models import TrainingSession
from tests import conftest as cat
from tests.accounts.conftest import make_person, sign_in
from tests.accounts.test_permissions import DENIED, PERSONAS, _expected
from tests.referrals.conftest import World, refer


def test_referral_routes_against_every_profile(app, db_session, clock, geography):
    programme = cat.programme(db_session, "pass-matrice", "Pass matrice")
    objects, names = {}, {}
    for owner, structure in (("own", "CCAS de Bordeaux"), ("other", "Mission locale")):
        venue = cat.venue(db_session, -0.57, 44.84, nom=f"Lieu {owner}", code_insee="33063")
        offer = cat.offer(db_session, venue, "Aide aux démarches administratives")
        seance = TrainingSession(offre_id=offer.id, starts_at=clock.now() + dt.timedelta(days=2),
                                 ends_at=clock.now() + dt.timedelta(days=2, hours=1), seats=3)
        db_session.add(seance)
        db_session.flush()
        author = make_person(db_session, f"auteur-{owner}@test.fr", ("prescriber", structure))
        world = World(venue, offer, seance, programme, author, None, None, None)
        referral = refer(db_session, world, clock.now(), first_name=f"Secret{owner}",
                         structure=structure)
        objects[owner] = {"venue_id": venue.id, "referral_id": referral.id,
                          "token": "1.x.y"}
        names[owner] = f"Secret{owner}"
    grants = {"nobody": [], "administrator": [("administrator", "")],
              "programme_manager": [("programme_manager", str(programme.id))],
              "venue_manager": [("venue_manager", str(objects["own"]["venue_id"]))],
              "prescriber": [("prescriber", "CCAS de Bordeaux")],
              "planner": [("planner", "dep:33")]}
    clients = {"anonymous": app.test_client()}
    for persona, roles in grants.items():
        make_person(db_session, f"{persona}@matrice.fr", *roles)
        clients[persona] = app.test_client()
        sign_in(clients[persona], f"{persona}@matrice.fr")
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(
        ("referrals.", "stats."))]
    assert len(routes) >= 10
    failures, checked = [], 0
    for rule in routes:
        access = rule_for(app, rule.endpoint)
        owners = ("own", "other") if rule.arguments else ("own",)
        for persona in PERSONAS:
            for owner in owners:
                url = rule.build(objects[owner], append_unknown=False)[1]
                if rule.endpoint == "referrals.new":
                    url += f"?lieu={objects['own']['venue_id']}"
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    response = clients[persona].open(url, method=method)
                    status, body = response.status_code, response.get_data(as_text=True)
                    to_login = status == 302 and "/connexion" in response.headers.get(
                        "Location", "")
                    allowed = _expected(access.kind, access.roles, access.scope is not None,
                                        persona, owner)
                    checked += 1
                    if status >= 500:
                        failures.append((method, url, persona, owner, status, "erreur 500"))
                    elif allowed and (status in (401, 403) or to_login):
                        failures.append((method, url, persona, owner, status, "refusé à tort"))
                    elif not allowed and not (status in DENIED or to_login):
                        failures.append((method, url, persona, owner, status, "accordé à tort"))
                    if not allowed and names["other"] in body:
                        failures.append((method, url, persona, owner, status, "fuite"))
    assert failures == [], failures[:20]
    assert checked > len(routes) * len(PERSONAS)


def test_spaces_link_to_the_referral_pages(app, db_session, clock, geography):
    venue = cat.venue(db_session, -0.57, 44.84, nom="Lieu lié", code_insee="33063")
    make_person(db_session, "p@lien.fr", ("prescriber", "CCAS"),
                ("venue_manager", str(venue.id)))
    client = app.test_client()
    sign_in(client, "p@lien.fr")
    home = client.get("/espace").get_data(as_text=True)
    assert 'href="/orienter/suivi"' in home and 'href="/orienter/groupe"' in home
    assert "/statistiques/orientations" not in home
    venue_page = client.get(f"/espace/lieux/{venue.id}").get_data(as_text=True)
    assert f'href="/espace/lieux/{venue.id}/orientations"' in venue_page
