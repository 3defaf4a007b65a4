"""The supervisor's workspace pages: the dashboard (and its wall-screen mode), the performance
evaluation with a trace of every figure, its CSV export, the weights page; and the dashboard's
JSON twin at ``/api/v1/insight/dashboard``.

Views parse the period, check the viewer's role, call one service and render. Everything a
viewer sees is limited to their scope (``access.scope_clause``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import session as db_session
from dispatch.access import scope_clause
from dispatch.auth import api_user, exempt_api, login_required_page
from dispatch.errors import Forbidden, InvalidInput
from dispatch.insight import dashboard as dashboard_service
from dispatch.insight import evaluation as evaluation_service
from dispatch.insight import settings as settings_service
from dispatch.insight.periods import Period, last_days, parse_period, previous_month
from dispatch.models import User
from dispatch.models.people import Role, ScopeKind
from grids.models import Grid

bp = Blueprint("insight", __name__, template_folder="../templates")
api_bp = Blueprint("insight_api", __name__, url_prefix="/api/v1/insight")
exempt_api(api_bp)

#: Who opens the dashboard and the evaluation (值班长, leaders, administrators).
VIEW_ROLES = frozenset({Role.SHIFT_SUPERVISOR, Role.LEADER, Role.ADMIN})
#: Who changes the evaluation's weights and grade bands.
EDIT_ROLES = frozenset({Role.ADMIN})
#: The dashboard's default period: the last 30 days, today included.
DASHBOARD_DAYS = 30
#: Wall screen refresh, seconds (``?refresh=``): default and bounds.
REFRESH_DEFAULT, REFRESH_MIN, REFRESH_MAX = 60, 5, 3600

SOURCE_LABELS = {
    "hotline": _l("12345 hotline"),
    "inspector": _l("Inspector report"),
    "web": _l("Web"),
    "api": _l("API"),
    "video": _l("Video analytics"),
}
STATUS_LABELS = {"open": _l("Open"), "closed": _l("Closed"), "void": _l("Void or merged")}
FACTOR_KIND_LABELS = {
    "rate": _l("rate"),
    "inverse": _l("100 × (1 − rate)"),
    "count": _l("relative to the best"),
}


# ---------------------------------------------------------------------------- helpers
def can_view(user: Any) -> bool:
    """Whether ``user`` may open the dashboard and the evaluation."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*VIEW_ROLES)


def insight_nav_links() -> list[tuple[str, str]]:
    """(url, label) of the workspace pages the current user may open, for the top bar."""
    if not can_view(current_user):
        return []
    return [
        (url_for("insight.dashboard_page"), _("Dashboard")),
        (url_for("insight.evaluation_page"), _("Performance evaluation")),
    ]


def _viewer() -> User:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if not can_view(user):
        abort(403)
    return user


def scope_label(session: Session, user: User) -> str:
    """The part of the city the viewer's figures cover, as people read it."""
    if any(g.scope_kind == ScopeKind.CITY for g in user.grants):
        return _("Whole city")
    districts = sorted({g.scope_code for g in user.grants if g.scope_kind == ScopeKind.DISTRICT})
    names = dict(
        session.execute(
            select(Grid.code, Grid.name).where(Grid.code.in_([f"{d}000000000" for d in districts]))
        ).all()
    )
    parts = [names.get(f"{d}000000000", d) for d in districts]
    if any(g.scope_kind == ScopeKind.GRIDS for g in user.grants):
        parts.append(_("selected grids"))
    return "、".join(parts) if parts else _("Nothing")


def _period(default: Period) -> tuple[Period, str | None]:
    """The requested period, or the default and why the request was refused."""
    try:
        return parse_period(request.args.get("from"), request.args.get("to"), default), None
    except InvalidInput as exc:
        return default, exc.message


def _refresh() -> int:
    value = request.args.get("refresh", type=int) or REFRESH_DEFAULT
    return max(REFRESH_MIN, min(REFRESH_MAX, value))


def _labels() -> dict[str, Any]:
    """The translated words the dashboard's script draws with."""
    return {
        "sources": {k: str(v) for k, v in SOURCE_LABELS.items()},
        "statuses": {k: str(v) for k, v in STATUS_LABELS.items()},
        "intake": _("Intake per day by source"),
        "status": _("Open and closed, by day of intake"),
        "district": _("On-time closure rate by district"),
        "department": _("On-time closure rate by department"),
        "categories": _("Top categories"),
        "grids": _("Hotspot grids"),
        "rate": _("On-time closure rate"),
        "due": _("Cases due"),
        "cases": _("Cases"),
        "unclassified": _("Not classified yet"),
        "updated": _("Updated"),
        "refresh_failed": _("Refresh failed; showing the last figures."),
        "none": _("No data in this period."),
    }


# ---------------------------------------------------------------------------- dashboard
@bp.get("/insight")
@login_required_page
def dashboard_page() -> ResponseReturnValue:
    """The dashboard; ``?wall=1``: full screen, dark, large type, refreshing itself."""
    user = _viewer()
    sess = db_session()
    period, error = _period(last_days(DASHBOARD_DAYS))
    data = dashboard_service.dashboard(sess, period, scope=scope_clause(sess, user))
    explicit = {k: request.args[k] for k in ("from", "to") if request.args.get(k) and not error}
    wall = request.args.get("wall") == "1"
    context = {
        "data": data,
        "period": period,
        "period_error": error,
        "scope": scope_label(sess, user),
        "labels": _labels(),
        "api_url": url_for("insight_api.dashboard_json", **explicit),
        "refresh": _refresh(),
        "wall": wall,
        "wall_url": url_for(".dashboard_page", wall=1, **explicit),
        "normal_url": url_for(".dashboard_page", **explicit),
        "presets": _presets(),
    }
    template = "insight/wall.html" if wall else "insight/dashboard.html"
    return render_template(template, **context), 400 if error else 200


def _presets() -> list[tuple[str, dict[str, str]]]:
    """Quick period choices for the selectors: (label, query parameters)."""
    today = last_days(1).first
    month_start = today.replace(day=1)
    return [
        (_("Today"), Period(today, today).params()),
        (_("Last 7 days"), last_days(7).params()),
        (_("Last 30 days"), last_days(30).params()),
        (_("This month"), Period(month_start, today).params()),
        (_("Last month"), previous_month().params()),
    ]


@api_bp.get("/dashboard")
def dashboard_json() -> ResponseReturnValue:
    """The dashboard's figures as JSON (``from``/``to``: local dates; default the last 30 days)."""
    user = api_user()
    assert user is not None
    if not user.has_role(*VIEW_ROLES):
        raise Forbidden("only shift supervisors, leaders and administrators read the dashboard")
    sess = db_session()
    period = parse_period(
        request.args.get("from"), request.args.get("to"), last_days(DASHBOARD_DAYS)
    )
    return jsonify(dashboard_service.dashboard(sess, period, scope=scope_clause(sess, user)))


# ---------------------------------------------------------------------------- evaluation
def _evaluation_for(user: User, period: Period) -> evaluation_service.Evaluation:
    sess = db_session()
    return evaluation_service.evaluate(sess, period, scope=scope_clause(sess, user))


@bp.get("/insight/evaluation")
@login_required_page
def evaluation_page() -> ResponseReturnValue:
    """Every department and person's figures, score and grade for a period, with definitions."""
    user = _viewer()
    sess = db_session()
    period, error = _period(previous_month())
    result = _evaluation_for(user, period)
    return render_template(
        "insight/evaluation.html",
        evaluation=result,
        period=period,
        period_error=error,
        scope=scope_label(sess, user),
        factors=evaluation_service.FACTORS,
        kind_labels=evaluation_service.KIND_LABELS,
        factor_kind_labels=FACTOR_KIND_LABELS,
        presets=_presets(),
        can_edit=user.has_role(*EDIT_ROLES),
        plain=settings_service.plain,
        percent=percent,
    ), 400 if error else 200


def percent(value: Any) -> str:
    """A rate (Fraction or float) as a percentage with one decimal, or a dash."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


@bp.get("/insight/evaluation/trace")
@login_required_page
def trace_page() -> ResponseReturnValue:
    """The cases behind one figure: every item of the denominator, the numerator's marked."""
    user = _viewer()
    sess = db_session()
    kind = request.args.get("kind", "")
    key = request.args.get("factor", "")
    subject_id = request.args.get("subject", type=int)
    if kind not in evaluation_service.FACTORS or subject_id is None:
        abort(404)
    try:
        factor = evaluation_service.factor(kind, key)
    except KeyError:
        abort(404)
    period, error = _period(previous_month())
    if error:
        abort(400, error)
    name = evaluation_service.subject_name(sess, kind, subject_id)
    if name is None:
        abort(404)
    items = evaluation_service.trace(
        sess, kind, key, subject_id, period, scope=scope_clause(sess, user)
    )
    best = None
    if factor.kind == "count":
        result = evaluation_service.evaluate(
            sess, period, scope=scope_clause(sess, user), kinds=[kind]
        )
        best = max((r for r in result.results[kind]), key=_count_of(key), default=None)
    return render_template(
        "insight/trace.html",
        kind=kind,
        kind_label=evaluation_service.KIND_LABELS[kind],
        factor=factor,
        subject_name=name,
        period=period,
        items=items,
        numerator=[i for i in items if i.in_numerator],
        best=best,
        best_count=_count_of(key)(best) if best else 0,
        percent=percent,
    )


def _count_of(key: str) -> Any:
    def count(result: evaluation_service.SubjectResult) -> int:
        return next(f.numerator for f in result.figures if f.factor.key == key)

    return count


def evaluation_rows(result: evaluation_service.Evaluation) -> Iterable[list[str]]:
    """The evaluation in long form: one row per subject and factor (for CSV)."""
    yield [
        "period_from",
        "period_to",
        "kind",
        "subject_id",
        "subject",
        "factor",
        "numerator",
        "denominator",
        "rate",
        "points",
        "weight",
        "score",
        "grade",
    ]
    for kind, rows in result.results.items():
        for row in rows:
            for fig in row.figures:
                points = fig.points
                yield [
                    result.period.first.isoformat(),
                    result.period.last.isoformat(),
                    kind,
                    str(row.subject_id),
                    row.name,
                    fig.factor.key,
                    str(fig.numerator),
                    str(fig.denominator),
                    "" if fig.rate is None else f"{float(fig.rate):.4f}",
                    "" if points is None else f"{float(points):.2f}",
                    settings_service.plain(fig.weight),
                    "" if row.score is None else f"{row.score:.2f}",
                    row.grade or "",
                ]


def evaluation_csv(result: evaluation_service.Evaluation) -> str:
    """The evaluation as CSV text (with a byte-order mark, so spreadsheet programs read UTF-8)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in evaluation_rows(result):
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    return out.getvalue()


def _spreadsheet_safe(cell: str) -> str:
    """Names starting with = + - @ would run as formulas in a spreadsheet: quote them."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@") and not _is_number(cell) else cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@bp.get("/insight/evaluation.csv")
@login_required_page
def evaluation_export() -> ResponseReturnValue:
    """The evaluation of a period as a CSV download."""
    user = _viewer()
    period, error = _period(previous_month())
    if error:
        abort(400, error)
    body = evaluation_csv(_evaluation_for(user, period))
    name = f"evaluation_{period.first.isoformat()}_{period.last.isoformat()}.csv"
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# ---------------------------------------------------------------------------- settings
def _editor() -> User:
    user = _viewer()
    if not user.has_role(*EDIT_ROLES):
        abort(403)
    return user


@bp.get("/insight/settings")
@login_required_page
def settings_page() -> ResponseReturnValue:
    """The weights of every factor and the grade bands, with forms (administrators)."""
    _editor()
    return render_template(
        "insight/settings.html",
        settings=settings_service.load_settings(db_session()),
        factors=evaluation_service.FACTORS,
        kind_labels=evaluation_service.KIND_LABELS,
        grades=settings_service.GRADES,
        plain=settings_service.plain,
    )


@bp.post("/insight/settings")
@login_required_page
def settings_save() -> ResponseReturnValue:
    """Save one kind's weights (``form=weights``) or the grade bands (``form=grades``)."""
    user = _editor()
    sess = db_session()
    which = request.form.get("form")
    try:
        if which == "weights":
            kind = request.form.get("kind", "")
            raw = {
                key[len("weight_") :]: value
                for key, value in request.form.items()
                if key.startswith("weight_")
            }
            settings_service.save_weights(sess, kind, raw, user.id)
            message = _("Weights of %(kind)s saved.", kind=evaluation_service.KIND_LABELS[kind])
        elif which == "grades":
            raw = {g: request.form.get(f"grade_{g}", "") for g in settings_service.GRADES[:-1]}
            settings_service.save_grades(sess, raw, user.id)
            message = _("Grade bands saved.")
        else:
            abort(400)
    except InvalidInput as exc:
        sess.rollback()
        flash(_("Not saved: %(reason)s", reason=exc.message), "error")
        return redirect(url_for(".settings_page"))
    sess.commit()
    flash(message, "ok")
    return redirect(url_for(".settings_page"))
