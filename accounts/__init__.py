"""People, roles, sign-in, invitations, venue self-service, API tokens and the audit journal."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, access enforcement, blueprints and commands."""
    from core import mail
    from core.templating import add_filters
    from extensions import api

    from . import access, models, views  # noqa: F401  (tables known to migrations)
    from .api import blp as api_blp
    from .commands import accounts_cli, journal_cli_commands
    from .jobs import init_app as init_jobs
    from .views import bp

    mail.init_app(app)
    access.init_app(app)
    init_jobs()
    app.register_blueprint(bp)
    api.spec.components.security_scheme("jeton", {
        "type": "http", "scheme": "bearer",
        "description": "Jeton d'API (psl_…) créé par un administrateur, montré une seule fois."})
    api.register_blueprint(api_blp)
    app.cli.add_command(accounts_cli)
    # Every command run (of every package) leaves a row in the audit journal.
    journal_cli_commands(app.cli)
    add_filters(app, {"local_fr": views.local_fr})
