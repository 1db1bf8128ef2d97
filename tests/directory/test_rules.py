"""The catalogue's rules: each SQL form (evaluated by PostGIS on real rows) agrees with its
Python twin over every combination of its inputs, and the rule itself says what the domain
says (a venue ``open`` with a closure period in progress is closed)."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from directory import rules
from directory.models import Acceptance, Offer, Programme, Venue
from directory.vocabulary import SERVICES
from tests.conftest import make_venue, point, square

DAY = dt.date(2026, 6, 15)
STATUSES = ("open", "temporarily_closed", "closed")
# A bound missing, or before, on or after the day.
BOUNDS = (None, -1, 0, 1)


def _at(offset: int | None, day: dt.date = DAY) -> dt.date | None:
    return None if offset is None else day + dt.timedelta(days=offset)


def _closures():
    """Every (status, closed_from, closed_until) the database allows, around DAY."""
    for status, start, end in itertools.product(STATUSES, BOUNDS, BOUNDS):
        if start is not None and end is not None and end < start:
            continue  # CHECK closure_dates_ordered
        yield status, _at(start), _at(end)


def _open_in_sql(session, ids: list[int], day: dt.date) -> dict[int, bool]:
    return dict(session.execute(select(Venue.id, rules.open_on_sql(day))
                                .where(Venue.id.in_(ids))).all())


def test_open_on_sql_and_python_agree_on_every_closure(db_session):
    venues = [make_venue(db_session, status=status, closed_from=start, closed_until=end)
              for status, start, end in _closures()]
    assert len(venues) == 3 * 13
    for day in (DAY - dt.timedelta(days=2), DAY, DAY + dt.timedelta(days=2)):
        in_sql = _open_in_sql(db_session, [v.id for v in venues], day)
        rows = {r.id: r for r in db_session.execute(
            select(Venue.id, Venue.status, Venue.closed_from, Venue.closed_until)
            .where(Venue.id.in_([v.id for v in venues]))).mappings()}
        for v in venues:
            assert in_sql[v.id] is rules.open_on(v, day), (v.status, v.closed_from,
                                                           v.closed_until, day)
            assert rules.open_on(rows[v.id], day) is in_sql[v.id]


def test_open_on_says_what_the_domain_says():
    def venue(status, start=None, end=None):
        return {"status": status, "closed_from": _at(start), "closed_until": _at(end)}

    assert rules.open_on(venue("open"), DAY)
    assert not rules.open_on(venue("closed"), DAY)
    assert not rules.open_on(venue("closed", 5, 9), DAY)
    # temporarily closed until further notice, or inside its dates
    assert not rules.open_on(venue("temporarily_closed"), DAY)
    assert not rules.open_on(venue("temporarily_closed", -3, 3), DAY)
    assert not rules.open_on(venue("temporarily_closed", 0, 0), DAY)
    assert rules.open_on(venue("temporarily_closed", 1, 9), DAY)
    assert rules.open_on(venue("temporarily_closed", -9, -1), DAY)
    # "open" with a closure period: the dates win, either bound may be missing
    assert not rules.open_on(venue("open", None, 30), DAY)
    assert not rules.open_on(venue("open", -30, None), DAY)
    assert rules.open_on(venue("open", None, -1), DAY)
    assert rules.open_on(venue("open", 1, None), DAY)


# --------------------------------------------------------------------------- accepts

offsets = st.one_of(st.none(), st.integers(-3, 3))


@st.composite
def acceptance_cases(draw):
    """(acceptance valid_from, valid_to, revoked, programme valid_from, valid_to), as day
    offsets, within the database's CHECKs."""
    a_from = draw(st.integers(-3, 3))
    a_to = draw(offsets)
    if a_to is not None and a_to < a_from - 1:
        a_to = a_from - 1  # a revocation before the start: never valid
    revoked = draw(st.booleans())
    p_from = draw(st.integers(-3, 3))
    p_to = draw(offsets)
    if p_to is not None and p_to < p_from:
        p_to = p_from
    return a_from, a_to, revoked, p_from, p_to


_programmes = itertools.count(1)


def _programme(session, p_from, p_to, **fields) -> Programme:
    values = {"code": f"regle-{next(_programmes)}", "name": "Pass des règles",
              "perimeter_codes": ["fr"], "valid_from": _at(p_from),
              "valid_to": _at(p_to)}
    values.update(fields)
    programme = Programme(**values)
    session.add(programme)
    session.flush()
    return programme


def _accepts_in_sql(session, acceptance_ids: list[int], day: dt.date) -> dict[int, bool]:
    return dict(session.execute(
        select(Acceptance.id, rules.accepts_sql(day))
        .join(Programme, Programme.id == Acceptance.programme_id)
        .where(Acceptance.id.in_(acceptance_ids))).all())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(acceptance_cases(), min_size=1, max_size=12),
       day_offset=st.integers(-4, 4))
def test_accepts_sql_and_python_agree(db_session, cases, day_offset):
    day = _at(day_offset)
    nested = db_session.begin_nested()
    try:
        venue = make_venue(db_session)
        made = []
        for a_from, a_to, revoked, p_from, p_to in cases:
            programme = _programme(db_session, p_from, p_to)
            acceptance = Acceptance(
                lieu_id=venue.id, programme_id=programme.id, valid_from=_at(a_from),
                valid_to=_at(a_to), services=[],
                revoked_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC) if revoked else None)
            db_session.add(acceptance)
            db_session.flush()
            made.append((acceptance, programme))
        in_sql = _accepts_in_sql(db_session, [a.id for a, _ in made], day)
        for acceptance, programme in made:
            assert in_sql[acceptance.id] is rules.accepts(acceptance, programme, day,
                                                          check_place=False)
    finally:
        nested.rollback()


def test_accepts_every_combination_of_dates_and_revocation(db_session):
    venue = make_venue(db_session)
    made = []
    for a_from, a_to, revoked, p_from, p_to in itertools.product(
            (-1, 0, 1), (None, -2, -1, 0, 1), (False, True), (-1, 0, 1), (None, -1, 0, 1)):
        if a_to is not None and a_to < a_from - 1 or p_to is not None and p_to < p_from:
            continue
        programme = _programme(db_session, p_from, p_to)
        acceptance = Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                valid_from=_at(a_from), valid_to=_at(a_to), services=[],
                                revoked_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
                                if revoked else None)
        db_session.add(acceptance)
        made.append((acceptance, programme))
    db_session.flush()
    in_sql = _accepts_in_sql(db_session, [a.id for a, _ in made], DAY)
    for acceptance, programme in made:
        assert in_sql[acceptance.id] is rules.accepts(acceptance, programme, DAY,
                                                      check_place=False)
    # The rule itself: a revocation ends the acceptance the day before it takes effect; a
    # revoked row without an end accepts nothing; both dated periods must hold the day.
    by_dates = {(a.valid_from, a.valid_to, a.revoked_at is not None, p.valid_from,
                 p.valid_to): in_sql[a.id] for a, p in made}
    assert by_dates[(_at(0), None, False, _at(0), None)]
    assert not by_dates[(_at(0), None, True, _at(0), None)]
    assert by_dates[(_at(-1), _at(0), True, _at(-1), None)]
    assert not by_dates[(_at(0), _at(-1), True, _at(-1), None)]
    assert not by_dates[(_at(1), None, False, _at(-1), None)]
    assert not by_dates[(_at(-1), None, False, _at(-1), _at(-1))]


def test_perimeter_sql_and_python_agree(db_session):
    """National, by the declared commune (which wins over the point), by the point when no
    commune is declared, and a place with neither."""
    regional = _programme(db_session, -10, None, perimeter_codes=["dep:990"],
                          perimeter=square(-1.0, 44.5, 0.0, 45.0),
                          perimeter_communes=["99001"])
    national = _programme(db_session, -10, None)
    places = [("99001", (-0.57, 44.83)), ("99001", (5.0, 45.0)), ("99201", (-0.57, 44.83)),
              (None, (-0.57, 44.83)), (None, (5.0, 45.0))]
    venues = [make_venue(db_session, code_insee=code, geom=point(*lon_lat))
              for code, lon_lat in places]
    for programme in (regional, national):
        acceptances = []
        for venue in venues:
            acceptance = Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                    valid_from=_at(-1), services=[])
            db_session.add(acceptance)
            acceptances.append(acceptance)
        db_session.flush()
        in_sql = dict(db_session.execute(
            select(Acceptance.id, rules.accepts_sql(DAY, code_insee=Venue.code_insee,
                                                    geom=Venue.geom))
            .join(Programme, Programme.id == Acceptance.programme_id)
            .join(Venue, Venue.id == Acceptance.lieu_id)
            .where(Acceptance.id.in_([a.id for a in acceptances]))).all())
        db_session.refresh(programme)
        got = [rules.accepts(a, programme, DAY, code_insee=code, lon_lat=lon_lat)
               for a, (code, lon_lat) in zip(acceptances, places, strict=True)]
        assert [in_sql[a.id] for a in acceptances] == got
        expected = [True] * 5 if programme is national else [True, True, False, True, False]
        assert got == expected


# --------------------------------------------------------------------------- covers

@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(allowed=st.lists(st.sampled_from(SERVICES[:3]), max_size=2, unique=True),
       covered=st.lists(st.sampled_from(SERVICES[:3]), max_size=2, unique=True),
       levels=st.lists(st.integers(1, 3), max_size=3, unique=True),
       eligible=st.lists(st.sampled_from(("seniors", "jeunes")), max_size=2, unique=True),
       offers=st.lists(st.tuples(st.sampled_from(SERVICES[:3]),
                                 st.one_of(st.none(), st.integers(1, 3)),
                                 st.lists(st.sampled_from(("seniors", "jeunes", "familles")),
                                          max_size=2, unique=True)),
                       min_size=1, max_size=6))
def test_covers_sql_and_python_agree(db_session, allowed, covered, levels, eligible, offers):
    nested = db_session.begin_nested()
    try:
        venue = make_venue(db_session)
        programme = _programme(db_session, -1, None, allowed_services=allowed, levels=levels,
                               eligible_publics=eligible)
        acceptance = Acceptance(lieu_id=venue.id, programme_id=programme.id,
                                valid_from=_at(-1), services=covered)
        db_session.add(acceptance)
        made = []
        for i, (service, level, publics) in enumerate(offers):
            offer = Offer(lieu_id=venue.id, code=f"o{i}", title="Atelier", service=service,
                          level=level, format="individual", publics=publics)
            db_session.add(offer)
            made.append(offer)
        db_session.flush()
        in_sql = dict(db_session.execute(
            select(Offer.id, rules.covers_sql())
            .join(Acceptance, Acceptance.lieu_id == Offer.lieu_id)
            .join(Programme, Programme.id == Acceptance.programme_id)
            .where(Offer.lieu_id == venue.id, Programme.id == programme.id)).all())
        for offer in made:
            expected = ((not allowed or offer.service in allowed)
                        and (not covered or offer.service in covered)
                        and (offer.level is None or not levels or offer.level in levels)
                        and (not eligible or not offer.publics
                             or bool(set(eligible) & set(offer.publics))))
            assert rules.covers(programme, acceptance, offer) is expected
            assert in_sql[offer.id] is expected
    finally:
        nested.rollback()


def test_covers_service_needs_an_acceptance():
    programme = {"allowed_services": []}
    assert not rules.covers_service(programme, None, SERVICES[0])
    assert rules.covers_service(programme, {"services": []}, SERVICES[0])


def test_offers_service_sql_and_python_agree(db_session):
    """Declared in ``services``, through an active offer, not through an inactive one."""
    declared, by_offer, inactive = SERVICES[0], SERVICES[1], SERVICES[2]
    venues = [make_venue(db_session, services=[declared]), make_venue(db_session, services=[])]
    for venue in venues:
        db_session.add_all([
            Offer(lieu_id=venue.id, code="actif", title="Atelier", service=by_offer,
                  format="individual"),
            Offer(lieu_id=venue.id, code="inactif", title="Atelier", service=inactive,
                  format="individual", active=False)])
    db_session.flush()
    for venue in venues:
        db_session.refresh(venue)
    for service in SERVICES[:4]:
        for per_row in (False, True):
            in_sql = dict(db_session.execute(
                select(Venue.id, rules.offers_service_sql(service, per_row=per_row))
                .where(Venue.id.in_([v.id for v in venues]))).all())
            for venue in venues:
                assert in_sql[venue.id] is rules.offers_service(venue, service), (service,
                                                                                 venue.services)
    assert rules.offers_service(venues[0], declared)
    assert not rules.offers_service(venues[1], declared)
    assert rules.offers_service(venues[1], by_offer)
    assert not rules.offers_service(venues[1], inactive)


# --------------------------------------------------------------------------- offers a topic

SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"
COMPUTER = "numerique--prendre-en-main-un-ordinateur"
HEALTH = "numerique--accompagner-les-demarches-de-sante"
MAITRISE, DEMARCHES = SERVICES[1], SERVICES[0]


def test_offers_topic_needs_an_offer_on_it_not_the_venue_services(db_session):
    """The broad v1.0.2 ``services`` of a venue answer no topic; an inactive offer neither."""
    broad = make_venue(db_session, services=[MAITRISE])
    db_session.add(Offer(lieu_id=broad.id, code="demarches", title="Démarches en ligne",
                         service=DEMARCHES, format="individual", topics=[HEALTH]))
    sleeping = make_venue(db_session, services=[])
    db_session.add(Offer(lieu_id=sleeping.id, code="smartphone", title="Smartphone",
                         service=MAITRISE, format="collective", topics=[SMARTPHONE],
                         active=False))
    db_session.flush()
    for venue in (broad, sleeping):
        db_session.refresh(venue)
    assert not rules.offers_topic(broad, [SMARTPHONE])
    assert rules.offers_topic(broad, [SMARTPHONE, HEALTH])
    assert not rules.offers_topic(sleeping, [SMARTPHONE])
    in_sql = dict(db_session.execute(select(Venue.id, rules.offers_topic_sql([SMARTPHONE]))
                                     .where(Venue.id.in_([broad.id, sleeping.id]))).all())
    assert in_sql == {broad.id: False, sleeping.id: False}


def _accepted_with_offers(session, venue, programme, covered, offers) -> Acceptance:
    """The programme accepted by the venue for the services ``covered``, and the venue's
    ``offers`` (((service, topic), level, active) each); the venue refreshed."""
    acceptance = Acceptance(lieu_id=venue.id, programme_id=programme.id, valid_from=_at(-1),
                            services=covered)
    session.add(acceptance)
    for i, ((service, topic), level, active) in enumerate(offers):
        session.add(Offer(lieu_id=venue.id, code=f"o{i}", title="Atelier", service=service,
                          topics=[topic], level=level, format="collective", active=active))
    session.flush()
    session.refresh(venue)
    return acceptance


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(levels=st.lists(st.integers(1, 3), max_size=2, unique=True),
       covered=st.lists(st.sampled_from((MAITRISE, DEMARCHES)), max_size=1, unique=True),
       asked=st.lists(st.sampled_from((SMARTPHONE, COMPUTER, HEALTH)), min_size=1, max_size=2,
                      unique=True),
       offers=st.lists(st.tuples(st.sampled_from(((MAITRISE, SMARTPHONE), (MAITRISE, COMPUTER),
                                                  (DEMARCHES, HEALTH))),
                                 st.one_of(st.none(), st.integers(1, 3)), st.booleans()),
                       max_size=4))
def test_offers_topic_sql_and_python_agree(db_session, levels, covered, asked, offers):
    """With and without a programme (then the offer must be one it pays for), per row or
    set-wide: the SQL form and its Python twin give the same answer."""
    nested = db_session.begin_nested()
    try:
        venue = make_venue(db_session, services=[MAITRISE, DEMARCHES])
        programme = _programme(db_session, -1, None, levels=levels)
        acceptance = _accepted_with_offers(db_session, venue, programme, covered, offers)
        for per_row in (False, True):
            plain = db_session.scalar(select(rules.offers_topic_sql(asked, per_row=per_row))
                                      .where(Venue.id == venue.id))
            assert plain is rules.offers_topic(venue, asked)
            paid = db_session.scalar(
                select(rules.offers_topic_sql(asked, programme=Programme, acceptance=Acceptance,
                                              per_row=per_row))
                .select_from(Venue).join(Acceptance, Acceptance.lieu_id == Venue.id)
                .join(Programme, Programme.id == Acceptance.programme_id)
                .where(Venue.id == venue.id))
            assert paid is rules.offers_topic(venue, asked, programme=programme,
                                              acceptance=acceptance)
        expected = any(active and topic in asked
                       and (level is None or not levels or level in levels)
                       and (not covered or service in covered)
                       for (service, topic), level, active in offers)
        assert rules.offers_topic(venue, asked, programme=programme,
                                  acceptance=acceptance) is expected
    finally:
        nested.rollback()


# --------------------------------------------------------------------------- answers a topic

PROTECT = "numerique--se-proteger-en-ligne"
SECURITE = SERVICES[3]


def test_answers_topic_falls_back_only_at_a_venue_without_active_offers(db_session):
    """A venue with an active offer, even on something else, answers only through its
    offers (the issue's bug: its broad services never answer a topic); one without any
    answers through its declared topics, else the topic's broad service."""
    with_offers = make_venue(db_session, services=[MAITRISE], topics=[SMARTPHONE])
    db_session.add(Offer(lieu_id=with_offers.id, code="demarches", title="Démarches en ligne",
                         service=DEMARCHES, format="individual", topics=[HEALTH]))
    declared = make_venue(db_session, services=[MAITRISE], topics=[SMARTPHONE])
    broad = make_venue(db_session, services=[MAITRISE])
    sleeping = make_venue(db_session, services=[MAITRISE])
    db_session.add(Offer(lieu_id=sleeping.id, code="vieux", title="Ancien atelier",
                         service=DEMARCHES, format="individual", topics=[HEALTH], active=False))
    db_session.flush()
    venues = [with_offers, declared, broad, sleeping]
    for venue in venues:
        db_session.refresh(venue)
    assert [rules.topic_answer(v, SMARTPHONE) for v in venues] == [
        None, rules.BY_DECLARED, rules.BY_SERVICE, rules.BY_SERVICE]
    assert rules.topic_answer(with_offers, HEALTH) == rules.BY_OFFER
    assert rules.topic_answer(declared, COMPUTER) == rules.BY_SERVICE
    assert rules.topic_answer(declared, HEALTH) is None  # not its service
    in_sql = dict(db_session.execute(select(Venue.id, rules.answers_topic_sql([SMARTPHONE]))
                                     .where(Venue.id.in_([v.id for v in venues]))).all())
    assert in_sql == {with_offers.id: False, declared.id: True, broad.id: True,
                      sleeping.id: True}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(allowed=st.lists(st.sampled_from((MAITRISE, DEMARCHES, SECURITE)), max_size=2,
                        unique=True),
       covered=st.lists(st.sampled_from((MAITRISE, DEMARCHES, SECURITE)), max_size=2,
                        unique=True),
       services=st.lists(st.sampled_from((MAITRISE, DEMARCHES, SECURITE)), max_size=2,
                         unique=True),
       declared=st.lists(st.sampled_from((SMARTPHONE, COMPUTER, HEALTH, PROTECT)), max_size=2,
                         unique=True),
       asked=st.lists(st.sampled_from((SMARTPHONE, COMPUTER, HEALTH, PROTECT)), min_size=1,
                      max_size=2, unique=True),
       offers=st.lists(st.tuples(st.sampled_from(((MAITRISE, SMARTPHONE), (MAITRISE, COMPUTER),
                                                  (DEMARCHES, HEALTH))),
                                 st.one_of(st.none(), st.integers(1, 3)), st.booleans()),
                       max_size=2))
def test_answers_topic_sql_and_python_agree(db_session, allowed, covered, services, declared,
                                            asked, offers):
    """With and without a programme, per row or set-wide, with offers (active or not) and
    without: the SQL form and its Python twin agree, and say what the domain says."""
    nested = db_session.begin_nested()
    try:
        venue = make_venue(db_session, services=services, topics=declared)
        programme = _programme(db_session, -1, None, levels=[1, 2])
        programme.allowed_services = allowed
        acceptance = _accepted_with_offers(db_session, venue, programme, covered, offers)
        for per_row in (False, True):
            plain = db_session.scalar(select(rules.answers_topic_sql(asked, per_row=per_row))
                                      .where(Venue.id == venue.id))
            assert plain is rules.answers_topic(venue, asked)
            paid = db_session.scalar(
                select(rules.answers_topic_sql(asked, programme=Programme,
                                               acceptance=Acceptance, per_row=per_row))
                .select_from(Venue).join(Acceptance, Acceptance.lieu_id == Venue.id)
                .join(Programme, Programme.id == Acceptance.programme_id)
                .where(Venue.id == venue.id))
            assert paid is rules.answers_topic(venue, asked, programme=programme,
                                               acceptance=acceptance)

        # The domain, written out: an offer on the topic the pass pays for; else, only
        # without any active offer, a declared topic or its service, the service paid.
        def pays(service):
            return (not allowed or service in allowed) and (not covered or service in covered)

        of_topic = {SMARTPHONE: MAITRISE, COMPUTER: MAITRISE, HEALTH: DEMARCHES,
                    PROTECT: SECURITE}
        by_offer = any(active and topic in asked and (level is None or level in (1, 2))
                       and pays(service) for (service, topic), level, active in offers)
        fallback = not any(active for _, _, active in offers) and any(
            (t in declared or of_topic[t] in services) and pays(of_topic[t]) for t in asked)
        assert rules.answers_topic(venue, asked, programme=programme,
                                   acceptance=acceptance) is (by_offer or fallback)
    finally:
        nested.rollback()
