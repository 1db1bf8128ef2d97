"""Row validation of the importer (pure): coordinates, hours, duplicates, formats."""

from __future__ import annotations

import datetime as dt

import pytest

from directory.importer import readers, validate
from directory.importer.report import ERROR, WARNING
from tests.directory.test_import_readers import v1_csv, venue

TODAY = dt.date(2026, 1, 15)


def check(*rows: dict[str, str]) -> validate.Validation:
    candidates, _ = readers.read(v1_csv(*rows), "standard-v1-csv")
    return validate.validate(candidates, today=TODAY)


def test_a_point_outside_france_rejects_its_line_with_the_field_and_reason():
    result = check(venue(), venue(id="madrid", latitude="40.4168", longitude="-3.7038"))
    assert result.rejected == 1 and len(result.records) == 1
    (error,) = result.errors
    assert (error.line, error.field, error.source_id) == (3, "latitude", "madrid")
    assert "hors de France" in error.reason


def test_swapped_coordinates_are_corrected_and_reported():
    result = check(venue(latitude="-0.5792", longitude="44.8378"))
    (record,) = result.records
    assert (record.values["latitude"], record.values["longitude"]) == (44.8378, -0.5792)
    assert [p.level for p in result.problems if p.field == "latitude"] == [WARNING]
    assert record.flags[0]["code"] == validate.FLAG_SWAPPED


def test_mayotte_is_not_mistaken_for_a_swapped_metropolitan_point():
    result = check(venue(code_postal="97600", latitude="-12.7806", longitude="45.2278"))
    (record,) = result.records
    assert not record.flags and record.timezone == "Indian/Mayotte"


@pytest.mark.parametrize("latitude, longitude, expected", [
    ("44,8378", "-0,5792", None),            # decimal commas are read
    ("44.8378", "", "une seule est donnée"),
    ("95", "-0.57", "hors limites"),
    ("nord", "ouest", "illisibles"),
])
def test_coordinate_formats(latitude, longitude, expected):
    result = check(venue(latitude=latitude, longitude=longitude))
    if expected is None:
        assert result.records[0].values["latitude"] == 44.8378
    else:
        assert result.rejected == 1 and expected in result.errors[0].reason


def test_invalid_hours_are_kept_as_text_and_flagged_never_dropped():
    result = check(venue(horaires="du lundi au vendredi 9h-17h"))
    (record,) = result.records
    assert record.values["horaires"] == "du lundi au vendredi 9h-17h"
    assert record.hours is None
    assert record.flags == [{"code": validate.FLAG_HOURS, "field": "horaires",
                             "message": record.flags[0]["message"]}]
    assert "OpenStreetMap" in record.flags[0]["message"]


def test_valid_hours_are_parsed_in_the_venue_time_zone():
    result = check(venue(code_postal="97400", latitude="-20.8789", longitude="55.4481",
                         horaires="Mo-Fr 08:00-12:00; PH off"))
    (record,) = result.records
    assert record.hours is not None and record.hours.tz == "Indian/Reunion"


def test_duplicates_in_a_file_keep_the_latest_date_maj_then_the_last_line():
    result = check(venue(nom="A", date_maj="2024-05-01"), venue(nom="B", date_maj="2024-01-01"),
                   venue(id="b-2", nom="C"), venue(id="b-2", nom="D"))
    kept = {r.source_id: r.values["nom"] for r in result.records}
    assert kept == {"a-1": "A", "b-2": "D"}
    dropped = sorted(p.line for p in result.problems if p.field == "id")
    assert dropped == [3, 4]


@pytest.mark.parametrize("field, value, reason", [
    ("nom", "", "champ obligatoire vide"),
    ("date_maj", "", "champ obligatoire vide"),
    ("date_maj", "02/04/2024", "date illisible"),
    ("code_postal", "3300", "pas un code postal"),
    ("pivot", "123", "ni un SIRET"),
    ("services", "Cuisine", "absente de la liste"),
    ("presentation_resume", "x" * 281, "281 caractères"),
])
def test_rejections_name_the_field(field, value, reason):
    result = check(venue(**{field: value}))
    assert result.rejected == 1
    assert [(p.field, p.level) for p in result.errors] == [(field, ERROR)]
    assert reason in result.errors[0].reason


def test_phone_numbers_are_normalised_and_unreadable_ones_reported():
    result = check(venue(telephone="05 57 65 75 39|0033 1 80 05 98 80|3949"))
    (record,) = result.records
    assert record.values["telephone"] == ["+33557657539", "+33180059880"]
    assert [p.field for p in result.problems] == ["telephone"]


@pytest.mark.parametrize("raw, postal_code, expected", [
    ("0262 12 34 56", "97400", "+262262123456"),     # Réunion, fixed
    ("0262 12 34 56", "33000", "+262262123456"),     # valid only in Réunion, wherever listed
    ("0692 12 34 56", "97400", "+262692123456"),     # Réunion, mobile
    ("0590 12 34 56", "97110", "+590590123456"),     # Guadeloupe
    ("0594 12 34 56", "97300", "+594594123456"),     # Guyane
    ("0596 71 12 34", "97200", "+596596711234"),     # Martinique
    ("0269 61 12 34", "97600", "+262269611234"),     # Mayotte (shares +262 with Réunion)
    ("06 12 34 56 78", "97400", "+33612345678"),     # a metropolitan mobile in Réunion
    ("05 57 65 75 39", "97400", "+33557657539"),
    ("+262 262 12 34 56", "33000", "+262262123456"),  # already international
    ("+330557657539", "33000", "+33557657539"),      # the 0 after +33 is dropped
])
def test_phone_numbers_are_read_in_the_venues_territory(raw, postal_code, expected):
    result = check(venue(telephone=raw, code_postal=postal_code))
    (record,) = result.records
    assert record.values["telephone"] == [expected]


def test_phone_region_follows_the_venues_codes():
    assert validate.phone_region("97400", None) == "RE"
    assert validate.phone_region(None, "97611") == "YT"
    assert validate.phone_region("97133", "97701") == "BL"
    assert validate.phone_region("33000", "33063") == "FR"
    assert validate.phone_region(None, None) == "FR"


def test_implausible_date_is_kept_and_flagged():
    result = check(venue(date_maj="1970-01-01"))
    (record,) = result.records
    assert record.values["date_maj"] == dt.date(1970, 1, 1)
    assert record.flags[0]["code"] == validate.FLAG_DATE


def test_content_hash_changes_with_content_and_date_only():
    base = check(venue()).records[0]
    same = check(venue()).records[0]
    other_date = check(venue(date_maj="2024-04-03")).records[0]
    other_name = check(venue(nom="Autre")).records[0]
    digest = validate.content_hash(base.values, base.status)
    assert digest == validate.content_hash(same.values, same.status)
    assert digest != validate.content_hash(other_date.values, other_date.status)
    assert digest != validate.content_hash(other_name.values, other_name.status)
    assert digest != validate.content_hash(base.values, "closed")
