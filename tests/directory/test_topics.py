"""Topics: data·inclusion's digital thematiques (the v0.1 service labels), each under one
v1.0.2 service; offers carry them; import and export map them to and from services."""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from directory import demo
from directory.models import Offer
from directory.vocabulary import (
    SERVICES,
    TOPIC_BY_CODE,
    TOPICS,
    map_v0_services,
    services_of_topics,
    topic_of,
    topics_for_offer,
    topics_from_text,
)
from extensions import db
from tests.conftest import make_venue, offer

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"


def _shared(path: str) -> Path:
    file = SHARED / path
    if not file.exists():
        pytest.skip(f"données de référence absentes : {file}")
    return file


def test_every_v0_service_and_digital_thematique_is_a_topic_under_one_service():
    assert all(t.service in SERVICES for t in TOPICS)
    assert {t.service for t in TOPICS} == set(SERVICES)  # every service can be asked
    with _shared("standard/enumerations.csv").open(encoding="utf-8") as f:
        v0 = [r["value"] for r in csv.DictReader(f)
              if r["schema_version"] == "v0.1.1" and r["field"] == "services"]
    with _shared("data-inclusion/v0/thematiques.csv").open(encoding="utf-8") as f:
        digital = {r["value"]: r["label"] for r in csv.DictReader(f)
                   if r["value"].startswith("numerique--")}
    assert len(v0) == 15 and all(topic_of(label) for label in v0)
    for code, label in digital.items():
        assert topic_of(code) is not None, code
        assert topic_of(label) is not None, label
    # Their codes are kept as they are: export and import are one-to-one.
    assert {t.code for t in TOPICS} >= set(digital) - {"numerique--acquerir-un-equipement"}


def test_v0_services_map_to_topics_and_services_and_report_the_rest():
    topics, services, unknown = map_v0_services(
        ["Prendre en main un smartphone ou une tablette", "Accompagner les démarches de santé",
         "Faire du vélo"])
    assert topics == [SMARTPHONE, "numerique--accompagner-les-demarches-de-sante"]
    assert services == ["Aide aux démarches administratives",
                        "Maîtrise des outils numériques du quotidien"]
    assert unknown == ["Faire du vélo"]


@pytest.mark.parametrize(("text", "expected"), [
    ("Bien utiliser son smartphone", [SMARTPHONE]),
    ("Choisir un ordinateur reconditionné", ["numerique--s-equiper-en-materiel-informatique"]),
    ("L'ordinateur pas à pas", ["numerique--prendre-en-main-un-ordinateur"]),
    ("Créer son compte Ameli", ["numerique--accompagner-les-demarches-de-sante"]),
    ("Tricot et crochet", []),
])
def test_topics_read_from_free_text(text, expected):
    assert topics_from_text(text) == expected


def test_demo_offer_titles_agree_with_their_topics():
    templates = [(s, t) for s, ts in demo.OFFER_TEMPLATES.items() for t in ts]
    templates.append((SERVICES[0], demo.REMOTE_OFFER))
    for service, (_, title, *_rest, topic) in templates:
        assert topics_from_text(title) == [topic], title
        assert TOPIC_BY_CODE[topic].service == service, title


def test_demo_offers_carry_topics_of_their_service(geography, db_session):
    demo.load_demo(db_session, reference_date=dt.date(2026, 11, 26), region_code="75", seed=7)
    offers = db_session.scalars(select(Offer)).all()
    assert offers
    for o in offers:
        assert o.topics and all(TOPIC_BY_CODE[t].service == o.service for t in o.topics)
        assert topics_from_text(o.title) == o.topics


def test_offer_file_topics_are_checked_against_the_service():
    service = "Maîtrise des outils numériques du quotidien"
    assert topics_for_offer(None, "Bien utiliser son smartphone", service) == ([SMARTPHONE], [])
    assert topics_for_offer(["Prendre en main un smartphone ou une tablette"], "Atelier",
                            service) == ([SMARTPHONE], [])
    codes, problems = topics_for_offer(["numerique--accompagner-les-demarches-de-sante",
                                        "cuisine"], "Atelier", service)
    assert codes == [] and len(problems) == 2
    assert "relève du service « Aide aux démarches administratives »" in problems[0]
    assert "« cuisine » n'est pas une thématique connue" in problems[1]


def test_offer_import_reads_thematiques(runner, db_session, tmp_path):
    make_venue(db_session, source="t", source_id="m")
    db_session.commit()
    path = tmp_path / "offres.json"
    path.write_text(json.dumps([
        {"lieu": "t:m", "code": "a", "intitule": "Bien utiliser son smartphone",
         "service": "Maîtrise des outils numériques du quotidien", "format": "collectif"},
        {"lieu": "t:m", "code": "b", "intitule": "Atelier du mardi",
         "service": "Maîtrise des outils numériques du quotidien", "format": "collectif",
         "thematiques": "numerique--envoyer-recevoir-gerer-ses-courriels"},
    ]), encoding="utf-8")
    result = runner.invoke(args=["directory", "offers", "import", str(path)])
    assert result.exit_code == 0, result.output
    topics = dict(db_session.execute(select(Offer.code, Offer.topics)).all())
    assert topics == {"a": [SMARTPHONE], "b": ["numerique--envoyer-recevoir-gerer-ses-courriels"]}

    path.write_text(json.dumps([
        {"lieu": "t:m", "code": "c", "intitule": "Atelier", "format": "collectif",
         "service": "Maîtrise des outils numériques du quotidien", "thematiques": ["cuisine"]},
    ]), encoding="utf-8")
    result = runner.invoke(args=["directory", "offers", "import", str(path)])
    assert result.exit_code != 0
    assert "thematiques : « cuisine » n'est pas une thématique connue" in result.output


@pytest.fixture
def committed_venue(app):
    """A venue committed for real: the export command reads through its own connection."""
    source = f"test-topics-{uuid.uuid4().hex[:10]}"
    with app.app_context(), Session(db.engine) as session:
        venue = make_venue(session, source=source, services=[])
        offer(session, venue, "Aide aux démarches administratives",
              topics=["numerique--accompagner-les-demarches-de-sante"])
        offer(session, venue, "Maîtrise des outils numériques du quotidien",
              topics=[SMARTPHONE])
        session.commit()
    yield source
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM lieu WHERE source = :s"), {"s": source})


def test_exports_carry_the_services_and_thematiques_of_offers(runner, committed_venue,
                                                              tmp_path):
    def exported(fmt):
        out = tmp_path / f"{fmt}.json"
        result = runner.invoke(args=["directory", "export", "--format", fmt, "--source",
                                     committed_venue, "--out", str(out)])
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text(encoding="utf-8"))

    [item] = exported("data-inclusion")
    assert item["thematiques"] == ["numerique", "numerique--accompagner-les-demarches-de-sante",
                                   SMARTPHONE]
    [row] = exported("standard-v1-json")
    assert row["services"] in (
        services_of_topics(["numerique--accompagner-les-demarches-de-sante", SMARTPHONE]),
        "|".join(services_of_topics(["numerique--accompagner-les-demarches-de-sante",
                                     SMARTPHONE])))
