"""Building blocks the packages' OpenAPI descriptions share (each describes its own paths)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of ``components.schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A JSON response with ``schema``."""
    return {"description": description, "content": {JSON: {"schema": schema}}}


def error_responses(
    codes: tuple[int, ...], text: Mapping[int, str], schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Responses for error ``codes``, each described by ``text``, in the one error shape
    (``Error``) unless ``schema`` says otherwise (Open311 answers a list of its own)."""
    body = schema if schema is not None else ref("Error")
    return {str(c): ok(body, text[c]) for c in codes}
