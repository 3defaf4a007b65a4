"""The OpenAPI description of the desk's JSON API, registered with ``dispatch.openapi``."""

from __future__ import annotations

from typing import Any

from core.openapi_parts import JSON, error_responses
from core.openapi_parts import ok as _ok
from core.openapi_parts import ref as _ref
from dispatch import openapi as base
from hotline.models import CallOutcome, Channel, GazetteerKind, RequestType, Satisfaction


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid input (see error.fields)",
        401: "Not logged in, or unknown token",
        403: "Your roles may not do this",
        404: "Not found (or outside your scope)",
        409: "Conflict: already recorded, or the case moved on",
    }
    return error_responses(codes, text)


def _q(name: str, schema: dict[str, Any], description: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description, **kw}


def _path(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}
NINT = {"type": ["integer", "null"]}

SCHEMAS: dict[str, Any] = {
    "HotlinePlace": {
        "type": "object",
        "required": ["id", "kind", "name", "parent", "lng", "lat"],
        "properties": {
            "id": INT,
            "kind": {"type": "string", "enum": [str(k) for k in GazetteerKind]},
            "name": STR,
            "parent": STR,
            "aliases": STR,
            "lng": {"type": "number"},
            "lat": {"type": "number"},
        },
    },
    "HotlineKnowledgeEntry": {
        "type": "object",
        "required": ["id", "title", "answer", "keywords", "is_active"],
        "properties": {
            "id": INT,
            "title": STR,
            "answer": STR,
            "keywords": STR,
            "is_active": {"type": "boolean"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "HotlineCallInput": {
        "type": "object",
        "required": ["request_type", "description"],
        "properties": {
            "request_type": {"type": "string", "enum": [str(t) for t in RequestType]},
            "channel": {"type": "string", "enum": [str(c) for c in Channel], "default": "12345"},
            "description": {"type": "string", "maxLength": 5000},
            "caller_phone": {"type": "string", "maxLength": 32},
            "caller_name": {"type": "string", "maxLength": 100},
            "is_anonymous": {"type": "boolean"},
            "address": {"type": "string", "maxLength": 500},
            "lng": {"type": ["number", "null"]},
            "lat": {"type": ["number", "null"]},
            "crs": {"type": "string", "enum": ["wgs84", "cgcs2000", "gcj02", "bd09"]},
            "category_id": NINT,
            "filing_condition_id": NINT,
            "attach_to": {
                "type": ["string", "null"],
                "description": "A duplicate: the open case's number (the call is merged into it)",
            },
            "knowledge_entry_id": {
                "type": ["integer", "null"],
                "description": "A consultation answered from this entry and closed at intake",
            },
            "answer": {"type": "string", "description": "The answer given on the call"},
            "seat": {"type": "string", "maxLength": 32},
        },
    },
    "HotlineCallResult": {
        "type": "object",
        "required": ["call_number", "outcome", "told_number", "case", "answer", "created"],
        "properties": {
            "call_number": STR,
            "outcome": {"type": "string", "enum": [str(o) for o in CallOutcome]},
            "told_number": {"type": "string", "description": "The number to read to the caller"},
            "case": {"type": ["object", "null"]},
            "answer": STR,
            "created": {"type": "boolean"},
        },
    },
}

_CALLBACK_CASE = {
    "type": "object",
    "required": ["number", "due_at", "callers", "round"],
    "properties": {
        "number": STR,
        "version": INT,
        "due_at": {"type": "string", "format": "date-time"},
        "closed_at": NSTR,
        "overdue": {"type": "boolean"},
        "round": INT,
        "callers": {"type": "array", "items": {"type": "object"}},
    },
}
_PHONE = {"type": "object", "required": ["phone"], "properties": {"phone": STR}}
_REASON = _body(
    {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}}, False
)


def paths() -> dict[str, Any]:
    """The desk's operations."""
    tag = ["hotline"]
    return {
        "/api/v1/hotline/callers/{phone}/history": {
            "get": {
                "summary": "Earlier calls from a number and their cases (operators)",
                "tags": tag,
                "parameters": [_path("phone", STR, "The caller's number")],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["phone", "calls", "cases"],
                            "properties": {
                                "phone": STR,
                                "calls": {"type": "array", "items": {"type": "object"}},
                                "cases": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/hotline/gazetteer": {
            "get": {
                "summary": "Places of the local gazetteer matching every word of q",
                "tags": tag,
                "parameters": [
                    _q("q", {"type": "string", "maxLength": 100}, "Words of the place"),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 50}, "At most"),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["places"],
                            "properties": {
                                "places": {"type": "array", "items": _ref("HotlinePlace")}
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/hotline/gazetteer/import": {
            "post": {
                "summary": "Administrators: add or update places from CSV or GeoJSON text",
                "tags": tag,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["content"],
                        "properties": {
                            "content": STR,
                            "format": {"type": "string", "enum": ["csv", "geojson"]},
                            "crs": STR,
                            "name": STR,
                        },
                    }
                ),
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["added", "updated", "errors"],
                            "properties": {
                                "added": INT,
                                "updated": INT,
                                "errors": {"type": "array", "items": STR},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/hotline/categories/suggest": {
            "get": {
                "summary": "Minor classes suggested by the description's words and synonyms",
                "tags": tag,
                "parameters": [_q("text", {"type": "string", "maxLength": 5000}, "Description")],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["categories"],
                            "properties": {
                                "categories": {"type": "array", "items": {"type": "object"}}
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/hotline/categories/{category_id}/keywords": {
            "post": {
                "summary": "Administrators: replace a minor class's keywords and synonyms",
                "tags": tag,
                "parameters": [_path("category_id", INT, "Category id")],
                "requestBody": _body(
                    {"type": "object", "properties": {"keywords": {"type": "string"}}}
                ),
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["id", "keywords"],
                            "properties": {"id": INT, "keywords": STR},
                        }
                    ),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/api/v1/hotline/duplicates": {
            "get": {
                "summary": "Open cases near a point with the same or a related category",
                "tags": tag,
                "parameters": [
                    _q("lng", {"type": "number"}, "Longitude", required=True),
                    _q("lat", {"type": "number"}, "Latitude", required=True),
                    _q("crs", STR, "wgs84 (default), cgcs2000, gcj02, bd09"),
                    _q("category_id", INT, "The call's minor class (related: same major class)"),
                    _q("radius_m", {"type": "number"}, "Metres (default HOTLINE_DUPLICATE_M)"),
                    _q("days", INT, "Reported in the last days (default HOTLINE_DUPLICATE_DAYS)"),
                ],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["radius_m", "days", "cases"],
                            "properties": {
                                "radius_m": {"type": "number"},
                                "days": INT,
                                "cases": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/v1/hotline/knowledge": {
            "get": {
                "summary": "Search the knowledge base of answers",
                "tags": tag,
                "parameters": [_q("q", {"type": "string", "maxLength": 200}, "Words")],
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["entries"],
                            "properties": {
                                "entries": {
                                    "type": "array",
                                    "items": _ref("HotlineKnowledgeEntry"),
                                }
                            },
                        }
                    ),
                    **_errors(400, 401, 403),
                },
            },
            "post": {
                "summary": "Administrators: add an answer",
                "tags": tag,
                "requestBody": _body(_ref("HotlineKnowledgeEntry")),
                "responses": {
                    "201": _ok(_ref("HotlineKnowledgeEntry"), "Created"),
                    **_errors(400, 401, 403),
                },
            },
        },
        "/api/v1/hotline/knowledge/{entry_id}": {
            "post": {
                "summary": "Administrators: change or retire an answer",
                "tags": tag,
                "parameters": [_path("entry_id", INT, "Entry id")],
                "requestBody": _body(_ref("HotlineKnowledgeEntry")),
                "responses": {
                    "200": _ok(_ref("HotlineKnowledgeEntry")),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/api/v1/hotline/calls": {
            "post": {
                "summary": "Record a call: new case, duplicate attached, or consultation answered",
                "tags": tag,
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "minLength": 8, "maxLength": 100},
                    }
                ],
                "requestBody": _body(_ref("HotlineCallInput")),
                "responses": {
                    "201": _ok(_ref("HotlineCallResult"), "Recorded"),
                    "200": _ok(_ref("HotlineCallResult"), "A retry: what was recorded"),
                    **_errors(400, 401, 403, 404, 409),
                },
            }
        },
        "/api/v1/hotline/calls/{number}": {
            "get": {
                "summary": "One call; the number is masked unless you work the desk",
                "tags": tag,
                "parameters": [_path("number", STR, "Call number (H…)")],
                "responses": {
                    "200": _ok({"type": "object", "required": ["number", "caller_phone"]}),
                    **_errors(400, 401, 403, 404),
                },
            }
        },
        "/api/v1/hotline/calls/{number}/reveal": {
            "post": {
                "summary": "A call's full number (logged)",
                "tags": tag,
                "parameters": [_path("number", STR, "Call number")],
                "requestBody": _REASON,
                "responses": {"200": _ok(_PHONE), **_errors(400, 401, 403, 404)},
            }
        },
        "/api/v1/hotline/callers/{caller_id}/reveal": {
            "post": {
                "summary": "A case caller's full number (logged)",
                "tags": tag,
                "parameters": [_path("caller_id", INT, "Caller id")],
                "requestBody": _REASON,
                "responses": {"200": _ok(_PHONE), **_errors(400, 401, 403, 404)},
            }
        },
        "/api/v1/hotline/callbacks": {
            "get": {
                "summary": "Closed cases waiting for their callback (回访)",
                "tags": tag,
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["cases"],
                            "properties": {"cases": {"type": "array", "items": _CALLBACK_CASE}},
                        }
                    ),
                    **_errors(401, 403),
                },
            },
            "post": {
                "summary": "Record one caller's answer (dissatisfied reopens the case)",
                "tags": tag,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["caller_id", "satisfaction"],
                        "properties": {
                            "caller_id": INT,
                            "satisfaction": {
                                "type": "string",
                                "enum": [str(s) for s in Satisfaction],
                            },
                            "note": STR,
                        },
                    }
                ),
                "responses": {
                    "200": _ok(
                        {
                            "type": "object",
                            "required": ["number", "case_action", "state"],
                            "properties": {"number": STR, "case_action": NSTR, "state": STR},
                        }
                    ),
                    **_errors(400, 401, 403, 404, 409),
                },
            },
        },
        "/api/v1/hotline/incoming": {
            "post": {
                "summary": "The call system announces a ringing call (operators' pages hear it)",
                "tags": tag,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["phone"],
                        "properties": {
                            "phone": STR,
                            "line": {"type": "string", "enum": [str(c) for c in Channel]},
                            "seat": {"type": "string", "maxLength": 32},
                        },
                    }
                ),
                "responses": {
                    "202": _ok(
                        {
                            "type": "object",
                            "required": ["id", "published"],
                            "properties": {"id": INT, "published": {"type": "boolean"}},
                        },
                        "Announced",
                    ),
                    **_errors(400, 401, 403),
                },
            }
        },
    }


def _part() -> tuple[dict[str, Any], dict[str, Any]]:
    return SCHEMAS, paths()


if _part not in base.EXTENSIONS:
    base.EXTENSIONS.append(_part)
