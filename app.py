"""Passerelle: the application factory and the command-line entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click
from flask import Flask
from flask.cli import FlaskGroup

if TYPE_CHECKING:
    from core.clock import Clock


def create_app(config: Mapping[str, Any] | None = None, *,
               clock: Clock | None = None) -> Flask:
    """Build the application; ``config`` overrides settings read from the environment,
    ``clock`` replaces the real clock (tests freeze it)."""
    from core.cli import speak_french

    # First: click's messages are built when the commands are declared (a path's kind).
    speak_french()
    from core import clock as clocks
    from core import (
        errors,
        jobs_api,
        limits,
        logs,
        openapi,
        request_guard,
        security,
        serving,
        templating,
    )
    from core.config import instance_secret_key, load_config
    from core.database import cache_long_statements
    from extensions import db, migrate

    settings = load_config(overrides=config)
    app = Flask(__name__, static_folder="static", template_folder="templates",
                instance_path=settings["PASSERELLE_INSTANCE_PATH"] or None)
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    logs.init_app(app)
    security.init_app(app)
    clocks.init_app(app, clock)
    templating.init_app(app)
    request_guard.init_app(app)
    serving.init_app(app)
    limits.init_app(app)

    db.init_app(app)
    cache_long_statements()
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"),
                     compare_type=True)
    openapi.init_app(app)
    jobs_api.init_app(app)

    import accounts
    import core.views
    import coverage
    import directory
    import geodata
    import matching
    import referrals

    core.views.init_app(app)
    geodata.init_app(app)
    directory.init_app(app)
    matching.init_app(app)
    coverage.init_app(app)
    referrals.init_app(app)
    # After every package: it checks the access rule each of their routes declares.
    accounts.init_app(app)
    # Registered last so that it replaces flask-smorest's JSON-only HTTP error handler.
    errors.init_app(app)
    _register_commands(app)
    return app


def _register_commands(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Prépare la base : serveur local, base, extensions, migrations."""
        from flask_migrate import upgrade

        from core.cli import CommandError
        from core.database import ensure_database

        try:
            done = ensure_database(app.config["DATABASE_URL"],
                                   local=app.config["PASSERELLE_LOCAL_DB"])
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        for line in done:
            click.echo(line)
        upgrade()
        click.echo("Base à jour (migrations appliquées).")

    # Last: every command registered above and by the packages (a database that cannot
    # answer gives a French error naming the server, not a traceback).
    from core.cli import guard_database

    guard_database(app.cli)


@click.group(cls=FlaskGroup, create_app=create_app)
def cli() -> None:
    """Passerelle : annuaire des lieux d'inclusion numérique et du Pass Numérique."""
