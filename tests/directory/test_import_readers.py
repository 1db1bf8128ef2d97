"""Readers and declarative mappings of the importer (pure: no database)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from directory.importer import mapping, readers, validate
from directory.importer.report import INFO, WARNING
from tests.conftest import ROOT, shared_data

TODAY = dt.date(2026, 12, 1)

MAPPINGS = ROOT / "directory" / "mappings"
V1_HEADER = ",".join(readers.STANDARD_FIELDS)


def v1_csv(*rows: dict[str, str], header: str = V1_HEADER) -> bytes:
    names = header.split(",")
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([row.get(n, "") for n in names])
    return out.getvalue().encode()


def venue(**overrides) -> dict[str, str]:
    row = {"id": "a-1", "pivot": "43493312300029", "nom": "Médiathèque", "commune": "Bordeaux",
           "code_postal": "33000", "adresse": "1 place Pey-Berland", "latitude": "44.8378",
           "longitude": "-0.5792", "date_maj": "2024-04-02"}
    row.update(overrides)
    return row


def test_json_rows_carry_the_line_where_each_object_starts():
    text = '[\n  {"id": "a"},\n  {\n    "id": "b"\n  },\n{"id": "c"}]'
    rows = readers.read_json(text)
    assert [(r.line, r.data["id"]) for r in rows] == [(2, "a"), (3, "b"), (6, "c")]


def test_truncated_json_is_refused_in_french():
    with pytest.raises(readers.ReadError, match="JSON"):
        readers.read_json('[{"id": "a"}, {"id": ')


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "latin-1"])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_csv_encodings_and_separators_are_detected(encoding, delimiter):
    text = f"id{delimiter}nom\n1{delimiter}Médiathèque d'Étauliers\n"
    candidates_text, problems = readers.decode(text.encode(encoding))
    rows = list(readers.read_csv(candidates_text))
    assert rows[0].data == {"id": "1", "nom": "Médiathèque d'Étauliers"}
    assert rows[0].line == 2
    assert bool(problems) == (encoding == "latin-1")


def test_csv_record_line_counts_multiline_cells():
    text = 'id,nom\n1,"deux\nlignes"\n2,b\n'
    assert [r.line for r in readers.read_csv(text)] == [2, 4]


def test_v1_lists_are_split_on_pipes():
    candidates, _ = readers.read(v1_csv(venue(services="Aide aux démarches administratives|"
                                              "Loisirs et créations numériques")),
                                 "standard-v1-csv")
    record = validate.validate(candidates, today=TODAY).records[0]
    assert record.values["services"] == ["Aide aux démarches administratives",
                                         "Loisirs et créations numériques"]


def test_v0_vocabulary_is_translated_and_the_pass_becomes_an_acceptance_marker():
    data = shared_data("standard", "exemple-valide-v0.1.1.csv").read_bytes()
    candidates, _ = readers.read(data, "standard-v0-csv")
    values = candidates[0].values
    assert candidates[0].accepts_programme  # "Accepte le Pass numérique" and "APTIC"
    assert values["services"] == ["Aide aux démarches administratives",
                                  "Maîtrise des outils numériques du quotidien"]
    assert values["frais_a_charge"] == ["Payant"]
    assert values["dispositif_programmes_nationaux"] == ["France Services",
                                                         "Point d'accès numérique CAF"]
    assert values["publics_specifiquement_adresses"] == ["Familles et/ou enfants"]
    assert values["prise_en_charge_specifique"] == ["Déficience visuelle"]
    assert values["modalites_accompagnement"] == ["En autonomie", "Accompagnement individuel"]
    assert values["courriels"] == ["contact@laquincaillerie.tl"]


def test_every_v0_service_is_a_topic_with_a_v1_value():
    from directory.vocabulary import SERVICES, TOPIC_BY_CODE, map_v0_services

    enumerations = shared_data("standard", "enumerations.csv").read_text(encoding="utf-8")
    old = [line.split(",", 2)[2] for line in enumerations.splitlines()
           if line.startswith("v0.1.1,services,")]
    assert len(old) == 15
    for value in old:
        topics, services, unknown = map_v0_services([value])
        assert unknown == [] and len(topics) == 1, value
        assert TOPIC_BY_CODE[topics[0]].label == value
        assert services == [TOPIC_BY_CODE[topics[0]].service] and services[0] in SERVICES


def test_a_v0_row_carries_its_topics():
    candidates = list(readers.standard_v0([readers.RawRow(2, {
        "id": "1", "services": "Prendre en main un smartphone ou une tablette;"
                               "Accompagner les démarches de santé"})]))
    assert candidates[0].topics == ["numerique--prendre-en-main-un-smartphone-ou-une-tablette",
                                    "numerique--accompagner-les-demarches-de-sante"]
    assert candidates[0].values["services"] == ["Aide aux démarches administratives",
                                                "Maîtrise des outils numériques du quotidien"]


def test_unknown_v0_service_rejects_the_row():
    row = {"id": "1", "pivot": "00000000000000", "nom": "x", "commune": "y",
           "code_postal": "16000", "adresse": "z", "date_maj": "2023-01-01",
           "services": "Prendre en main un ordinateur;Faire du vélo"}
    candidates, _ = readers.read(json.dumps([row]).encode(), "standard-v0-json")
    result = validate.validate(candidates, today=TODAY)
    assert result.rejected == 1
    assert any(p.field == "services" and "Faire du vélo" in p.reason for p in result.errors)


def test_charente_v0_file_validates_without_rejection():
    data = shared_data("venues", "standard-v0", "20230711-charente.json").read_bytes()
    candidates, _ = readers.read(data, "standard-v0-json")
    result = validate.validate(candidates, today=TODAY)
    assert (result.rows_read, len(result.records), result.rejected) == (188, 188, 0)
    epoch = [p for p in result.problems if p.field == "date_maj"]
    assert epoch and all(p.level == WARNING for p in epoch)


def test_long_v0_summary_moves_to_the_detail_rather_than_being_cut():
    data = shared_data("venues", "standard-v0", "20240320-nouvelle-caledonie.json").read_bytes()
    candidates, _ = readers.read(data, "standard-v0-json")
    result = validate.validate(candidates, today=TODAY)
    assert result.rejected == 0
    moved = [r for r in result.records if r.source_id == "12"][0]
    assert moved.values["presentation_resume"] is None
    assert len(moved.values["presentation_detail"]) == 998


# --- declarative mappings ----------------------------------------------------------------

def read_raw(name: str):
    spec = mapping.load(MAPPINGS / f"{name}.toml")
    data = shared_data("venues", "raw", f"{name}.json").read_bytes()
    candidates, problems = spec.read(data)
    return validate.validate(candidates, today=TODAY), problems


def test_gironde_mapping_swaps_every_point_back_and_lists_aptic_candidates():
    result, _ = read_raw("gironde")
    assert (len(result.records), result.rejected) == (347, 0)
    swapped = [p for p in result.problems if p.field == "latitude" and p.level == WARNING]
    assert len(swapped) == 347 and "inversées" in swapped[0].reason
    for record in result.records:  # latitude ≈ 44–46, longitude ≈ -1.3–0.3 once corrected
        assert 44 < record.values["latitude"] < 46
        assert -1.4 < record.values["longitude"] < 0.4
        assert record.flags[0]["code"] == validate.FLAG_SWAPPED
    hinted = [r for r in result.records if r.acceptance_hints]
    assert len(hinted) == 7
    assert all("APTIC" in r.acceptance_hints[0] or "Pass" in r.acceptance_hints[0]
               for r in hinted)
    # Marked for the programme of the mapping or of --programme; without one, the writer
    # lists them as candidates only (test_import_vouchers).
    assert sum(r.accepts_programme for r in result.records) == 7
    missing_postal = [r for r in result.records if r.derive == ["code_postal"]]
    assert len(missing_postal) == 26


def test_maine_et_loire_lambert93_with_decimal_commas_lands_in_anjou():
    from pyproj import Geod

    result, problems = read_raw("maine-et-loire")
    assert result.rejected == 0
    assert sum(1 for p in problems if p.level == INFO and "ignorée" in p.reason) == 3
    assert len(result.records) == 240
    first = next(r for r in result.records if r.source_id == "LMN008")  # Allonnes
    # Cross-check against an independent geodesic: Allonnes town hall ≈ 47.299 N, 0.021 E.
    _, _, metres = Geod(ellps="WGS84").inv(first.values["longitude"], first.values["latitude"],
                                           0.0213, 47.2993)
    assert metres < 3000
    closed = [r for r in result.records if r.status == "closed"]
    assert len(closed) == 18
    fallback = [p for p in result.problems if p.field == "date_maj"]
    assert len(fallback) == 44 and all("2023-01-09" in p.reason for p in fallback)


def test_creuse_free_text_hours_are_converted_when_unambiguous_and_kept_otherwise():
    result, _ = read_raw("la-creuse")
    assert (len(result.records), result.rejected) == (91, 0)
    converted = [p for p in result.problems if "horaires en texte convertis" in p.reason]
    assert len(converted) == 30
    assert any("« Mercredi de 14h à 15H30 » → « We 14:00-15:30 »" in p.reason
               for p in converted)
    flagged = [r for r in result.records if any(f["code"] == validate.FLAG_HOURS
                                                for f in r.flags)]
    assert len(flagged) == 1 and flagged[0].hours is None
    assert "15 jours" in flagged[0].values["horaires"]     # ambiguous: kept as text
    assert sum(1 for r in result.records if r.hours is not None) == 30


def test_per_day_columns_become_an_osm_string():
    spec = mapping.Mapping({
        "source": {"format": "csv"},
        "fields": {"id": "ref", "nom": "nom", "pivot": {"value": "00000000000000"},
                   "commune": "ville", "code_postal": "cp", "adresse": "adr",
                   "date_maj": {"column": "maj", "format": "%d/%m/%Y"}},
        "hours": {"days": {"lundi": "LUN", "mardi": "MAR", "mercredi": "MER"},
                  "public_holidays": "off"},
    })
    csv_text = ("ref;nom;ville;cp;adr;maj;LUN;MAR;MER\n"
                "1;EPN;Talence;33400;1 rue A;02/03/2024;9h-12h / 14h-18h;9h-12h / 14h-18h;\n"
                "2;EPN 2;Talence;33400;2 rue A;02/03/2024;le matin;;\n")
    candidates, _ = spec.read(csv_text.encode())
    result = validate.validate(candidates, today=TODAY)
    first, second = result.records
    assert first.values["horaires"] == "Mo-Tu 09:00-12:00,14:00-18:00; PH off"
    assert first.hours is not None and not first.flags
    assert second.hours is None and second.values["horaires"]  # kept as text, flagged
    assert [f["code"] for f in second.flags] == [validate.FLAG_HOURS]


def test_a_broken_mapping_is_refused_in_french():
    with pytest.raises(mapping.MappingError, match="hors standard"):
        mapping.Mapping({"fields": {"id": "a", "nom": "b", "nom_du_lieu": "c"}})
    with pytest.raises(mapping.MappingError, match="système de coordonnées"):
        mapping.Mapping({"fields": {"id": "a", "nom": "b"},
                         "coordinates": {"x": "x", "y": "y", "crs": "EPSG:999999"}})



def test_a_mapped_status_outside_the_vocabulary_rejects_the_row():
    spec = mapping.Mapping({
        "source": {"format": "csv"},
        "fields": {"id": "ref", "nom": "nom", "pivot": {"value": "00000000000000"},
                   "commune": "ville", "code_postal": "cp", "adresse": "adr",
                   "date_maj": {"column": "maj", "format": "%Y-%m-%d"}},
        "status": {"column": "etat", "map": {"FERME": "ferme", "OUVERT": "open"}},
    })
    csv_text = ("ref,nom,ville,cp,adr,maj,etat\n1,A,Talence,33400,1 rue A,2024-03-02,OUVERT\n"
                "2,B,Talence,33400,2 rue A,2024-03-02,FERME\n")
    candidates, _ = spec.read(csv_text.encode())
    result = validate.validate(candidates, today=TODAY)
    assert [r.source_id for r in result.records] == ["1"]
    assert result.errors[0].line == 3 and "statut" in result.errors[0].reason
