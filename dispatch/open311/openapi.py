"""The Open311 endpoint's JSON resources in the project's OpenAPI document (``dispatch.openapi``).

XML answers (``.xml``) carry the same data; the OpenAPI document describes the ``.json`` URLs so
that the API fuzzing covers them too. Errors are GeoReport errors: a list of ``{code,
description}`` with HTTP 400, 403 or 404.
"""

from __future__ import annotations

from typing import Any

from core.openapi_parts import error_responses
from core.openapi_parts import ok as _ok
from core.openapi_parts import ref as _ref

FORM = "application/x-www-form-urlencoded"


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid request (the body's code may say more: 429 for too many requests)",
        403: "api_key missing, unknown or revoked",
        404: "No such service, request, token or jurisdiction",
    }
    return error_responses(codes, text, {"type": "array", "items": _ref("Open311Error")})


def _param(name: str, where: str = "query", **schema: Any) -> dict[str, Any]:
    required = schema.pop("required", where == "path")
    description = schema.pop("description", None)
    param: dict[str, Any] = {
        "name": name,
        "in": where,
        "required": required,
        "schema": schema or {"type": "string"},
    }
    if description:
        param["description"] = description
    return param


JURISDICTION = _param("jurisdiction_id", description="Optional: one jurisdiction is served")

SCHEMAS: dict[str, Any] = {
    "Open311Error": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
    },
    "Open311Discovery": {
        "type": "object",
        "required": ["changeset", "contact", "key_service", "endpoints"],
        "properties": {
            "changeset": {"type": "string"},
            "contact": {"type": "string"},
            "key_service": {"type": "string"},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["specification", "url", "changeset", "type", "formats"],
                    "properties": {
                        "specification": {"type": "string"},
                        "url": {"type": "string"},
                        "changeset": {"type": "string"},
                        "type": {"enum": ["production", "test"]},
                        "formats": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Open311Service": {
        "type": "object",
        "required": ["service_code", "service_name", "metadata", "type"],
        "properties": {
            "service_code": {"type": "string"},
            "service_name": {"type": "string"},
            "description": _nullable("string"),
            "metadata": {"type": "boolean"},
            "type": {"enum": ["realtime", "batch", "blackbox"]},
            "keywords": _nullable("string"),
            "group": _nullable("string"),
        },
    },
    "Open311ServiceDefinition": {
        "type": "object",
        "required": ["service_code", "attributes"],
        "properties": {
            "service_code": {"type": "string"},
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["variable", "code", "datatype", "required"],
                    "properties": {
                        "variable": {"type": "boolean"},
                        "code": {"type": "string"},
                        "datatype": {
                            "enum": [
                                "string",
                                "number",
                                "datetime",
                                "text",
                                "singlevaluelist",
                                "multivaluelist",
                            ]
                        },
                        "required": {"type": "boolean"},
                        "datatype_description": _nullable("string"),
                        "order": _nullable("integer"),
                        "description": _nullable("string"),
                        "values": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["key", "name"],
                                "properties": {
                                    "key": {"type": "string"},
                                    "name": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "Open311Request": {
        "type": "object",
        "description": "A service request's public view: never the reporter's personal data.",
        "required": ["service_request_id", "status", "service_code", "requested_datetime"],
        "properties": {
            "service_request_id": {"type": "string"},
            "status": {"enum": ["open", "closed"]},
            "status_notes": _nullable("string"),
            "service_name": _nullable("string"),
            "service_code": {"type": "string"},
            "description": _nullable("string", maxLength=5000),
            "agency_responsible": _nullable("string"),
            "service_notice": _nullable("string"),
            "requested_datetime": {"type": "string", "format": "date-time"},
            "updated_datetime": _nullable("string", format="date-time"),
            "expected_datetime": _nullable("string", format="date-time"),
            "address": _nullable("string"),
            "address_id": _nullable("string"),
            "zipcode": _nullable("string"),
            "lat": _nullable("number"),
            "long": _nullable("number"),
            "media_url": _nullable("string"),
        },
        "additionalProperties": False,
    },
    "Open311PostResponse": {
        "type": "object",
        "required": ["service_request_id"],
        "properties": {
            "service_request_id": {"type": "string"},
            "token": {"type": "string"},
            "service_notice": _nullable("string"),
            "account_id": _nullable("string"),
        },
    },
    "Open311Token": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}},
    },
    "Open311NewRequest": {
        "type": "object",
        "required": ["api_key", "service_code"],
        "properties": {
            "api_key": {"type": "string"},
            "jurisdiction_id": {"type": "string"},
            "service_code": {"type": "string", "description": "From GET services, e.g. M06001"},
            "lat": {"type": "number", "description": "WGS-84"},
            "long": {"type": "number", "description": "WGS-84"},
            "address_string": {"type": "string", "maxLength": 500},
            "address_id": {"type": "string", "maxLength": 100},
            "email": {"type": "string"},
            "device_id": {"type": "string"},
            "account_id": {"type": "string"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "phone": {"type": "string"},
            "description": {"type": "string", "maxLength": 4000},
            "media_url": {"type": "string", "format": "uri"},
            "attribute[filing_condition]": {
                "type": "string",
                "description": "A key from the service definition's filing_condition values",
            },
        },
    },
}


def paths() -> dict[str, Any]:
    """The Open311 JSON resources as OpenAPI path items."""
    tags = ["open311"]
    requests_list = {"type": "array", "items": _ref("Open311Request")}
    return {
        "/open311/v2/discovery.json": {
            "get": {
                "summary": "Open311 service discovery (also /open311/discovery.json, and .xml)",
                "tags": tags,
                "security": [],
                "responses": {"200": _ok(_ref("Open311Discovery"))},
            }
        },
        "/open311/v2/services.json": {
            "get": {
                "summary": "GeoReport v2: the services (the catalogue's active categories)",
                "tags": tags,
                "security": [],
                "parameters": [JURISDICTION],
                "responses": {
                    "200": _ok({"type": "array", "items": _ref("Open311Service")}),
                    **_errors(400, 404),
                },
            }
        },
        "/open311/v2/services/{service_code}.json": {
            "get": {
                "summary": "GeoReport v2: a service definition (its filing conditions)",
                "tags": tags,
                "security": [],
                "parameters": [_param("service_code", "path"), JURISDICTION],
                "responses": {
                    "200": _ok(_ref("Open311ServiceDefinition")),
                    **_errors(400, 404),
                },
            }
        },
        "/open311/v2/requests.json": {
            "get": {
                "summary": "GeoReport v2: service requests (default: the last 90 days)",
                "description": "Filters as the spec: service_request_id (comma list; overrides "
                "the others), service_code, start_date, end_date (at most 90 days apart), "
                "status. Our extension: page and page_size (at most 1000); the X-Total-Count "
                "header says how many match.",
                "tags": tags,
                "security": [],
                "parameters": [
                    JURISDICTION,
                    _param("service_request_id"),
                    _param("service_code"),
                    _param("start_date", type="string", format="date-time"),
                    _param("end_date", type="string", format="date-time"),
                    _param("status", description="open, closed (comma delimited)"),
                    _param("page", type="integer", minimum=1),
                    _param("page_size", type="integer", minimum=1, maximum=1000),
                ],
                "responses": {"200": _ok(requests_list), **_errors(400, 404)},
            },
            "post": {
                "summary": "GeoReport v2: file a service request (form-encoded, api_key)",
                "description": "Location by lat/long (WGS-84), address_string or address_id; "
                "an address-only request is kept and waits for placement on the map. "
                "Our extension: an Idempotency-Key header makes retries return the first "
                "request (200) instead of filing it again (201).",
                "tags": tags,
                "security": [],
                "parameters": [_param("Idempotency-Key", "header")],
                "requestBody": {
                    "required": True,
                    "content": {FORM: {"schema": _ref("Open311NewRequest")}},
                },
                "responses": {
                    "201": _ok({"type": "array", "items": _ref("Open311PostResponse")}, "Filed"),
                    "200": _ok(
                        {"type": "array", "items": _ref("Open311PostResponse")},
                        "A retry with the same Idempotency-Key: the first request",
                    ),
                    **_errors(400, 403, 404),
                },
            },
        },
        "/open311/v2/requests/{service_request_id}.json": {
            "get": {
                "summary": "GeoReport v2: one service request (a list of one)",
                "tags": tags,
                "security": [],
                "parameters": [_param("service_request_id", "path"), JURISDICTION],
                "responses": {"200": _ok(requests_list), **_errors(400, 404)},
            }
        },
        "/open311/v2/tokens/{token}.json": {
            "get": {
                "summary": "GeoReport v2: the service_request_id behind a token",
                "tags": tags,
                "security": [],
                "parameters": [_param("token", "path"), JURISDICTION],
                "responses": {
                    "200": _ok({"type": "array", "items": _ref("Open311Token")}),
                    **_errors(400, 404),
                },
            }
        },
    }
