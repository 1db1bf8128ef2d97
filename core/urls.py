"""Which links the application keeps and hands out: a link whose scheme could run something
in a browser (``javascript:``, ``data:``, ``vbscript:`` …) is never stored by the importer
nor returned by the API (the read path's check, in depth). One rule for both."""

from __future__ import annotations

import re

# What is stored and returned: web pages, e-mail addresses and phone numbers.
SAFE_SCHEMES = ("http", "https", "mailto", "tel")
# What a page shows as a link to a web site.
WEB_SCHEMES = ("http", "https")

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore spaces and control characters in a link ("java\nscript:", "\x01javascript:").
_IGNORED = re.compile(r"[\x00-\x20\x7f]")
_BLANKS = "".join(map(chr, range(33))) + "\x7f"


def url_scheme(value: str) -> str | None:
    """The scheme of a link as a browser reads it (as written), or None without one."""
    match = _SCHEME.match(_IGNORED.sub("", value))
    return match.group(1) if match else None


def url_refused(value: str) -> str | None:
    """The scheme of a link we do not store nor return, else None. A link without a scheme
    ("www.exemple.fr") is kept: it runs nothing."""
    scheme = url_scheme(value)
    return scheme if scheme and scheme.lower() not in SAFE_SCHEMES else None


def safe_url(url: str | None, schemes: tuple[str, ...] = SAFE_SCHEMES, *,
             without_scheme: bool = True) -> str | None:
    """``url`` without its surrounding blanks when its scheme is one of ``schemes`` (or it
    has none and ``without_scheme``), else None."""
    if not url:
        return None
    url = url.strip(_BLANKS)
    scheme = url_scheme(url)
    if scheme is None:
        return url if without_scheme and url else None
    return url if scheme.lower() in schemes else None


def safe_urls(urls: list[str] | None) -> list[str] | None:
    """The ``safe_url`` ones of ``urls``, the others left out (None stays None)."""
    return None if urls is None else [u for u in map(safe_url, urls) if u]
