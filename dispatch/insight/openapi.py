"""The dashboard's JSON twin in the project's OpenAPI document (merged by ``dispatch.openapi``)."""

from __future__ import annotations

from typing import Any

from core.openapi_parts import JSON
from core.openapi_parts import ref as _ref
from dispatch.models.cases import Source


def _counts() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "integer", "minimum": 0}}


RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
ON_TIME_ROW = {
    "due": {"type": "integer", "minimum": 0},
    "on_time": {"type": "integer", "minimum": 0},
    "rate": RATE,
}

SCHEMAS: dict[str, Any] = {
    "InsightDashboard": {
        "type": "object",
        "description": "Figures for whole local days (Asia/Shanghai), within the caller's scope. "
        "Intake, status, categories and grids count the cases created in the period (status: "
        "where they are now). On-time closure: cases whose handling deadline fell in the period "
        "(ended, or running past it) and, of them, those whose handling stage ended on time.",
        "required": [
            "period",
            "generated_at",
            "totals",
            "days",
            "intake_by_source",
            "status_by_day",
            "on_time_by_district",
            "on_time_by_department",
            "top_categories",
            "hotspot_grids",
        ],
        "additionalProperties": False,
        "properties": {
            "period": {
                "type": "object",
                "required": ["from", "to", "days"],
                "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                    "days": {"type": "integer", "minimum": 1},
                },
            },
            "generated_at": {"type": "string", "format": "date-time"},
            "totals": {
                "type": "object",
                "required": [
                    "intake",
                    "open",
                    "closed",
                    "void",
                    "open_now",
                    "due",
                    "on_time",
                    "on_time_rate",
                ],
                "properties": {
                    "intake": {"type": "integer", "minimum": 0},
                    "open": {"type": "integer", "minimum": 0, "description": "still open"},
                    "closed": {"type": "integer", "minimum": 0},
                    "void": {"type": "integer", "minimum": 0, "description": "void or merged"},
                    "open_now": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "every open case in scope, whenever created",
                    },
                    "due": {"type": "integer", "minimum": 0},
                    "on_time": {"type": "integer", "minimum": 0},
                    "on_time_rate": RATE,
                },
            },
            "days": {"type": "array", "items": {"type": "string", "format": "date"}},
            "intake_by_source": {
                "type": "object",
                "description": "per source, one count per day of ``days``",
                "required": [str(s) for s in Source],
                "additionalProperties": _counts(),
            },
            "status_by_day": {
                "type": "object",
                "required": ["open", "closed", "void"],
                "properties": {"open": _counts(), "closed": _counts(), "void": _counts()},
            },
            "on_time_by_district": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "name", "due", "on_time", "rate"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        **ON_TIME_ROW,
                    },
                },
            },
            "on_time_by_department": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "due", "on_time", "rate"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        **ON_TIME_ROW,
                    },
                },
            },
            "top_categories": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "code", "name", "count"],
                    "properties": {
                        "id": {"type": ["integer", "null"], "description": "null: not classified"},
                        "code": {"type": ["string", "null"]},
                        "name": {"type": ["string", "null"]},
                        "count": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "hotspot_grids": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "name", "count"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "count": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    }
}


def paths(errors: Any) -> dict[str, Any]:
    """The insight endpoints as OpenAPI path items (``errors``: the document's error helper)."""
    day = {"type": "string", "format": "date"}
    return {
        "/api/v1/insight/dashboard": {
            "get": {
                "summary": "The supervisor's dashboard figures for a period (shift supervisors, "
                "leaders, administrators; within your scope)",
                "tags": ["insight"],
                "parameters": [
                    {
                        "name": "from",
                        "in": "query",
                        "schema": day,
                        "description": "First local day (default: 29 days before to)",
                    },
                    {
                        "name": "to",
                        "in": "query",
                        "schema": day,
                        "description": "Last local day, included (default: today); at most "
                        "366 days in all",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {JSON: {"schema": _ref("InsightDashboard")}},
                    },
                    **errors(400, 401, 403),
                },
            }
        }
    }
