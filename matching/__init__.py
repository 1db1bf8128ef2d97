"""matching: from a beneficiary's situation to ranked venues with reasons (docs/ARCHITECTURE.md)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's blueprints and commands."""
    from core.templating import add_filters
    from extensions import api

    from . import views
    from .api import blp as match_blp

    api.register_blueprint(match_blp)
    app.register_blueprint(views.bp)
    add_filters(app, views.FILTERS)
    app.jinja_env.globals["match_venue_url"] = views.venue_url
    app.jinja_env.globals["search_home"] = views.home_search

    # Cohort assignment (its own blueprint under /api/v1/match, and the `match` CLI group).
    from .cohort.api import blp as cohort_blp
    from .cohort.commands import match_cli
    from .cohort.jobs import init_app as init_cohort_jobs

    api.register_blueprint(cohort_blp)
    app.cli.add_command(match_cli)
    init_cohort_jobs()

    from core.access import public_blueprint

    # The beneficiary's and the prescriber's search: open to everyone.
    for blueprint in (match_blp, views.bp, cohort_blp):
        public_blueprint(blueprint)
