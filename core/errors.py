"""One error shape for JSON clients: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """An error a JSON client should see as-is, with an HTTP status and optional field details."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    """The JSON body every API error has."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    """Register the handlers that turn errors into the one JSON shape on API paths."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return jsonify(error_body(exc.code, exc.message, exc.fields)), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error_body(code, exc.description or exc.name)), exc.code or 500
