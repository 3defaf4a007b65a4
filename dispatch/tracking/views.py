"""The public progress look-up: the ``/track`` page and ``GET /api/v1/public/cases/<number>``.

No login: a case number with its check code (given to the reporter with the number) opens the
case's public progress. An unknown number and a wrong code give the same answer, and both the
page and the API share one rate limit per client address (Flask-Limiter; in Redis when
``REDIS_URL`` is set, so every process counts together).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import TooManyRequests

from core.db import session as db_session
from core.errors import ApiError, error_body
from dispatch.auth import limiter
from dispatch.tracking.progress import find_for_public, local_iso, progress_json, public_progress

bp = Blueprint("tracking", __name__, template_folder="templates")

#: The one answer for an unknown number and for a wrong code (no enumeration).
NOT_FOUND_MESSAGE = "no case with this number and check code"


def _lookup_limit() -> str:
    return str(current_app.config["PUBLIC_LOOKUP_RATE_LIMIT"])


#: Page and API count against the same budget per address.
lookup_limit = limiter.shared_limit(_lookup_limit, scope="public-lookup")


@bp.get("/api/v1/public/cases/<number>")
@lookup_limit
def api_progress(number: str) -> ResponseReturnValue:
    """A case's public progress: status in plain words, milestones, result (no personal data)."""
    code = request.args.get("code", "")
    if not code.strip():
        raise ApiError(400, "invalid_input", "give the check code", {"code": "required"})
    sess = db_session()
    case = find_for_public(sess, number, code)
    if case is None:
        raise ApiError(404, "not_found", NOT_FOUND_MESSAGE)
    response = jsonify(progress_json(public_progress(sess, case)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/track")
def track_page() -> ResponseReturnValue:
    """The look-up form (mobile-friendly, Chinese by default, ``?lang=en`` for English)."""
    return render_template("tracking/track.html", progress=None, error=None, number="")


@bp.post("/track")
@lookup_limit
def track_lookup() -> ResponseReturnValue:
    """Look a case up from the form and show its progress, or one message for any miss."""
    number = (request.form.get("number") or "").strip()
    code = request.form.get("code") or ""
    progress = None
    error = None
    status = 200
    if not number or not code.strip():
        error, status = _("Enter both the case number and the check code."), 400
    else:
        sess = db_session()
        case = find_for_public(sess, number, code)
        if case is None:
            error, status = _("No case matches this number and check code."), 404
        else:
            progress = public_progress(sess, case)
    html = render_template(
        "tracking/track.html", progress=progress, error=error, number=number[:16]
    )
    return html, status, {"Cache-Control": "no-store"}


@bp.app_template_filter("local_iso")
def _local_iso(value: Any) -> str:
    return local_iso(value) or ""


@bp.errorhandler(TooManyRequests)
def _too_many(exc: TooManyRequests) -> ResponseReturnValue:
    """Too many look-ups from one address: the API's error shape, or the page with a message."""
    if request.path.startswith("/api/"):
        body = error_body("too_many_requests", "too many look-ups; try again later")
        return jsonify(body), 429
    html = render_template(
        "tracking/track.html",
        progress=None,
        error=_("Too many look-ups from your network. Please try again in a minute."),
        number="",
    )
    return html, 429
