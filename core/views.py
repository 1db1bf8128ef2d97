"""The home page and small pages shared by every kind of user."""

import contextlib

from flask import Blueprint, Flask, current_app, render_template

bp = Blueprint("core", __name__)


@bp.get("/")
def home():
    return render_template("home.html")


@bp.get("/api/v1/docs")
def api_docs():
    """Swagger UI from our own copy under static/vendor, started by static/js/api-docs.js."""
    return render_template("api_docs.html")


@bp.get("/sante")
def health():
    """JSON state of the database, the job queue and its worker: 200 when all answer,
    503 (with Retry-After) otherwise."""
    from flask import jsonify
    from sqlalchemy import text

    from core import jobs
    from core.errors import database_failure, outage
    from extensions import db

    database: dict = {"ok": True}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        failure = database_failure(exc)
        if failure is None:
            raise
        outage.down(exc)
        database = {"ok": False, "message": failure}
        with contextlib.suppress(Exception):  # the connection is gone: nothing to undo
            db.session.rollback()
    state = {"database": database, **jobs.health(current_app._get_current_object())}
    ok = all(part["ok"] for part in state.values())
    response = jsonify({"status": "ok" if ok else "degrade", **state})
    response.headers["Cache-Control"] = "no-store"
    if not ok:
        response.status_code = 503
        response.headers["Retry-After"] = str(current_app.config["PASSERELLE_RETRY_AFTER_S"])
    return response


def init_app(app: Flask) -> None:
    from .access import public_blueprint

    app.register_blueprint(bp)
    public_blueprint(bp)
    # flask-smorest's blueprint serving the OpenAPI document.
    if "api-docs" in app.blueprints:
        public_blueprint(app.blueprints["api-docs"])

    @app.context_processor
    def inject_site() -> dict:
        return {"site_name": "Passerelle", "has_endpoint": _has_endpoint}


def _has_endpoint(name: str) -> bool:
    """Pages link to features only once they exist."""
    return name in current_app.view_functions
