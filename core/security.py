"""Security headers on every response, and a Content-Security-Policy on every page:
our own host only (no inline script or style), plus the configured basemap's tiles."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app


def tile_origin(url: str) -> str | None:
    """The CSP source of a tile URL template (``{s}`` subdomains become a wildcard);
    None for a URL on our own host or no URL."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def content_security_policy(image_origin: str | None) -> str:
    images = "'self' data:" + (f" {image_origin}" if image_origin else "")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'self'")


def init_app(app: Flask) -> None:
    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        if (response.mimetype == "text/html"
                and "Content-Security-Policy" not in response.headers):
            origin = tile_origin(current_app.config.get("PASSERELLE_BASEMAP_URL", ""))
            response.headers["Content-Security-Policy"] = content_security_policy(origin)
        return response
