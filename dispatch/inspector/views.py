"""The inspector's phone pages (``/inspector/…``), its web manifest and service worker, the photo
files, and the shift supervisor's list of flagged reports.

Pages render a small shell; their scripts talk to ``/api/v1/inspector/…`` with the page's CSRF
token. Nothing here changes a case.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.db import session as db_session
from core.types import utcnow
from dispatch.access import can_view
from dispatch.auth import login_required_page
from dispatch.errors import WorkflowError
from dispatch.inspector import photos as photo_mod
from dispatch.inspector import services
from dispatch.models import Case, User
from dispatch.models.cases import CaseState
from dispatch.models.inspector import CasePhoto
from dispatch.models.people import Role
from dispatch.pages import STATE_LABELS

bp = Blueprint("inspector", __name__, url_prefix="/inspector", template_folder="../templates")

#: The files the service worker keeps on the phone (under ``static/``).
SHELL_FILES = (
    "css/inspector.css",
    "js/inspector/outbox.js",
    "js/inspector/report.js",
    "js/inspector/tasks.js",
    "js/inspector/mine.js",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet/leaflet.css",
)


@functools.cache
def _shell_digest(static_folder: str) -> str:
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        path = Path(static_folder) / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]


def shell_version() -> str:
    """The service worker's cache name: it changes whenever a file it keeps changes, so phones
    pick up new scripts (static files are served from that cache first)."""
    return "inspector-" + _shell_digest(current_app.static_folder or "")


def _inspector() -> User:
    user: User = current_user._get_current_object()
    if not user.has_role(Role.INSPECTOR):
        abort(403)
    return user


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"inspector_nav_links": inspector_nav_links, "report_evidence": report_evidence}


def report_evidence(case_id: int) -> dict[str, Any] | None:
    """For the case page: an inspector report's position evidence and its photos' GPS/time."""
    return services.evidence_of(db_session(), case_id)


def inspector_nav_links() -> list[tuple[str, str]]:
    """(url, label) of the inspector's and the flag review pages for the desktop top bar."""
    if not current_user.is_authenticated:
        return []
    links = []
    if current_user.has_role(Role.INSPECTOR):
        links.append((url_for("inspector.report_page"), _("Inspector's phone")))
    if services.may_review_flags(current_user):
        links.append((url_for("inspector.flags_page"), _("Flagged reports")))
    return links


def _strings() -> dict[str, str]:
    """Texts the scripts show, translated here (the scripts carry no language of their own)."""
    return {
        "queued": _("Waiting for the network"),
        "sending": _("Sending…"),
        "sent": _("Sent"),
        "failed": _("Refused"),
        "retry": _("Will retry"),
        "offline": _("Offline: reports are kept on this phone and sent later"),
        "online": _("Online"),
        "no_fix": _("Waiting for your position…"),
        "accuracy": _("accuracy ±%(m)s m"),
        "saved": _("Saved in the outbox"),
        "need_photo": _("Take at least one photo"),
        "need_description": _("Describe the problem"),
        "need_position": _("No position yet: wait for GPS or drag the pin"),
        "remove": _("Remove"),
        "case": _("Case"),
        "login_again": _("Log in again to send the outbox"),
        "red": _("Overdue"),
        "yellow": _("Due soon"),
        "ok": _("On time"),
        "due": _("due"),
        "away": _("%(m)s m away"),
        "none": _("Nothing here"),
        "done": _("Done"),
        "need_note": _("Write why"),
        "all": _("All categories"),
        "recent": _("Recent and frequent"),
        "pin_moved": _("Pin moved: the case is placed where the pin is"),
    }


def _shell(template: str, **context: Any) -> str:
    return render_template(
        template,
        strings=_strings(),
        tile_url=current_app.config.get("MAP_TILE_URL", ""),
        tile_attribution=current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
        **context,
    )


@bp.get("/")
@login_required_page
def index() -> ResponseReturnValue:
    """The phone starts at the report page."""
    _inspector()
    return redirect(url_for(".report_page"))


@bp.get("/report")
@login_required_page
def report_page() -> ResponseReturnValue:
    """Report from where I stand: map, photos, category, filing condition, description; and
    the outbox of reports waiting for the network."""
    _inspector()
    return _shell("inspector/report.html", active="report")


@bp.get("/tasks")
@login_required_page
def tasks_page() -> ResponseReturnValue:
    """My verifications and checks, nearest first."""
    _inspector()
    return _shell("inspector/tasks.html", active="tasks")


@bp.get("/tasks/<number>")
@login_required_page
def task_page(number: str) -> ResponseReturnValue:
    """One task: the case, its photos (before and after for a check), verdict and new photos."""
    user = _inspector()
    sess = db_session()
    try:
        case = services.task_case(sess, user, number)
    except WorkflowError:
        abort(404)
    state = CaseState(case.state)
    timer = None
    if state in services.TASK_STAGES:
        timer = services.open_timer(sess, case.id, services.TASK_STAGES[state])
    return _shell(
        "inspector/task.html",
        active="tasks",
        case=case,
        state_label=STATE_LABELS.get(state, case.state),
        is_task=state in services.TASK_STAGES,
        is_check=state is CaseState.TO_CHECK,
        timer=timer,
        level=services.timer_level(timer, utcnow()),
        photos=services.photos_of(sess, case),
    )


@bp.get("/mine")
@login_required_page
def mine_page() -> ResponseReturnValue:
    """My reports and their states, and my figures for this month."""
    _inspector()
    return _shell("inspector/mine.html", active="mine")


@bp.get("/flags")
@login_required_page
def flags_page() -> ResponseReturnValue:
    """Shift supervisors: inspector reports flagged as doubtful (photo far away, vague GPS)."""
    user: User = current_user._get_current_object()
    if not services.may_review_flags(user):
        abort(403)
    rows = services.flagged_reports(db_session(), user)
    return render_template("inspector/flags.html", rows=rows)


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """The web app manifest: the inspector's pages install like an app."""
    body = {
        "name": _("City inspector"),
        "short_name": _("Inspector"),
        "start_url": url_for(".report_page"),
        "scope": url_for(".index"),
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#0b5394",
        "lang": "zh-Hans",
        "icons": [
            {
                "src": url_for("static", filename="img/inspector-192.png"),
                "sizes": "192x192",
                "type": "image/png",
            },
            {
                "src": url_for("static", filename="img/inspector-512.png"),
                "sizes": "512x512",
                "type": "image/png",
            },
        ],
    }
    response = current_app.response_class(
        current_app.json.dumps(body), mimetype="application/manifest+json"
    )
    return response


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, served from ``/inspector/`` so that its scope is the phone pages."""
    body = render_template(
        "inspector/sw.js",
        shell_version=shell_version(),
        shell=[url_for("static", filename=name) for name in SHELL_FILES],
        pages=[url_for(".report_page"), url_for(".tasks_page"), url_for(".mine_page")],
    )
    response = current_app.response_class(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/photos/<uid>/<size>.jpg")
@login_required_page
def photo(uid: str, size: str) -> ResponseReturnValue:
    """A photo's display size or thumbnail (no metadata), to whoever may see its case."""
    if size not in photo_mod.SIZES:
        abort(404)
    sess = db_session()
    row = sess.scalar(select(CasePhoto).where(CasePhoto.uid == uid))
    if row is None:
        abort(404)
    user: User = current_user._get_current_object()
    case = sess.get(Case, row.case_id)
    if row.uploaded_by_id != user.id and (case is None or not can_view(sess, user, case)):
        abort(404)
    try:
        path = photo_mod.file_path(uid, size)
    except ValueError:
        abort(404)
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype="image/jpeg", max_age=86400 * 30, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=2592000, immutable"
    return response
