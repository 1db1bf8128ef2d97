"""The catalogue: venues, offers and sessions, voucher programmes and acceptance."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from extensions import api

    from . import models  # noqa: F401  (tables known to migrations)
    from .api_programmes import blp as programmes_blp
    from .commands import demo_cli, directory_cli

    # other command modules (they add commands to directory_cli when imported):
    from .import_commands import import_group  # noqa: F401  (directory import / export)
    from .importer import runs  # noqa: F401  (import_run, import_run_row)

    app.cli.add_command(directory_cli)
    app.cli.add_command(demo_cli)
    api.register_blueprint(programmes_blp)

    # Venues: read API and HTML page.
    from core.templating import add_filters

    from . import api as venues_api
    from . import views

    api.register_blueprint(venues_api.blp)
    app.register_blueprint(views.bp)
    add_filters(app, views.FILTERS)

    from core.access import public_blueprint

    # The catalogue is read by everyone; its writes go through accounts' pages and the CLI.
    for blueprint in (programmes_blp, venues_api.blp, views.bp):
        public_blueprint(blueprint)
