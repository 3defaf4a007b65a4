"""The supervisor's pages: the overdue review (with its CSV/Excel exports), the approvals
waiting for the viewer, and the map of open and overdue cases per grid.

Views parse the filter, check the role (shift supervisor or leader), call one query and render.
Nothing here changes a case: the pages' scripts post urges to ``/api/v1/supervise/urge`` and
decisions to the case action API, both with the page's CSRF token, so ``workflow.perform``
stays the one place where a case changes.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from core.db import session as db_session
from core.types import utcnow
from dispatch.auth import login_required_page
from dispatch.errors import InvalidInput
from dispatch.models import User
from dispatch.models.cases import Source
from dispatch.models.sla import Stage
from dispatch.pages import SOURCE_LABELS, STAGE_LABELS, STATE_LABELS
from dispatch.supervise import export
from dispatch.supervise.queries import (
    OverdueFilter,
    decidable_kinds,
    filter_choices,
    may_supervise,
    overdue_all,
    overdue_page,
    parse_filter,
    pending_approvals,
)

bp = Blueprint("supervise", __name__, url_prefix="/supervise", template_folder="../templates")


def _supervisor() -> User:
    """The logged-in user, if they may supervise (else 403)."""
    user: User = current_user._get_current_object()
    if not may_supervise(user):
        abort(403)
    return user


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"supervise_nav_links": supervise_nav_links}


def supervise_nav_links() -> list[tuple[str, str]]:
    """(url, label) of the supervisor's pages for the top bar (shift supervisors, leaders)."""
    if not current_user.is_authenticated or not may_supervise(current_user):
        return []
    return [
        (url_for("supervise.overdue_review"), _("Overdue review")),
        (url_for("supervise.approvals"), _("Approvals")),
        (url_for("supervise.map_page"), _("Supervision map")),
    ]


@bp.get("/")
@login_required_page
def index() -> ResponseReturnValue:
    """The workspace starts at the overdue review."""
    _supervisor()
    return redirect(url_for(".overdue_review"))


def _sort_links(flt: OverdueFilter) -> dict[str, dict[str, Any]]:
    """For each sortable column: the link that sorts by it (again: the other way) and its
    ``aria-sort`` state."""
    out = {}
    for key in ("late", "number", "reported", "urged", "stage", "grid"):
        active = flt.sort == key
        descending = not flt.descending if active else key == "urged"
        out[key] = {
            "url": url_for(".overdue_review", **flt.args(sort=key, descending=descending, page=1)),
            "aria": ("descending" if flt.descending else "ascending") if active else None,
        }
    return out


@bp.get("/overdue")
@login_required_page
def overdue_review() -> ResponseReturnValue:
    """Open stage clocks past due (or near due), filtered, sorted and paged, in scope."""
    user = _supervisor()
    sess = db_session()
    error = None
    status = 200
    try:
        flt = parse_filter(request.args)
    except InvalidInput as exc:
        flt, error, status = OverdueFilter(), exc.message, 400
    page = overdue_page(sess, user, flt)
    return render_template(
        "supervise/overdue.html",
        page=page,
        flt=flt,
        error=error,
        choices=filter_choices(sess, user),
        stage_labels={str(s): str(STAGE_LABELS[s]) for s in Stage},
        source_labels={str(s): str(SOURCE_LABELS[s]) for s in Source},
        state_labels={str(k): str(v) for k, v in STATE_LABELS.items()},
        sort_links=_sort_links(flt),
        page_url=lambda n: url_for(".overdue_review", **flt.args(page=n)),
        csv_url=url_for(".export_csv", **flt.args(page=1)),
        xlsx_url=url_for(".export_xlsx", **flt.args(page=1)),
    ), status


def _export_filter() -> tuple[User, OverdueFilter]:
    user = _supervisor()
    try:
        return user, parse_filter(request.args)
    except InvalidInput as exc:
        abort(400, exc.message)


@bp.get("/overdue/export.csv")
@login_required_page
def export_csv() -> ResponseReturnValue:
    """The whole filtered list (every page) as CSV, in scope, without personal data."""
    user, flt = _export_filter()
    now = utcnow()
    items = overdue_all(db_session(), user, flt, limit=export.MAX_EXPORT_ROWS, now=now)
    # Streamed line by line; the headers are translated, so the request context must stay.
    response = Response(stream_with_context(export.csv_lines(items)), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export.filename(now, "csv")}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/overdue/export.xlsx")
@login_required_page
def export_xlsx() -> ResponseReturnValue:
    """The whole filtered list (every page) as an Excel workbook, in scope, no personal data."""
    user, flt = _export_filter()
    now = utcnow()
    items = overdue_all(db_session(), user, flt, limit=export.MAX_EXPORT_ROWS, now=now)
    body = export.xlsx_bytes(items, filters=flt.args(page=1), now=now)
    response = Response(
        body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export.filename(now, "xlsx")}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/approvals")
@login_required_page
def approvals() -> ResponseReturnValue:
    """Extension, return and suspension requests waiting for the viewer's decision."""
    user = _supervisor()
    return render_template(
        "supervise/approvals.html",
        items=pending_approvals(db_session(), user),
        kinds=decidable_kinds(user),
    )


@bp.get("/map")
@login_required_page
def map_page() -> ResponseReturnValue:
    """Grids coloured by open and overdue cases, case markers clustered."""
    _supervisor()
    return render_template(
        "supervise/map.html",
        tile_url=current_app.config.get("MAP_TILE_URL", ""),
        tile_attribution=current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    )
