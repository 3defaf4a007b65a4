"""The OpenAPI description of the supervisor's JSON API (merged into ``dispatch.openapi``)."""

from __future__ import annotations

from typing import Any

from core.openapi_parts import JSON, error_responses
from core.openapi_parts import ok as _ok
from core.openapi_parts import ref as _ref
from dispatch.models.cases import CaseState, Source
from dispatch.models.sla import Stage
from dispatch.sla.queries import SORTS


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input (see error.fields)",
        401: "Not logged in, or unknown token",
        403: "Only shift supervisors and leaders use the supervisor's workspace",
    }
    return error_responses(codes, text)


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


SCHEMAS: dict[str, Any] = {
    "OverdueRow": {
        "type": "object",
        "description": "A running stage clock past its due time (red) or its warning point "
        "(yellow), with its case. Times are UTC instants; pages show them in Beijing time.",
        "required": [
            "number",
            "state",
            "level",
            "stage",
            "round",
            "due_at",
            "late_by_s",
            "owner",
            "urge_count",
            "version",
        ],
        "properties": {
            "number": {"type": "string"},
            "state": {"type": "string", "enum": [str(s) for s in CaseState]},
            "level": {"type": "string", "enum": ["red", "yellow"]},
            "stage": {"type": "string", "enum": [str(s) for s in Stage]},
            "round": {"type": "integer", "minimum": 1},
            "due_at": {"type": "string", "format": "date-time"},
            "warn_at": {"type": ["string", "null"], "format": "date-time"},
            "late_by_s": {
                "type": "number",
                "description": "Seconds past the due time; negative: due in that many seconds",
            },
            "late_text": {"type": "string", "description": "How late (or how soon due), in words"},
            "district_code": {"type": ["string", "null"]},
            "grid_code": {"type": ["string", "null"]},
            "grid": {"type": "string"},
            "category_id": {"type": ["integer", "null"]},
            "category": {"type": "string"},
            "owner": {
                "type": "object",
                "properties": {
                    "officer_id": {"type": ["integer", "null"]},
                    "department_id": {"type": ["integer", "null"]},
                    "name": {"type": "string"},
                },
            },
            "source": {"type": "string", "enum": [str(s) for s in Source]},
            "urgency": {"type": "string"},
            "reported_at": {"type": ["string", "null"], "format": "date-time"},
            "urge_count": {"type": "integer", "minimum": 0},
            "version": {"type": "integer", "description": "Send it back when urging"},
        },
    },
    "UrgeResult": {
        "type": "object",
        "required": ["number", "ok", "status", "code", "message"],
        "properties": {
            "number": {"type": "string"},
            "ok": {"type": "boolean"},
            "status": {
                "type": "integer",
                "description": "What the single action would have answered: 200, 403, 404, "
                "409 (the case changed since the version sent, or is closed)",
            },
            "code": {"type": "string"},
            "message": {"type": "string"},
            "urge_count": {"type": ["integer", "null"]},
            "version": {"type": ["integer", "null"]},
            "current_state": {"type": ["string", "null"]},
        },
    },
}

FILTERS = [
    _param(
        "level",
        {"type": "string", "enum": ["red", "yellow", "all"]},
        "red: past due (default); yellow: warning point passed, not due yet; all: both",
    ),
    _param("district", {"type": "string", "minLength": 6, "maxLength": 6}, "District code"),
    _param("grid", {"type": "string", "minLength": 15, "maxLength": 15}, "Grid code"),
    _param("department", {"type": "integer"}, "Owner department id"),
    _param("officer", {"type": "integer"}, "Owner officer id"),
    _param("category", {"type": "integer"}, "Category (minor class) id"),
    _param("stage", {"type": "string", "enum": [str(s) for s in Stage]}, "Stage of the clock"),
    _param("source", {"type": "string", "enum": [str(s) for s in Source]}, "Where it came from"),
    _param("from", {"type": "string", "format": "date"}, "Reported on or after (Beijing date)"),
    _param("to", {"type": "string", "format": "date"}, "Reported on or before (Beijing date)"),
]


def paths() -> dict[str, Any]:
    """The supervisor's API paths."""
    return {
        "/api/v1/supervise/overdue": {
            "get": {
                "summary": "Overdue (or near-due) stage clocks in your scope, most late first",
                "description": "The overdue review page's list. Shift supervisors and leaders.",
                "tags": ["supervision"],
                "parameters": [
                    *FILTERS,
                    _param("sort", {"type": "string", "enum": list(SORTS)}, "Default: late"),
                    _param("dir", {"type": "string", "enum": ["asc", "desc"]}, "Sort direction"),
                    _param("page", {"type": "integer", "minimum": 1}, "Page (from 1)"),
                    _param("per_page", {"type": "integer", "minimum": 1, "maximum": 200}, "Rows"),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["cases", "page", "pages", "per_page", "total", "now"],
                            "properties": {
                                "cases": {"type": "array", "items": _ref("OverdueRow")},
                                "page": {"type": "integer"},
                                "pages": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "total": {"type": "integer"},
                                "now": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/supervise/urge": {
            "post": {
                "summary": "Urge (督办) one or many cases with one note",
                "description": "Each case is urged on its own through the workflow (its owner "
                "is notified, its urge count goes up); a case that cannot be urged is reported "
                "in its result and leaves nothing behind. Session clients send X-CSRFToken.",
                "tags": ["supervision"],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["note", "cases"],
                                "properties": {
                                    "note": {"type": "string", "minLength": 1, "maxLength": 2000},
                                    "cases": {
                                        "type": "array",
                                        "minItems": 1,
                                        "maxItems": 200,
                                        "items": {
                                            "type": "object",
                                            "required": ["number"],
                                            "properties": {
                                                "number": {"type": "string"},
                                                "version": {"type": "integer"},
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["urged", "failed", "results"],
                            "properties": {
                                "urged": {"type": "integer"},
                                "failed": {"type": "integer"},
                                "results": {"type": "array", "items": _ref("UrgeResult")},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/supervise/map/grids": {
            "get": {
                "summary": "Open, overdue and near-due cases per grid in your scope",
                "tags": ["supervision"],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["grids"],
                            "properties": {
                                "grids": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["code", "open", "overdue", "near_due"],
                                        "properties": {
                                            "code": {"type": "string"},
                                            "open": {"type": "integer"},
                                            "overdue": {"type": "integer"},
                                            "near_due": {"type": "integer"},
                                        },
                                    },
                                }
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/supervise/map/cases": {
            "get": {
                "summary": "Every open, located case in your scope as a compact array",
                "description": "cases[i] = [number, lng, lat, level] (fields says the order; "
                "level 0 none, 1 due soon, 2 overdue; WGS-84, 6 decimals).",
                "tags": ["supervision"],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["fields", "cases"],
                            "properties": {
                                "fields": {"type": "array", "items": {"type": "string"}},
                                "cases": {
                                    "type": "array",
                                    "items": {
                                        "type": "array",
                                        "description": "[number, lng, lat, level]",
                                        "items": {"type": ["string", "number"]},
                                        "minItems": 4,
                                        "maxItems": 4,
                                    },
                                },
                                "now": {"type": "string", "format": "date-time"},
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
    }
