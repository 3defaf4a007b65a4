"""The desk's pages: the call form (``/hotline``), the callback queue, the administrators'
page (knowledge base, gazetteer import, keywords) and the incoming-call event stream.

The pages hold no business rule: their scripts call ``/api/v1/hotline/…`` with the page's CSRF
token, and the stream relays announcements from ``hotline.live``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from dispatch.auth import login_required_page
from dispatch.models import User
from dispatch.models.people import Role
from dispatch.pages import STATE_LABELS
from hotline import live
from hotline.models import Channel, RequestType
from hotline.privacy import may_reveal

bp = Blueprint("hotline", __name__, url_prefix="/hotline", template_folder="templates")


def _user(*roles: Role) -> User:
    user: User = current_user._get_current_object()
    if not user.has_role(*roles):
        abort(403)
    return user


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"hotline_nav_links": hotline_nav_links}


def hotline_nav_links() -> list[tuple[str, str]]:
    """(url, label) of the desk's pages the current user may open, for the top bar."""
    if not current_user.is_authenticated:
        return []
    links = []
    if current_user.has_role(Role.OPERATOR):
        links.append((url_for("hotline.desk"), _("12345 desk")))
    if current_user.has_role(Role.OPERATOR, Role.SHIFT_SUPERVISOR):
        links.append((url_for("hotline.callbacks_page"), _("Callbacks")))
    if current_user.has_role(Role.ADMIN):
        links.append((url_for("hotline.admin_page"), _("Hotline settings")))
    return links


def request_type_labels() -> dict[str, str]:
    """Request types as the operator reads them."""
    return {
        RequestType.CONSULTATION: _("Consultation"),
        RequestType.HELP: _("Help"),
        RequestType.COMPLAINT: _("Complaint"),
        RequestType.REPORT: _("Report"),
        RequestType.SUGGESTION: _("Suggestion"),
        RequestType.PRAISE: _("Praise"),
        RequestType.OTHER: _("Other"),
    }


def channel_labels() -> dict[str, str]:
    """Channels as the operator reads them."""
    return {
        Channel.L12345: "12345",
        Channel.L12319: _("12319 urban management"),
        Channel.L12369: _("12369 environment"),
        Channel.L12348: _("12348 legal aid"),
        Channel.L12318: _("12318 culture"),
        Channel.L12355: _("12355 youth"),
        Channel.ENTERPRISE: _("Enterprise line"),
        Channel.WEB: _("Web"),
        Channel.SMS: _("SMS"),
        Channel.MINI_PROGRAM: _("Mini-program"),
    }


@bp.get("/")
@login_required_page
def desk() -> ResponseReturnValue:
    """The call form, with caller history, places, duplicates and the incoming-call pop."""
    _user(Role.OPERATOR)
    return render_template(
        "hotline/desk.html",
        request_types=request_type_labels(),
        channels=channel_labels(),
        duplicate_m=current_app.config["HOTLINE_DUPLICATE_M"],
        state_labels={str(k): str(v) for k, v in STATE_LABELS.items()},
        tile_url=current_app.config.get("MAP_TILE_URL", ""),
        tile_attribution=current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    )


@bp.get("/callbacks")
@login_required_page
def callbacks_page() -> ResponseReturnValue:
    """The callback (回访) queue."""
    user = _user(Role.OPERATOR, Role.SHIFT_SUPERVISOR)
    return render_template(
        "hotline/callbacks.html",
        may_record=user.has_role(Role.OPERATOR),
        may_reveal=may_reveal(user),
    )


@bp.get("/admin")
@login_required_page
def admin_page() -> ResponseReturnValue:
    """Administrators: the knowledge base, gazetteer import and category keywords."""
    _user(Role.ADMIN)
    return render_template("hotline/admin.html")


@bp.get("/stream")
@login_required_page
def incoming_stream() -> ResponseReturnValue:
    """Server-sent events: incoming calls for this page's seat (``?seat=``)."""
    _user(Role.OPERATOR)
    seat = (request.args.get("seat") or "").strip()[:32]
    # Subscribe before answering, so nothing announced from now on is missed.
    sub = live.broker().subscribe()
    lifetime = float(current_app.config["HOTLINE_STREAM_SECONDS"])
    return Response(
        live.stream(sub, seat, lifetime=lifetime),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
