"""matching: from a beneficiary's situation to ranked venues with reasons (see ARCHITECTURE.md)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands."""
    from extensions import api

    from .api import blp as match_blp
    from .views import bp as pages_bp

    api.register_blueprint(match_blp)
    app.register_blueprint(pages_bp)
