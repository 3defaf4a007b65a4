"""The cases JSON API: intake, lists, detail, every workflow action, routing, the catalogue.

Views parse input, find the caller, call one service function and serialise. Every state change
goes through ``dispatch.workflow.perform``. Errors have one shape (``core.errors``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import retry_on_lock_race
from core.db import session as db_session
from core.errors import ApiError
from dispatch import serialize
from dispatch.access import Actor, can_view, choose_role, scope_clause
from dispatch.auth import api_user, exempt_api
from dispatch.errors import Forbidden, InvalidInput, NotFound
from dispatch.intake import Report, create_case
from dispatch.models import Case, Category, Department, User
from dispatch.models.cases import CaseState, Placement, Source
from dispatch.models.people import Role
from dispatch.routing import propose_owner
from dispatch.workflow import TRANSITIONS, Action, perform

bp = Blueprint("dispatch_api", __name__, url_prefix="/api/v1")
exempt_api(bp)

#: Who may create cases through the API, and the source recorded when none is given.
INTAKE_ROLES = {
    Role.OPERATOR: Source.HOTLINE,
    Role.INSPECTOR: Source.INSPECTOR,
    Role.SHIFT_SUPERVISOR: Source.WEB,
    Role.DISPATCHER: Source.WEB,
    Role.ADMIN: Source.API,
}
MAX_PER_PAGE = 200
#: Ids and counts are PostgreSQL ``integer`` columns: larger numbers can match nothing (and
#: would make the database refuse the query instead of answering "none").
MAX_DB_INT = 2**31 - 1


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        if request.mimetype == "application/json" and request.get_data():
            raise ApiError(400, "invalid_input", "the body is not valid JSON", {"body": "json"})
        return {}
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_input", "send a JSON object", {"body": "object"})
    return data


def _opt_float(data: dict[str, Any], name: str) -> float | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be a number", {name: "not a number"})
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number", {name: "not a number"}) from None


def _opt_int(data: dict[str, Any], name: str) -> int | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be an integer", {name: "not an integer"})
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer", {name: "not an integer"}) from None
    if not -MAX_DB_INT <= value <= MAX_DB_INT:
        raise InvalidInput(f"{name} is out of range", {name: "out of range"})
    return value


def _text(data: dict[str, Any], name: str, limit: int) -> str:
    raw = data.get(name, "")
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be text", {name: "not text"})
    if len(raw) > limit:
        raise InvalidInput(f"{name} is too long ({limit} characters at most)", {name: "too long"})
    return raw


def find_case(sess: Session, user: User, number: str) -> Case:
    """The case with ``number`` if the user may see it (else 404, so scope cannot be probed)."""
    case = sess.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(sess, user, case):
        raise NotFound(f"no case {number}")
    return case


@bp.post("/cases")
@retry_on_lock_race
def create() -> ResponseReturnValue:
    """Report a problem. ``Idempotency-Key`` makes retries return the first case (200)."""
    user = api_user(attach=False)  # only its id and roles are read
    sess = db_session()
    roles = user.roles
    role = next((r for r in INTAKE_ROLES if r in roles), None)
    if role is None:
        raise Forbidden("your roles may not create cases")
    data = _json_body()
    key = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 100):
        raise InvalidInput(
            "Idempotency-Key must be 8-100 characters", {"idempotency_key": "length"}
        )
    source_raw = data.get("source") or INTAKE_ROLES[role]
    try:
        source = Source(source_raw)
    except ValueError:
        raise InvalidInput(
            f"unknown source {source_raw!r}", {"source": "one of " + ", ".join(Source)}
        ) from None
    report = Report(
        source=source,
        description=_text(data, "description", 5000),
        address=_text(data, "address", 500),
        lng=_opt_float(data, "lng"),
        lat=_opt_float(data, "lat"),
        crs=_text(data, "crs", 20) or "wgs84",
        reporter_name=_text(data, "reporter_name", 100),
        reporter_phone=_text(data, "reporter_phone", 32),
        category_id=_opt_int(data, "category_id"),
        filing_condition_id=_opt_int(data, "filing_condition_id"),
        idempotency_key=key,
    )
    case, created = create_case(sess, report, Actor(user, role), commit=True)
    # A short answer (the hotline reads the number out); the detail is one GET away.
    response = jsonify(serialize.case_created(case, user))
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for(".detail", number=case.number)
    response.headers["ETag"] = f'"{case.version}"'
    return response


@bp.get("/cases")
def list_cases() -> ResponseReturnValue:
    """Cases the caller may see, filtered and paged (newest first)."""
    user = api_user()
    sess = db_session()
    args = request.args
    query = select(Case).where(scope_clause(sess, user))
    states = args.getlist("state")
    for state in states:
        if state not in CaseState.__members__.values():
            raise InvalidInput(f"unknown state {state!r}", {"state": "unknown"})
    if states:
        query = query.where(Case.state.in_(states))
    if args.get("source"):
        query = query.where(Case.source == args["source"])
    if args.get("grid"):
        query = query.where(Case.grid_code == args["grid"])
    if args.get("district"):
        query = query.where(Case.district_code == args["district"])
    if args.get("placement"):
        query = query.where(Case.placement == args["placement"])
    for name, column in (
        ("category_id", Case.category_id),
        ("owner_officer_id", Case.owner_officer_id),
        ("owner_department_id", Case.owner_department_id),
    ):
        value = _opt_int(dict(args), name)
        if value is not None:
            query = query.where(column == value)
    for name, op in (("created_from", ">="), ("created_to", "<")):
        raw = args.get(name)
        if raw:
            try:
                when = datetime.fromisoformat(raw)
            except ValueError:
                raise InvalidInput(f"{name} must be ISO 8601", {name: "not a date-time"}) from None
            if when.tzinfo is None:
                from core.i18n import SHANGHAI

                when = when.replace(tzinfo=SHANGHAI)
            try:  # 0001-01-01 in +08:00 lies before the first instant a datetime can hold
                when = when.astimezone(UTC)
            except OverflowError:
                raise InvalidInput(f"{name} is out of range", {name: "out of range"}) from None
            query = query.where(Case.created_at >= when if op == ">=" else Case.created_at < when)
    q = (args.get("q") or "").strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(Case.number.like(like), Case.description.like(like), Case.address.like(like))
        )
    page = max(_opt_int(dict(args), "page") or 1, 1)
    per_page = min(max(_opt_int(dict(args), "per_page") or 50, 1), MAX_PER_PAGE)
    total = sess.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = sess.scalars(
        query.order_by(Case.created_at.desc(), Case.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return jsonify(
        {
            "cases": [serialize.case_summary(c, user) for c in rows],
            "page": page,
            "per_page": per_page,
            "total": total,
        }
    )


@bp.get("/cases/<number>")
def detail(number: str) -> ResponseReturnValue:
    """One case with its timeline, callers, requests and the actions the caller may take."""
    user = api_user()
    sess = db_session()
    case = find_case(sess, user, number)
    response = jsonify(serialize.case_detail(sess, case, user))
    response.headers["ETag"] = f'"{case.version}"'
    return response


@bp.get("/cases/<number>/events")
def events(number: str) -> ResponseReturnValue:
    """The case's append-only event log."""
    user = api_user()
    sess = db_session()
    case = find_case(sess, user, number)
    return jsonify({"number": case.number, "events": [serialize.event(e) for e in case.events]})


@bp.get("/cases/<number>/routing")
def routing(number: str) -> ResponseReturnValue:
    """Who the system proposes as owner (grid + category), and why."""
    user = api_user()
    sess = db_session()
    case = find_case(sess, user, number)
    proposal = propose_owner(sess, case)
    return jsonify({"number": case.number, "proposal": serialize.proposal(sess, proposal)})


def _expected_version(data: dict[str, Any]) -> int | None:
    header = request.headers.get("If-Match")
    if header:
        try:
            return int(header.strip().strip('"').removeprefix("W/").strip('"'))
        except ValueError:
            raise InvalidInput(
                "If-Match must be the case version", {"If-Match": "not a version"}
            ) from None
    return _opt_int(data, "version")


@bp.post("/cases/<number>/actions/<action>")
@retry_on_lock_race
def act(number: str, action: str) -> ResponseReturnValue:
    """Perform a workflow action. 409 when the case moved on, 403 when the role may not."""
    user = api_user()
    sess = db_session()
    case = find_case(sess, user, number)
    try:
        act_ = Action(action)
    except ValueError:
        raise NotFound(f"no action {action!r}") from None
    edge = TRANSITIONS.get(act_)
    if edge is None:
        raise NotFound(f"no action {action!r}")
    data = _json_body()
    wanted = data.get("as_role")
    if wanted:
        try:
            role = Role(wanted)
        except ValueError:
            raise InvalidInput(f"unknown role {wanted!r}", {"as_role": "unknown"}) from None
        if not user.has_role(role):
            raise Forbidden(f"you do not hold the {role} role")
    else:
        role = choose_role(sess, user, edge.roles, case)
        if role is None:
            raise Forbidden(f"none of your roles may {act_} this case")
    payload = data.get("data") or {}
    if not isinstance(payload, dict):
        raise InvalidInput("data must be an object", {"data": "object"})
    attachments = data.get("attachments") or []
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise InvalidInput("attachments must be a list of objects", {"attachments": "list"})
    outcome = perform(
        sess,
        case.id,
        act_,
        Actor(user, role),
        note=_text(data, "note", 2000),
        data=payload,
        attachments=attachments,
        expected_version=_expected_version(data),
    )
    sess.commit()
    body = serialize.case_detail(sess, outcome.case, user)
    body["event"] = serialize.event(outcome.event)
    response = jsonify(body)
    response.headers["ETag"] = f'"{outcome.case.version}"'
    return response


@bp.get("/placement-queue")
def placement_queue() -> ResponseReturnValue:
    """Cases waiting for manual placement (no usable location), oldest first."""
    user = api_user()
    sess = db_session()
    rows = sess.scalars(
        select(Case)
        .where(
            scope_clause(sess, user),
            Case.placement == Placement.PENDING,
            Case.state.not_in(["void", "merged", "closed"]),
        )
        .order_by(Case.created_at)
        .limit(500)
    ).all()
    return jsonify({"cases": [serialize.case_summary(c, user) for c in rows]})


@bp.get("/categories")
def categories() -> ResponseReturnValue:
    """The category catalogue (active classes), optionally searched by name, code or keyword."""
    api_user()
    sess = db_session()
    query = select(Category).where(Category.is_active.is_(True))
    kind = request.args.get("kind")
    if kind:
        query = query.where(Category.kind == kind)
    q = (request.args.get("q") or "").strip()
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(Category.name.like(like), Category.code.like(like), Category.keywords.like(like))
        )
    rows = sess.scalars(query.order_by(Category.kind, Category.code).limit(500)).all()
    return jsonify({"categories": [serialize.category(c) for c in rows]})


@bp.get("/categories/<int:category_id>")
def category_detail(category_id: int) -> ResponseReturnValue:
    """One category with its filing conditions."""
    api_user()
    category = db_session().get(Category, category_id) if category_id <= MAX_DB_INT else None
    if category is None:
        raise NotFound(f"no category {category_id}")
    body = serialize.category(category)
    body["conditions"] = [serialize.condition(c) for c in category.conditions if c.is_active]
    return jsonify(body)


@bp.get("/departments")
def departments() -> ResponseReturnValue:
    """Professional departments that cases can be dispatched to."""
    api_user()
    rows = db_session().scalars(
        select(Department).where(Department.is_active.is_(True)).order_by(Department.code)
    )
    return jsonify({"departments": [serialize.department(d) for d in rows]})


@bp.get("/me")
def me() -> ResponseReturnValue:
    """The caller: name, roles and scopes."""
    user = api_user()
    return jsonify(serialize.user(user))
