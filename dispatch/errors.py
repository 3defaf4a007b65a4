"""Workflow errors; each maps to one HTTP status and the one JSON error shape."""

from __future__ import annotations

from typing import Any


class WorkflowError(Exception):
    """Base: a request that cannot be carried out, with a message for the user."""

    status = 400
    code = "invalid_input"

    def __init__(self, message: str, fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class InvalidInput(WorkflowError):
    status = 400
    code = "invalid_input"


class Forbidden(WorkflowError):
    status = 403
    code = "forbidden"


class NotFound(WorkflowError):
    status = 404
    code = "not_found"


class Conflict(WorkflowError):
    """The case is not where the caller thought: someone else acted first, or a wrong state."""

    status = 409
    code = "conflict"
