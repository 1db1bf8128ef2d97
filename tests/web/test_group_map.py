"""Groups on a map in Chromium: the prescriber uploads a pseudonymous list, sees each
person's approximate place linked to the assigned venue and the venues with their count,
moves a person to the other venue (map, list and table follow), then sends one referral
per person in one action; axe-core finds no serious violation."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accounts.models import Person
from directory.models import Venue
from extensions import db
from referrals.models import Referral
from tests import conftest as cat
from tests.accounts.conftest import make_person
from tests.web.conftest import serious_violations
from tests.web.test_accounts_pages import _sign_in

pytestmark = pytest.mark.browser

# Two people near the first venue, one near the second, one far from both (Ajaccio, 1 km).
GROUP_CSV = ("id,lat,lon,max_distance_m\n"
             "G-1,44.8412,-0.5703,\n"
             "G-2,44.8405,-0.5712,\n"
             "G-3,44.8601,-0.5502,\n"
             "G-4,41.9192,8.7386,1000\n")


@pytest.fixture
def group_world(app, geography):
    """Committed (the live server sees committed data only); deleted afterwards."""
    email = f"groupe-{uuid.uuid4().hex[:8]}@ccas.fr"
    with app.app_context():
        session = Session(db.engine)
        first = cat.venue(session, -0.5705, 44.8410, nom="Médiathèque du groupe",
                          code_insee="33063", source="groupe", source_id=uuid.uuid4().hex,
                          courriels=["accueil@groupe-a.fr"])
        second = cat.venue(session, -0.5500, 44.8600, nom="Espace numérique du nord",
                           code_insee="33063", source="groupe", source_id=uuid.uuid4().hex,
                           courriels=["accueil@groupe-b.fr"])
        for venue in (first, second):
            cat.offer(session, venue, "Aide aux démarches administratives")
        make_person(session, email, ("prescriber", "CCAS du groupe"))
        session.commit()
        ids = (first.id, second.id)
    try:
        yield email, ids
    finally:
        with app.app_context(), Session(db.engine) as session:
            session.execute(delete(Referral).where(Referral.lieu_id.in_(ids)))
            session.execute(delete(Venue).where(Venue.id.in_(ids)))  # cascades
            session.execute(delete(Person).where(Person.email == email))
            session.commit()


def test_group_map_adjust_then_send(app, page, group_world, smtp):
    email, (first_id, second_id) = group_world
    _sign_in(page, email)
    page.goto(f"{page.base_url}/orienter/groupe")
    page.set_input_files("#fichier", files=[{"name": "groupe.csv", "mimeType": "text/csv",
                                             "buffer": GROUP_CSV.encode()}])
    page.get_by_role("button", name="Affecter le groupe").click()
    expect(page.get_by_text("3 personne(s) placée(s), 1 sans place")).to_be_visible()

    # The map: three people linked to their venue, two venues with their count.
    expect(page.locator("#carte-groupe.group-map--active")).to_be_visible()
    expect(page.locator("path.group-person")).to_have_count(3)
    expect(page.locator("path.group-link")).to_have_count(3)
    first = page.locator(f'.group-venue[data-venue="{first_id}"]')
    second = page.locator(f'.group-venue[data-venue="{second_id}"]')
    expect(first).to_have_text("2")
    expect(second).to_have_text("1")
    expect(first).to_have_attribute("title", "Médiathèque du groupe, Bordeaux : 2 personne(s)")
    expect(page.locator("#groupe-sans-place")).to_contain_text("G-4")
    # No personal data and no exact place: the people's dots are rounded to 0.01°.
    people = page.locator("#carte-groupe").get_attribute("data-people")
    assert "44.84," in people and "44.8412" not in people
    assert serious_violations(page) == []

    # G-2 goes to the other venue: the line, the counts and the list follow.
    row = page.locator("#groupe-tableau tbody tr", has_text="G-2")
    index = row.get_attribute("data-person")
    page.get_by_label("Lieu de G-2").select_option(str(second_id))
    expect(first).to_have_text("1")
    expect(second).to_have_text("2")
    expect(page.locator(f'path.group-link[data-person="{index}"]')).to_have_attribute(
        "data-venue", str(second_id))
    expect(page.locator(f'#groupe-lieux li[data-venue="{second_id}"]')).to_contain_text(
        "2 personne(s)")
    assert serious_violations(page) == []

    # « Envoyer les orientations »: one referral per person, in one action.
    page.get_by_label("Chèques prévus par personne").fill("0")
    page.get_by_label("Chaque personne du groupe a donné son accord.").check()
    page.get_by_role("button", name="Envoyer les orientations").click()
    page.wait_for_url(re.compile(r".*/orienter/suivi$"))
    expect(page.get_by_text("3 orientation(s) envoyée(s).")).to_be_visible()
    with app.app_context(), Session(db.engine) as session:
        sent = dict(session.execute(select(Referral.first_name, Referral.lieu_id)
                                    .where(Referral.lieu_id.in_((first_id, second_id)))).all())
    assert sent == {"G-1": first_id, "G-2": second_id, "G-3": second_id}
    assert len(smtp.to("accueil@groupe-a.fr")) == 1
    assert len(smtp.to("accueil@groupe-b.fr")) == 2
