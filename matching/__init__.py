"""matching: see ARCHITECTURE.md."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands."""
