"""referrals: the prescriber's loop from "I send you there" to "the pass paid for a session"
(see ARCHITECTURE.md). Imports core, directory, geodata and accounts; nothing imports it."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints, commands and template global."""
    from core.access import public_blueprint
    from extensions import api

    from . import models  # noqa: F401  (tables known to migrations)
    from .api import blp as api_blp
    from .commands import referrals_cli
    from .jobs import init_app as init_jobs
    from .views import bp, referral_url

    app.register_blueprint(bp)
    api.register_blueprint(public_blueprint(api_blp))
    app.cli.add_command(referrals_cli)
    init_jobs()
    # /orienter offers "Orienter ici" only when this package is installed.
    app.jinja_env.globals["referral_url"] = referral_url
    # The accounts' pages link to these only when this package is installed.
    app.jinja_env.globals["referral_pages"] = {
        "venue": "referrals.venue_dashboard", "follow_up": "referrals.follow_up",
        "group": "referrals.group", "figures": "referrals.figures_page",
        "person": "referrals.person_data"}
