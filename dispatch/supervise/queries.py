"""What the supervisor's workspace reads: the overdue list with its filters, the approvals waiting
for the viewer, and the map's figures and points.

Every query is limited by the viewer's scope (``access.scope_clause``), so nobody sees cases
outside their reach on the pages, the API, the exports or the map. The overdue list is
``dispatch.sla.queries.overdue`` (the partial index of running timers in due order) with the
filters a supervisor picks; names are loaded in a few queries afterwards (``pages.Names``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
from flask_babel import gettext as _
from sqlalchemy import LargeBinary, and_, case, func, select, type_coerce
from sqlalchemy.orm import Session, selectinload

from core.i18n import SHANGHAI
from core.types import utcnow
from dispatch.access import choose_role, scope_clause
from dispatch.errors import InvalidInput
from dispatch.models import Case, CaseRequest, User
from dispatch.models.cases import FINAL_STATES, CaseState, Source, case_is_open
from dispatch.models.people import Role
from dispatch.models.sla import CaseTimer, Level, Stage, TimerState
from dispatch.pages import (
    REQUEST_LABELS,
    SOURCE_LABELS,
    STAGE_LABELS,
    STATE_LABELS,
    Names,
    pause_reason_label,
    waited,
)
from dispatch.sla.queries import SORTS, OverdueRow, overdue, overdue_count
from dispatch.workflow import TRANSITIONS, Action

#: Who works here: the roles that may urge (督办), i.e. shift supervisors and leaders.
SUPERVISE_ROLES = TRANSITIONS[Action.URGE].roles - {Role.SYSTEM}
#: Rows per page unless asked otherwise, and the most one page (or API call) returns.
PER_PAGE = 50
MAX_PER_PAGE = 200
#: Ids are PostgreSQL ``integer`` columns: a larger number names nothing.
MAX_DB_INT = 2**31 - 1
#: ``level=`` values of the list: past due, near due, or both.
LEVELS: dict[str, Level | None] = {"red": Level.RED, "yellow": Level.YELLOW, "all": None}
#: The approve and reject actions of each kind of request, from the transition table.
DECISIONS: dict[str, tuple[Action, Action]] = {
    "return": (Action.APPROVE_RETURN, Action.REJECT_RETURN),
    "extension": (Action.APPROVE_EXTENSION, Action.REJECT_EXTENSION),
    "suspend": (Action.APPROVE_SUSPEND, Action.REJECT_SUSPEND),
}
assert all(TRANSITIONS[a].needs_request == k for k, pair in DECISIONS.items() for a in pair)
#: The longest approvals queue one page shows (oldest first, so nothing old is hidden).
APPROVALS_LIMIT = 500
_OPEN_STATES = [str(s) for s in CaseState if s not in FINAL_STATES]


def may_supervise(user: User) -> bool:
    """Whether ``user`` may use the supervisor's workspace (shift supervisor or leader)."""
    return user.has_role(*SUPERVISE_ROLES)


# ---------------------------------------------------------------------------- filters
@dataclass(frozen=True)
class OverdueFilter:
    """What a supervisor asked the overdue list for (parsed from the query string)."""

    level: str = "red"
    district: str | None = None
    grid: str | None = None
    stage: str | None = None
    officer_id: int | None = None
    department_id: int | None = None
    category_id: int | None = None
    source: str | None = None
    #: Reported on or after this day and on or before ``reported_to`` (Asia/Shanghai dates).
    reported_from: date | None = None
    reported_to: date | None = None
    sort: str = "late"
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE

    def query_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``overdue`` / ``overdue_count`` (without scope and paging)."""
        return {
            "level": LEVELS[self.level],
            "district": self.district,
            "grid": self.grid,
            "stage": self.stage,
            "officer_id": self.officer_id,
            "department_id": self.department_id,
            "category_id": self.category_id,
            "source": self.source,
            "reported_from": _day_start(self.reported_from),
            "reported_to": _day_start(self.reported_to + timedelta(days=1))
            if self.reported_to
            else None,
        }

    def args(self, **changes: Any) -> dict[str, str]:
        """The query-string arguments that ask for this filter (defaults left out), with
        ``changes`` applied: for sort links, paging and the export links."""
        flt = replace(self, **changes) if changes else self
        out: dict[str, str] = {}
        for name, value in (
            ("level", None if flt.level == "red" else flt.level),
            ("district", flt.district),
            ("grid", flt.grid),
            ("stage", flt.stage),
            ("officer", flt.officer_id),
            ("department", flt.department_id),
            ("category", flt.category_id),
            ("source", flt.source),
            ("from", flt.reported_from.isoformat() if flt.reported_from else None),
            ("to", flt.reported_to.isoformat() if flt.reported_to else None),
            ("sort", None if flt.sort == "late" else flt.sort),
            ("dir", "desc" if flt.descending else None),
            ("page", flt.page if flt.page != 1 else None),
            ("per_page", flt.per_page if flt.per_page != PER_PAGE else None),
        ):
            if value is not None and value != "":
                out[name] = str(value)
        return out

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the list beyond the warning level."""
        return any(
            v is not None
            for v in (
                self.district,
                self.grid,
                self.stage,
                self.officer_id,
                self.department_id,
                self.category_id,
                self.source,
                self.reported_from,
                self.reported_to,
            )
        )


def _day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(0), SHANGHAI) if day else None


def _choice(args: Mapping[str, str], name: str, allowed: Any) -> str | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if raw not in allowed:
        raise InvalidInput(f"unknown {name} {raw!r}", {name: "one of " + ", ".join(allowed)})
    return raw


def _code(args: Mapping[str, str], name: str, length: int) -> str | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) != length or not raw.isalnum():
        raise InvalidInput(f"{name} must be a {length}-character code", {name: "not a code"})
    return raw


def _id(args: Mapping[str, str], name: str) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > MAX_DB_INT:
        raise InvalidInput(f"{name} must be an id", {name: "not an id"})
    return int(raw)


def _day(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)", {name: "not a date"}) from None


def _positive(args: Mapping[str, str], name: str, default: int, most: int) -> int:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(f"{name} must be a positive integer", {name: "not a positive integer"})
    return min(int(raw), most)


def parse_filter(args: Mapping[str, str]) -> OverdueFilter:
    """The filter a query string asks for; InvalidInput (400) names the bad argument."""
    flt = OverdueFilter(
        level=_choice(args, "level", LEVELS) or "red",
        district=_code(args, "district", 6),
        grid=_code(args, "grid", 15),
        stage=_choice(args, "stage", [str(s) for s in Stage]),
        officer_id=_id(args, "officer"),
        department_id=_id(args, "department"),
        category_id=_id(args, "category"),
        source=_choice(args, "source", [str(s) for s in Source]),
        reported_from=_day(args, "from"),
        reported_to=_day(args, "to"),
        sort=_choice(args, "sort", SORTS) or "late",
        descending=_choice(args, "dir", ("asc", "desc")) == "desc",
        page=_positive(args, "page", 1, 100_000),
        per_page=_positive(args, "per_page", PER_PAGE, MAX_PER_PAGE),
    )
    if flt.reported_from and flt.reported_to and flt.reported_from > flt.reported_to:
        raise InvalidInput("the period ends before it starts", {"to": "before from"})
    return flt


# ---------------------------------------------------------------------------- the overdue list
def late_text(row: OverdueRow) -> str:
    """How late a stage is (rounded up to the minute), or how soon it falls due (rounded down)."""
    if row.late_by_s >= 0:
        return waited(timedelta(minutes=math.ceil(row.late_by_s / 60)))
    return waited(timedelta(seconds=-row.late_by_s))


@dataclass
class OverdueItem:
    """One row of the overdue list as people read it."""

    row: OverdueRow
    level: str  #: "red" or "yellow"
    late_text: str  #: how late (red), or how soon due (yellow)
    stage_label: str
    state_label: str
    category: str
    grid: str
    district: str
    owner: str
    source_label: str

    @property
    def can_urge(self) -> bool:
        """Urging is for open cases (a closed case's callback clock is the hotline's)."""
        return CaseState(self.row.state) not in FINAL_STATES


def overdue_items(session: Session, rows: list[OverdueRow]) -> list[OverdueItem]:
    """The rows with names (officers, departments, grids, districts, categories) and texts."""
    names = Names(session).load(
        officers=(r.owner_officer_id for r in rows),
        departments=(r.owner_department_id for r in rows),
        grids=[*(r.grid_code for r in rows), *(_district_grid(r.district_code) for r in rows)],
        categories=(r.category_id for r in rows),
    )
    items = []
    for r in rows:
        category = names.category(r.category_id)
        items.append(
            OverdueItem(
                row=r,
                level="red" if r.level is Level.RED else "yellow",
                late_text=late_text(r),
                stage_label=str(STAGE_LABELS.get(Stage(r.stage), r.stage)),
                state_label=str(STATE_LABELS.get(CaseState(r.state), r.state)),
                category=f"{category.code} {category.name}" if category else "",
                grid=f"{r.grid_code} {names.grid(r.grid_code)}".strip() if r.grid_code else "",
                district=names.grid(_district_grid(r.district_code)) or (r.district_code or ""),
                owner=names.owner(r.owner_officer_id, r.owner_department_id),
                source_label=str(SOURCE_LABELS.get(r.source, r.source)),
            )
        )
    return items


def _district_grid(district_code: str | None) -> str | None:
    """The 15-character code of a district's own grid (``430405`` → ``430405000000000``)."""
    return f"{district_code}{'0' * 9}" if district_code else None


@dataclass
class OverduePage:
    """One page of the overdue list."""

    items: list[OverdueItem]
    total: int
    page: int
    pages: int
    per_page: int
    now: datetime


def overdue_page(
    session: Session, user: User, flt: OverdueFilter, now: datetime | None = None
) -> OverduePage:
    """The page of the filtered overdue list the filter asks for, in the viewer's scope."""
    now = now or utcnow()
    scope = scope_clause(session, user)
    kwargs = flt.query_kwargs()
    total = overdue_count(session, now=now, scope=scope, **kwargs)
    pages = max(math.ceil(total / flt.per_page), 1)
    rows = overdue(
        session,
        now=now,
        scope=scope,
        sort=flt.sort,
        descending=flt.descending,
        limit=flt.per_page,
        offset=(flt.page - 1) * flt.per_page,
        **kwargs,
    )
    return OverduePage(overdue_items(session, rows), total, flt.page, pages, flt.per_page, now)


def overdue_all(
    session: Session, user: User, flt: OverdueFilter, *, limit: int, now: datetime | None = None
) -> list[OverdueItem]:
    """Every row of the filtered list (up to ``limit``) in the filter's order: for exports."""
    now = now or utcnow()
    rows = overdue(
        session,
        now=now,
        scope=scope_clause(session, user),
        sort=flt.sort,
        descending=flt.descending,
        limit=limit,
        **flt.query_kwargs(),
    )
    return overdue_items(session, rows)


@dataclass
class FilterChoices:
    """What the filter form offers: only values that occur on open cases in the viewer's scope."""

    districts: list[tuple[str, str]] = field(default_factory=list)
    grids: list[tuple[str, str]] = field(default_factory=list)
    officers: list[tuple[int, str]] = field(default_factory=list)
    departments: list[tuple[int, str]] = field(default_factory=list)
    categories: list[tuple[int, str]] = field(default_factory=list)


def filter_choices(session: Session, user: User) -> FilterChoices:
    """The districts, grids, owners and categories of the open cases the viewer can see."""
    c = Case.__table__
    columns = (
        c.c.grid_code,
        c.c.district_code,
        c.c.owner_officer_id,
        c.c.owner_department_id,
        c.c.category_id,
    )
    # The open cases' own partial index holds every column asked for (ix_case_file_open).
    open_in_scope = and_(case_is_open(), scope_clause(session, user))
    seen: list[set[Any]] = [set() for _ in columns]
    if session.get_bind().dialect.name == "postgresql":
        # One pass over the open cases, each column grouped on its own (GROUPING SETS): each
        # row carries one column's value and NULL in the others.
        query = select(*columns).where(open_in_scope).group_by(func.grouping_sets(*columns))
        for row in session.execute(query):
            for values, value in zip(seen, row, strict=True):
                if value is not None:
                    values.add(value)
    else:
        for values, column in zip(seen, columns, strict=True):
            query = select(column).distinct().where(open_in_scope, column.is_not(None))
            values.update(session.scalars(query))
    grid_codes, districts, officer_ids, department_ids, category_ids = (
        sorted(values) for values in seen
    )
    names = Names(session).load(
        grids=[*grid_codes, *(_district_grid(d) for d in districts)],
        officers=officer_ids,
        departments=department_ids,
        categories=category_ids,
    )
    categories = [(i, names.category(i)) for i in category_ids]
    return FilterChoices(
        districts=[(d, names.grid(_district_grid(d)) or d) for d in districts],
        grids=[(g, f"{g} {names.grid(g)}".strip()) for g in grid_codes],
        officers=sorted(((i, names.officer(i)) for i in officer_ids), key=lambda p: p[1]),
        departments=sorted(((i, names.department(i)) for i in department_ids), key=lambda p: p[1]),
        categories=sorted(
            ((i, f"{cat.code} {cat.name}") for i, cat in categories if cat is not None),
            key=lambda p: p[1],
        ),
    )


# ---------------------------------------------------------------------------- approvals
def decidable_kinds(user: User) -> list[str]:
    """The kinds of request (return, extension, suspend) one of the user's roles may decide."""
    return [k for k, (yes, _no) in DECISIONS.items() if user.has_role(*TRANSITIONS[yes].roles)]


@dataclass
class ApprovalItem:
    """A request waiting for the viewer's decision, with its case's stage clock."""

    request: CaseRequest
    case: Case
    kind_label: str
    age: str  #: how long it has waited
    requested_by: str
    owner: str
    grid: str
    approve: str  #: the action names the buttons post
    reject: str
    clock_stage: str = ""
    clock_due_at: datetime | None = None
    clock_text: str = ""  #: running / paused (why) / late by …


def _clock_of(case: Case, now: datetime) -> tuple[str, datetime | None, str]:
    """The case's current stage clock (handling first), as (stage, due, state text)."""
    open_timers = [t for t in case.timers if t.is_open]
    if not open_timers:
        return "", None, ""
    timer = next((t for t in open_timers if t.stage == Stage.HANDLE), open_timers[0])
    stage = str(STAGE_LABELS.get(Stage(timer.stage), timer.stage))
    if timer.state == TimerState.PAUSED:
        why = ", ".join(pause_reason_label(r) for r in timer.paused_by)
        text = _("Paused (%(why)s)", why=why) if why else _("Paused")
    elif timer.due_at <= now:
        late = math.ceil((now - timer.due_at).total_seconds() / 60)
        text = _("Late by %(duration)s", duration=waited(timedelta(minutes=late)))
    else:
        text = _("Running")
    return stage, timer.due_at, text


def pending_approvals(
    session: Session, user: User, now: datetime | None = None
) -> list[ApprovalItem]:
    """Undecided requests in the viewer's scope that one of their roles may decide, oldest
    first (a role decides only within its own grant's scope, as ``perform`` checks)."""
    now = now or utcnow()
    kinds = decidable_kinds(user)
    if not kinds:
        return []
    rows = session.execute(
        select(CaseRequest, Case)
        .join(Case, Case.id == CaseRequest.case_id)
        .where(
            CaseRequest.decision.is_(None),
            CaseRequest.kind.in_(kinds),
            scope_clause(session, user),
        )
        .order_by(CaseRequest.requested_at, CaseRequest.id)
        .limit(APPROVALS_LIMIT)
        .options(selectinload(Case.timers))
    ).all()
    found = []
    for req, case_ in rows:
        approve, reject = DECISIONS[req.kind]
        edge = TRANSITIONS[approve]
        if CaseState(case_.state) not in edge.sources:
            continue
        if choose_role(session, user, edge.roles, case_) is None:
            continue
        found.append((req, case_, approve, reject))
    names = Names(session).load(
        users=(r.requested_by_id for r, *_ in found),
        officers=(c.owner_officer_id for _r, c, *_ in found),
        departments=(c.owner_department_id for _r, c, *_ in found),
        grids=(c.grid_code for _r, c, *_ in found),
    )
    items = []
    for req, case_, approve, reject in found:
        stage, due, text = _clock_of(case_, now)
        items.append(
            ApprovalItem(
                request=req,
                case=case_,
                kind_label=str(REQUEST_LABELS.get(req.kind, req.kind)),
                age=waited(now - req.requested_at),
                requested_by=names.user(req.requested_by_id),
                owner=names.owner(case_.owner_officer_id, case_.owner_department_id),
                grid=(
                    f"{case_.grid_code} {names.grid(case_.grid_code)}".strip()
                    if case_.grid_code
                    else ""
                ),
                approve=str(approve),
                reject=str(reject),
                clock_stage=stage,
                clock_due_at=due,
                clock_text=text,
            )
        )
    return items


# ---------------------------------------------------------------------------- the map
def _case_levels(now: datetime) -> Any:
    """Per case with a running clock: 2 if one is past due, 1 if one passed its warning point,
    else 0 (a subquery over running timers, joined by the map's queries)."""
    t = CaseTimer.__table__
    level = case((t.c.due_at <= now, 2), (t.c.warn_at <= now, 1), else_=0)
    return (
        select(t.c.case_id, func.max(level).label("level"))
        .where(t.c.state == TimerState.RUNNING)
        .group_by(t.c.case_id)
        .subquery("case_level")
    )


@dataclass(frozen=True)
class GridFigures:
    """Open cases of one grid, and how many of them are overdue (red) or near due (yellow)."""

    code: str
    open: int
    overdue: int
    near_due: int


def grid_figures(session: Session, user: User, now: datetime | None = None) -> list[GridFigures]:
    """Open, overdue and near-due cases per grid in the viewer's scope: one grouped query."""
    now = now or utcnow()
    c = Case.__table__
    lv = _case_levels(now)
    rows = session.execute(
        select(
            c.c.grid_code,
            func.count(),
            func.coalesce(func.sum(case((lv.c.level == 2, 1), else_=0)), 0),
            func.coalesce(func.sum(case((lv.c.level == 1, 1), else_=0)), 0),
        )
        .select_from(c.outerjoin(lv, lv.c.case_id == c.c.id))
        .where(
            c.c.state.in_(_OPEN_STATES),
            c.c.grid_code.is_not(None),
            scope_clause(session, user),
        )
        .group_by(c.c.grid_code)
        .order_by(c.c.grid_code)
    )
    return [GridFigures(code, int(n), int(red), int(yellow)) for code, n, red, yellow in rows]


#: The fields of each case point the map receives, in order.
POINT_FIELDS = ("number", "lng", "lat", "level")


def case_points(
    session: Session, user: User, now: datetime | None = None
) -> list[tuple[str, float, float, int]]:
    """Every open, located case in the viewer's scope as (number, lng, lat, level 0/1/2): one
    query, coordinates rounded to 6 decimals (≈ 0.1 m), ready for a compact JSON array."""
    now = now or utcnow()
    c = Case.__table__
    lv = _case_levels(now)
    where = (
        c.c.state.in_(_OPEN_STATES),
        c.c.location.is_not(None),
        scope_clause(session, user),
    )
    level = func.coalesce(lv.c.level, 0)
    joined = c.outerjoin(lv, lv.c.case_id == c.c.id)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            select(c.c.number, func.ST_X(c.c.location), func.ST_Y(c.c.location), level)
            .select_from(joined)
            .where(*where)
            .order_by(c.c.id)
        ).all()
        return [(n, round(x, 6), round(y, 6), int(lv_)) for n, x, y, lv_ in rows]
    # SQLite keeps WKB bytes: read them raw and decode the whole column at once.
    rows = session.execute(
        select(c.c.number, type_coerce(c.c.location, LargeBinary), level)
        .select_from(joined)
        .where(*where)
        .order_by(c.c.id)
    ).all()
    if not rows:
        return []
    points = shapely.from_wkb(np.array([bytes(r[1]) for r in rows], dtype=object))
    xs = np.round(shapely.get_x(points), 6).tolist()
    ys = np.round(shapely.get_y(points), 6).tolist()
    return [(r[0], x, y, int(r[2])) for r, x, y in zip(rows, xs, ys, strict=True)]
