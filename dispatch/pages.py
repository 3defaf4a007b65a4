"""Case pages: a case's detail (clocks, timeline and actions), the dispatch and placement queues.

Views parse input, check access (a case out of the viewer's scope is a 404, as in the API), gather
what the page shows through the read-only queries below, and render. Nothing here changes a case:
the pages' scripts post every action to the JSON API (``/api/v1/cases/<number>/actions/<action>``)
with the page's CSRF token, so ``workflow.perform`` stays the one place where a case changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from core.db import session as db_session
from core.i18n import SHANGHAI, local_time
from core.types import utcnow
from dispatch.access import Actor, can_view, scope_clause, today
from dispatch.auth import login_required_page
from dispatch.models import Case, CaseEvent, Category, Department, FilingCondition, User
from dispatch.models.cases import FINAL_STATES, CaseState, Placement
from dispatch.models.people import Role
from dispatch.models.sla import CaseTimer, Level, Stage, TimerState
from dispatch.routing import propose_owner
from dispatch.serialize import mask_phone, may_reveal_phone, may_see_phone
from dispatch.serialize import proposal as proposal_json
from dispatch.workflow import NOTE_REQUIRED, TRANSITIONS, Action, actions_for
from grids import services as grid_services
from grids.models import Grid, Officer

bp = Blueprint("case_pages", __name__, template_folder="templates")

#: Roles that work the dispatch queue (派遣员, and the 值班长 who stands in).
QUEUE_ROLES = frozenset({Role.DISPATCHER, Role.SHIFT_SUPERVISOR})
#: Roles that may place a case by hand (the people the workflow lets take ``place``).
PLACEMENT_ROLES = TRANSITIONS[Action.PLACE].roles - {Role.SYSTEM}
#: The longest list a queue page shows (oldest first, so nothing old is hidden).
QUEUE_LIMIT = 500

# ---------------------------------------------------------------------------- labels
# Enum values are English identifiers; people read these (translated) labels.
STATE_LABELS = {
    CaseState.REPORTED: _l("Reported"),
    CaseState.TO_VERIFY: _l("To verify"),
    CaseState.TO_FILE: _l("To file"),
    CaseState.TO_DISPATCH: _l("To dispatch"),
    CaseState.TO_ACCEPT: _l("To accept"),
    CaseState.IN_PROGRESS: _l("In progress"),
    CaseState.SUSPENDED: _l("Suspended"),
    CaseState.TO_CHECK: _l("To check"),
    CaseState.TO_CLOSE: _l("To close"),
    CaseState.CLOSED: _l("Closed"),
    CaseState.VOID: _l("Void"),
    CaseState.MERGED: _l("Merged"),
}
ACTION_LABELS = {
    Action.REPORT: _l("Report"),
    Action.SEND_TO_VERIFY: _l("Send to verify"),
    Action.ACCEPT_REPORT: _l("Accept report"),
    Action.MARK_INVALID: _l("Mark invalid"),
    Action.MERGE: _l("Merge as duplicate"),
    Action.VERIFY_TRUE: _l("Verified: true"),
    Action.VERIFY_FALSE: _l("Verified: false"),
    Action.FILE: _l("File"),
    Action.REFUSE: _l("Refuse to file"),
    Action.DISPATCH: _l("Dispatch"),
    Action.ACCEPT: _l("Accept the case"),
    Action.REQUEST_RETURN: _l("Request return"),
    Action.APPROVE_RETURN: _l("Approve return"),
    Action.REJECT_RETURN: _l("Reject return"),
    Action.REQUEST_EXTENSION: _l("Request extension"),
    Action.APPROVE_EXTENSION: _l("Approve extension"),
    Action.REJECT_EXTENSION: _l("Reject extension"),
    Action.REQUEST_SUSPEND: _l("Request suspension"),
    Action.APPROVE_SUSPEND: _l("Approve suspension"),
    Action.REJECT_SUSPEND: _l("Reject suspension"),
    Action.RESUME: _l("Resume"),
    Action.REPORT_DONE: _l("Report done"),
    Action.CHECK_PASS: _l("Check: fixed"),
    Action.CHECK_FAIL: _l("Check: not fixed"),
    Action.CLOSE: _l("Close case"),
    Action.REOPEN: _l("Reopen"),
    Action.VOID: _l("Void"),
    Action.PLACE: _l("Place on the map"),
    Action.URGE: _l("Urge"),
    Action.RECORD_CALLBACK: _l("Record callback"),
}
ROLE_LABELS = {
    Role.OPERATOR: _l("Hotline operator"),
    Role.INSPECTOR: _l("Inspector"),
    Role.SHIFT_SUPERVISOR: _l("Shift supervisor"),
    Role.DISPATCHER: _l("Dispatcher"),
    Role.GRID_OFFICER: _l("Grid officer"),
    Role.DEPARTMENT_STAFF: _l("Department staff"),
    Role.LEADER: _l("Leader"),
    Role.ADMIN: _l("Administrator"),
    Role.SYSTEM: _l("System"),
}
SOURCE_LABELS = {
    "hotline": _l("12345 hotline"),
    "inspector": _l("Inspector report"),
    "web": _l("Web"),
    "api": _l("API"),
    "video": _l("Video analytics"),
}
URGENCY_LABELS = {"normal": _l("Normal"), "urgent": _l("Urgent")}
CLOCK_LABELS = {
    "natural_hours": _l("natural hours"),
    "working_hours": _l("working hours"),
    "working_days": _l("working days"),
}
PLACEMENT_LABELS = {
    Placement.INSIDE: _l("Inside the grid"),
    Placement.NEAREST: _l("Nearest grid (approximate)"),
    Placement.MANUAL: _l("Placed by hand"),
    Placement.PENDING: _l("Awaiting placement"),
}
REQUEST_LABELS = {"return": _l("Return"), "extension": _l("Extension"), "suspend": _l("Suspension")}
KIND_LABELS = {"component": _l("Component"), "matter": _l("Matter")}
#: The stages that have their own clock (DOMAIN.md §4-§5), as the clocks panel names them.
STAGE_LABELS = {
    Stage.VERIFY: _l("Verification"),
    Stage.FILE: _l("Filing"),
    Stage.DISPATCH: _l("Dispatch"),
    Stage.ACCEPT: _l("Acceptance"),
    Stage.HANDLE: _l("Handling"),
    Stage.CHECK: _l("Check"),
    Stage.CLOSE: _l("Closing"),
    Stage.CALLBACK: _l("Callback"),
}
#: Why a stage's clock stands still (``CaseTimer.paused_by``).
PAUSE_LABELS = {
    "suspended": _l("case suspended"),
    "request:extension": _l("extension request waiting"),
    "request:return": _l("return request waiting"),
    "request:suspend": _l("suspension request waiting"),
}
TIMER_STATE_LABELS = {
    TimerState.RUNNING: _l("Running"),
    TimerState.PAUSED: _l("Paused"),
    TimerState.CANCELLED: _l("Cancelled (not counted)"),
}
LEVEL_LABELS = {Level.YELLOW: _l("Due soon"), Level.RED: _l("Overdue")}
SATISFACTION_LABELS = {
    "satisfied": _l("Satisfied"),
    "basically_satisfied": _l("Basically satisfied"),
}

#: Actions whose form asks for more than a note (the value names the form's extra fields).
ACTION_FORMS = {
    Action.FILE: "file",
    Action.DISPATCH: "dispatch",
    Action.REQUEST_EXTENSION: "extension",
    Action.MERGE: "merge",
    Action.PLACE: "place",
    Action.RECORD_CALLBACK: "callback",
}
#: Actions that end or shrink a case: their buttons look different, so nobody clicks by habit.
DESTRUCTIVE_ACTIONS = frozenset(
    {Action.MARK_INVALID, Action.VERIFY_FALSE, Action.REFUSE, Action.VOID, Action.MERGE}
)


def _label(labels: dict[Any, Any], value: str | None) -> str:
    if value is None:
        return ""
    return str(labels.get(value, value))


@bp.app_template_filter("state_label")
def state_label(state: str | None) -> str:
    """A case state as people read it (待立案 …)."""
    return _label(STATE_LABELS, state)


@bp.app_template_filter("action_label")
def action_label(action: str | None) -> str:
    return _label(ACTION_LABELS, action)


@bp.app_template_filter("role_label")
def role_label(role: str | None) -> str:
    return _label(ROLE_LABELS, role)


@bp.app_template_filter("source_label")
def source_label(source: str | None) -> str:
    return _label(SOURCE_LABELS, source)


@bp.app_template_filter("request_label")
def request_label(kind: str | None) -> str:
    return _label(REQUEST_LABELS, kind)


@bp.app_context_processor
def _case_nav() -> dict[str, Any]:
    return {"case_nav_links": case_nav_links}


def case_nav_links() -> list[tuple[str, str]]:
    """(url, label) of the case pages the current user may open, for the top bar."""
    if not current_user.is_authenticated:
        return []
    links = []
    if current_user.has_role(*QUEUE_ROLES):
        links.append((url_for("case_pages.dispatch_queue"), _("Dispatch queue")))
    if current_user.has_role(*PLACEMENT_ROLES):
        links.append((url_for("case_pages.placement_queue"), _("Placement queue")))
    from dispatch.insight.views import insight_nav_links  # dashboard, evaluation

    links.extend(insight_nav_links())
    return links


# ---------------------------------------------------------------------------- pure helpers
def waited(delta: timedelta) -> str:
    """A waiting time as a dispatcher reads it: ``2 d 3 h``, ``1 h 05 min``, ``7 min``."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h", days=days, hours=hours)
    if hours:
        return _("%(hours)d h %(minutes)02d min", hours=hours, minutes=mins)
    return _("%(minutes)d min", minutes=mins)


def limit_text(value: float, clock: str) -> str:
    """A handling limit: ``4 working hours``, ``1.5 natural hours``."""
    return f"{value:g} {_label(CLOCK_LABELS, clock)}"


def pause_reason_label(reason: str) -> str:
    """Why a clock stopped, as people read it (``request:extension`` → extension request…)."""
    return _label(PAUSE_LABELS, reason)


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# ---------------------------------------------------------------------------- page data
@dataclass(frozen=True)
class Owner:
    """Who a case is (or would be) sent to, as the dispatch form offers it."""

    kind: str  #: "officer" or "department"
    id: int
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass
class TimelineEntry:
    """One event of the case's log as the timeline shows it."""

    seq: int
    at: datetime
    action: str
    actor_name: str
    actor_role: str
    from_state: str | None
    to_state: str
    note: str
    details: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ClockRow:
    """One stage timer of the case as the clocks panel shows it (all text already translated)."""

    stage: str
    stage_label: str
    round: int
    limit: str
    started_at: datetime
    due_at: datetime
    #: running, paused, met or cancelled (``CaseTimer.state``); ``result`` says on time or late.
    state: str
    result: str | None
    state_text: str
    #: "yellow" or "red" while the stage is open and warned; "" otherwise.
    level: str
    level_text: str
    provisional: bool
    provisional_tip: str
    #: What happened to the clock: stops (with why) and approved extensions, oldest first.
    history: list[str]
    ended_at: datetime | None


def clock_row(timer: CaseTimer) -> ClockRow:
    """The panel's view of one timer: state in words, warnings while open, its history."""
    state = timer.state
    if state == TimerState.MET:
        if timer.result == "late":
            # Rounded up to the minute: a stage half a minute late is not "0 min" late.
            minutes = math.ceil((timer.late_by_s or 0) / 60)
            state_text = _("Late by %(duration)s", duration=waited(timedelta(minutes=minutes)))
        else:
            state_text = _("On time")
    elif state == TimerState.PAUSED:
        reasons = ", ".join(pause_reason_label(r) for r in timer.paused_by)
        state_text = (
            _("Paused (%(why)s)", why=reasons) if reasons else _label(TIMER_STATE_LABELS, state)
        )
    else:
        state_text = _label(TIMER_STATE_LABELS, state)
    level = Level(timer.level) if timer.is_open else Level.NONE
    events: list[tuple[datetime, str]] = []
    for start, end, reason in timer.pauses or []:
        began = _from_iso(start)
        if began is None:
            continue
        ended = _from_iso(end)
        text = (
            _(
                "Clock stopped %(start)s – %(end)s: %(why)s",
                start=local_time(began),
                end=local_time(ended),
                why=pause_reason_label(reason),
            )
            if ended
            else _(
                "Clock stopped since %(start)s: %(why)s",
                start=local_time(began),
                why=pause_reason_label(reason),
            )
        )
        events.append((began, text))
    for ext in timer.extensions or []:
        at = _from_iso(ext.get("at"))
        if at is None:
            continue
        events.append(
            (
                at,
                _(
                    "Extended on %(at)s from %(old)s to %(new)s",
                    at=local_time(at),
                    old=local_time(_from_iso(ext.get("from"))),
                    new=local_time(_from_iso(ext.get("to"))),
                ),
            )
        )
    history = [text for _at, text in sorted(events, key=lambda e: e[0])]
    due_year = timer.due_at.astimezone(SHANGHAI).year
    return ClockRow(
        stage=timer.stage,
        stage_label=_label(STAGE_LABELS, timer.stage),
        round=timer.round,
        limit=limit_text(timer.limit_value, timer.clock_type),
        started_at=timer.started_at,
        due_at=timer.due_at,
        state=state,
        result=timer.result,
        state_text=state_text,
        level={Level.YELLOW: "yellow", Level.RED: "red"}.get(level, ""),
        level_text=_label(LEVEL_LABELS, level) if level else "",
        provisional=timer.provisional,
        provisional_tip=_(
            "Provisional: the working calendar of %(year)d (its public holidays and make-up "
            "working days) is not loaded yet, so this deadline assumes ordinary weeks.",
            year=due_year,
        ),
        history=history,
        ended_at=timer.ended_at,
    )


def clock_rows(case: Case) -> list[ClockRow]:
    """The case's stage timers, in the order the stages started."""
    return [clock_row(t) for t in sorted(case.timers, key=lambda t: (t.started_at, t.id or 0))]


@dataclass(frozen=True)
class ActionChoice:
    """A button on the case page and the form behind it."""

    name: str
    label: str
    note_required: bool
    form: str | None
    destructive: bool


class Names:
    """Names of officers, departments, users, grids and categories, loaded in few queries."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._officers: dict[int, str] = {}
        self._departments: dict[int, str] = {}
        self._users: dict[int, str] = {}
        self._grids: dict[str, str] = {}
        self._categories: dict[int, Category] = {}

    def load(
        self,
        *,
        officers: Iterable[int | None] = (),
        departments: Iterable[int | None] = (),
        users: Iterable[int | None] = (),
        grids: Iterable[str | None] = (),
        categories: Iterable[int | None] = (),
    ) -> Names:
        """Fetch the names of these ids (missing ones only), so lookups need no query."""
        sess = self.session
        want = {i for i in officers if i is not None} - self._officers.keys()
        if want:
            rows = sess.execute(select(Officer.id, Officer.name).where(Officer.id.in_(want)))
            self._officers.update({k: v for k, v in rows})
        want = {i for i in departments if i is not None} - self._departments.keys()
        if want:
            rows = sess.execute(
                select(Department.id, Department.name).where(Department.id.in_(want))
            )
            self._departments.update({k: v for k, v in rows})
        want = {i for i in users if i is not None} - self._users.keys()
        if want:
            rows = sess.execute(select(User.id, User.display_name).where(User.id.in_(want)))
            self._users.update({k: v for k, v in rows})
        codes = {c for c in grids if c} - self._grids.keys()
        bset = grid_services.active_set(sess) if codes else None
        if bset is not None:  # names only: no geometry is read (or parsed) for a label
            rows = sess.execute(
                select(Grid.code, Grid.name).where(
                    Grid.boundary_set_id == bset.id, Grid.code.in_(sorted(codes))
                )
            )
            self._grids.update({code: name for code, name in rows})
        want = {i for i in categories if i is not None} - self._categories.keys()
        if want:
            self._categories.update(
                {c.id: c for c in sess.scalars(select(Category).where(Category.id.in_(want)))}
            )
        return self

    def officer(self, officer_id: int | None) -> str:
        return self._officers.get(officer_id, f"#{officer_id}") if officer_id else ""

    def department(self, department_id: int | None) -> str:
        return self._departments.get(department_id, f"#{department_id}") if department_id else ""

    def user(self, user_id: int | None) -> str:
        return self._users.get(user_id, "") if user_id else ""

    def grid(self, code: str | None) -> str:
        return self._grids.get(code, "") if code else ""

    def category(self, category_id: int | None) -> Category | None:
        return self._categories.get(category_id) if category_id else None

    def owner(self, officer_id: int | None, department_id: int | None) -> str:
        return self.officer(officer_id) or self.department(department_id)


def proposal_for(session: Session, case: Case) -> dict[str, Any] | None:
    """The routing proposal for ``case`` with the owner's name and a reason people can read."""
    found = proposal_json(session, propose_owner(session, case))
    if found is None:
        return None
    found["reason_label"] = (
        _("primary officer on duty in the grid")
        if found["officer_id"] is not None
        else _("routing rule of the category")
    )
    return found


def viewer_actions(session: Session, user: User, case: Case) -> list[Action]:
    """What ``user`` may do to ``case`` now, in any of their roles (in workflow order)."""
    allowed = {a for role in user.roles for a in actions_for(session, case, Actor(user, role))}
    return [a for a in Action if a in allowed]


def _event_details(ev: CaseEvent, names: Names) -> list[tuple[str, str]]:
    """The parts of an event's data a reader of the timeline wants, as (label, value)."""
    data = ev.data or {}
    out: list[tuple[str, str]] = []
    if ev.action == Action.FILE:
        out.append((_("Category"), str(data.get("category", ""))))
        limit = data.get("limit") or {}
        if limit.get("value") is not None:
            out.append((_("Handling limit"), limit_text(limit["value"], limit.get("clock", ""))))
    elif ev.action == Action.DISPATCH:
        owner = names.owner(data.get("owner_officer_id"), data.get("owner_department_id"))
        out.append((_("Owner"), owner))
        if data.get("automatic"):
            out.append((_("How"), _("automatically, by grid and category")))
        if data.get("overridden") and data.get("reason"):
            out.append((_("Reason for another owner"), str(data["reason"])))
    elif ev.action in (Action.REPORT, Action.PLACE) and data.get("grid_code"):
        code = data["grid_code"]
        out.append((_("Grid"), f"{code} {names.grid(code)}".strip()))
    elif ev.action == Action.MERGE and data.get("duplicate_of"):
        out.append((_("Kept case"), str(data["duplicate_of"])))
    elif ev.action == Action.CHECK_FAIL and "rework_count" in data:
        out.append((_("Rework count"), str(data["rework_count"])))
    for key, label in (
        ("requested_due_at", _("Requested due time")),
        ("extended_due_at", _("New due time")),
    ):
        if data.get(key):
            out.append((label, local_time(datetime.fromisoformat(data[key]))))
    return out


def timeline(case: Case, names: Names) -> list[TimelineEntry]:
    """The case's events, oldest first, with names and the details worth showing."""
    names.load(
        users=(e.actor_user_id for e in case.events),
        officers=((e.data or {}).get("owner_officer_id") for e in case.events),
        departments=((e.data or {}).get("owner_department_id") for e in case.events),
        grids=((e.data or {}).get("grid_code") for e in case.events),
    )
    return [
        TimelineEntry(
            seq=ev.seq,
            at=ev.at,
            action=ev.action,
            actor_name=names.user(ev.actor_user_id),
            actor_role=ev.actor_role,
            from_state=ev.from_state,
            to_state=ev.to_state,
            note=ev.note,
            details=_event_details(ev, names),
            attachments=list(ev.attachments or []),
        )
        for ev in case.events
    ]


def owner_choices(session: Session, case: Case, names: Names) -> list[Owner]:
    """Owners a dispatcher may pick instead of the proposal: the grid's officers on duty today,
    then the active departments."""
    out: list[Owner] = []
    if case.grid_code:
        for duty in grid_services.officers_on(session, case.grid_code, today()):
            if duty.officer.is_active and all(o.id != duty.officer_id for o in out):
                out.append(Owner("officer", duty.officer_id, duty.officer.name))
    departments = session.scalars(
        select(Department).where(Department.is_active.is_(True)).order_by(Department.code)
    )
    out.extend(Owner("department", d.id, d.name) for d in departments)
    return out


def case_page(session: Session, user: User, case: Case) -> dict[str, Any]:
    """Everything the case page shows, ready to render."""
    names = Names(session).load(
        officers=[case.owner_officer_id],
        departments=[case.owner_department_id],
        grids=[case.grid_code],
        categories=[case.category_id],
    )
    condition = (
        session.get(FilingCondition, case.filing_condition_id) if case.filing_condition_id else None
    )
    category = names.category(case.category_id)
    show_phone = may_see_phone(user)
    # Roles that may reveal a masked number do it through the hotline desk's logged reveal
    # (when the desk is installed: dispatch does not depend on it).
    reveal_endpoint = "hotline_api.reveal_caller"
    can_reveal = (
        not show_phone and may_reveal_phone(user) and reveal_endpoint in current_app.view_functions
    )

    def reveal_url(caller_id: int) -> str | None:
        return url_for(reveal_endpoint, caller_id=caller_id) if can_reveal else None

    actions = viewer_actions(session, user, case)
    page: dict[str, Any] = {
        "case": case,
        "category": category,
        "condition": condition,
        "condition_limit": (
            limit_text(condition.limit_value, condition.clock_type) if condition else ""
        ),
        "grid_name": names.grid(case.grid_code),
        "owner_name": names.owner(case.owner_officer_id, case.owner_department_id),
        "reporter_phone": (
            case.reporter_phone if show_phone else mask_phone(case.reporter_phone or "")
        ),
        "reporter_reveal_url": next(
            (reveal_url(c.id) for c in case.callers if c.phone == case.reporter_phone), None
        ),
        "callers": [
            {
                "name": c.name,
                "phone": c.phone if show_phone else mask_phone(c.phone),
                "reveal_url": reveal_url(c.id),
            }
            for c in case.callers
        ],
        "placement_label": _label(PLACEMENT_LABELS, case.placement),
        "urgency_label": _label(URGENCY_LABELS, case.urgency),
        "category_kind": _label(KIND_LABELS, category.kind) if category else "",
        "clock_labels": {k: str(v) for k, v in CLOCK_LABELS.items()},
        "pending_requests": [r for r in case.requests if r.decision is None],
        "clocks": clock_rows(case),
        "satisfaction_labels": {k: str(v) for k, v in SATISFACTION_LABELS.items()},
        "timeline": timeline(case, names),
        "actions": [
            ActionChoice(
                name=str(a),
                label=action_label(a),
                note_required=a in NOTE_REQUIRED,
                form=ACTION_FORMS.get(a),
                destructive=a in DESTRUCTIVE_ACTIONS,
            )
            for a in actions
        ],
        "proposal": None,
        "owner_choices": [],
        "file_conditions": [],
        "now_local": datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M"),
        "tile_url": current_app.config.get("MAP_TILE_URL", ""),
        "tile_attribution": current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    }
    if Action.DISPATCH in actions:
        page["proposal"] = proposal_for(session, case)
        page["owner_choices"] = owner_choices(session, case, names)
    if Action.FILE in actions and category is not None:
        page["file_conditions"] = [
            {"id": c.id, "label": f"{c.text} · {limit_text(c.limit_value, c.clock_type)}"}
            for c in category.conditions
            if c.is_active
        ]
    return page


@dataclass
class QueueRow:
    """A case waiting in a queue."""

    case: Case
    since: datetime
    waited: str
    category: str
    grid: str
    owner: str = ""
    proposal: dict[str, Any] | None = None


def entered_state_at(state: CaseState) -> Any:
    """When each case last entered ``state`` (a correlated subquery over its event log)."""
    return (
        select(func.max(CaseEvent.at))
        .where(
            CaseEvent.case_id == Case.id,
            CaseEvent.to_state == state,
            or_(CaseEvent.from_state.is_(None), CaseEvent.from_state != state),
        )
        .correlate(Case)
        .scalar_subquery()
    )


def waiting_cases(
    session: Session, user: User, state: CaseState, *extra: ColumnElement[bool]
) -> list[tuple[Case, datetime]]:
    """Cases in ``state`` within the user's scope, longest waiting first, with when they began."""
    since = entered_state_at(state)
    rows = session.execute(
        select(Case, since)
        .where(scope_clause(session, user), Case.state == state, *extra)
        .order_by(since, Case.id)
        .limit(QUEUE_LIMIT)
    )
    return [(case, at or case.updated_at) for case, at in rows]


def _category_text(category: Category | None) -> str:
    return f"{category.code} {category.name}" if category else ""


def queue_rows(
    session: Session, user: User, state: CaseState, *, propose: bool = False
) -> list[QueueRow]:
    """A queue section: the waiting cases with names, waiting times and (optionally) proposals."""
    now = utcnow()
    waiting = waiting_cases(session, user, state)
    cases = [c for c, _at in waiting]
    names = Names(session).load(
        officers=(c.owner_officer_id for c in cases),
        departments=(c.owner_department_id for c in cases),
        grids=(c.grid_code for c in cases),
        categories=(c.category_id for c in cases),
    )
    rows = []
    for case, since in waiting:
        row = QueueRow(
            case=case,
            since=since,
            waited=waited(now - since),
            category=_category_text(names.category(case.category_id)),
            grid=f"{case.grid_code} {names.grid(case.grid_code)}" if case.grid_code else "",
            owner=names.owner(case.owner_officer_id, case.owner_department_id),
        )
        if propose and not case.needs_placement:
            row.proposal = proposal_for(session, case)
        rows.append(row)
    return rows


def placement_rows(session: Session, user: User) -> list[Case]:
    """Open cases in the user's scope with no usable location, oldest first (as the API)."""
    return list(
        session.scalars(
            select(Case)
            .where(
                scope_clause(session, user),
                Case.placement == Placement.PENDING,
                Case.state.not_in([str(s) for s in FINAL_STATES]),
            )
            .order_by(Case.created_at, Case.id)
            .limit(QUEUE_LIMIT)
        )
    )


# ---------------------------------------------------------------------------- views
def _user() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


@bp.get("/cases/<number>")
@login_required_page
def case_detail(number: str) -> ResponseReturnValue:
    """One case: facts, map, pending requests, the viewer's actions and the timeline."""
    sess = db_session()
    user = _user()
    case = sess.scalar(select(Case).where(Case.number == number))
    if case is None or not can_view(sess, user, case):
        abort(404)  # out of scope looks like missing, so scope cannot be probed
    return render_template("dispatch/case_detail.html", **case_page(sess, user, case))


@bp.get("/dispatch/queue")
@login_required_page
def dispatch_queue() -> ResponseReturnValue:
    """Filed cases waiting for an owner (oldest first), and dispatched ones not yet accepted."""
    user = _user()
    if not user.has_role(*QUEUE_ROLES):
        abort(403)
    sess = db_session()
    return render_template(
        "dispatch/queue.html",
        to_dispatch=queue_rows(sess, user, CaseState.TO_DISPATCH, propose=True),
        to_accept=queue_rows(sess, user, CaseState.TO_ACCEPT),
    )


@bp.get("/dispatch/placement")
@login_required_page
def placement_queue() -> ResponseReturnValue:
    """Cases with no usable location: pick one, click the map, confirm."""
    user = _user()
    if not user.has_role(*PLACEMENT_ROLES):
        abort(403)
    return render_template(
        "dispatch/placement.html",
        cases=placement_rows(db_session(), user),
        tile_url=current_app.config.get("MAP_TILE_URL", ""),
        tile_attribution=current_app.config.get("MAP_TILE_ATTRIBUTION", ""),
    )
