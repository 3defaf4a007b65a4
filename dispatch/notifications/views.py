"""The inbox: a page listing the current user's notifications, its JSON API, and the header badge.

Messages are stored as a kind and parameters and rendered (``render.render``) in the reader's
language each time they are shown. Every query here is limited to the logged-in user's own rows:
another user's message id is simply not found, so nobody can read or mark someone else's inbox.

The page's buttons are plain forms (they work without JavaScript); ``static/js/inbox.js`` keeps
the header count fresh from the JSON API and marks a message read when its case link is
followed. The API answers bearer-token clients and the page session (the session needs the
``X-CSRFToken`` header on POST, checked by ``auth.api_user`` as for the cases API).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import session as db_session
from core.types import utcnow
from dispatch.auth import api_user, exempt_api, login_required_page
from dispatch.errors import InvalidInput
from dispatch.models import Case, Notification, User
from dispatch.notifications import unread_count
from dispatch.notifications.render import render

bp = Blueprint("inbox", __name__, template_folder="../templates")
api_bp = Blueprint("notifications_api", __name__, url_prefix="/api/v1")
exempt_api(api_bp)  # CSRF is checked by api_user (session clients only)

#: Messages a page or an API call returns unless asked for fewer.
DEFAULT_LIMIT = 50
#: The most messages one page or API call returns.
MAX_LIMIT = 200
#: Ids are PostgreSQL ``integer`` columns: a larger number names no message.
MAX_ID = 2**31 - 1
#: The most ids one "mark read" call takes.
MAX_IDS = 500


# ---------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class InboxItem:
    """One message as the reader sees it (title and body already in their language)."""

    id: int
    kind: str
    title: str
    body: str
    case_number: str | None
    urgent: bool
    created_at: datetime
    read_at: datetime | None

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "case_number": self.case_number,
            "urgent": self.urgent,
            "created_at": self.created_at.isoformat(),
            "read_at": self.read_at.isoformat() if self.read_at else None,
        }


def inbox_items(
    session: Session,
    user_id: int,
    *,
    unread_only: bool = False,
    limit: int = DEFAULT_LIMIT,
    before_id: int | None = None,
) -> list[InboxItem]:
    """``user_id``'s messages, newest first, rendered in the current locale."""
    if limit <= 0:
        return []
    query = (
        select(Notification, Case.number)
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(Notification.user_id == user_id)
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    rows = session.execute(query.order_by(Notification.id.desc()).limit(limit))
    items = []
    for note, number in rows:
        params = dict(note.params or {})
        title, body = render(note.kind, params)
        items.append(
            InboxItem(
                id=note.id,
                kind=note.kind,
                title=title,
                body=body,
                case_number=number or params.get("case_number"),
                urgent=note.urgent,
                created_at=note.created_at,
                read_at=note.read_at,
            )
        )
    return items


def mark_read(
    session: Session,
    user_id: int,
    *,
    ids: Iterable[int] = (),
    everything: bool = False,
    now: datetime | None = None,
) -> int:
    """Mark ``user_id``'s unread messages ``ids`` (or all of them) read; returns how many.

    Ids of other users' messages, of read ones or of none at all are ignored. Flushes (one
    UPDATE); the caller commits.
    """
    wanted = sorted(set(ids))
    if not everything and not wanted:
        return 0
    stmt = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if not everything:
        stmt = stmt.where(Notification.id.in_(wanted))
    result = session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- input
def _flag(raw: str | None) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "yes", "on")


def _int_arg(name: str, default: int | None, *, low: int, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer", {name: "not an integer"}) from None
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {bound}", {name: "out of range"})
    return value


def _read_ids(data: Any) -> tuple[list[int], bool]:
    """The ids to mark from a JSON body ``{"ids": [...]}`` or ``{"all": true}``."""
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object", {"body": "object"})
    everything = data.get("all") is True
    raw = data.get("ids")
    if raw is None:
        if not everything:
            raise InvalidInput("send ids (a list) or all: true", {"ids": "required"})
        return [], True
    if not isinstance(raw, list) or len(raw) > MAX_IDS:
        raise InvalidInput(f"ids must be a list of at most {MAX_IDS} ids", {"ids": "list"})
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        raise InvalidInput("ids must be integers", {"ids": "not an id"})
    return [i for i in raw if 0 < i <= MAX_ID], everything


def _current() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------- page
@bp.get("/inbox")
@login_required_page
def inbox_page() -> ResponseReturnValue:
    """The current user's messages, newest first; unread ones stand out."""
    user = _current()
    sess = db_session()
    unread_only = _flag(request.args.get("unread"))
    try:
        before = _int_arg("before", None, low=1, high=MAX_ID)
    except InvalidInput:
        before = None
    # One more than shown, to know whether an "older" link is needed.
    items = inbox_items(
        sess, user.id, unread_only=unread_only, limit=DEFAULT_LIMIT + 1, before_id=before
    )
    older = items[DEFAULT_LIMIT - 1].id if len(items) > DEFAULT_LIMIT else None
    return render_template(
        "dispatch/inbox.html",
        items=items[:DEFAULT_LIMIT],
        unread_only=unread_only,
        unread=inbox_unread(),
        older=older,
        before=before,
    )


@bp.post("/inbox/read")
@login_required_page
def mark_read_form() -> ResponseReturnValue:
    """The page's buttons: mark one message (``id``) or everything (``all``) read."""
    user = _current()
    sess = db_session()
    ids = [
        int(i) for i in request.form.getlist("id") if i.isascii() and i.isdigit() and len(i) < 10
    ]
    mark_read(sess, user.id, ids=ids, everything=_flag(request.form.get("all")))
    sess.commit()
    back: dict[str, Any] = {}
    if _flag(request.form.get("unread")):
        back["unread"] = 1
    return redirect(url_for("inbox.inbox_page", **back))


# ---------------------------------------------------------------------------- API
@api_bp.get("/notifications")
def list_notifications() -> ResponseReturnValue:
    """The caller's messages (``unread=1``: unread only; ``limit=0``: just the count)."""
    user = api_user()
    assert user is not None
    sess = db_session()
    limit = _int_arg("limit", DEFAULT_LIMIT, low=0, high=MAX_LIMIT)
    assert limit is not None
    items = inbox_items(
        sess,
        user.id,
        unread_only=_flag(request.args.get("unread")),
        limit=limit,
        before_id=_int_arg("before", None, low=1, high=MAX_ID),
    )
    return jsonify({"items": [i.as_json() for i in items], "unread": unread_count(sess, user.id)})


@api_bp.post("/notifications/read")
def read_notifications() -> ResponseReturnValue:
    """Mark the caller's messages read: ``{"ids": [...]}`` or ``{"all": true}``."""
    user = api_user()
    assert user is not None
    sess = db_session()
    ids, everything = _read_ids(request.get_json(silent=True))
    marked = mark_read(sess, user.id, ids=ids, everything=everything)
    sess.commit()
    return jsonify({"marked": marked, "unread": unread_count(sess, user.id)})


# ---------------------------------------------------------------------------- header badge
def inbox_unread() -> int | None:
    """The logged-in user's unread count for the header (None when nobody is logged in),
    counted at most once per request however often a page asks."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    if "inbox_unread" not in g:
        g.inbox_unread = unread_count(db_session(), current_user.id)
    return g.inbox_unread  # type: ignore[no-any-return]


def _inbox_context() -> dict[str, Any]:
    return {"inbox_unread": inbox_unread}


def init_app(app: Flask) -> None:
    """Register the inbox page, its API and the header badge's template helper."""
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.context_processor(_inbox_context)
