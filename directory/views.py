"""HTML pages of the catalogue: the venue page /lieux/<id>, in plain French."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import phonenumbers
from flask import Blueprint, current_app, render_template

from extensions import db

from . import hours, services

bp = Blueprint("directory", __name__)

LANGUAGES_FR = {
    "fr": "français", "en": "anglais", "es": "espagnol", "de": "allemand", "it": "italien",
    "pt": "portugais", "ar": "arabe", "tr": "turc", "ro": "roumain", "ru": "russe",
    "uk": "ukrainien", "zh": "chinois", "vi": "vietnamien", "wo": "wolof", "bm": "bambara",
    "ber": "berbère", "fa": "persan", "ps": "pachto", "ta": "tamoul", "pl": "polonais",
}


@bp.get("/lieux/<int:venue_id>")
def venue_page(venue_id: int):
    venue = services.venue_detail(db.session, venue_id, services.clock_now(current_app))
    return render_template(
        "directory/venue.html",
        venue=venue,
        what_to_bring=services.what_to_bring(venue),
        basemap_url=current_app.config.get("PASSERELLE_BASEMAP_URL", ""),
        basemap_attribution=current_app.config.get("PASSERELLE_BASEMAP_ATTRIBUTION", ""),
    )


# --------------------------------------------------------------------------- filters


def capfirst(text: str | None) -> str:
    """Upper-case the first letter only ("ouvert aujourd'hui…" -> "Ouvert aujourd'hui…")."""
    text = text or ""
    return text[:1].upper() + text[1:]


def tel_href(phone: str) -> str:
    """What goes after ``tel:``: digits and a leading +."""
    digits = re.sub(r"[^\d+]", "", phone or "")
    return digits[:1] + digits[1:].replace("+", "")


# Territories whose numbers are dialled from France with a leading 0 (French numbering plan).
_NATIONAL_DIALLING = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF"})


def phone_fr(phone: str) -> str:
    """A number as dialled from France: "+33556000000" -> "05 56 00 00 00", "+262262123456"
    -> "0262 12 34 56"; other countries in international form ("+687 26.12.34"); a number
    that cannot be read is shown as given."""
    try:
        number = phonenumbers.parse(phone or "", "FR")
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_possible_number(number):
        return phone
    national = phonenumbers.region_code_for_number(number) in _NATIONAL_DIALLING \
        or number.country_code == 33
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL
                                      if national else
                                      phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def web_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: imported data never becomes javascript: links."""
    if not url:
        return None
    url = url.strip()
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def site_label(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc.removeprefix("www.") + parts.path.rstrip("/")) or url


def fr_date(value: dt.date | None) -> str:
    """'15 janvier 2026'."""
    return f"{hours.format_date_fr(value, weekday=False)} {value.year}" if value else ""


def fr_datetime(value: dt.datetime) -> str:
    return f"{hours.format_date_fr(value.date())} à {hours.format_time_fr(value.time())}"


def weekday_fr(value: dt.date) -> str:
    return hours.DAY_NAMES_FR[value.weekday()]


def duration_fr(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h" if m == 0 else f"{h} h {m:02d}"


def language_fr(code: str) -> str:
    return LANGUAGES_FR.get(code, code)


FILTERS = {
    "capfirst": capfirst, "tel_href": tel_href, "phone_fr": phone_fr, "web_url": web_url,
    "site_label": site_label,
    "fr_date": fr_date, "fr_datetime": fr_datetime, "weekday_fr": weekday_fr,
    "duration_fr": duration_fr, "language_fr": language_fr,
}


@bp.record_once
def _register_filters(state) -> None:
    for name, function in FILTERS.items():
        state.app.jinja_env.filters.setdefault(name, function)
