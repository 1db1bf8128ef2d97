"""HTML pages of the catalogue: the venue page /lieux/<id>, in plain French."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, current_app, render_template

from core import clock
from extensions import db

from . import services

bp = Blueprint("directory", __name__)


@bp.get("/lieux/<int:venue_id>")
def venue_page(venue_id: int):
    venue = services.venue_detail(db.session, venue_id, clock.now())
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


def phone_fr(phone: str) -> str:
    """A French number shown in pairs ("+33556000000" -> "05 56 00 00 00"); else as given."""
    digits = re.sub(r"[^\d+]", "", phone or "")
    if re.fullmatch(r"\+33\d{9}", digits):
        digits = "0" + digits[3:]
    if re.fullmatch(r"0\d{9}", digits):
        return " ".join(digits[i:i + 2] for i in range(0, 10, 2))
    return phone


def web_url(url: str | None) -> str | None:
    """The URL if it is http(s), else None: imported data never becomes javascript: links."""
    if not url:
        return None
    url = url.strip()
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def site_label(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc.removeprefix("www.") + parts.path.rstrip("/")) or url


# Filters of the venue's contacts (the French wording is core.templating's).
FILTERS = {"tel_href": tel_href, "phone_fr": phone_fr, "web_url": web_url,
           "site_label": site_label}
