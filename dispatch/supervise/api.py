"""The supervisor's JSON API: the overdue list (the page's twin), bulk urging, and the map data.

Authentication as for the cases API (bearer token, or the page session with ``X-CSRFToken`` on
POST); only shift supervisors and leaders get in, and every answer is limited to their scope.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from core.db import retry_on_lock_race
from core.db import session as db_session
from core.errors import ApiError
from core.types import utcnow
from dispatch.auth import api_user, exempt_api
from dispatch.errors import Forbidden
from dispatch.models import User
from dispatch.supervise.queries import (
    POINT_FIELDS,
    OverdueItem,
    case_points,
    grid_figures,
    may_supervise,
    overdue_page,
    parse_filter,
)
from dispatch.supervise.urge import parse_items, urge_cases

bp = Blueprint("supervise_api", __name__, url_prefix="/api/v1/supervise")
exempt_api(bp)  # CSRF is checked by api_user (session clients only)


def _supervisor() -> User:
    user = api_user()
    assert user is not None
    if not may_supervise(user):
        raise Forbidden("the supervisor's workspace is for shift supervisors and leaders")
    return user


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def overdue_json(item: OverdueItem) -> dict[str, Any]:
    """One row of the overdue list for machines (codes and instants, plus the readable names)."""
    row = item.row
    return {
        "number": row.number,
        "state": row.state,
        "level": item.level,
        "stage": row.stage,
        "round": row.round,
        "due_at": _iso(row.due_at),
        "warn_at": _iso(row.warn_at),
        "late_by_s": round(row.late_by_s, 1),
        "late_text": item.late_text,
        "district_code": row.district_code,
        "grid_code": row.grid_code,
        "grid": item.grid,
        "category_id": row.category_id,
        "category": item.category,
        "owner": {
            "officer_id": row.owner_officer_id,
            "department_id": row.owner_department_id,
            "name": item.owner,
        },
        "source": row.source,
        "urgency": row.urgency,
        "reported_at": _iso(row.created_at),
        "urge_count": row.urge_count,
        "version": row.version,
    }


@bp.get("/overdue")
def overdue_list() -> ResponseReturnValue:
    """The overdue (or near-due) list: the page's filters, sorting and paging, in scope."""
    user = _supervisor()
    flt = parse_filter(request.args)
    page = overdue_page(db_session(), user, flt)
    return jsonify(
        {
            "cases": [overdue_json(i) for i in page.items],
            "page": page.page,
            "pages": page.pages,
            "per_page": page.per_page,
            "total": page.total,
            "now": _iso(page.now),
        }
    )


@bp.post("/urge")
@retry_on_lock_race
def urge() -> ResponseReturnValue:
    """Urge one or many cases with one note; each case succeeds or fails on its own."""
    user = _supervisor()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_input", "send a JSON object", {"body": "object"})
    note = data.get("note", "")
    if not isinstance(note, str):
        raise ApiError(400, "invalid_input", "note must be text", {"note": "not text"})
    items = parse_items(data.get("cases"))
    sess = db_session()
    results = urge_cases(sess, user, items, note)
    sess.commit()
    done = sum(1 for r in results if r.ok)
    return jsonify(
        {"urged": done, "failed": len(results) - done, "results": [r.as_dict() for r in results]}
    )


@bp.get("/map/grids")
def map_grids() -> ResponseReturnValue:
    """Open, overdue and near-due cases per grid in scope (grids without open cases omitted)."""
    user = _supervisor()
    rows = grid_figures(db_session(), user)
    return jsonify(
        {
            "grids": [
                {"code": r.code, "open": r.open, "overdue": r.overdue, "near_due": r.near_due}
                for r in rows
            ]
        }
    )


@bp.get("/map/cases")
def map_cases() -> ResponseReturnValue:
    """Every open, located case in scope as a compact array of [number, lng, lat, level]."""
    user = _supervisor()
    now = utcnow()
    points = case_points(db_session(), user, now)
    response = jsonify({"fields": list(POINT_FIELDS), "cases": points, "now": now.isoformat()})
    response.headers["Cache-Control"] = "no-store"
    return response
