"""HTML pages of the catalogue: the venue page /lieux/<id>, in plain French."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import phonenumbers
from flask import Blueprint, current_app, render_template, request

from core import clock
from core.urls import WEB_SCHEMES, safe_url
from extensions import db

from . import services

bp = Blueprint("directory", __name__)


@bp.get("/lieux/<int:venue_id>")
def venue_page(venue_id: int):
    programme = (request.args.get("programme") or "").strip()[:64] or None
    venue = services.venue_detail(db.session, venue_id, clock.now(), programme)
    return render_template(
        "directory/venue.html",
        venue=venue,
        what_to_bring=services.what_to_bring(venue),
        basemap_url=current_app.config.get("PASSERELLE_BASEMAP_URL", ""),
        basemap_attribution=current_app.config.get("PASSERELLE_BASEMAP_ATTRIBUTION", ""),
    )


# --------------------------------------------------------------------------- filters


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
    return safe_url(url, WEB_SCHEMES, without_scheme=False)


def site_label(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc.removeprefix("www.") + parts.path.rstrip("/")) or url


# Filters of the venue's contacts (the French wording is core.templating's).
def access_plain(values: list[str]) -> str:
    """The standard's modalites_acces in everyday words: "venir sur place, téléphoner"."""
    from .vocabulary import MODALITES_ACCES_PLAIN

    return ", ".join(MODALITES_ACCES_PLAIN.get(v, v.lower()) for v in values or [])


def level_plain(level: int | None) -> str:
    """An offer's level for a beneficiary: "pour débuter" rather than "niveau 1"."""
    from .vocabulary import LEVEL_PLAIN

    return LEVEL_PLAIN.get(level or 0, "")


FILTERS = {"tel_href": tel_href, "phone_fr": phone_fr, "web_url": web_url,
           "site_label": site_label, "access_plain": access_plain, "level_plain": level_plain}
