"""Opening hours: parsing, evaluation in the venue's zone with French holidays, French wording,
weekly intervals for SQL, and per-day columns from local files."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from opening_hours import OpeningHours

from directory import hours as H
from directory.hours import (
    InvalidHours,
    cell_to_ranges,
    days_to_osm,
    describe_day,
    describe_next_opening,
    describe_week,
    format_date_fr,
    format_time_fr,
    is_open,
    is_public_holiday,
    next_opening,
    open_intervals,
    parse,
    reference_weeks,
    text_to_osm,
    timezone_for_code_insee,
    timezone_for_departement,
    timezone_for_postal_code,
    weekly_intervals,
)
from tests.conftest import shared_data

PARIS = ZoneInfo("Europe/Paris")
TYPICAL = "Mo-Fr 09:00-12:00,14:00-18:30; Sa 08:30-12:00; PH off"


# --------------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    ("code", "tz"),
    [
        ("971", "America/Guadeloupe"),
        ("972", "America/Martinique"),
        ("973", "America/Cayenne"),
        ("974", "Indian/Reunion"),
        ("975", "America/Miquelon"),
        ("976", "Indian/Mayotte"),
        ("977", "America/St_Barthelemy"),
        ("978", "America/Marigot"),
        ("986", "Pacific/Wallis"),
        ("987", "Pacific/Tahiti"),
        ("988", "Pacific/Noumea"),
        ("33", "Europe/Paris"),
        ("2A", "Europe/Paris"),
        ("01", "Europe/Paris"),
    ],
)
def test_timezone_for_departement(code, tz):
    assert timezone_for_departement(code) == tz
    ZoneInfo(tz)  # a real IANA zone


@pytest.mark.parametrize(
    ("code_insee", "tz"),
    [
        ("97411", "Indian/Reunion"),
        ("98818", "Pacific/Noumea"),
        ("33063", "Europe/Paris"),
        ("2A004", "Europe/Paris"),
        ("97701", "America/St_Barthelemy"),
    ],
)
def test_timezone_for_code_insee(code_insee, tz):
    assert timezone_for_code_insee(code_insee) == tz


@pytest.mark.parametrize(
    ("postal_code", "tz"),
    [
        ("97400", "Indian/Reunion"),
        ("97133", "America/St_Barthelemy"),
        ("97150", "America/Marigot"),
        ("97100", "America/Guadeloupe"),
        ("98800", "Pacific/Noumea"),
        ("33000", "Europe/Paris"),
        ("20000", "Europe/Paris"),
    ],
)
def test_timezone_for_postal_code(postal_code, tz):
    assert timezone_for_postal_code(postal_code) == tz


# --------------------------------------------------------------------------- parsing


def test_parse_keeps_the_text_and_strips_only_whitespace():
    hours = parse(f"  {TYPICAL}\n")
    assert hours.osm == TYPICAL
    assert hours.tz == "Europe/Paris"
    assert parse("Mo 9:00-12:00").osm == "Mo 9:00-12:00"  # never rewritten…
    assert parse("Mo 9:00-12:00").canonical == "Mo 09:00-12:00"  # …the parser's form is apart


def test_hours_are_values():
    assert parse(TYPICAL) == parse(TYPICAL)
    assert parse(TYPICAL) != parse(TYPICAL, "Indian/Reunion")
    assert hash(parse(TYPICAL)) == hash(parse(TYPICAL))
    copy = pickle.loads(pickle.dumps(parse(TYPICAL, "Indian/Reunion")))
    assert copy == parse(TYPICAL, "Indian/Reunion")
    assert is_open(copy, datetime(2025, 1, 6, 10))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "garbage",
        "Mo-Fr 9h-12h",
        "lundi 9h-12h",
        "Mo-Fr 09:00-12:00;",
        "Mo-Fr 25:00-26:00",
        "Mo-Fr 09:00-12:00 14:00-18:00",
        "Accepte le Pass numérique",
    ],
)
def test_invalid_strings_raise_with_a_french_message(text):
    with pytest.raises(InvalidHours) as info:
        parse(text)
    message = str(info.value)
    assert message == info.value.message_fr
    assert message.startswith("horaires")
    if text.strip():
        assert text.strip() in message


def test_invalid_message_points_at_the_error():
    with pytest.raises(InvalidHours, match="caractère 7"):
        parse("Mo-Fr 9h-12h")


def test_not_a_string_raises():
    with pytest.raises(InvalidHours):
        parse(None)  # type: ignore[arg-type]


def test_unknown_time_zone_is_a_programming_error():
    with pytest.raises(ValueError, match="fuseau horaire inconnu"):
        parse("24/7", "Europe/Nowhere")


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2024, 12, 24, 10, 0), True),  # Tuesday morning
        (datetime(2024, 12, 24, 12, 0), False),  # end is exclusive
        (datetime(2024, 12, 24, 13, 59), False),
        (datetime(2024, 12, 24, 18, 29), True),
        (datetime(2024, 12, 25, 10, 0), False),  # Christmas, a Wednesday: PH off
        (datetime(2025, 7, 14, 10, 0), False),  # Bastille day, a Monday: PH off
        (datetime(2025, 7, 15, 10, 0), True),
        (datetime(2025, 5, 1, 10, 0), False),  # 1st of May, a Thursday
        (datetime(2025, 4, 21, 10, 0), False),  # Easter Monday
        (datetime(2024, 12, 28, 11, 59), True),  # Saturday
        (datetime(2024, 12, 29, 11, 0), False),  # Sunday
    ],
)
def test_is_open_with_french_public_holidays(at, expected):
    assert is_open(parse(TYPICAL), at) is expected


def test_public_holidays_need_the_country():
    """What this module protects against: the bare parser ignores PH off."""
    christmas = datetime(2024, 12, 25, 10)
    assert OpeningHours(TYPICAL).is_open(christmas)
    assert not is_open(parse(TYPICAL), christmas)


def test_is_public_holiday():
    assert is_public_holiday(date(2025, 12, 25))
    assert is_public_holiday(date(2025, 7, 14))
    assert is_public_holiday(date(2025, 12, 25), "Indian/Reunion")
    assert not is_public_holiday(date(2025, 12, 24))


@pytest.mark.parametrize("departement", ["57", "67", "68"])
def test_alsace_moselle_has_good_friday_and_26_december(departement):
    for day in (date(2026, 4, 3), date(2026, 12, 26), date(2027, 3, 26)):
        assert is_public_holiday(day, departement=departement)
        assert not is_public_holiday(day)                        # not in the rest of France
        assert not is_public_holiday(day, departement="33")


@pytest.mark.parametrize("tz, day", [
    ("Indian/Reunion", date(2026, 12, 20)),      # abolition of slavery
    ("America/Guadeloupe", date(2026, 5, 27)),
    ("America/Martinique", date(2026, 5, 22)),
    ("America/Cayenne", date(2026, 6, 10)),
    ("Indian/Mayotte", date(2026, 4, 27)),
])
def test_overseas_holidays_follow_the_time_zone(tz, day):
    assert is_public_holiday(day, tz)
    assert not is_public_holiday(day)
    hours = parse("Mo-Su 09:00-12:00; PH off", tz)
    assert not is_open(hours, datetime.combine(day, time(10)))
    assert is_open(parse("Mo-Su 09:00-12:00; PH off"), datetime.combine(day, time(10)))


def test_ph_rules_apply_on_regional_holidays():
    moselle = parse("Mo-Fr 09:00-12:00; PH off", departement="57")
    good_friday = datetime(2026, 4, 3, 10)
    assert not is_open(moselle, good_friday)
    assert is_open(parse("Mo-Fr 09:00-12:00; PH off"), good_friday)
    assert describe_day(moselle, date(2026, 4, 3)) == "fermé le 3 avril (jour férié)"
    assert moselle.canonical == "Mo-Fr 09:00-12:00; PH closed"   # shown as given
    # Opening hours of its own on holidays, listed with other days.
    special = parse("Mo-Fr 09:00-17:00; Sa,PH 10:00-12:00", departement="67")
    assert open_intervals(special, datetime(2026, 4, 3), datetime(2026, 4, 4)) == [
        (datetime(2026, 4, 3, 10), datetime(2026, 4, 3, 12))]
    assert is_open(parse("Mo-Fr 09:00-17:00; PH off", departement="68"),
                   datetime(2026, 4, 2, 10))               # the day before is a working day
    # A rule written after the PH rule still wins, as on national holidays.
    later = parse("PH off; Fr 09:00-12:00", departement="57")
    assert is_open(later, good_friday)
    assert is_open(later, datetime(2026, 5, 1, 10))          # 1 May, a national holiday


def test_aware_instants_are_read_in_the_venue_time_zone():
    # 05:30 UTC on a Monday: 09:30 in Réunion (UTC+4, open), 06:30 in Paris (closed).
    instant = datetime(2025, 1, 6, 5, 30, tzinfo=UTC)
    reunion = parse("Mo-Fr 09:00-12:00", timezone_for_departement("974"))
    paris = parse("Mo-Fr 09:00-12:00")
    assert is_open(reunion, instant)
    assert not is_open(paris, instant)
    # naive = venue local time
    assert is_open(reunion, datetime(2025, 1, 6, 9, 30))
    # a ZoneInfo works as well as datetime.UTC
    assert is_open(reunion, datetime(2025, 1, 6, 5, 30, tzinfo=ZoneInfo("UTC")))


def test_summer_time_is_applied_in_paris():
    hours = parse("Mo-Fr 09:00-12:00")
    # 07:30 UTC is 09:30 in July (UTC+2) but 08:30 in January (UTC+1).
    assert is_open(hours, datetime(2025, 7, 7, 7, 30, tzinfo=UTC))
    assert not is_open(hours, datetime(2025, 1, 6, 7, 30, tzinfo=UTC))


def test_midnight_crossing_ranges():
    hours = parse("Fr-Sa 22:00-02:00")
    assert is_open(hours, datetime(2025, 1, 10, 23, 0))  # Friday night
    assert is_open(hours, datetime(2025, 1, 11, 1, 59))  # Saturday early morning
    assert not is_open(hours, datetime(2025, 1, 11, 2, 0))
    assert is_open(hours, datetime(2025, 1, 12, 1, 0))  # Sunday early morning, from Saturday
    assert not is_open(hours, datetime(2025, 1, 10, 1, 0))  # Friday early: Thursday is closed


def test_next_opening():
    hours = parse(TYPICAL)
    now = datetime(2024, 12, 24, 10, 0)
    assert next_opening(hours, now) is now  # open now
    assert next_opening(hours, datetime(2024, 12, 24, 12, 0)) == datetime(2024, 12, 24, 14, 0)
    # Christmas skipped
    assert next_opening(hours, datetime(2024, 12, 24, 19, 0)) == datetime(2024, 12, 26, 9, 0)
    assert next_opening(parse("Mo 10:00-11:00"), datetime(2025, 1, 7), within_days=5) is None
    assert next_opening(parse("off"), datetime(2025, 1, 7)) is None


def test_next_opening_keeps_awareness():
    reunion = parse("Mo-Fr 09:00-12:00", "Indian/Reunion")
    found = next_opening(reunion, datetime(2025, 1, 6, 10, 0, tzinfo=UTC))  # 14:00 in Réunion
    assert found == datetime(2025, 1, 7, 9, 0, tzinfo=ZoneInfo("Indian/Reunion"))
    assert found.utcoffset() == timedelta(hours=4)
    assert found == datetime(2025, 1, 7, 5, 0, tzinfo=UTC)


def test_open_intervals():
    hours = parse(TYPICAL)
    assert open_intervals(hours, datetime(2024, 12, 24, 10), datetime(2024, 12, 26, 10)) == [
        (datetime(2024, 12, 24, 10), datetime(2024, 12, 24, 12)),
        (datetime(2024, 12, 24, 14), datetime(2024, 12, 24, 18, 30)),
        (datetime(2024, 12, 26, 9), datetime(2024, 12, 26, 10)),
    ]
    start, end = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 7, tzinfo=UTC)
    aware = open_intervals(hours, start, end)
    assert aware == [
        (datetime(2025, 1, 6, 9, tzinfo=PARIS), datetime(2025, 1, 6, 12, tzinfo=PARIS)),
        (datetime(2025, 1, 6, 14, tzinfo=PARIS), datetime(2025, 1, 6, 18, 30, tzinfo=PARIS)),
    ]
    assert open_intervals(hours, datetime(2025, 1, 7), datetime(2025, 1, 6)) == []


def test_open_intervals_merge_across_comments():
    hours = parse('Mo 09:00-12:00 "accueil libre", Mo 12:00-14:00 "sur rendez-vous"')
    assert open_intervals(hours, datetime(2025, 1, 6), datetime(2025, 1, 7)) == [
        (datetime(2025, 1, 6, 9), datetime(2025, 1, 6, 14))
    ]


@pytest.mark.parametrize(
    "osm",
    [
        "Mo-Fr 09:00-12:00 || unknown",
        "Mo-Fr 09:00-12:00; PH off || unknown",
        'Mo 09:00-12:00 || Tu-Fr 10:00-11:00 || closed "fermé"',
        "Su 22:00-02:00 || unknown",
    ],
)
def test_fallback_rules_are_evaluated_like_the_parser_state(osm):
    """opening-hours-py 2.1.4 gives one interval over everything for a fallback without
    selector; our intervals must follow the parser's own state instead."""
    hours = parse(osm)
    start, end = datetime(2025, 1, 4), datetime(2025, 1, 18)
    spans = open_intervals(hours, start, end)
    at = start
    while at < end:
        inside = any(s <= at < e for s, e in spans)
        assert inside == is_open(hours, at), at
        at += timedelta(minutes=30)


def test_fallback_hours_in_words():
    hours = parse("Mo-Fr 09:00-12:00 || unknown")
    assert describe_day(hours, date(2025, 1, 6)) == "ouvert le lundi 6 janvier de 9 h à 12 h"
    assert describe_day(hours, date(2025, 1, 5)) == "horaires à confirmer le dimanche 5 janvier"
    assert next_opening(hours, datetime(2025, 1, 6, 13)) == datetime(2025, 1, 7, 9)
    assert weekly_intervals(hours)[:2] == [(540, 720), (1980, 2160)]


# --------------------------------------------------------------------------- weekly intervals


def test_weekly_intervals_typical():
    assert weekly_intervals(parse(TYPICAL)) == [
        (540, 720), (840, 1110),  # Monday
        (1980, 2160), (2280, 2550),
        (3420, 3600), (3720, 3990),
        (4860, 5040), (5160, 5430),
        (6300, 6480), (6600, 6870),  # Friday
        (7710, 7920),  # Saturday 08:30-12:00
    ]  # fmt: skip
    assert parse(TYPICAL).regular


def test_weekly_intervals_always_open():
    assert weekly_intervals(parse("24/7")) == [(0, 10080)]
    assert weekly_intervals(parse("Mo-Su 00:00-24:00; PH off")) == [(0, 10080)]
    assert weekly_intervals(parse("off")) == []


def test_weekly_intervals_merge_adjacent_ranges():
    # a later rule for the same day replaces the earlier one (OSM semantics)
    assert weekly_intervals(parse("Mo 09:00-12:00; Mo 12:00-14:00")) == [(720, 840)]
    assert weekly_intervals(parse("Mo 09:00-12:00,12:00-14:00")) == [(540, 840)]
    # Monday until midnight then Tuesday from midnight: one range
    assert weekly_intervals(parse("Mo 20:00-24:00; Tu 00:00-03:00")) == [(1200, 1620)]


def test_weekly_intervals_split_over_sunday_midnight():
    assert weekly_intervals(parse("Su 22:00-02:00")) == [(0, 120), (9960, 10080)]
    assert weekly_intervals(parse("Fr 22:00-02:00")) == [(7080, 7320)]


def test_weekly_intervals_in_other_time_zones_are_local():
    assert weekly_intervals(parse("Mo 09:00-12:00", "Indian/Reunion")) == [(540, 720)]
    assert weekly_intervals(parse("Mo 09:00-12:00", "Pacific/Noumea")) == [(540, 720)]


def test_weekly_intervals_of_alternate_weeks():
    hours = parse("week 1-53/2 Tu 09:00-12:30; week 2-52/2 Th 14:00-16:00; PH off")
    assert weekly_intervals(hours) == [(1980, 2190), (5160, 5280)]
    assert weekly_intervals(hours, every_week=True) == []
    assert not hours.regular


def test_weekly_intervals_of_seasonal_hours():
    hours = parse("Mo-Fr 09:00-17:00; Jul-Aug Sa 10:00-12:00; Aug Mo off")
    assert weekly_intervals(hours) == [
        (540, 1020),
        (1980, 2460),
        (3420, 3900),
        (4860, 5340),
        (6300, 6780),
        (7800, 7920),
    ]
    assert weekly_intervals(hours, every_week=True) == [
        (1980, 2460),
        (3420, 3900),
        (4860, 5340),
        (6300, 6780),
    ]


def test_reference_weeks_have_no_holiday_and_no_clock_change():
    for tz in ("Europe/Paris", "Indian/Reunion", "America/Miquelon", "Pacific/Noumea"):
        weeks = reference_weeks(tz)
        assert len(weeks) >= 35
        zone = ZoneInfo(tz)
        for monday in weeks:
            assert monday.weekday() == 0 and monday.isocalendar()[0] == 2025
            days = [monday + timedelta(days=i) for i in range(7)]
            assert not any(is_public_holiday(d, tz) for d in days)
            offsets = {
                datetime.combine(d, time(h), tzinfo=zone).utcoffset()
                for d in days
                for h in range(24)
            }
            assert len(offsets) == 1
    paris = reference_weeks()
    assert date(2025, 7, 14) - timedelta(days=0) not in paris  # Bastille-day week excluded
    assert date(2025, 3, 24) not in paris  # week of the switch to summer time
    assert date(2025, 1, 6) in paris


# --------------------------------------------------------------------------- French wording


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (time(9), "9 h"),
        (time(18, 30), "18 h 30"),
        (time(0), "0 h"),
        (time(8, 5), "8 h 05"),
        (time(12), "12 h"),
    ],
)
def test_format_time_fr(value, text):
    assert format_time_fr(value) == text


def test_format_date_fr():
    assert format_date_fr(date(2024, 11, 28)) == "jeudi 28 novembre"
    assert format_date_fr(date(2025, 5, 1)) == "jeudi 1er mai"
    assert format_date_fr(date(2025, 8, 15), weekday=False) == "15 août"


def test_describe_day():
    hours = parse(TYPICAL)
    tuesday = date(2024, 12, 24)
    assert describe_day(hours, tuesday, today=tuesday) == (
        "ouvert aujourd'hui de 9 h à 12 h et de 14 h à 18 h 30"
    )
    assert describe_day(hours, date(2024, 12, 29), today=date(2024, 12, 29)) == "fermé aujourd'hui"
    assert describe_day(hours, date(2024, 12, 27), today=tuesday) == (
        "ouvert vendredi de 9 h à 12 h et de 14 h à 18 h 30"
    )
    assert describe_day(hours, date(2024, 12, 28), today=date(2024, 12, 27)) == (
        "ouvert demain de 8 h 30 à 12 h"
    )
    assert describe_day(hours, date(2025, 1, 7)) == (
        "ouvert le mardi 7 janvier de 9 h à 12 h et de 14 h à 18 h 30"
    )
    assert describe_day(parse("Tu 14:00-17:00"), date(2025, 1, 7), today=date(2025, 1, 5)) == (
        "ouvert mardi de 14 h à 17 h"
    )


def test_describe_day_on_a_public_holiday():
    hours = parse(TYPICAL)
    assert describe_day(hours, date(2024, 12, 25)) == "fermé le 25 décembre (jour férié)"
    assert describe_day(hours, date(2025, 7, 14), today=date(2025, 7, 10)) == (
        "fermé le 14 juillet (jour férié)"
    )
    assert describe_day(hours, date(2025, 5, 1), today=date(2025, 5, 1)) == (
        "fermé aujourd'hui (jour férié)"
    )
    assert describe_day(parse("Mo-Fr 09:00-12:00; PH 10:00-11:00"), date(2025, 12, 25)) == (
        "ouvert le 25 décembre (jour férié) de 10 h à 11 h"
    )


def test_describe_day_special_cases():
    assert describe_day(parse("24/7"), date(2025, 1, 7)) == (
        "ouvert le mardi 7 janvier toute la journée"
    )
    late = parse("Mo-Fr 22:00-02:00")
    assert describe_day(late, date(2025, 1, 6), today=date(2025, 1, 6)) == (
        "ouvert aujourd'hui de 22 h à 2 h"
    )
    assert describe_day(late, date(2025, 1, 11), today=date(2025, 1, 10)) == (
        "ouvert demain jusqu'à 2 h"
    )
    assert describe_day(parse("Mo 20:00-24:00"), date(2025, 1, 6), today=date(2025, 1, 6)) == (
        "ouvert aujourd'hui de 20 h à minuit"
    )
    assert (
        describe_day(
            parse('Mo 14:00-17:00 "sur rendez-vous"'), date(2025, 1, 6), today=date(2025, 1, 6)
        )
        == "ouvert aujourd'hui de 14 h à 17 h (sur rendez-vous)"
    )
    assert (
        describe_day(parse('Mo unknown "appeler avant"'), date(2025, 1, 6), today=date(2025, 1, 6))
        == "horaires à confirmer aujourd'hui (appeler avant)"
    )


def test_describe_day_in_reunion_uses_local_holidays_and_hours():
    hours = parse("Mo-Fr 08:00-12:00; PH off", "Indian/Reunion")
    assert describe_day(hours, date(2025, 12, 25)) == "fermé le 25 décembre (jour férié)"
    assert describe_day(hours, date(2025, 12, 26)) == "ouvert le vendredi 26 décembre de 8 h à 12 h"


def test_describe_week():
    assert describe_week(parse(TYPICAL)) == [
        ("lundi", "9 h – 12 h, 14 h – 18 h 30"),
        ("mardi", "9 h – 12 h, 14 h – 18 h 30"),
        ("mercredi", "9 h – 12 h, 14 h – 18 h 30"),
        ("jeudi", "9 h – 12 h, 14 h – 18 h 30"),
        ("vendredi", "9 h – 12 h, 14 h – 18 h 30"),
        ("samedi", "8 h 30 – 12 h"),
        ("dimanche", "fermé"),
    ]


def test_describe_week_special_cases():
    assert [t for _, t in describe_week(parse("24/7"))] == ["24 h/24"] * 7
    assert describe_week(parse("Su 22:00-02:00"))[6] == ("dimanche", "22 h – 2 h")
    assert describe_week(parse("Su 22:00-02:00"))[0] == ("lundi", "fermé")
    assert describe_week(parse("week 1-53/2 Tu 09:00-12:00"))[1] == (
        "mardi",
        "9 h – 12 h (certaines semaines)",
    )
    assert describe_week(parse("Fr 20:00-24:00"))[4] == ("vendredi", "20 h – minuit")
    weekend = describe_week(parse("Sa 08:00-24:00; Su 00:00-24:00; Mo 00:00-18:00"))
    assert weekend[5:] + weekend[:1] == [
        ("samedi", "8 h – minuit"),
        ("dimanche", "24 h/24"),
        ("lundi", "0 h – 18 h"),
    ]


def test_describe_next_opening():
    hours = parse(TYPICAL)
    assert describe_next_opening(hours, datetime(2024, 11, 27, 19)) == (
        "prochaine ouverture : demain à 9 h"
    )
    assert describe_next_opening(hours, datetime(2024, 11, 29, 19)) == (
        "prochaine ouverture : demain à 8 h 30"
    )
    assert describe_next_opening(hours, datetime(2024, 11, 30, 12)) == (
        "prochaine ouverture : lundi 2 décembre à 9 h"
    )
    assert describe_next_opening(hours, datetime(2024, 11, 27, 12, 30)) == (
        "prochaine ouverture : aujourd'hui à 14 h"
    )
    assert describe_next_opening(hours, datetime(2024, 12, 24, 19)) == (
        "prochaine ouverture : jeudi 26 décembre à 9 h"
    )
    assert describe_next_opening(hours, datetime(2024, 12, 24, 10)) == (
        "ouvert en ce moment, jusqu'à 12 h"
    )
    assert describe_next_opening(parse("24/7"), datetime(2024, 12, 24, 10)) == "ouvert en ce moment"
    assert describe_next_opening(parse("Mo 10:00-11:00"), datetime(2025, 1, 7), 5) == (
        "aucune ouverture prévue dans les 5 prochains jours"
    )


# --------------------------------------------------------------------------- per-day columns


def test_days_to_osm_groups_identical_consecutive_days():
    assert (
        days_to_osm(
            {
                "lundi": "9h-12h / 14h-18h",
                "mardi": "9h-12h / 14h-18h",
                "mercredi": "09:00 - 12:30",
                "jeudi": "fermé",
                "samedi": "de 9h à 12h",
            }
        )
        == "Mo-Tu 09:00-12:00,14:00-18:00; We 09:00-12:30; Sa 09:00-12:00"
    )


def test_days_to_osm_joins_equal_groups_and_adds_holidays_on_request():
    mapping = {
        "Lundi": "9h-12h",
        "MARDI": "9h-12h",
        "mercredi": "",
        "jeudi": "9h - 12h",
        "vendredi": "9h-12h",
        "samedi": None,
        "dimanche": "Fermé",
    }
    assert days_to_osm(mapping) == "Mo-Tu,Th-Fr 09:00-12:00"
    assert days_to_osm(mapping, public_holidays="off") == "Mo-Tu,Th-Fr 09:00-12:00; PH off"


def test_days_to_osm_result_is_valid_and_means_the_same():
    osm = days_to_osm({"lundi": "8h30 - 12h, 13h30 - 17h", "vendredi": "14h à 18h"})
    assert osm == "Mo 08:30-12:00,13:30-17:00; Fr 14:00-18:00"
    assert weekly_intervals(parse(osm)) == [(510, 720), (810, 1020), (6600, 6840)]


@pytest.mark.parametrize(
    ("cell", "ranges"),
    [
        ("9h-12h / 14h-18h", [(540, 720), (840, 1080)]),
        ("09:00 - 12:30", [(540, 750)]),
        ("de 9h à 12h", [(540, 720)]),
        ("de 9 h 30 à 12 h", [(570, 720)]),
        ("de 14 à 18h", [(840, 1080)]),
        ("9H30-12H et 14H-17H30", [(570, 720), (840, 1050)]),
        ("10h à 12h 14h à 16h", [(600, 720), (840, 960)]),
        ("9h-12h30 puis 14h-17h", [(540, 750), (840, 1020)]),
        ("14h-18h, 9h-12h", [(540, 720), (840, 1080)]),
        ("9.30-12.00", [(570, 720)]),
        ("24h/24", [(0, 1440)]),
        ("18h-24h", [(1080, 1440)]),
        ("fermé", []),
        ("FERMÉ", []),
        ("", []),
        ("  -  ", []),
    ],
)
def test_cell_to_ranges(cell, ranges):
    assert cell_to_ranges(cell) == ranges


@pytest.mark.parametrize(
    "cell",
    [
        "matin",
        "après-midi",
        "sur rendez-vous",
        "9h-12h (sur RDV)",
        "9-12",
        "14h-12h",
        "9h-25h",
        "9h-12h / 11h-13h",
        "9h",
        "9h-12h et le soir",
        "tous les 15 jours 14h-16h",
        "9h/12h",
    ],
)
def test_cell_to_ranges_refuses_what_it_does_not_understand(cell):
    with pytest.raises(ValueError):
        cell_to_ranges(cell)


def test_days_to_osm_names_the_day_and_the_text():
    with pytest.raises(InvalidHours) as info:
        days_to_osm({"lundi": "9h-12h", "mardi": "sur rendez-vous"})
    assert info.value.day == "mardi"
    assert str(info.value) == "horaires du mardi non compris : « sur rendez-vous »"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"lundy": "9h-12h"}, "jour inconnu : « lundy »"),
        ({"lundi": "9h-12h", "Lundi": "9h-12h"}, "jour donné deux fois : « Lundi »"),
        ({"lundi": "fermé", "mardi": ""}, "aucun jour d'ouverture dans les horaires"),
    ],
)
def test_days_to_osm_refuses_bad_mappings(mapping, message):
    with pytest.raises(InvalidHours, match=message):
        days_to_osm(mapping)


# --------------------------------------------------------------------------- properties

OSM_DAY_CODES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
ZONES = ("Europe/Paris", "Indian/Reunion", "Pacific/Noumea", "America/Miquelon")


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_selectors(draw):
    first = draw(st.integers(0, 6))
    if draw(st.booleans()):
        last = draw(st.integers(first, 6))
        return (
            OSM_DAY_CODES[first]
            if last == first
            else f"{OSM_DAY_CODES[first]}-{OSM_DAY_CODES[last]}"
        )
    days = sorted(draw(st.sets(st.integers(0, 6), min_size=1, max_size=3)))
    return ",".join(OSM_DAY_CODES[d] for d in days)


@st.composite
def time_spans(draw):
    """Five-minute steps; an end before the start crosses midnight; 24:00 allowed."""
    start = draw(st.integers(0, 287)) * 5
    end = draw(st.integers(1, 288)) * 5
    if end == start:
        end = start + 5
    return f"{_clock_text(start)}-{_clock_text(end)}"


@st.composite
def weekly_rules(draw):
    rule = draw(day_selectors())
    if draw(st.integers(0, 5)) == 0:
        return rule + " off"
    spans = draw(st.lists(time_spans(), min_size=1, max_size=3))
    return rule + " " + ",".join(spans)


@st.composite
def weekly_expressions(draw):
    rules = draw(st.lists(weekly_rules(), min_size=1, max_size=4))
    text = rules[0]
    for rule in rules[1:]:
        text += draw(st.sampled_from(["; ", ", "])) + rule
    if draw(st.booleans()):
        text += "; PH off"
    if draw(st.integers(0, 4)) == 0:
        text += draw(st.sampled_from([" || unknown", ' || closed "fermé"', " || Sa 10:00-11:00"]))
    return text


def _inside(ranges, minute):
    return any(s <= minute < e for s, e in ranges)


@pytest.mark.slow  # long property test (80 expressions × zones)
@seed(20261126)
@settings(max_examples=80, deadline=None, database=None)
@given(osm=weekly_expressions(), tz=st.sampled_from(ZONES), week=st.integers(0, 30))
def test_weekly_intervals_agree_with_is_open(osm, tz, week):
    hours = parse(osm, tz)
    ranges = weekly_intervals(hours)
    assert ranges == sorted(ranges)
    assert all(0 <= s < e <= 10080 for s, e in ranges)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(ranges, ranges[1:], strict=False))  # merged
    assert hours.regular and weekly_intervals(hours, every_week=True) == ranges
    monday = datetime.combine(reference_weeks(tz)[week], time(0))
    for minute in range(0, 10080):
        if minute % 5 in (0, 4):  # every boundary and the minute before it
            at = monday + timedelta(minutes=minute)
            assert _inside(ranges, minute) == is_open(hours, at), (osm, tz, at)


@seed(20261127)
@settings(max_examples=40, deadline=None, database=None)
@given(osm=weekly_expressions(), tz=st.sampled_from(ZONES))
def test_single_week_shortcut_equals_the_full_fold(osm, tz):
    hours = parse(osm, tz)
    assert H._weekly(hours.osm, tz) == H._fold_weeks(hours, reference_weeks(tz))


@seed(20261128)
@settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    base=weekly_expressions(),
    varying=st.sampled_from(
        [
            "week 1-53/2 Tu 14:00-17:00",
            "week 2-52/2 Mo-Fr 08:00-10:00",
            "Jul-Aug Sa 10:00-12:00",
            "Jan-Mar Mo off",
            "Nov Th 18:00-20:00",
        ]
    ),
    tz=st.sampled_from(ZONES),
    minutes=st.lists(st.integers(0, 10079), min_size=20, max_size=20),
)
def test_union_and_intersection_over_reference_weeks(base, varying, tz, minutes):
    hours = parse(f"{base}; {varying}", tz)
    union = weekly_intervals(hours)
    common = weekly_intervals(hours, every_week=True)
    mondays = [datetime.combine(m, time(0)) for m in reference_weeks(tz)]
    for minute in minutes + [s for s, _ in union] + [e - 1 for _, e in union]:
        states = [is_open(hours, m + timedelta(minutes=minute)) for m in mondays]
        assert _inside(union, minute) == any(states), (hours.osm, minute)
        assert _inside(common, minute) == all(states), (hours.osm, minute)


# --------------------------------------------------------------------------- free text


@pytest.mark.parametrize(
    ("text", "osm"),
    [
        ("lundi au samedi de 10h à 18h", "Mo-Sa 10:00-18:00"),
        ("du lundi au vendredi 9h-12h / 14h-17h", "Mo-Fr 09:00-12:00,14:00-17:00"),
        ("tous les jours de 8h à 20h", "Mo-Su 08:00-20:00"),
        ("MERCREDI 17h - 19h", "We 17:00-19:00"),
        ("mardi matin 9h-10h30", "Tu 09:00-10:30"),
        ("jeudi après-midi de 14h à 17h", "Th 14:00-17:00"),
        ("lundi de 9h à 12h et de 14h à 17h, mardi fermé", "Mo 09:00-12:00,14:00-17:00"),
        (
            "Lundi, Mardi, Mercredi et Vendredi de 9H30 à 10H30 puis 11h à 12H"
            " et Vendredi de 14h à 15H",
            "Mo-We 09:30-10:30,11:00-12:00; Fr 09:30-10:30,11:00-12:00,14:00-15:00",
        ),
        (
            "le lundi et le mardi de 17H30 à 19H30, le mercredi de 10h à 12H"
            " et le jeudi de 17H à 19H",
            "Mo-Tu 17:30-19:30; We 10:00-12:00; Th 17:00-19:00",
        ),
        ("samedi au lundi 10h-12h", "Mo,Sa-Su 10:00-12:00"),
    ],
)
def test_text_to_osm(text, osm):
    assert text_to_osm(text) == osm
    parse(osm)


@pytest.mark.parametrize(
    "text",
    [
        "samedi APRÈS-MIDI Tous Les 15 jours de 14H à 16h",
        "du lundi au vendredi de 9h à 12h (fermé le mercredi)",
        "sur rendez-vous",
        "9h-12h",
        "lundi",
        "lundi matin fermé",
        "lundi matin de 14h à 17h",
        "lundi 9h-12h, lundi 11h-13h",
        "mardi fermé",
        "",
    ],
)
def test_text_to_osm_refuses_what_it_does_not_understand(text):
    with pytest.raises(InvalidHours) as info:
        text_to_osm(text)
    assert info.value.text == text
    if text:
        assert f"« {text} »" in str(info.value)


def test_text_to_osm_adds_holidays_only_on_request():
    assert text_to_osm("lundi 9h-12h", public_holidays="off") == "Mo 09:00-12:00; PH off"


# --------------------------------------------------------------------------- real files


def _real_rows(*parts):
    return json.loads(shared_data(*parts).read_text(encoding="utf-8"))


def test_real_free_text_hours_of_la_creuse():
    """Every real cell is either turned into a valid OSM string or refused with its text."""
    texts = [r["horaires"] for r in _real_rows("venues", "raw", "la-creuse.json") if r["horaires"]]
    assert len(texts) == 31
    converted, refused = {}, []
    for text in texts:
        try:
            converted[text] = text_to_osm(text)
        except InvalidHours as error:
            assert error.text == text
            refused.append(text)
    assert refused == ["samedi APRÈS-MIDI Tous Les 15 jours de 14H à 16h"]
    assert len(converted) == len(set(texts)) - 1
    for osm in converted.values():
        assert weekly_intervals(parse(osm))
    assert converted["mercredi de 14 à 18h"] == "We 14:00-18:00"
    assert converted["jeudi de 14h à 15h30, et 15h30 à 17h"] == "Th 14:00-15:30,15:30-17:00"
    assert converted["lundi au samedi de 10h à 18h"] == "Mo-Sa 10:00-18:00"
    several = (
        "mardi de 10h à 12h, le mardi de 14h à 16h, le mercredi de 10h à 12h,"
        " le vendredi de 14 à 16h"
    )
    assert converted[several] == "Tu 10:00-12:00,14:00-16:00; We 10:00-12:00; Fr 14:00-16:00"
    # the same cells given as per-day columns give the same string
    columns = {
        "mardi": "de 10h à 12h, de 14h à 16h",
        "mercredi": "de 10h à 12h",
        "vendredi": "de 14 à 16h",
    }
    assert days_to_osm(columns) == converted[several]


@pytest.mark.parametrize(
    ("name", "tz", "count"),
    [
        ("20230711-charente.json", "Europe/Paris", 72),
        ("20231003-bus-france-services-charente.json", "Europe/Paris", 10),
        ("20240320-nouvelle-caledonie.json", "Pacific/Noumea", 69),
    ],
)
def test_real_osm_strings_of_the_standard_parse(name, tz, count):
    texts = [r["horaires"] for r in _real_rows("venues", "standard-v0", name) if r.get("horaires")]
    assert len(texts) == count
    for text in texts:
        hours = parse(text, tz)
        assert weekly_intervals(hours), text
        for _, words in describe_week(hours):
            assert words


def test_real_alternate_weeks_of_the_bus_france_services():
    rows = _real_rows("venues", "standard-v0", "20231003-bus-france-services-charente.json")
    texts = {r["horaires"] for r in rows if r.get("horaires")}
    text = "week 1-53/2 Tu 09:00-12:30,13:30-15:30; PH off"
    assert text in texts
    hours = parse(text)
    assert not hours.regular
    assert weekly_intervals(hours) == [(1980, 2190), (2250, 2370)]
    assert describe_week(hours)[1] == (
        "mardi",
        "9 h – 12 h 30, 13 h 30 – 15 h 30 (certaines semaines)",
    )
    # ISO week 2 of 2025 is even: closed; week 3 is odd: open.
    assert not is_open(hours, datetime(2025, 1, 7, 10))
    assert is_open(hours, datetime(2025, 1, 14, 10))


# --------------------------------------------------------------------------- clock changes


def test_a_time_skipped_by_the_clock_change_moves_forward():
    hours = parse("Su 03:00-04:00")
    # 30 March 2025, 02:30 does not exist in Paris: it is read as 03:30 (summer time).
    assert is_open(hours, datetime(2025, 3, 30, 2, 30))
    assert open_intervals(hours, datetime(2025, 3, 30), datetime(2025, 3, 31)) == [
        (datetime(2025, 3, 30, 3), datetime(2025, 3, 30, 4))
    ]
    assert describe_day(hours, date(2025, 3, 30)) == "ouvert le dimanche 30 mars de 3 h à 4 h"


def test_the_repeated_hour_of_autumn():
    hours = parse("Su 01:00-04:00")
    first = datetime(2025, 10, 26, 2, 30, tzinfo=PARIS)
    second = datetime(2025, 10, 26, 2, 30, fold=1, tzinfo=PARIS)
    assert first.utcoffset() != second.utcoffset()
    assert is_open(hours, first) and is_open(hours, second)
    assert open_intervals(hours, datetime(2025, 10, 26), datetime(2025, 10, 27)) == [
        (datetime(2025, 10, 26, 1), datetime(2025, 10, 26, 4))
    ]


# --------------------------------------------------------------------------- windows for SQL


@pytest.mark.parametrize(
    ("weekday", "start", "end", "ranges"),
    [
        (1, time(14), time(17), [(2280, 2460)]),
        (6, time(22), time(2), [(0, 120), (9960, 10080)]),
        (4, time(20), time(0), [(6960, 7200)]),
        (0, time(9), time(9), [(540, 1980)]),
    ],
)
def test_week_window(weekday, start, end, ranges):
    assert H.week_window(weekday, start, end) == ranges


def test_week_window_rejects_a_bad_weekday():
    with pytest.raises(ValueError):
        H.week_window(7, time(9), time(10))


def test_minute_of_week():
    assert H.minute_of_week(datetime(2025, 1, 7, 14, 0)) == 2280
    assert H.minute_of_week(datetime(2025, 1, 12, 23, 59)) == 10079
    # 10:00 UTC on a Tuesday is 14:00 in Réunion
    assert H.minute_of_week(datetime(2025, 1, 7, 10, 0, tzinfo=UTC), "Indian/Reunion") == 2280


@seed(20261129)
@settings(max_examples=60, deadline=None, database=None)
@given(
    osm=weekly_expressions(),
    weekday=st.integers(0, 6),
    start=st.integers(0, 95),
    length=st.integers(1, 48),
)
def test_window_overlap_agrees_with_is_open(osm, weekday, start, length):
    """What the matcher's SQL filter does (multirange overlap) against the parser."""
    hours = parse(osm)
    begin = time(start // 4, start % 4 * 15)
    finish_minutes = (start * 15 + length * 15) % 1440
    finish = time(finish_minutes // 60, finish_minutes % 60)
    window = H.week_window(weekday, begin, finish)
    overlap = any(s < e2 and s2 < e for s, e in weekly_intervals(hours) for s2, e2 in window)
    monday = datetime.combine(reference_weeks()[3], time(0))
    minutes = [m for s, e in window for m in range(s, e)]
    assert overlap == any(is_open(hours, monday + timedelta(minutes=m)) for m in minutes)
