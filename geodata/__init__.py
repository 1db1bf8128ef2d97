"""Territories of France, geocoding, coverage and investment planning, maps."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from . import (
        coverage_catalogue_commands,  # noqa: F401  (coverage refresh, suggest…)
        coverage_models,  # noqa: F401  (coverage tables, for migrations)
        models,  # noqa: F401  (tables known to migrations)
    )
    from .api import init_app as init_api
    from .commands import geodata_cli
    from .coverage_api import init_app as init_coverage_api
    from .coverage_commands import coverage_cli
    from .geocoding import init_app as init_geocoder
    from .map_api import init_app as init_map_api
    from .views import init_app as init_views

    app.cli.add_command(coverage_cli)
    app.cli.add_command(geodata_cli)
    init_api(app)
    init_coverage_api(app)
    init_geocoder(app)
    init_views(app)
    init_map_api(app)
