"""Values a mapping can express: French dates, one value to several, ordered ``contains``
rules, zero padding, a coordinate pair in one column, free-text hours converted, links
restricted to safe schemes (pure: no database)."""

from __future__ import annotations

import datetime as dt

from directory.importer import mapping, validate
from directory.importer.report import ERROR, INFO, WARNING

FIELDS = {"id": "ref", "nom": "nom", "pivot": {"value": "00000000000000"},
          "commune": "ville", "code_postal": "cp", "adresse": "adr",
          "date_maj": {"value": "2024-01-01"}}


def read(spec: dict, csv_text: str):
    full = {"source": {"format": "csv", "delimiter": ";"}, **spec}
    full["fields"] = {**FIELDS, **spec.get("fields", {})}
    candidates, problems = mapping.Mapping(full).read(csv_text.encode())
    return validate.validate(candidates, today=dt.date(2026, 12, 1)), problems


def rows(header: str, *lines: str) -> str:
    base = "ref;nom;ville;cp;adr"
    return "\n".join([base + ";" + header] + [f"{i};EPN {i};Talence;33400;1 rue A;{line}"
                                               for i, line in enumerate(lines, 1)]) + "\n"


def test_french_month_names_and_partial_dates():
    result, _ = read({"fields": {"date_maj": {"column": "maj",
                                              "format": ["%d/%m/%Y", "%B %Y", "%b-%y"]}}},
                     rows("maj", "Decembre 2019", "juil-22", "3 février 2021", "02/03/2024",
                          "févr.-23", "Brumaire 2019"))
    dates = {r.source_id: r.values["date_maj"] for r in result.records}
    assert dates == {"1": dt.date(2019, 12, 1), "2": dt.date(2022, 7, 1),
                     "4": dt.date(2024, 3, 2), "5": dt.date(2023, 2, 1)}
    partial = [p for p in result.problems if p.level == INFO and "date partielle" in p.reason]
    assert {p.line for p in partial} == {2, 3, 6}
    refused = [p for p in result.errors if p.field == "date_maj"]
    assert [(p.line, "« 3 février 2021 »" in p.reason) for p in refused][0] == (4, True)
    assert any(p.line == 7 and "Brumaire" in p.reason for p in refused)


def test_one_source_value_to_several_and_ordered_contains_rules():
    result, _ = read({"fields": {
        "services": {"column": "svc", "split": "\\s*,\\s*", "map": {
            "Démarches CAF et emploi": ["Aide aux démarches administratives",
                                        "Insertion professionnelle via le numérique"]}},
        "typologie": {"column": "type", "contains": [["médiathèque", "BIB"],
                                                     ["mairie", "MUNI"],
                                                     ["centre social", "CS"]],
                      "unmapped": "ignore"},
    }}, rows("svc;type", "Démarches CAF et emploi;Mairie - Médiathèque",
             ";MAIRIE annexe", ";Maison du projet"))
    first, second, third = result.records
    assert first.values["services"] == ["Aide aux démarches administratives",
                                        "Insertion professionnelle via le numérique"]
    assert first.values["typologie"] == ["BIB"]       # the first rule that matches wins
    assert second.values["typologie"] == ["MUNI"]     # case and accents ignored
    assert third.values["typologie"] == []
    assert any(p.line == 4 and "Maison du projet" in p.reason for p in result.problems)


def test_codes_that_lost_their_leading_zero_are_padded():
    result, _ = read({"fields": {"code_postal": {"column": "cp", "pad": 5},
                                 "code_insee": {"column": "insee", "pad": 5}}},
                     "ref;nom;ville;cp;adr;insee\n1;EPN;Bourg;1000;1 rue A;1053\n"
                     "2;EPN;Bourg;01000;1 rue A;01053\n")
    first, second = result.records
    assert (first.values["code_postal"], first.values["code_insee"]) == ("01000", "01053")
    assert second.values["code_postal"] == "01000"
    assert sum("complété par des zéros" in p.reason for p in result.problems) == 2


def test_a_coordinate_pair_in_one_column_and_a_bad_cell_named():
    result, _ = read({"coordinates": {"pair": "gps"}},
                     rows("gps", "44.8378, -0.5792", "(44.81 / -0.58)", "41.93414,8", "44.8378"))
    points = {r.source_id: (r.values["latitude"], r.values["longitude"])
              for r in result.records}
    assert points["1"] == (44.8378, -0.5792) and points["2"] == (44.81, -0.58)
    # "41.93414,8": a latitude and a longitude of 8 (Corsica), read as such.
    assert points["3"] == (41.93414, 8.0)
    assert [p.line for p in result.errors] == [5]
    lon_first, _ = read({"coordinates": {"pair": "gps", "order": "lon,lat"}},
                        rows("gps", "-0.5792 44.8378"))
    assert lon_first.records[0].values["latitude"] == 44.8378


def test_free_text_hours_are_converted_when_asked_and_reported():
    spec = {"hours": {"column": "h", "free_text": "convert"}}
    result, _ = read(spec, rows(
        "h", "Du lundi au vendredi de 9h00 à 12h00 et de 14h00 à 17h00",
        "tous les 15 jours, sur rendez-vous", "Mo-Fr 10:00-12:00", "mardi matin 9h-12h"))
    by_id = {r.source_id: r for r in result.records}
    assert by_id["1"].values["horaires"] == "Mo-Fr 09:00-12:00,14:00-17:00"
    assert by_id["1"].hours is not None and not by_id["1"].flags
    assert by_id["2"].hours is None and by_id["2"].values["horaires"].startswith("tous")
    assert [f["code"] for f in by_id["2"].flags] == [validate.FLAG_HOURS]
    assert by_id["3"].values["horaires"] == "Mo-Fr 10:00-12:00"
    assert by_id["4"].values["horaires"] == "Tu 09:00-12:00"
    conversions = [p for p in result.problems if "convertis" in p.reason]
    assert [p.line for p in conversions] == [2, 5]
    assert "« Du lundi au vendredi de 9h00 à 12h00 et de 14h00 à 17h00 » → " \
           "« Mo-Fr 09:00-12:00,14:00-17:00 »" in conversions[0].reason
    # Without free_text = "convert", the text stays as it is (flagged, suggestion offered).
    kept, _ = read({"hours": {"column": "h"}}, rows("h", "mardi matin 9h-12h"))
    assert kept.records[0].hours is None and kept.records[0].values["horaires"] == \
        "mardi matin 9h-12h"


def test_only_http_https_mailto_and_tel_links_are_stored():
    result, _ = read({"fields": {"site_web": {"column": "web", "split": "\\s+"},
                                 "prise_rdv": "rdv"}},
                     rows("web;rdv", "https://a.fr javascript:alert(1) www.b.fr;"
                          "java\tscript:alert(2)", "HTTP://c.fr data:text/html,x;"
                          "mailto:rdv@c.fr", "Facebook:page;tel:+33102030405"))
    by_id = {r.source_id: r.values for r in result.records}
    assert by_id["1"]["site_web"] == ["https://a.fr", "www.b.fr"]
    assert by_id["1"]["prise_rdv"] is None
    assert by_id["2"]["site_web"] == ["HTTP://c.fr"] and by_id["2"]["prise_rdv"] == \
        "mailto:rdv@c.fr"
    assert by_id["3"]["site_web"] == [] and by_id["3"]["prise_rdv"] == "tel:+33102030405"
    refused = [(p.line, p.field) for p in result.problems if "refusé" in p.reason]
    assert refused == [(2, "site_web"), (2, "prise_rdv"), (3, "site_web"), (4, "site_web")]
    assert all(p.level == WARNING for p in result.problems if "refusé" in p.reason)
    assert not [p for p in result.problems if p.level == ERROR]
