"""The desk's JSON API (``/api/v1/hotline/…``): caller history, gazetteer, category
suggestions, duplicates, the knowledge base, recording calls, callbacks, number reveals and the
telephony system's incoming-call announcement.

Views parse input, check the role, call one service function and serialise; the request
commits once. Errors have the one JSON shape (``core.errors``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from core.db import retry_on_lock_race
from core.db import session as db_session
from dispatch.access import Actor, can_view
from dispatch.api import MAX_DB_INT, _json_body, _opt_float, _opt_int, _text
from dispatch.auth import api_user, exempt_api
from dispatch.errors import Forbidden, InvalidInput, NotFound
from dispatch.models import Case, User
from dispatch.models.people import Role
from hotline import callbacks, gazetteer, knowledge, live, services
from hotline.models import HotlineCall
from hotline.privacy import may_reveal, phone_for, reveal_phone

bp = Blueprint("hotline_api", __name__, url_prefix="/api/v1/hotline")
exempt_api(bp)

#: Who reads the desk's look-ups (gazetteer, suggestions, duplicates, knowledge base).
LOOKUP_ROLES = (Role.OPERATOR, Role.SHIFT_SUPERVISOR, Role.DISPATCHER, Role.ADMIN)
#: Who reads recorded calls (numbers masked except for operators).
CALL_READERS = (Role.OPERATOR, Role.SHIFT_SUPERVISOR, Role.LEADER, Role.ADMIN)


def _user_with(*roles: Role) -> User:
    user = api_user()
    assert user is not None
    if not user.has_role(*roles):
        raise Forbidden("your roles may not use this part of the hotline desk")
    return user


def _operator() -> Actor:
    return Actor(_user_with(Role.OPERATOR), Role.OPERATOR)


def _bool(data: dict[str, Any], name: str) -> bool:
    raw = data.get(name, False)
    if raw in (None, ""):
        return False
    if not isinstance(raw, bool):
        raise InvalidInput(f"{name} must be true or false", {name: "not a boolean"})
    return raw


def _id(value: int, what: str) -> int:
    """Ids are PostgreSQL integers: a larger number names nothing (and must not reach SQL)."""
    if value > MAX_DB_INT:
        raise NotFound(f"no {what} {value}")
    return value


def _query_float(name: str, *, required: bool = False, default: float | None = None) -> Any:
    value = _opt_float(dict(request.args), name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", {name: "required"})
        return default
    return value


# ---------------------------------------------------------------------------- look-ups
@bp.get("/callers/<phone>/history")
def history(phone: str) -> ResponseReturnValue:
    """Earlier calls from this number and their cases (the desk, as the number is typed)."""
    user = _operator().user
    assert user is not None
    return jsonify(services.caller_history(db_session(), user, phone))


@bp.get("/gazetteer")
def gazetteer_search() -> ResponseReturnValue:
    """Places whose name, alias or area holds every word of ``q``."""
    _user_with(*LOOKUP_ROLES)
    q = _text(dict(request.args), "q", 100)
    limit = _opt_int(dict(request.args), "limit") or gazetteer.MAX_SUGGESTIONS
    found = gazetteer.search(db_session(), q, limit=limit)
    return jsonify({"places": [gazetteer.entry_json(e) for e in found]})


@bp.post("/gazetteer/import")
@retry_on_lock_race
def gazetteer_import() -> ResponseReturnValue:
    """Administrators: add or update places from CSV or GeoJSON text (errors reported)."""
    _user_with(Role.ADMIN)
    data = _json_body()
    sess = db_session()
    report = gazetteer.import_places(
        sess,
        _text(data, "content", 20_000_000),
        fmt=_text(data, "format", 10) or "csv",
        crs=_text(data, "crs", 20) or "wgs84",
        source=("import:" + _text(data, "name", 80)).rstrip(":"),
    )
    sess.commit()
    return jsonify(report.as_json())


@bp.get("/categories/suggest")
def suggest() -> ResponseReturnValue:
    """Minor classes whose keywords or synonyms occur in ``text``, with their conditions."""
    _user_with(*LOOKUP_ROLES)
    text = _text(dict(request.args), "text", 5000)
    return jsonify({"categories": services.suggest_categories(db_session(), text)})


@bp.post("/categories/<int:category_id>/keywords")
def set_keywords(category_id: int) -> ResponseReturnValue:
    """Administrators: replace a minor class's keywords and synonyms."""
    _user_with(Role.ADMIN)
    data = _json_body()
    sess = db_session()
    category = services.set_category_keywords(
        sess, _id(category_id, "category"), _text(data, "keywords", 4000)
    )
    sess.commit()
    return jsonify({"id": category.id, "keywords": category.keywords})


@bp.get("/duplicates")
def duplicates() -> ResponseReturnValue:
    """Open cases near a point with the same or a related category (possible duplicates)."""
    user = _user_with(*LOOKUP_ROLES)
    args = dict(request.args)
    radius = _query_float("radius_m", default=float(current_app.config["HOTLINE_DUPLICATE_M"]))
    days = _opt_int(args, "days")
    if not 1 <= radius <= 5000:
        raise InvalidInput("radius_m must be 1-5000", {"radius_m": "range"})
    if days is not None and not 0 <= days <= 365:
        raise InvalidInput("days must be 0-365", {"days": "range"})
    q = services.DuplicateQuery(
        lng=_query_float("lng", required=True),
        lat=_query_float("lat", required=True),
        crs=_text(args, "crs", 20) or "wgs84",
        category_id=_opt_int(args, "category_id"),
        radius_m=radius,
        days=days if days is not None else int(current_app.config["HOTLINE_DUPLICATE_DAYS"]),
    )
    found = services.find_duplicates(db_session(), user, q)
    return jsonify({"radius_m": q.radius_m, "days": q.days, "cases": found})


@bp.get("/knowledge")
def knowledge_search() -> ResponseReturnValue:
    """Answers of the knowledge base holding every word of ``q`` (admins also see inactive)."""
    user = _user_with(Role.OPERATOR, Role.ADMIN)
    q = _text(dict(request.args), "q", 200)
    found = knowledge.search(db_session(), q, include_inactive=user.has_role(Role.ADMIN))
    return jsonify({"entries": [knowledge.entry_json(e) for e in found]})


def _save_entry(entry_id: int | None) -> ResponseReturnValue:
    user = _user_with(Role.ADMIN)
    data = _json_body()
    sess = db_session()
    entry = knowledge.save_entry(
        sess,
        user,
        title=_text(data, "title", 200),
        answer=_text(data, "answer", 10_000),
        keywords=_text(data, "keywords", 500),
        is_active=True if data.get("is_active") is None else _bool(data, "is_active"),
        entry_id=None if entry_id is None else _id(entry_id, "knowledge entry"),
    )
    sess.commit()
    return jsonify(knowledge.entry_json(entry)), 201 if entry_id is None else 200


@bp.post("/knowledge")
def knowledge_create() -> ResponseReturnValue:
    """Administrators: add an answer."""
    return _save_entry(None)


@bp.post("/knowledge/<int:entry_id>")
def knowledge_update(entry_id: int) -> ResponseReturnValue:
    """Administrators: change an answer (or retire it with ``is_active: false``)."""
    return _save_entry(entry_id)


# ---------------------------------------------------------------------------- calls
@bp.post("/calls")
@retry_on_lock_race
def take_call() -> ResponseReturnValue:
    """Record a call; the answer says which number to read to the caller."""
    actor = _operator()
    data = _json_body()
    key = request.headers.get("Idempotency-Key") or data.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 8 <= len(key) <= 100):
        raise InvalidInput(
            "Idempotency-Key must be 8-100 characters", {"idempotency_key": "length"}
        )
    call = services.CallInput(
        request_type=_text(data, "request_type", 16),
        description=_text(data, "description", 5000),
        channel=_text(data, "channel", 16) or "12345",
        caller_phone=_text(data, "caller_phone", 32),
        caller_name=_text(data, "caller_name", 100),
        is_anonymous=_bool(data, "is_anonymous"),
        address=_text(data, "address", 500),
        lng=_opt_float(data, "lng"),
        lat=_opt_float(data, "lat"),
        crs=_text(data, "crs", 20) or "wgs84",
        category_id=_opt_int(data, "category_id"),
        filing_condition_id=_opt_int(data, "filing_condition_id"),
        attach_to=_text(data, "attach_to", 16) or None,
        knowledge_entry_id=_opt_int(data, "knowledge_entry_id"),
        answer=_text(data, "answer", 10_000),
        seat=_text(data, "seat", 32),
        idempotency_key=key,
    )
    sess = db_session()
    result = services.take_call(sess, actor, call)
    sess.commit()
    return jsonify(services.call_json(result)), 201 if result.created else 200


def _find_call(number: str, user: User) -> HotlineCall:
    sess = db_session()
    call = sess.scalar(select(HotlineCall).where(HotlineCall.number == number))
    case_id = call and (call.attached_to_case_id or call.case_id)
    case = sess.get(Case, case_id) if case_id else None
    if call is None or (case is not None and not can_view(sess, user, case)):
        raise NotFound(f"no call {number}")
    return call


@bp.get("/calls/<number>")
def call_detail(number: str) -> ResponseReturnValue:
    """One recorded call; the caller's number is masked unless you work the desk."""
    user = _user_with(*CALL_READERS)
    call = _find_call(number, user)
    sess = db_session()
    case_id = call.attached_to_case_id or call.case_id
    case = sess.get(Case, case_id) if case_id else None
    return jsonify(
        {
            "number": call.number,
            "at": call.created_at.isoformat(),
            "caller_phone": phone_for(user, call.caller_phone),
            "caller_name": "" if call.is_anonymous else call.caller_name,
            "is_anonymous": call.is_anonymous,
            "request_type": call.request_type,
            "channel": call.channel,
            "description": call.description,
            "address": call.address,
            "outcome": call.outcome,
            "case_number": case.number if case else None,
            "answer": call.answer,
            "may_reveal": may_reveal(user),
        }
    )


@bp.post("/calls/<number>/reveal")
def reveal_call(number: str) -> ResponseReturnValue:
    """The caller's full number of a call, for a role that may see it; the reveal is logged."""
    user = _user_with(*CALL_READERS)
    call = _find_call(number, user)
    data = _json_body()
    sess = db_session()
    phone = reveal_phone(sess, user, call_id=call.id, reason=_text(data, "reason", 200))
    sess.commit()
    return jsonify({"phone": phone})


@bp.post("/callers/<int:caller_id>/reveal")
def reveal_caller(caller_id: int) -> ResponseReturnValue:
    """A case caller's full number, for a role that may see it; the reveal is logged."""
    user = api_user()
    assert user is not None
    data = _json_body()
    sess = db_session()
    phone = reveal_phone(
        sess, user, caller_id=_id(caller_id, "caller"), reason=_text(data, "reason", 200)
    )
    sess.commit()
    return jsonify({"phone": phone})


# ---------------------------------------------------------------------------- callbacks
@bp.get("/callbacks")
def callback_queue() -> ResponseReturnValue:
    """Closed cases waiting to be called back, soonest due first, with their callers."""
    user = _user_with(Role.OPERATOR, Role.SHIFT_SUPERVISOR)
    return jsonify({"cases": callbacks.callback_queue(db_session(), user)})


@bp.post("/callbacks")
@retry_on_lock_race
def record_callback() -> ResponseReturnValue:
    """Record what one caller said; dissatisfied reopens the case through the workflow."""
    actor = _operator()
    data = _json_body()
    caller_id = _opt_int(data, "caller_id")
    if caller_id is None:
        raise InvalidInput("caller_id is required", {"caller_id": "required"})
    sess = db_session()
    result = callbacks.record_callback(
        sess,
        actor,
        caller_id,
        _text(data, "satisfaction", 24),
        _text(data, "note", 2000),
    )
    sess.commit()
    return jsonify(result)


# ---------------------------------------------------------------------------- telephony
@bp.post("/incoming")
def incoming() -> ResponseReturnValue:
    """The call system announces a ringing call (number, line, seat): the operator's page
    shows the caller's history at once. Needs a token (or session) of an operator or admin."""
    user = _user_with(Role.OPERATOR, Role.ADMIN)
    data = _json_body()
    sess = db_session()
    row = live.announce(
        sess,
        user,
        _text(data, "phone", 32),
        _text(data, "line", 16) or "12345",
        _text(data, "seat", 32),
    )
    sess.commit()
    return jsonify({"id": row.id, "published": True}), 202
