"""Offers and sessions imported from the documented CSV / JSON format."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from directory.models import Offer, TrainingSession
from tests.conftest import make_venue

CSV_HEADER = ("lieu,code,intitule,service,niveau,format,duree_minutes,cheques,langues,publics,"
              "horaires,seance_debut,seance_fin,seance_places,seance_places_prises\n")
VALID_CSV = CSV_HEADER + (
    "t:mediatheque,tablette-1,Premiers pas avec une tablette,Maîtrise des outils numériques du "
    "quotidien,1,collectif,120,1,fr|en,Seniors,Tu 14:00-16:00,2026-12-01T14:00,,8,2\n"
    "t:mediatheque,tablette-1,,,,,,,,,,2026-12-08T14:00,2026-12-08T16:00,8,0\n"
    "t:mediatheque,demarches,Démarches en ligne,Aide aux démarches administratives,,"
    "individuel,60,2,,,\"Mo,We 09:00-12:00\",,,,\n"
)


@pytest.fixture
def venue(db_session):
    venue = make_venue(db_session, source="t", source_id="mediatheque")
    db_session.commit()
    return venue


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def _import(runner, path, *extra):
    return runner.invoke(args=["directory", "offers", "import", str(path), *extra])


def test_csv_import_then_reimport_writes_nothing(runner, db_session, venue, tmp_path):
    path = tmp_path / "offres.csv"
    path.write_text(VALID_CSV, encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    assert ("2 offre(s) et 2 séance(s) lues ; offres : 2 créée(s), 0 mise(s) à jour, "
            "0 inchangée(s) ; séances : 2 créée(s)") in result.output
    offers = {o.code: o for o in db_session.scalars(select(Offer))}
    tablet = offers["tablette-1"]
    assert tablet.format == "collective" and tablet.level == 1
    assert tablet.languages == ["fr", "en"] and tablet.publics == ["Seniors"]
    assert [(r.lower, r.upper) for r in tablet.opening_week] == [(1440 + 840, 1440 + 960)]
    sessions = db_session.scalars(select(TrainingSession).order_by(TrainingSession.starts_at))
    first, second = list(sessions)
    # Naive times are the venue's local time (Europe/Paris, UTC+1 in December).
    assert first.starts_at == dt.datetime(2026, 12, 1, 13, tzinfo=dt.UTC)
    assert first.ends_at - first.starts_at == dt.timedelta(minutes=120)  # from duree_minutes
    assert (first.seats, first.seats_taken, second.seats_taken) == (8, 2, 0)
    assert offers["demarches"].cheques_required == 2 and offers["demarches"].level is None

    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    assert "offres : 0 créée(s), 0 mise(s) à jour, 2 inchangée(s)" in result.output
    assert "séances : 0 créée(s), 0 mise(s) à jour, 2 inchangée(s)" in result.output

    path.write_text(VALID_CSV.replace("8,2\n", "8,5\n"), encoding="utf-8")
    result = _import(runner, path)
    assert "séances : 0 créée(s), 1 mise(s) à jour, 1 inchangée(s)" in result.output


def test_json_import_with_semicolon_free_structure(runner, db_session, venue, tmp_path):
    path = tmp_path / "offres.json"
    path.write_text(json.dumps({"offres": [{
        "lieu": "t:mediatheque", "code": "securite", "intitule": "Se protéger en ligne",
        "service": "Utilisation sécurisée du numérique", "niveau": 2, "format": "a_distance",
        "duree_minutes": 90, "cheques": 1, "langues": ["fr"], "active": True,
        "seances": [{"debut": "2026-12-03T10:00:00+01:00", "places": 12}],
    }]}, ensure_ascii=False), encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    offer = db_session.scalar(select(Offer))
    assert offer.format == "remote" and offer.level == 2
    assert offer.sessions[0].ends_at == dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.UTC)


def test_dry_run_writes_nothing(runner, db_session, venue, tmp_path):
    path = tmp_path / "offres.csv"
    path.write_text(VALID_CSV, encoding="utf-8")
    result = _import(runner, path, "--dry-run")
    assert result.exit_code == 0 and result.output.startswith("Simulation : 2 offre(s)")
    assert "offres : 2 créée(s)" in result.output and "séances : 2 créée(s)" in result.output
    assert _count(db_session, Offer) == 0 and _count(db_session, TrainingSession) == 0


def test_readme_examples_import(runner, db_session, tmp_path):
    """The examples of the README's offers section are valid files."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Offres et séances : format d'import", 1)[1]
    blocks = dict(re.findall(r"```(csv|json)\n(.*?)```", section, flags=re.S))
    assert set(blocks) == {"csv", "json"}
    make_venue(db_session, source="demo", source_id="33063-01")
    db_session.commit()
    for fmt, content in blocks.items():
        path = tmp_path / f"exemple.{fmt}"
        path.write_text(content, encoding="utf-8")
        result = _import(runner, path)
        assert result.exit_code == 0, result.output
    offer = db_session.scalar(select(Offer))
    assert offer.code == "tablette" and len(offer.sessions) == 2


@pytest.mark.parametrize("bad_line, message", [
    ("t:absent,x,X,Aide aux démarches administratives,,individuel,,,,,,,,,",
     "ligne 5, lieu : lieu introuvable « t:absent »"),
    ("t:mediatheque,x,X,Cuisine,,individuel,,,,,,,,,",
     "ligne 5, service : « Cuisine » n'est pas un service du standard"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,4,individuel,,,,,,,,,",
     "ligne 5, niveau : 4 hors limites"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,,hybride,,,,,,,,,",
     "ligne 5, format : « hybride » inconnu"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,,individuel,,,,,le matin,,,,",
     "ligne 5, horaires : horaires non conformes"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,,individuel,60,,,,,"
     "2026-12-01T14:00,,8,9", "ligne 5, places_prises : 9 > places (8)"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,,individuel,60,,,,,"
     "demain,,8,", "ligne 5, debut : date et heure ISO 8601 attendues"),
    ("t:mediatheque,x,X,Aide aux démarches administratives,,individuel,,,,,,"
     "2026-12-01T14:00,,8,", "ligne 5, fin : manquante"),
    ("t:mediatheque,x,,Aide aux démarches administratives,,individuel,,,,,,,,,",
     "ligne 5, intitule : champ obligatoire manquant"),
    ("t:mediatheque,tablette-1,Autre titre,,,,,,,,,,,,",
     "ligne 5, colonne intitule : diffère de la ligne 2"),
])
def test_invalid_file_names_the_line_and_writes_nothing(runner, db_session, venue, tmp_path,
                                                        bad_line, message):
    path = tmp_path / "offres.csv"
    path.write_text(VALID_CSV + bad_line + "\n", encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 1
    assert message in result.output, result.output
    assert "Erreur :" in result.output
    assert _count(db_session, Offer) == 0 and _count(db_session, TrainingSession) == 0


@pytest.mark.parametrize("content, message", [
    (b"code;intitule\nx;y\n", "colonne(s) manquante(s) : lieu, service, format"),
    (CSV_HEADER.replace("horaires", "horaire").encode(), "colonne(s) inconnue(s) : horaire"),
    ("lieu,code,intitule,service,format\nt:mediatheque,é,É,x,y\n".encode("latin-1"),
     "n'est pas en UTF-8"),
])
def test_unreadable_csv_is_refused(runner, db_session, venue, tmp_path, content, message):
    path = tmp_path / "offres.csv"
    path.write_bytes(content)
    result = _import(runner, path)
    assert result.exit_code == 1 and message in result.output


def test_semicolon_csv_with_bom_is_read(runner, db_session, venue, tmp_path):
    path = tmp_path / "offres.csv"
    content = ("lieu;code;intitule;service;format\n"
               "t:mediatheque;libre;Accès libre;Accès internet et matériel informatique;"
               "autonomie\n")
    path.write_bytes("\ufeff".encode() + content.encode())
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    assert db_session.scalar(select(Offer.format)) == "autonomous"


@pytest.mark.parametrize("payload, message", [
    ("{", "JSON illisible ligne 1"),
    ('{"offres": {}}', "liste d'offres"),
    ('[{"lieu": "t:mediatheque", "code": "a", "intitule": "A", "format": "individuel", '
     '"service": "Aide aux démarches administratives", "prix": 3}]',
     "offre n° 1 : champ(s) inconnu(s) : prix"),
    ('[{"lieu": "t:mediatheque", "code": "a", "intitule": "A", "format": "individuel", '
     '"service": "Aide aux démarches administratives", "niveau": "deux"}]',
     "offre n° 1, niveau : nombre entier attendu"),
    ('[{"lieu": "t:mediatheque", "code": "a", "intitule": "A", "format": "individuel", '
     '"service": "Aide aux démarches administratives", "seances": [{"debut": '
     '"2026-12-01T10:00", "fin": "2026-12-01T09:00", "places": 3}]}]',
     "offre n° 1, séance n° 1, fin : doit suivre le début"),
])
def test_invalid_json_is_refused(runner, db_session, venue, tmp_path, payload, message):
    path = tmp_path / "offres.json"
    path.write_text(payload, encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 1 and message in result.output, result.output
    assert _count(db_session, Offer) == 0


def test_missing_file_and_unknown_extension(runner, db_session, tmp_path):
    result = _import(runner, tmp_path / "absent.csv")
    assert result.exit_code == 1 and "Fichier introuvable" in result.output
    path = tmp_path / "offres.txt"
    path.write_text("x", encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 1 and "Format du fichier" in result.output


def test_titles_are_mapped_to_topics_and_the_unmapped_are_reported(runner, db_session, venue,
                                                                   tmp_path):
    path = tmp_path / "offres.csv"
    path.write_text(VALID_CSV + (
        "t:mediatheque,cafe,Café convivial du jeudi,Compréhension du monde numérique,,"
        "collectif,60,1,,,,,,,\n"), encoding="utf-8")
    result = _import(runner, path)
    assert result.exit_code == 0, result.output
    offers = {o.code: o for o in db_session.scalars(select(Offer))}
    assert offers["tablette-1"].topics == [
        "numerique--prendre-en-main-un-smartphone-ou-une-tablette"]
    assert offers["demarches"].topics == [
        "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"]
    assert offers["cafe"].topics == []
    assert "1 offre(s) sans thématique reconnue :" in result.output
    assert ("offres.csv, ligne 5, intitule : aucune thématique reconnue dans « Café convivial "
            "du jeudi »") in result.output
    assert "tablette" not in result.output.split("sans thématique reconnue")[1]
