"""Read-side SLA questions: which open stages are overdue (or nearly), most late first.

Overdue is answered from the partial index on running timers' due times joined to the case,
never by scanning cases; filters narrow by the case's district, grid, owner or the stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from core.types import utcnow
from dispatch.models import Case
from dispatch.models.sla import CaseTimer, TimerState


@dataclass(frozen=True)
class OverdueRow:
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
    late_by_s: float


def overdue(
    session: Session,
    *,
    now: datetime | None = None,
    district: str | None = None,
    grid: str | None = None,
    stage: str | None = None,
    officer_id: int | None = None,
    department_id: int | None = None,
    scope: ColumnElement[bool] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OverdueRow]:
    """Running stages past their due time, most late first (``scope``: the viewer's
    ``access.scope_clause``, so nobody sees cases outside their reach)."""
    now = now or utcnow()
    t = CaseTimer.__table__
    c = Case.__table__
    query = (
        select(
            c.c.id,
            c.c.number,
            c.c.state,
            c.c.district_code,
            c.c.grid_code,
            c.c.owner_officer_id,
            c.c.owner_department_id,
            t.c.stage,
            t.c.round,
            t.c.due_at,
        )
        .select_from(t.join(c, c.c.id == t.c.case_id))
        # Read in due order from the partial index of open timers (ix_case_timer_open_due);
        # one state predicate only: a second, redundant one made PostgreSQL misjudge the row
        # count and pick a parallel plan 7x slower (bench/results/sla.json).
        .where(t.c.state == TimerState.RUNNING, t.c.due_at <= now)
        .order_by(t.c.due_at, t.c.id)
        .limit(limit)
        .offset(offset)
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
    if scope is not None:
        query = query.where(scope)
    rows = session.execute(query)
    return [OverdueRow(*row, late_by_s=(now - row.due_at).total_seconds()) for row in rows]
