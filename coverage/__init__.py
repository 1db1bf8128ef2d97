"""Coverage and investment planning: accessibility (FCA), refreshes, read-outs, suggested
sites, the fragility index, and the planner's map (see docs/COVERAGE.md)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this package's models, blueprints and commands."""
    from . import models  # noqa: F401  (coverage tables, for migrations)
    from .api import init_app as init_coverage_api
    from .commands import coverage_cli
    from .jobs import init_app as init_jobs
    from .map_api import init_app as init_map_api
    from .views import init_app as init_views

    app.cli.add_command(coverage_cli)
    init_coverage_api(app)
    init_views(app)
    init_map_api(app)
    init_jobs()

    from core.access import public_blueprint

    from .api import blp as coverage_blp
    from .map_api import blp as map_blp
    from .views import bp as pages_bp

    # The planner's map and its read-outs are public figures.
    for blueprint in (coverage_blp, map_blp, pages_bp):
        public_blueprint(blueprint)
