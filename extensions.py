"""Flask extensions, created once here and bound to an application in ``create_app``."""

import http

from apispec import BasePlugin
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from core.schemas import ErrorSchema

# A naming convention keeps constraint names stable between models and migrations.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class ErrorContentPlugin(BasePlugin):
    """An error answer documented by its status and description only (``alt_response(404,
    description=…)``) gets the content it is sent with: JSON of ``ErrorSchema``."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            for status, response in operation.get("responses", {}).items():
                if (str(status)[0] in "45" and isinstance(response, dict)
                        and "$ref" not in response and not response.get("content")):
                    response["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}


class PasserelleApi(Api):
    """flask-smorest's Api documenting our error answers (``core.errors``) as they are sent."""

    ERROR_SCHEMA = ErrorSchema

    def _register_responses(self) -> None:
        """flask-smorest's shared answers, described in French."""
        from flask_smorest.utils import prepare_response

        from core.errors import STATUS_MESSAGES

        described = {**STATUS_MESSAGES, 304: "Inchangé depuis l'ETag envoyé (If-None-Match)."}
        for status in http.HTTPStatus:
            response: dict = {"description": described.get(status.value, status.phrase)}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Erreur : statut HTTP et message en français.",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


api = PasserelleApi(spec_kwargs={"extra_plugins": [ErrorContentPlugin()]})
