"""``match_place``, where the matcher looks first, is kept equal to what the rules say by the
database's triggers, whatever writes the catalogue (the ORM, hand-written SQL, two
transactions at once): each venue place accepting a programme, under '' and under each topic
it could answer (``directory.rules.topic_answer`` without a programme), closed venues left
out."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select, text

from directory import rules
from directory.models import Acceptance, MatchPlace, Offer, Programme, TopicService, Venue
from directory.vocabulary import TOPIC_BY_CODE, TOPICS
from tests import conftest as cat

DEMARCHES = "Réaliser des démarches administratives avec un accompagnement"


SANTE = "numerique--accompagner-les-demarches-de-sante"
COURRIELS = "numerique--envoyer-recevoir-gerer-ses-courriels"


def expected(session) -> set[tuple]:
    """The rows the rules give, from the catalogue as the ORM reads it."""
    rows = set()
    for venue in session.scalars(select(Venue)):
        if venue.status == "closed":
            continue
        offers = list(session.scalars(select(Offer).where(Offer.lieu_id == venue.id)))
        topics = [""] + [t.code for t in TOPICS
                         if rules.topic_answer(venue, t.code, offers) is not None]
        places = [s.id for s in venue.stops] or [None]
        for acceptance in session.scalars(select(Acceptance)
                                          .where(Acceptance.lieu_id == venue.id)):
            rows |= {(acceptance.programme_id, t, venue.id, stop) for t in topics
                     for stop in places}
    return rows


def found(session) -> set[tuple]:
    session.flush()
    return {tuple(r) for r in session.execute(select(
        MatchPlace.programme_id, MatchPlace.topic, MatchPlace.lieu_id, MatchPlace.stop_id))}


def check(session) -> set[tuple]:
    session.flush()
    session.expire_all()
    rows = found(session)
    assert rows == expected(session)
    return rows


def test_the_vocabulary_table_is_the_vocabulary(db_session):
    """The triggers read topic → service from ``topic_service``: a change of
    ``directory.vocabulary.TOPICS`` needs a migration that rewrites it (and refreshes
    ``match_place``)."""
    stored = dict(db_session.execute(select(TopicService.topic, TopicService.service)).all())
    assert stored == {t.code: t.service for t in TOPICS}


def test_every_write_of_the_catalogue_keeps_it_true(db_session):
    prog = cat.programme(db_session)
    other = cat.programme(db_session, code="autre-pass", name="Autre pass")
    v = cat.venue(db_session, 2.35, 48.85, nom="Avec offres", services=[DEMARCHES])
    declared = cat.venue(db_session, 2.36, 48.85, nom="Sans offre",
                         services=[TOPIC_BY_CODE[COURRIELS].service], topics=[SANTE])
    assert check(db_session) == set()  # no acceptance yet

    cat.accept(db_session, v, prog)
    cat.accept(db_session, declared, prog)
    rows = check(db_session)
    # Without an active offer, its declared topic and every topic of its declared service.
    assert (prog.id, SANTE, declared.id, None) in rows
    assert (prog.id, COURRIELS, declared.id, None) in rows
    assert {r[1] for r in rows if r[2] == v.id} == {""}

    o = cat.offer(db_session, v, DEMARCHES, topics=[SANTE])
    assert (prog.id, SANTE, v.id, None) in check(db_session)
    # An active offer: the declared topics no longer answer.
    cat.offer(db_session, declared, DEMARCHES, topics=[COURRIELS])
    rows = check(db_session)
    assert (prog.id, SANTE, declared.id, None) not in rows

    o.active = False
    assert (prog.id, SANTE, v.id, None) not in check(db_session)
    db_session.execute(text("UPDATE offre SET active = true, topics = :t WHERE id = :id"),
                       {"t": [COURRIELS], "id": o.id})
    assert (prog.id, COURRIELS, v.id, None) in check(db_session)
    db_session.execute(text("DELETE FROM offre WHERE lieu_id = :id"), {"id": declared.id})
    assert (prog.id, SANTE, declared.id, None) in check(db_session)

    # An itinerant venue is found at its stops, not at its own point.
    stop = cat.stop(db_session, v, 2.40, 48.90, "Marché")
    rows = check(db_session)
    assert (prog.id, "", v.id, stop.id) in rows and (prog.id, "", v.id, None) not in rows
    db_session.delete(stop)
    assert (prog.id, "", v.id, None) in check(db_session)

    cat.accept(db_session, v, other)
    check(db_session)
    db_session.execute(text("UPDATE lieu SET status = 'closed' WHERE id = :id"), {"id": v.id})
    assert not {r for r in check(db_session) if r[2] == v.id}
    db_session.execute(text("UPDATE lieu SET status = 'open', geom = ST_SetSRID("
                            "ST_MakePoint(2.5, 48.8), 4326) WHERE id = :id"), {"id": v.id})
    check(db_session)
    assert db_session.execute(text(
        "SELECT ST_X(geom) FROM match_place WHERE lieu_id = :id LIMIT 1"),
        {"id": v.id}).scalar() == 2.5

    # The importer's way: INSERT … ON CONFLICT DO UPDATE (its UPDATE triggers fire too).
    db_session.execute(text(
        "INSERT INTO lieu (source, source_id, nom, commune, geom) "
        "SELECT source, source_id, nom, commune, ST_SetSRID(ST_MakePoint(2.6, 48.7), 4326) "
        "FROM lieu WHERE id = :id ON CONFLICT (source, source_id) DO UPDATE "
        "SET geom = EXCLUDED.geom"), {"id": v.id})
    check(db_session)
    assert db_session.execute(text(
        "SELECT ST_X(geom) FROM match_place WHERE lieu_id = :id LIMIT 1"),
        {"id": v.id}).scalar() == 2.6
    db_session.execute(text("UPDATE lieu SET topics = '{}', services = '{}' WHERE id = :id"),
                       {"id": declared.id})
    assert {r[1] for r in check(db_session) if r[2] == declared.id} == {""}
    db_session.execute(text("DELETE FROM acceptation WHERE programme_id = :p"), {"p": other.id})
    check(db_session)
    db_session.delete(db_session.get(Programme, prog.id))
    assert check(db_session) == set()
    db_session.execute(text("DELETE FROM lieu WHERE id = :id"), {"id": v.id})
    check(db_session)


def test_a_revoked_or_expired_acceptance_stays_the_rules_say_no(db_session):
    """``match_place`` ignores the dates (a superset, true every day); the matcher checks
    them on the rows found."""
    prog = cat.programme(db_session)
    v = cat.venue(db_session, 2.35, 48.85, nom="Ancien", services=[DEMARCHES])
    cat.accept(db_session, v, prog, valid_to=dt.date(2026, 2, 1))
    assert (prog.id, "", v.id, None) in check(db_session)


def test_two_transactions_writing_one_venue_at_once_miss_nothing(app):
    """An offer on a new topic added in one transaction, an acceptance of a new programme in
    another, at the same time: the venue must end up under (programme, topic), which neither
    transaction saw alone. The second refresh waits for the first to commit."""
    from extensions import db

    with app.app_context():
        engine = db.engine
    with engine.begin() as conn:
        pid = conn.execute(text(
            "INSERT INTO programme (code, name, perimeter_codes, valid_from) VALUES "
            "('concurrent', 'Pass concurrent', '{fr}', DATE '2026-01-01') RETURNING id")).scalar()
        lieu = conn.execute(text(
            "INSERT INTO lieu (source, source_id, nom, commune, geom, status) VALUES "
            "('concurrent', '1', 'Concurrent', 'X', ST_SetSRID(ST_MakePoint(2.3, 48.8), 4326), "
            "'open') RETURNING id")).scalar()
    first = engine.connect()
    try:
        tx = first.begin()
        first.execute(text(
            "INSERT INTO offre (lieu_id, code, title, service, topics, format) VALUES "
            "(:l, 'c1', 'Atelier', :s, ARRAY[:t], 'collective')"),
            {"l": lieu, "s": DEMARCHES, "t": SANTE})
        errors: list[BaseException] = []

        def accept() -> None:
            try:
                with engine.begin() as second:
                    second.execute(text("SET LOCAL lock_timeout = '20s'"))
                    second.execute(text(
                        "INSERT INTO acceptation (lieu_id, programme_id, valid_from) VALUES "
                        "(:l, :p, DATE '2026-01-01')"), {"l": lieu, "p": pid})
            except BaseException as error:  # reported by the test below
                errors.append(error)

        thread = threading.Thread(target=accept)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the second refresh did not wait for the first"
        tx.commit()
        thread.join(30)
        assert not errors, errors
        with engine.connect() as conn:
            topics = set(conn.execute(text(
                "SELECT topic FROM match_place WHERE lieu_id = :l AND programme_id = :p"),
                {"l": lieu, "p": pid}).scalars())
        assert topics == {"", SANTE}
    finally:
        first.close()  # rolls back what the first transaction did not commit
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM lieu WHERE id = :l"), {"l": lieu})
            conn.execute(text("DELETE FROM programme WHERE id = :p"), {"p": pid})
