"""The catalogue: venues, offers and sessions, voucher programmes and acceptance."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from . import models  # noqa: F401  (tables known to migrations)
