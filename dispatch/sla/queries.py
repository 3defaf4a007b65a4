"""Read-side SLA questions: which open stages are overdue (or nearly), most late first.

Overdue is answered from the partial index on running timers' due times joined to the case,
never by scanning cases; filters narrow by the case's district, grid, owner, category, source,
report date or the stage. The same statement, with another time predicate, lists the stages
near their due time (yellow: warning point passed, not due yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.models import Case
from dispatch.models.cases import case_is_open
from dispatch.models.sla import CaseTimer, Level, TimerState


@dataclass(frozen=True)
class OverdueRow:
    """One running stage clock past its warning point (or its due time) and its case."""

    case_id: int
    number: str
    state: str
    district_code: str | None
    grid_code: str | None
    owner_officer_id: int | None
    owner_department_id: int | None
    stage: str
    round: int
    due_at: datetime
    #: Seconds past the due time at ``now``; negative for a stage not due yet (yellow).
    late_by_s: float
    timer_id: int = 0
    warn_at: datetime | None = None
    category_id: int | None = None
    source: str = ""
    created_at: datetime | None = None
    urge_count: int = 0
    version: int = 0
    urgency: str = "normal"

    @property
    def level(self) -> Level:
        """Red when past due, yellow when only the warning point has passed."""
        return Level.RED if self.late_by_s >= 0 else Level.YELLOW


#: Columns the overdue lists may be sorted by (``late``, the default: most late first).
SORTS = ("late", "number", "reported", "urged", "stage", "grid")


def _overdue_query(
    columns: list[Any],
    *,
    now: datetime,
    level: Level | None,
    district: str | None,
    grid: str | None,
    stage: str | None,
    officer_id: int | None,
    department_id: int | None,
    category_id: int | None,
    source: str | None,
    reported_from: datetime | None,
    reported_to: datetime | None,
    scope: ColumnElement[bool] | None,
) -> Select[Any]:
    """The filtered statement behind ``overdue`` and ``overdue_count`` (no order, no paging)."""
    t = CaseTimer.__table__
    c = Case.__table__
    # Read in due order from the partial index of open timers (ix_case_timer_open_due);
    # one state predicate only: a second, redundant one made PostgreSQL misjudge the row
    # count and pick a parallel plan 7x slower (bench/results/sla.json).
    if level is Level.RED:
        timing = [t.c.due_at <= now]
    elif level is Level.YELLOW:
        timing = [t.c.warn_at <= now, t.c.due_at > now]
    else:  # both: every red stage has passed its warning point too
        timing = [t.c.warn_at <= now]
    query = (
        select(*columns)
        .select_from(t.join(c, c.c.id == t.c.case_id))
        # A running stage belongs to an open case: said outright, it lets PostgreSQL read a
        # district's open cases from their partial index rather than its whole history.
        .where(t.c.state == TimerState.RUNNING, *timing, case_is_open())
    )
    if district:
        query = query.where(c.c.district_code == district)
    if grid:
        query = query.where(c.c.grid_code == grid)
    if stage:
        query = query.where(t.c.stage == stage)
    if officer_id is not None:
        query = query.where(c.c.owner_officer_id == officer_id)
    if department_id is not None:
        query = query.where(c.c.owner_department_id == department_id)
    if category_id is not None:
        query = query.where(c.c.category_id == category_id)
    if source:
        query = query.where(c.c.source == source)
    if reported_from is not None:
        query = query.where(c.c.created_at >= reported_from)
    if reported_to is not None:
        query = query.where(c.c.created_at < reported_to)
    if scope is not None:
        query = query.where(scope)
    return query


def overdue(
    session: Session,
    *,
    now: datetime | None = None,
    level: Level | None = Level.RED,
    district: str | None = None,
    grid: str | None = None,
    stage: str | None = None,
    officer_id: int | None = None,
    department_id: int | None = None,
    category_id: int | None = None,
    source: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    scope: ColumnElement[bool] | None = None,
    sort: str = "late",
    descending: bool = False,
    limit: int | None = 50,
    offset: int = 0,
) -> list[OverdueRow]:
    """Running stages past their due time, most late first (``scope``: the viewer's
    ``access.scope_clause``, so nobody sees cases outside their reach).

    ``level``: ``Level.RED`` (past due, the default), ``Level.YELLOW`` (near due: warning
    point passed, not due yet) or None (both). ``reported_from``/``reported_to``: the case was
    reported in ``[from, to)``. ``sort``: one of ``SORTS``; ``descending`` reverses it (for
    ``late``: least late first). ``limit`` None: every row (exports).
    """
    now = now or utcnow()
    t = CaseTimer.__table__
    c = Case.__table__
    query = _overdue_query(
        [
            c.c.id.label("case_id"),
            c.c.number,
            c.c.state,
            c.c.district_code,
            c.c.grid_code,
            c.c.owner_officer_id,
            c.c.owner_department_id,
            t.c.stage,
            t.c.round,
            t.c.due_at,
            t.c.id.label("timer_id"),
            t.c.warn_at,
            c.c.category_id,
            c.c.source,
            c.c.created_at,
            c.c.urge_count,
            c.c.version,
            c.c.urgency,
        ],
        now=now,
        level=level,
        district=district,
        grid=grid,
        stage=stage,
        officer_id=officer_id,
        department_id=department_id,
        category_id=category_id,
        source=source,
        reported_from=reported_from,
        reported_to=reported_to,
        scope=scope,
    )
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    key = {
        "late": t.c.due_at,
        "number": c.c.number,
        "reported": c.c.created_at,
        "urged": c.c.urge_count,
        "stage": t.c.stage,
        "grid": c.c.grid_code,
    }[sort]
    if descending:
        order = [key.desc(), t.c.id.desc()] if sort == "late" else [key.desc(), t.c.due_at, t.c.id]
    else:
        order = [key, t.c.id] if sort == "late" else [key, t.c.due_at, t.c.id]
    query = query.order_by(*order).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = session.execute(query)
    return [
        OverdueRow(**row._mapping, late_by_s=(now - row.due_at).total_seconds()) for row in rows
    ]


def overdue_count(
    session: Session,
    *,
    now: datetime | None = None,
    level: Level | None = Level.RED,
    district: str | None = None,
    grid: str | None = None,
    stage: str | None = None,
    officer_id: int | None = None,
    department_id: int | None = None,
    category_id: int | None = None,
    source: str | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    scope: ColumnElement[bool] | None = None,
) -> int:
    """How many rows ``overdue`` with the same filters would list without a limit (paging)."""
    query = _overdue_query(
        [func.count()],
        now=now or utcnow(),
        level=level,
        district=district,
        grid=grid,
        stage=stage,
        officer_id=officer_id,
        department_id=department_id,
        category_id=category_id,
        source=source,
        reported_from=reported_from,
        reported_to=reported_to,
        scope=scope,
    )
    return int(session.scalar(query) or 0)
