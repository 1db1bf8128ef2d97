"""Which URLs the application hands out: a link read from imported data is only given when its
scheme is harmless (never ``javascript:``, ``data:``, ``vbscript:`` …). The importer refuses
the others; this is the read path's check, in depth."""

from __future__ import annotations

from urllib.parse import urlsplit

# What the API returns: web pages, e-mail addresses and phone numbers.
SAFE_SCHEMES = ("http", "https", "mailto", "tel")
# What a page shows as a link to a web site.
WEB_SCHEMES = ("http", "https")


def safe_url(url: str | None, schemes: tuple[str, ...] = SAFE_SCHEMES) -> str | None:
    """``url`` without its surrounding blanks when its scheme is one of ``schemes``, else
    None (no scheme, another scheme, or not a URL at all)."""
    if not url:
        return None
    # Browsers ignore leading control characters and spaces ("\x01javascript:…").
    url = url.strip("".join(map(chr, range(33))))
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in schemes else None
