"""French text written once: folding, slugs, numbers, filters registered once."""

from __future__ import annotations

import datetime as dt

import pytest

from core import templating, text


def test_one_folding_for_names_hours_and_slugs():
    assert text.strip_accents("Vœuil-et-Giget, Saint-Étienne") == "Voeuil-et-Giget, Saint-Etienne"
    assert text.strip_accents("Vœuil", ligatures=False) == "Vœuil"
    assert text.slug("Aide aux démarches administratives") == \
        "aide-aux-demarches-administratives"
    # Import keys (mappings' `slug`) and demo addresses keep their earlier spelling: what
    # has no ASCII letter once unaccented is dropped.
    assert text.slug("L’École de Vœuil") == "lecole-de-vuil"
    assert text.slug("  Médiathèque -- d'Agen ") == "mediatheque-d-agen"


@pytest.mark.parametrize(("value", "digits", "expected"), [
    (12345.6, 1, "12\u202f345,6"), (1234567, 0, "1\u202f234\u202f567"), (0.5, 2, "0,50")])
def test_numbers(value, digits, expected):
    assert text.number_fr(value, digits) == expected


def test_money_share_distance_dates():
    assert text.euros_fr(1000) == "10 €"
    assert text.euros_fr(1250) == "12,50 €"
    assert text.euros_fr(1000, always_cents=True) == "10,00 €"
    assert text.share_fr(1, 8) == "12,5 %"
    assert text.share_fr(1, 0) == "—"
    assert text.km_fr(2500) == "2,5 km"
    assert text.distance_fr(2340) == "à 2,3 km"
    assert text.date_fr(dt.date(2026, 1, 1)) == "1er janvier 2026"
    assert text.relative_day_fr(dt.date(2026, 12, 3), dt.date(2026, 12, 1)) == "jeudi"
    assert text.duration_fr(90) == "1 h 30"
    assert text.language_fr("nl") == "néerlandais"


def test_a_filter_name_is_registered_once(app):
    assert app.jinja_env.filters["capfirst"] is text.capfirst
    with pytest.raises(RuntimeError, match="capfirst"):
        templating.add_filters(app, {"capfirst": str.upper})
    assert app.jinja_env.filters["capfirst"] is text.capfirst
