"""JSON Schemas of the GeoReport v2 responses, written from the specification
(wiki.open311.org/GeoReport_v2, Service Discovery, and open311/schema-validation), kept apart
from the application's own OpenAPI description so they check it independently.

The spec's JSON is the Spark-convention mapping of its XML: ids are strings (the spec's own
examples show bare numbers, but says ids are strings), optional fields may be null or absent,
date-times are W3C (ISO 8601) with a time zone.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

#: W3C date-time with a mandatory zone (Z or ±hh:mm), as the spec requires.
W3C_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$"


def _opt(kind: str, **extra: Any) -> dict[str, Any]:
    return {"anyOf": [{"type": kind, **extra}, {"type": "null"}]}


_DATETIME = {"type": "string", "pattern": W3C_DATETIME}

DISCOVERY = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "changeset": {"type": "string"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {
                        "type": "array",
                        "items": {"type": "string"},
                        "contains": {"const": "text/xml"},
                    },
                },
            },
        },
    },
}

SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string", "minLength": 1},
        "service_name": {"type": "string"},
        "description": _opt("string"),
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": _opt("string"),
        "group": _opt("string"),
    },
}
SERVICES = {"type": "array", "items": SERVICE}

SERVICE_DEFINITION = {
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
                    "datatype_description": _opt("string"),
                    "order": _opt("integer", minimum=1),
                    "description": _opt("string"),
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "name"],
                            "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                },
                # Lists must say what may be chosen.
                "if": {"properties": {"datatype": {"enum": ["singlevaluelist", "multivaluelist"]}}},
                "then": {"required": ["values"]},
            },
        },
    },
}

REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string", "minLength": 1},
        "status": {"enum": ["open", "closed"]},
        "status_notes": _opt("string"),
        "service_name": _opt("string"),
        "service_code": {"type": "string"},
        "description": _opt("string", maxLength=4000),
        "agency_responsible": _opt("string"),
        "service_notice": _opt("string"),
        "requested_datetime": _DATETIME,
        "updated_datetime": {"anyOf": [_DATETIME, {"type": "null"}]},
        "expected_datetime": {"anyOf": [_DATETIME, {"type": "null"}]},
        "address": _opt("string"),
        "address_id": _opt("string"),
        "zipcode": _opt("string"),
        "lat": _opt("number", minimum=-90, maximum=90),
        "long": _opt("number", minimum=-180, maximum=180),
        "media_url": _opt("string", format="uri"),
    },
    # The spec's fields only: nothing else (and so no personal data) may appear.
    "additionalProperties": False,
}
REQUESTS = {"type": "array", "items": REQUEST}

POST_RESPONSE = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "service_request_id": {"type": "string", "minLength": 1},
            "token": {"type": "string", "minLength": 1},
            "service_notice": _opt("string"),
            "account_id": _opt("string"),
        },
        # A realtime service answers with the id (a batch one with a token).
        "anyOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
        "additionalProperties": False,
    },
}

TOKENS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {
            "service_request_id": {"type": "string"},
            "token": {"type": "string"},
        },
    },
}

ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {
            "code": {"type": "integer"},
            "description": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    },
}


def validate(instance: Any, schema: dict[str, Any]) -> None:
    """Validate ``instance`` (Draft 2020-12, formats checked)."""
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(instance)


def is_w3c(value: str) -> bool:
    return re.match(W3C_DATETIME, value) is not None
