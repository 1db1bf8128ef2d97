"""Territories of France and their codes, time zones, the reference-data loader, geocoding."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from . import models  # noqa: F401  (tables known to migrations)
    from .api import init_app as init_api
    from .commands import geodata_cli
    from .geocoding import init_app as init_geocoder

    app.cli.add_command(geodata_cli)
    init_api(app)
    init_geocoder(app)

    from core.access import public_blueprint

    from .api import geocoding, territories

    # Reference data: open to everyone.
    public_blueprint(territories)
    public_blueprint(geocoding)
