"""The OpenAPI 3.1 description of the JSON API (grids and cases), served at /api/v1/openapi.json.

Kept as data next to the code it describes; a test checks that every API route is described
and that real responses match their schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.openapi_parts import JSON, error_responses
from core.openapi_parts import ok as _ok
from core.openapi_parts import ref as _ref
from dispatch.insight import openapi as insight_openapi
from dispatch.inspector import openapi as inspector_openapi
from dispatch.models.cases import CaseState, Placement, Source
from dispatch.models.notifications import NotificationKind
from dispatch.models.people import Role
from dispatch.models.sla import Stage, TimerState
from dispatch.open311 import openapi as open311_openapi
from dispatch.supervise import openapi as supervise_openapi
from dispatch.workflow import TRANSITIONS, Action


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input (see error.fields)",
        401: "Not logged in, or unknown token",
        403: "Your roles may not do this",
        404: "Not found (or outside your scope)",
        409: "Conflict: the case is not in a state this action starts from, or changed",
        413: "Too large",
        429: "Too many requests from your address (rate limit); retry later",
    }
    return error_responses(codes, text)


def _param(
    name: str, where: str = "query", schema: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema or {"type": "string"}, **kw}


NUMBER = _param("number", "path", required=True, description="Case number, e.g. 2026112100042")

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "additionalProperties": True,
            }
        },
    },
    "Owner": {
        "type": "object",
        "properties": {
            "officer_id": {"type": ["integer", "null"]},
            "department_id": {"type": ["integer", "null"]},
        },
    },
    "CaseSummary": {
        "type": "object",
        "required": ["number", "state", "source", "version", "description", "placement"],
        "properties": {
            "number": {"type": "string"},
            "state": {"type": "string", "enum": [str(s) for s in CaseState]},
            "source": {"type": "string", "enum": [str(s) for s in Source]},
            "version": {"type": "integer"},
            "description": {"type": "string"},
            "address": {"type": "string"},
            "grid_code": {"type": ["string", "null"]},
            "district_code": {"type": ["string", "null"]},
            "placement": {"type": "string", "enum": [str(p) for p in Placement]},
            "category_id": {"type": ["integer", "null"]},
            "urgency": {"type": "string"},
            "owner": _ref("Owner"),
            "rework_count": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "Event": {
        "type": "object",
        "required": ["seq", "action", "to_state", "actor_role", "at"],
        "properties": {
            "seq": {"type": "integer"},
            "action": {"type": "string"},
            "from_state": {"type": ["string", "null"]},
            "to_state": {"type": "string"},
            "actor_user_id": {"type": ["integer", "null"]},
            "actor_role": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "note": {"type": "string"},
            "data": {"type": "object"},
            "attachments": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Timer": {
        "type": "object",
        "description": "The clock of one stage of a case (one round). Deadlines are stored, so "
        "due_at is the deadline the warnings use; while paused it moves when the clock resumes.",
        "required": [
            "stage",
            "round",
            "state",
            "limit",
            "started_at",
            "due_at",
            "warn_at",
            "level",
            "paused_by",
            "result",
            "late_by_s",
            "ended_at",
            "provisional",
        ],
        "properties": {
            "stage": {"type": "string", "enum": [str(s) for s in Stage]},
            "round": {"type": "integer", "minimum": 1},
            "state": {"type": "string", "enum": [str(s) for s in TimerState]},
            "limit": {
                "type": "object",
                "required": ["value", "clock"],
                "properties": {
                    "value": {"type": "number"},
                    "clock": {
                        "type": "string",
                        "enum": ["natural_hours", "working_hours", "working_days"],
                    },
                    "source": {"type": "string"},
                },
            },
            "started_at": {"type": "string", "format": "date-time"},
            "due_at": {"type": "string", "format": "date-time"},
            "warn_at": {"type": "string", "format": "date-time"},
            "level": {"type": "string", "enum": ["none", "yellow", "red"]},
            "yellow_at": {"type": ["string", "null"], "format": "date-time"},
            "red_at": {"type": ["string", "null"], "format": "date-time"},
            "paused_by": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Why the clock stands still now: suspended, request:<kind>",
            },
            "pauses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": ["string", "null"], "format": "date-time"},
                        "reason": {"type": "string"},
                    },
                },
            },
            "extensions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "from": {"type": "string", "format": "date-time"},
                        "to": {"type": "string", "format": "date-time"},
                        "at": {"type": "string", "format": "date-time"},
                        "request_id": {"type": ["integer", "null"]},
                    },
                },
            },
            "result": {"type": ["string", "null"], "enum": ["on_time", "late", None]},
            "late_by_s": {
                "type": ["number", "null"],
                "description": "Seconds past the due time when the stage ended (0 when on time)",
            },
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "provisional": {
                "type": "boolean",
                "description": "The deadline reaches into a year whose holidays are not loaded",
            },
        },
    },
    "Notification": {
        "type": "object",
        "required": [
            "id",
            "kind",
            "title",
            "body",
            "case_number",
            "urgent",
            "created_at",
            "read_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [str(k) for k in NotificationKind]},
            "title": {"type": "string", "description": "In the language of the request"},
            "body": {"type": "string"},
            "case_number": {"type": ["string", "null"]},
            "urgent": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "read_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "CaseDetail": {
        "allOf": [
            _ref("CaseSummary"),
            {
                "type": "object",
                "required": [
                    "events",
                    "allowed_actions",
                    "reporter",
                    "callers",
                    "timers",
                    "urge_count",
                ],
                "properties": {
                    "location": {
                        "type": ["object", "null"],
                        "properties": {
                            "lng": {"type": "number"},
                            "lat": {"type": "number"},
                            "crs_reported": {"type": "string"},
                        },
                    },
                    "reporter": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "phone": {"type": "string"}},
                    },
                    "callers": {"type": "array", "items": {"type": "object"}},
                    "requests": {"type": "array", "items": {"type": "object"}},
                    "events": {"type": "array", "items": _ref("Event")},
                    "allowed_actions": {"type": "array", "items": {"type": "string"}},
                    "proposal": {"type": ["object", "null"]},
                    "timestamps": {"type": "object"},
                    "urge_count": {"type": "integer", "minimum": 0},
                    "timers": {"type": "array", "items": _ref("Timer")},
                },
            },
        ]
    },
    "CreatedCase": {
        "allOf": [
            _ref("CaseSummary"),
            {
                "type": "object",
                "properties": {
                    "location": {"type": ["object", "null"]},
                    "placement_distance_m": {"type": ["number", "null"]},
                    "boundary_set_version": {"type": ["integer", "null"]},
                    "check_code": {
                        "type": "string",
                        "description": "Given to the reporter with the number: the two open "
                        "the public progress look-up.",
                    },
                },
            },
        ]
    },
    "NewCase": {
        "type": "object",
        "required": ["description"],
        "properties": {
            "description": {"type": "string", "maxLength": 5000},
            "address": {"type": "string", "maxLength": 500},
            "lng": {"type": "number"},
            "lat": {"type": "number"},
            "crs": {"type": "string", "enum": ["wgs84", "cgcs2000", "gcj02", "bd09"]},
            "source": {"type": "string", "enum": [str(s) for s in Source]},
            "reporter_name": {"type": "string", "maxLength": 100},
            "reporter_phone": {"type": "string", "maxLength": 32},
            "category_id": {"type": "integer"},
            "filing_condition_id": {"type": "integer"},
            "idempotency_key": {"type": "string", "minLength": 8, "maxLength": 100},
        },
    },
    "ActionRequest": {
        "type": "object",
        "properties": {
            "note": {"type": "string", "maxLength": 2000},
            "version": {"type": "integer", "description": "Expected case version (or If-Match)"},
            "as_role": {"type": "string", "enum": [str(r) for r in Role if r is not Role.SYSTEM]},
            "data": {
                "type": "object",
                "description": (
                    "Action payload: file {category_id, filing_condition_id}; dispatch "
                    "{officer_id | department_id, reason}; merge {duplicate_of}; "
                    "request_extension {due_at}; place {lng, lat, crs}; record_callback "
                    "{satisfaction: satisfied | basically_satisfied} (a dissatisfied citizen: "
                    "reopen); urge needs a note"
                ),
            },
            "attachments": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Location": {
        "type": "object",
        "required": ["status", "approximate", "grid", "message"],
        "properties": {
            "status": {"type": "string", "enum": ["inside", "nearest", "outside"]},
            "approximate": {"type": "boolean"},
            "distance_m": {"type": ["number", "null"]},
            "message": {"type": "string"},
            "grid": {"type": ["object", "null"]},
            "wgs84": {"type": "object"},
            "boundary_set": {"type": "object"},
        },
    },
    "PublicProgress": {
        "type": "object",
        "description": "A case's progress as the public sees it: no personal data.",
        "required": ["number", "status", "status_text", "is_open", "timeline", "result"],
        "properties": {
            "number": {"type": "string"},
            "status": {
                "type": "string",
                "enum": [
                    "received",
                    "dispatching",
                    "handling",
                    "on_hold",
                    "checking",
                    "closing",
                    "closed",
                    "not_accepted",
                ],
            },
            "status_text": {"type": "string"},
            "is_open": {"type": "boolean"},
            "merged": {"type": "boolean"},
            "category": {"type": ["string", "null"]},
            "office": {"type": ["string", "null"]},
            "expected_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["milestone", "label", "at"],
                    "properties": {
                        "milestone": {"type": "string"},
                        "label": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "result": {
                "type": ["object", "null"],
                "properties": {
                    "outcome": {"type": "string", "enum": ["resolved", "not_accepted"]},
                    "text": {"type": "string"},
                    "closing_condition": {"type": ["string", "null"]},
                },
            },
        },
        "additionalProperties": False,
    },
    "FeatureCollection": {
        "type": "object",
        "required": ["type", "features"],
        "properties": {"type": {"const": "FeatureCollection"}, "features": {"type": "array"}},
    },
}


def _paths() -> dict[str, Any]:
    auth_errors = _errors(401)
    action_names = [str(a) for a in TRANSITIONS]
    return {
        "/api/v1/cases": {
            "get": {
                "summary": "List cases in your scope",
                "tags": ["cases"],
                "parameters": [
                    _param("state", schema={"type": "string", "enum": [str(s) for s in CaseState]}),
                    _param("source"),
                    _param("grid"),
                    _param("district"),
                    _param("placement"),
                    _param("category_id", schema={"type": "integer"}),
                    _param("owner_officer_id", schema={"type": "integer"}),
                    _param("owner_department_id", schema={"type": "integer"}),
                    _param("created_from", schema={"type": "string", "format": "date-time"}),
                    _param("created_to", schema={"type": "string", "format": "date-time"}),
                    _param("q"),
                    _param("page", schema={"type": "integer", "minimum": 1}),
                    _param("per_page", schema={"type": "integer", "minimum": 1, "maximum": 200}),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {
                                "cases": {"type": "array", "items": _ref("CaseSummary")},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                                "total": {"type": "integer"},
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            },
            "post": {
                "summary": "Report a problem (creates a case once per Idempotency-Key)",
                "tags": ["cases"],
                "parameters": [_param("Idempotency-Key", "header")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("NewCase")}}},
                "responses": {
                    "201": _ok(_ref("CreatedCase"), "Created (GET the Location for the detail)"),
                    "200": _ok(_ref("CreatedCase"), "A retry: the case the key already created"),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/api/v1/cases/{number}": {
            "get": {
                "summary": "One case with its timeline and the actions you may take",
                "tags": ["cases"],
                "parameters": [NUMBER],
                "responses": {"200": _ok(_ref("CaseDetail")), **_errors(401, 404)},
            }
        },
        "/api/v1/cases/{number}/events": {
            "get": {
                "summary": "The case's event log",
                "tags": ["cases"],
                "parameters": [NUMBER],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "properties": {"events": {"type": "array", "items": _ref("Event")}},
                        }
                    ),
                    **_errors(401, 404),
                },
            }
        },
        "/api/v1/cases/{number}/routing": {
            "get": {
                "summary": "The proposed owner from grid + category",
                "tags": ["cases"],
                "parameters": [NUMBER],
                "responses": {"200": _ok({"type": "object"}), **_errors(401, 404)},
            }
        },
        "/api/v1/cases/{number}/actions/{action}": {
            "post": {
                "summary": "Perform a workflow action",
                "description": "Every state change goes through here. Send the case version "
                "(body `version` or `If-Match`) to detect concurrent changes.",
                "tags": ["cases"],
                "parameters": [
                    NUMBER,
                    _param(
                        "action", "path", {"type": "string", "enum": action_names}, required=True
                    ),
                    _param("If-Match", "header"),
                ],
                "requestBody": {"content": {JSON: {"schema": _ref("ActionRequest")}}},
                "responses": {"200": _ok(_ref("CaseDetail")), **_errors(400, 401, 403, 404, 409)},
            }
        },
        "/api/v1/placement-queue": {
            "get": {
                "summary": "Cases awaiting manual placement",
                "tags": ["cases"],
                "responses": {"200": _ok({"type": "object"}), **auth_errors},
            }
        },
        "/api/v1/categories": {
            "get": {
                "summary": "The category catalogue",
                "tags": ["catalogue"],
                "parameters": [
                    _param("q"),
                    _param("kind", schema={"type": "string", "enum": ["component", "matter"]}),
                ],
                "responses": {"200": _ok({"type": "object"}), **auth_errors},
            }
        },
        "/api/v1/categories/{category_id}": {
            "get": {
                "summary": "One category with its filing conditions",
                "tags": ["catalogue"],
                "parameters": [_param("category_id", "path", {"type": "integer"}, required=True)],
                "responses": {"200": _ok({"type": "object"}), **_errors(401, 404)},
            }
        },
        "/api/v1/departments": {
            "get": {
                "summary": "Professional departments",
                "tags": ["catalogue"],
                "responses": {"200": _ok({"type": "object"}), **auth_errors},
            }
        },
        "/api/v1/me": {
            "get": {
                "summary": "Who you are: roles and scopes",
                "tags": ["people"],
                "responses": {"200": _ok({"type": "object"}), **auth_errors},
            }
        },
        "/api/v1/locate": {
            "get": {
                "summary": "Locate a point in the active boundary set",
                "tags": ["grids"],
                "parameters": [
                    _param("lng", schema={"type": "number"}, required=True),
                    _param("lat", schema={"type": "number"}, required=True),
                    _param(
                        "crs",
                        schema={"type": "string", "enum": ["wgs84", "cgcs2000", "gcj02", "bd09"]},
                    ),
                ],
                "responses": {"200": _ok(_ref("Location")), **_errors(400, 401, 404)},
            },
            "post": {
                "summary": "Locate a point (JSON body lng, lat, crs)",
                "tags": ["grids"],
                "requestBody": {"content": {JSON: {"schema": {"type": "object"}}}},
                "responses": {"200": _ok(_ref("Location")), **_errors(400, 401, 404)},
            },
        },
        "/api/v1/locate/bulk": {
            "post": {
                "summary": "Locate many points",
                "tags": ["grids"],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["points"],
                                "properties": {
                                    "crs": {"type": "string"},
                                    "points": {
                                        "type": "array",
                                        "items": {
                                            "type": "array",
                                            "items": {"type": "number"},
                                            "minItems": 2,
                                            "maxItems": 2,
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {"200": _ok({"type": "object"}), **_errors(400, 401, 404, 413)},
            }
        },
        "/api/v1/grids": {
            "get": {
                "summary": "Grids as GeoJSON",
                "tags": ["grids"],
                "parameters": [
                    _param("level"),
                    _param("version", schema={"type": "integer"}),
                    _param("simplify", schema={"type": "number"}),
                ],
                "responses": {"200": _ok(_ref("FeatureCollection")), **_errors(400, 401, 404)},
            }
        },
        "/api/v1/grids/{code}": {
            "get": {
                "summary": "One grid with its parent and today's officers",
                "tags": ["grids"],
                "parameters": [_param("code", "path", required=True)],
                "responses": {"200": _ok({"type": "object"}), **_errors(401, 404)},
            }
        },
        "/api/v1/grids/{code}/officers": {
            "get": {
                "summary": "Who was on duty for a grid on a date",
                "tags": ["grids"],
                "parameters": [
                    _param("code", "path", required=True),
                    _param("date", schema={"type": "string", "format": "date"}),
                ],
                "responses": {"200": _ok({"type": "object"}), **_errors(400, 401, 404)},
            }
        },
        "/api/v1/boundary-sets": {
            "get": {
                "summary": "Versions of the map",
                "tags": ["grids"],
                "responses": {"200": _ok({"type": "object"}), **auth_errors},
            }
        },
        "/api/v1/notifications": {
            "get": {
                "summary": "Your inbox, newest first, with the number of unread messages",
                "tags": ["notifications"],
                "parameters": [
                    _param(
                        "unread",
                        schema={"type": "string", "enum": ["0", "1", "true", "false"]},
                        description="1: unread messages only",
                    ),
                    _param(
                        "limit",
                        schema={"type": "integer", "minimum": 0, "maximum": 200},
                        description="How many messages (default 50; 0: only the count)",
                    ),
                    _param(
                        "before",
                        schema={"type": "integer"},
                        description="Only messages older than this id (paging)",
                    ),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["items", "unread"],
                            "properties": {
                                "items": {"type": "array", "items": _ref("Notification")},
                                "unread": {"type": "integer", "minimum": 0},
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/notifications/read": {
            "post": {
                "summary": "Mark your messages read (others' ids are ignored)",
                "description": "Session clients send the page's X-CSRFToken header.",
                "tags": ["notifications"],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "ids": {
                                        "type": "array",
                                        "items": {"type": "integer"},
                                        "maxItems": 500,
                                    },
                                    "all": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["marked", "unread"],
                            "properties": {
                                "marked": {"type": "integer", "minimum": 0},
                                "unread": {"type": "integer", "minimum": 0},
                            },
                        }
                    ),
                    **_errors(400, 401),
                },
            }
        },
        "/api/v1/public/cases/{number}": {
            "get": {
                "summary": "Public progress look-up: case number + check code (no login)",
                "description": "The check code is given to the reporter with the number. An "
                "unknown number and a wrong code give the same 404. Rate limited per address "
                "(shared with the /track page).",
                "tags": ["public"],
                "security": [],
                "parameters": [
                    NUMBER,
                    _param("code", required=True, description="The check code, e.g. 7KQ2MX"),
                ],
                "responses": {
                    "200": _ok(_ref("PublicProgress")),
                    **_errors(400, 404, 429),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This description",
                "tags": ["meta"],
                "security": [],
                "responses": {"200": _ok({"type": "object"})},
            }
        },
    }


def _with_bad_text_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Any JSON API request may be refused as a whole (text with NUL characters or unpaired
    surrogates, see ``core.input_guard``): every operation documents that 400."""
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for op in item.values():
            op["responses"].setdefault(
                "400", _ok(_ref("Error"), "Invalid input (e.g. text no database can hold)")
            )
    return paths


#: Features built on dispatch (the hotline desk) add their (schemas, paths) here when they are
#: imported: imports flow hotline -> dispatch, never back.
EXTENSIONS: list[Callable[[], tuple[dict[str, Any], dict[str, Any]]]] = []


def spec() -> dict[str, Any]:
    """The whole OpenAPI document."""
    extra_schemas: dict[str, Any] = {}
    extra_paths: dict[str, Any] = {}
    for part in EXTENSIONS:
        schemas, paths = part()
        extra_schemas.update(schemas)
        extra_paths.update(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "City case dispatch API",
            "version": "1",
            "description": "Grids, locating points, and cases with their workflow. Errors always "
            'have the shape {"error": {"code", "message", "fields"}}. The Open311 GeoReport v2 '
            "resources (/open311/v2/…, also in XML) answer errors as the spec says: a list of "
            "{code, description}.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": {
                **SCHEMAS,
                **open311_openapi.SCHEMAS,
                **supervise_openapi.SCHEMAS,
                **insight_openapi.SCHEMAS,
                **extra_schemas,
                **inspector_openapi.SCHEMAS,
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": _with_bad_text_errors(
            {
                **_paths(),
                **open311_openapi.paths(),
                **supervise_openapi.paths(),
                **insight_openapi.paths(_errors),
                **extra_paths,
                **inspector_openapi.paths(),
            }
        ),
        "x-actions": {str(a): sorted(str(r) for r in e.roles) for a, e in TRANSITIONS.items()},
        "x-action-names": [str(a) for a in Action],
    }
