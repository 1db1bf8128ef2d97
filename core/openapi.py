"""The OpenAPI document says what the API sends: errors as ``core.errors`` answers them
(``core.schemas.ErrorSchema``), on every error status an operation documents, with French
descriptions of flask-smorest's shared answers."""

from __future__ import annotations

import http

from apispec import BasePlugin
from flask import Flask

from .errors import STATUS_MESSAGES
from .schemas import ErrorSchema

# flask-smorest describes its shared answers by the English phrase of their status.
_FRENCH = {status.phrase: STATUS_MESSAGES[status.value]
           for status in http.HTTPStatus if status.value in STATUS_MESSAGES}
_FRENCH.update({"Not Modified": "Inchangé depuis l'ETag envoyé (If-None-Match).",
                "Default error response": "Erreur : statut HTTP et message en français."})


class ErrorsAsSentPlugin(BasePlugin):
    def response_helper(self, response: dict, **kwargs) -> dict | None:
        """Shared answers (components): their description in French."""
        description = response.get("description")
        if description in _FRENCH:
            return {"description": _FRENCH[description]}
        return None

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        """An error answer documented by its status and description only
        (``alt_response(404, description=…)``) gets the content it is sent with."""
        for operation in (operations or {}).values():
            for status, response in operation.get("responses", {}).items():
                if (str(status)[0] in "45" and isinstance(response, dict)
                        and "$ref" not in response and not response.get("content")):
                    response["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}


def init_app(app: Flask) -> None:
    """Bind flask-smorest's Api to ``app`` with our error schema and plugin."""
    from extensions import api

    api.ERROR_SCHEMA = ErrorSchema
    api.init_app(app, spec_kwargs={"extra_plugins": [ErrorsAsSentPlugin()]})
