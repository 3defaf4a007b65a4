"""The calendar's administration page, the coverage banner and the ``/healthz`` calendar check.

``/admin/calendar`` (administrators only) shows which years are known, the weekday windows, and a
year's holidays and make-up working days, with plain forms (POST, then redirect) to change them.
Supervisors, leaders and administrators see a banner on every page while the calendar lacks the
current year, or (from October 1) the coming one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden

from core.db import session as db_session
from dispatch.access import today
from dispatch.auth import login_required_page
from dispatch.models import CalendarDay, User
from dispatch.models.calendar import MAKEUP_WEEKDAY
from dispatch.models.people import Role
from dispatch.sla import calendar_store as store
from dispatch.sla.calendar import DayKind

bp = Blueprint(
    "calendar_admin",
    __name__,
    template_folder=str(Path(__file__).resolve().parent.parent / "templates"),
)

#: Who edits the calendar.
EDITOR_ROLES = frozenset({Role.ADMIN})
#: Who is told, on every page, that the calendar lacks a year.
WARNED_ROLES = frozenset({Role.ADMIN, Role.SHIFT_SUPERVISOR, Role.LEADER})
#: Years the page accepts (a typo like 20266 must not reach the database).
FIRST_YEAR, LAST_YEAR = 1949, 2200

WEEKDAY_LABELS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
    _l("Make-up working day"),
)
DAY_KIND_LABELS = {DayKind.HOLIDAY: _l("Holiday"), DayKind.WORKDAY: _l("Make-up working day")}


# ---------------------------------------------------------------------------- page data
@dataclass(frozen=True)
class WindowRow:
    """A weekday's windows as the form shows them."""

    weekday: int
    label: str
    text: str


@dataclass(frozen=True)
class DayRow:
    """A holiday or make-up day as the table shows it."""

    day: date
    weekday: str
    kind: str
    kind_label: str
    name: str
    source: str


def calendar_page(sess: Session, year: int) -> dict[str, Any]:
    """Everything the calendar page shows for ``year``, ready to render."""
    known = store.covered_years(sess)
    current = today().year
    choices = sorted(
        set(known) | set(store.year_summary(sess)) | {current - 1, current, current + 1, year}
    )
    days: list[CalendarDay] = store.days_of_year(sess, year)
    return {
        "year": year,
        "year_choices": choices,
        "year_covered": year in known,
        "known_years": store.compact_years(known),
        "warning": store.coverage_warning(sess, today()),
        "windows": [
            WindowRow(wd, str(WEEKDAY_LABELS[wd]), store.format_windows(found))
            for wd, found in store.stored_windows(sess).items()
        ],
        "days": [
            DayRow(
                day=d.day,
                weekday=str(WEEKDAY_LABELS[d.day.weekday()]),
                kind=d.kind,
                kind_label=str(DAY_KIND_LABELS.get(DayKind(d.kind), d.kind)),
                name=d.name,
                source=d.source,
            )
            for d in days
        ],
        "holiday_count": sum(d.kind == DayKind.HOLIDAY for d in days),
        "workday_count": sum(d.kind == DayKind.WORKDAY for d in days),
    }


# ---------------------------------------------------------------------------- access
def _editor() -> User:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if not user.has_role(*EDITOR_ROLES):
        raise Forbidden()
    return user


def _year_arg(raw: str | None) -> int | None:
    try:
        year = int(raw or "")
    except ValueError:
        return None
    return year if FIRST_YEAR <= year <= LAST_YEAR else None


def _back(year: int | None = None) -> ResponseReturnValue:
    return redirect(url_for(".calendar_admin_page", year=year or today().year))


# ---------------------------------------------------------------------------- views
@bp.get("/admin/calendar")
@login_required_page
def calendar_admin_page() -> ResponseReturnValue:
    """Coverage, the weekday windows, and one year's holidays and make-up working days."""
    _editor()
    year = _year_arg(request.args.get("year")) or today().year
    return render_template("admin/calendar.html", **calendar_page(db_session(), year))


@bp.post("/admin/calendar/day")
@login_required_page
def calendar_set_day() -> ResponseReturnValue:
    """Add, change or remove (kind ``clear``) one day."""
    user = _editor()
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        flash(_("Give a date like 2027-01-01."), "error")
        return _back(_year_arg(request.form.get("year")))
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        flash(_("Give a date like 2027-01-01."), "error")
        return _back()
    raw_kind = request.form.get("kind", "")
    if raw_kind not in ("holiday", "workday", "clear"):
        flash(_("Choose holiday, make-up working day or ordinary day."), "error")
        return _back(day.year)
    sess = db_session()
    kind = None if raw_kind == "clear" else DayKind(raw_kind)
    store.set_day(sess, day, kind, request.form.get("name", ""), user)
    sess.commit()
    flash(_("%(day)s saved.", day=day.isoformat()), "ok")
    return _back(day.year)


@bp.post("/admin/calendar/windows")
@login_required_page
def calendar_set_windows() -> ResponseReturnValue:
    """Replace one weekday's working windows."""
    _editor()
    weekday = request.form.get("weekday", type=int)
    year = _year_arg(request.form.get("year"))
    if weekday is None or not 0 <= weekday <= MAKEUP_WEEKDAY:
        flash(_("Unknown weekday."), "error")
        return _back(year)
    sess = db_session()
    try:
        store.set_windows(sess, weekday, store.parse_windows(request.form.get("windows", "")))
    except store.CalendarError as exc:
        sess.rollback()
        flash(_("Windows not saved: %(reason)s", reason=str(exc)), "error")
        return _back(year)
    sess.commit()
    flash(_("Working windows of %(day)s saved.", day=WEEKDAY_LABELS[weekday]), "ok")
    return _back(year)


@bp.post("/admin/calendar/year")
@login_required_page
def calendar_set_year() -> ResponseReturnValue:
    """Mark a year as known (all its holidays and make-up days entered), or not."""
    _editor()
    year = _year_arg(request.form.get("year"))
    if year is None:
        flash(_("Unknown year."), "error")
        return _back()
    covered = request.form.get("covered") == "1"
    sess = db_session()
    store.set_year_covered(sess, year, covered)
    sess.commit()
    if covered:
        flash(_("%(year)d is marked as known.", year=year), "ok")
    else:
        flash(_("%(year)d is marked as not known.", year=year), "ok")
    return _back(year)


@bp.post("/admin/calendar/import")
@login_required_page
def calendar_import() -> ResponseReturnValue:
    """Import a CSV of days; with "covers year", it is that year's complete list."""
    user = _editor()
    upload = request.files.get("file")
    raw_year = (request.form.get("covers_year") or "").strip()
    covers = _year_arg(raw_year)
    if raw_year and covers is None:
        flash(_("Unknown year."), "error")
        return _back()
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file."), "error")
        return _back(covers)
    sess = db_session()
    try:
        count = store.import_csv(
            sess, upload.stream, covers_years=[covers] if covers else [], user=user
        )
    except store.CalendarError as exc:
        sess.rollback()
        flash(_("Nothing imported: %(reason)s", reason=str(exc)), "error")
        return _back(covers)
    sess.commit()
    flash(_("Days imported: %(count)d.", count=count), "ok")
    return _back(covers)


# ---------------------------------------------------------------------------- banner, health
@bp.app_context_processor
def _calendar_context() -> dict[str, Any]:
    return {"calendar_warning": banner_warning, "calendar_admin_url": admin_url}


def banner_warning() -> str | None:
    """The coverage warning for supervisors, leaders and administrators (None for others)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    if not current_user.has_role(*WARNED_ROLES):
        return None
    return store.check_coverage(db_session(), today())


def admin_url() -> str | None:
    """The calendar page's address for administrators, for the top bar (None for others)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    if not current_user.has_role(*EDITOR_ROLES):
        return None
    return url_for("calendar_admin.calendar_admin_page")


def health_check() -> dict[str, Any]:
    """``/healthz``'s calendar entry: ok unless the current or coming year is unknown."""
    message = store.check_coverage(db_session(), today(), translated=False)
    return {"ok": message is None, "message": message}


def init_app(app: Flask) -> None:
    """The page, the banner and the health check."""
    app.register_blueprint(bp)
    app.extensions.setdefault("health_checks", {})["calendar"] = health_check
