"""Territories of France, geocoding, coverage and investment planning, maps."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from . import models  # noqa: F401  (tables known to migrations)
    from . import coverage_models  # noqa: F401  (coverage tables, for migrations)
    from .coverage_commands import coverage_cli

    app.cli.add_command(coverage_cli)
