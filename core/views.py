"""The home page and small pages shared by every kind of user."""

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
    from sqlalchemy import text

    from core.errors import ServiceUnavailable
    from extensions import db

    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        db.session.rollback()
        raise ServiceUnavailable() from exc
    return {"status": "ok"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def inject_site() -> dict:
        return {"site_name": "Passerelle", "has_endpoint": _has_endpoint}


def _has_endpoint(name: str) -> bool:
    """Pages link to features only once they exist."""
    return name in current_app.view_functions
