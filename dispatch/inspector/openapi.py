"""The OpenAPI description of the inspector's JSON API (merged into ``dispatch.openapi``)."""

from __future__ import annotations

from typing import Any

from core.openapi_parts import error_responses
from core.openapi_parts import ok as _ok
from core.openapi_parts import ref as _ref
from dispatch.models.cases import CaseState
from dispatch.models.inspector import ReportFlag

MULTIPART = "multipart/form-data"


_TEXT = {
    400: "Invalid input (error.fields names each bad field or photo: photos[0] …)",
    401: "Not logged in, or unknown token",
    403: "Only inspectors (flags: shift supervisors)",
    404: "No such case in your area, or not a task",
    409: "The case moved on, or the key was used by someone else",
    413: "The upload is larger than the photos allowed could make",
}


def _errors(*codes: int) -> dict[str, Any]:
    return error_responses(codes, _TEXT)


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


_NUMBER = {"type": "string", "description": "a decimal number"}
_PHOTOS = {
    "type": "array",
    "items": {"type": "string", "format": "binary"},
    "description": "JPEG, PNG or WebP photos (checked by content; size and pixel limits)",
}

SCHEMAS: dict[str, Any] = {
    "InspectorReport": {
        "type": "object",
        "description": "One of the inspector's reports.",
        "required": ["number", "state", "state_label", "flags", "thumbs", "version"],
        "properties": {
            "number": {"type": "string"},
            "check_code": {"type": "string"},
            "state": {"type": "string", "enum": [str(s) for s in CaseState]},
            "state_label": {"type": "string"},
            "description": {"type": "string"},
            "grid_code": {"type": ["string", "null"]},
            "placement": {"type": "string"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "flags": {"type": "array", "items": {"enum": [str(f) for f in ReportFlag]}},
            "thumbs": {"type": "array", "items": {"type": "string"}},
            "version": {"type": "integer"},
            "flag_detail": {"type": "object"},
            "accuracy_m": {"type": ["number", "null"]},
            "url": {"type": "string"},
        },
    },
    "InspectorTask": {
        "type": "object",
        "description": "A verification (核实) or check (核查) waiting for the inspector.",
        "required": ["number", "kind", "state", "level", "version", "url"],
        "properties": {
            "number": {"type": "string"},
            "kind": {"type": "string", "enum": ["verify", "check"]},
            "kind_label": {"type": "string"},
            "state": {"type": "string", "enum": ["to_verify", "to_check"]},
            "description": {"type": "string"},
            "address": {"type": "string"},
            "grid_code": {"type": ["string", "null"]},
            "lng": {"type": ["number", "null"]},
            "lat": {"type": ["number", "null"]},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "level": {"type": "string", "enum": ["red", "yellow", "ok"]},
            "distance_m": {"type": ["number", "null"]},
            "version": {"type": "integer"},
            "url": {"type": "string"},
        },
    },
}


def paths() -> dict[str, Any]:
    """The inspector's API paths."""
    tag = ["inspector"]
    return {
        "/api/v1/inspector/session": {
            "get": {
                "summary": "Who I am, and a fresh CSRF token for session clients",
                "tags": tag,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["user", "csrf_token"],
                            "properties": {
                                "user": {"type": "object"},
                                "csrf_token": {"type": "string"},
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/inspector/categories": {
            "get": {
                "summary": "Active minor classes with their filing conditions; my recent and "
                "frequent ones (ids) to show first",
                "tags": tag,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["categories", "recent", "frequent"],
                            "properties": {
                                "categories": {"type": "array", "items": {"type": "object"}},
                                "majors": {
                                    "type": "object",
                                    "description": "major class key -> name",
                                },
                                "condition_texts": {
                                    "type": "array",
                                    "items": {"type": "string"},
                                    "description": "a category's conditions are [id, index]",
                                },
                                "recent": {"type": "array", "items": {"type": "integer"}},
                                "frequent": {"type": "array", "items": {"type": "integer"}},
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/inspector/grids": {
            "get": {
                "summary": "The community grids of my area, simplified for a phone's map",
                "description": "Each grid's `polygons`: per polygon, per ring, a flat list "
                "[x0, y0, dx1, dy1, …] of integers in 1/`unit` degrees (WGS-84 lng, lat).",
                "tags": tag,
                "responses": {
                    "200": _ok({"type": "object", "required": ["unit", "grids"]}),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/inspector/reports": {
            "get": {
                "summary": "My reports, newest first",
                "tags": tag,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["reports"],
                            "properties": {
                                "reports": {"type": "array", "items": _ref("InspectorReport")}
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "summary": "Report a problem with photos",
                "description": "Multipart. The case goes through intake (placed by the locate "
                "index, numbered). Send a client-generated `Idempotency-Key` (8-100 "
                "characters): any number of retries create one case (201 the first time, then "
                "200 with the same case). A photo whose GPS lies far from the point, or a vague "
                "position, flags the report for the shift supervisor; it is never refused for "
                "that. Session clients send X-CSRFToken.",
                "tags": tag,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "minLength": 8, "maxLength": 100},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        MULTIPART: {
                            "schema": {
                                "type": "object",
                                "required": ["description", "photos"],
                                "properties": {
                                    "description": {"type": "string", "maxLength": 5000},
                                    "lng": _NUMBER,
                                    "lat": _NUMBER,
                                    "crs": {
                                        "type": "string",
                                        "enum": ["wgs84", "cgcs2000", "gcj02", "bd09"],
                                    },
                                    "position_source": {
                                        "type": "string",
                                        "enum": ["gps", "pin", "none"],
                                    },
                                    "accuracy_m": _NUMBER,
                                    "device_lng": _NUMBER,
                                    "device_lat": _NUMBER,
                                    "address": {"type": "string", "maxLength": 500},
                                    "category_id": {"type": "string"},
                                    "filing_condition_id": {"type": "string"},
                                    "reported_at": {"type": "string", "format": "date-time"},
                                    "photos": _PHOTOS,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _ok(_ref("InspectorReport"), "Created"),
                    "200": _ok(_ref("InspectorReport"), "A retry: the case the key created"),
                    **_errors(400, 401, 403, 409, 413),
                },
            },
        },
        "/api/v1/inspector/tasks": {
            "get": {
                "summary": "My verification and check tasks (nearest first with lng/lat)",
                "tags": tag,
                "parameters": [
                    _q("lng", {"type": "number"}, "My longitude (WGS-84)"),
                    _q("lat", {"type": "number"}, "My latitude (WGS-84)"),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["tasks"],
                            "properties": {
                                "tasks": {"type": "array", "items": _ref("InspectorTask")}
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/inspector/tasks/{number}/complete": {
            "post": {
                "summary": "Complete a verification (true/false) or a check (pass/fail)",
                "description": "Multipart, with photos; goes through the workflow (verify_true, "
                "verify_false, check_pass, check_fail). false and fail need a note.",
                "tags": tag,
                "parameters": [
                    {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        MULTIPART: {
                            "schema": {
                                "type": "object",
                                "required": ["verdict", "photos"],
                                "properties": {
                                    "verdict": {
                                        "type": "string",
                                        "enum": ["true", "false", "pass", "fail"],
                                    },
                                    "note": {"type": "string", "maxLength": 2000},
                                    "version": {"type": "string"},
                                    "photos": _PHOTOS,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["number", "state", "version", "action"],
                            "properties": {
                                "number": {"type": "string"},
                                "state": {"type": "string"},
                                "state_label": {"type": "string"},
                                "version": {"type": "integer"},
                                "action": {"type": "string"},
                                "photos": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403, 404, 409, 413),
                },
            }
        },
        "/api/v1/inspector/figures": {
            "get": {
                "summary": "My valid report rate, on-time verification and check rates",
                "tags": tag,
                "parameters": [
                    _q("from", {"type": "string", "format": "date"}, "First local day"),
                    _q("to", {"type": "string", "format": "date"}, "Last local day"),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["from", "to", "figures"],
                            "properties": {
                                "from": {"type": "string"},
                                "to": {"type": "string"},
                                "figures": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/inspector/flags": {
            "get": {
                "summary": "Flagged inspector reports not reviewed yet (shift supervisors)",
                "tags": tag,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["reports"],
                            "properties": {
                                "reports": {"type": "array", "items": _ref("InspectorReport")}
                            },
                        }
                    ),
                    **_errors(401, 403),
                },
            }
        },
        "/api/v1/inspector/flags/{number}/review": {
            "post": {
                "summary": "Mark a flagged report as reviewed (shift supervisors)",
                "tags": tag,
                "parameters": [
                    {"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _ok({"type": "object", "required": ["number", "reviewed_at"]}),
                    **_errors(401, 403, 404),
                },
            }
        },
    }
