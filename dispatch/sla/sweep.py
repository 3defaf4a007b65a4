"""The escalation sweep: mark timers that crossed their warning point (yellow) or their due time
(red), exactly once each, in the same transaction as the notifications that say so.

Each mark is one set-based ``UPDATE … WHERE level < n … RETURNING``: only rows still below the
level are touched, so a second sweep running at the same moment finds nothing left to mark (on
PostgreSQL the candidates are picked ``FOR UPDATE SKIP LOCKED``, so two sweeps split the work
instead of waiting on each other; SQLite serialises writers). The indexes behind the two
questions are partial (running timers below the level), so the sweep's cost follows the number
of crossings, not the number of open cases.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from core.types import UTCDateTime, utcnow
from dispatch.models import Case
from dispatch.models.sla import CaseTimer, Level, Stage, TimerState
from dispatch.notifications import Message, write_messages
from dispatch.notifications.recipients import CaseRef, Recipients
from dispatch.sla.calendar_store import calendar


@dataclass
class SweepResult:
    yellow: int = 0
    red: int = 0
    notifications: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mark(session: Session, level: Level, now: datetime, batch: int) -> list[Any]:
    t = CaseTimer.__table__
    if level is Level.YELLOW:
        cond = [
            t.c.state == TimerState.RUNNING,
            t.c.level < int(Level.YELLOW),
            t.c.warn_at <= now,
            t.c.due_at > now,
        ]
        values: dict[str, Any] = {"level": int(Level.YELLOW), "yellow_at": now}
        order = t.c.warn_at
    else:
        cond = [t.c.state == TimerState.RUNNING, t.c.level < int(Level.RED), t.c.due_at <= now]
        values = {
            "level": int(Level.RED),
            "red_at": now,
            "yellow_at": func.coalesce(t.c.yellow_at, literal(now, UTCDateTime())),
        }
        order = t.c.due_at
    candidates = select(t.c.id).where(*cond).order_by(order).limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(t)
        .where(t.c.id.in_(candidates), *cond)  # re-checked: a concurrent sweep may have won
        .values(**values)
        .returning(
            t.c.id,
            t.c.case_id,
            t.c.stage,
            t.c.due_at,
            func.json_array_length(t.c.extensions).label("extensions"),
        )
        .execution_options(synchronize_session=False)
    )
    rows = list(session.connection().execute(stmt))
    # The UPDATE bypassed the ORM: drop stale copies of these timers the session may hold.
    marked = {row.id for row in rows}
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CaseTimer) and obj.id in marked:
            session.expire(obj)
    return rows


def _case_refs(session: Session, case_ids: set[int]) -> dict[int, CaseRef]:
    c = Case.__table__
    rows = session.connection().execute(
        select(
            c.c.id,
            c.c.number,
            c.c.grid_code,
            c.c.district_code,
            c.c.owner_officer_id,
            c.c.owner_department_id,
            c.c.urgency,
        ).where(c.c.id.in_(sorted(case_ids)))
    )
    return {row.id: CaseRef(*row) for row in rows}


def digest_over() -> int:
    """Above this many red stages in one batch, a supervisor gets one digest, not one message
    each (``SLA_SUPERVISOR_DIGEST_OVER``): at 17:30, when a third of the day's deadlines fall,
    nobody reads eight thousand messages."""
    if has_app_context():
        return int(current_app.config.get("SLA_SUPERVISOR_DIGEST_OVER", 5))
    return 5


def _supervisor_messages(
    above: dict[int, list[tuple[Any, CaseRef]]], now: datetime, limit: int
) -> list[Message]:
    """Red stages for the supervisors above: one message per case, or one digest per person."""
    out: list[Message] = []
    for uid, items in sorted(above.items()):
        if len(items) <= limit:
            for row, case in items:
                params = {
                    "case_number": case.number,
                    "stage": row.stage,
                    "due_at": row.due_at.isoformat(),
                }
                key = f"red:timer:{row.id}:{row.extensions or 0}:user:{uid}"
                out.append(Message(uid, case.id, "red", params, case.urgency == "urgent", key))
            continue
        ordered = sorted(items, key=lambda item: item[0].due_at)
        params = {
            "count": len(items),
            "cases": [case.number for _row, case in ordered[:50]],
            "at": now.isoformat(),
        }
        urgent = any(case.urgency == "urgent" for _row, case in items)
        first = min(row.id for row, _case in items)
        key = f"red_digest:{now.isoformat()}:{first}:user:{uid}"
        out.append(Message(uid, None, "red_digest", params, urgent, key))
    return out


def sweep(
    session: Session, now: datetime | None = None, *, batch: int = 1000, commit: bool = False
) -> SweepResult:
    """Mark every crossing up to ``now`` and record its notifications.

    ``commit``: commit each batch (marks + their notifications together), so a deadline minute
    with thousands of crossings never holds thousands of row locks for long; otherwise the
    caller commits once. Either way a crash leaves nothing half-done: a batch's marks and its
    notifications are one transaction, and the next sweep picks up what is left.
    """
    started = time.perf_counter()
    now = (now or utcnow()).astimezone(UTC)
    cal = calendar(session)
    result = SweepResult()
    recipients: Recipients | None = None
    for level in (Level.YELLOW, Level.RED):
        while True:
            rows = _mark(session, level, now, batch)
            if not rows:
                break
            if recipients is None:
                recipients = Recipients(session)
            refs = _case_refs(session, {r.case_id for r in rows})
            messages: list[Message] = []
            kind = "yellow" if level is Level.YELLOW else "red"
            above: dict[int, list[tuple[Any, CaseRef]]] = defaultdict(list)
            for row in rows:
                case = refs[row.case_id]
                stage = Stage(row.stage)
                users = recipients.for_stage(case, stage)
                if level is Level.RED:
                    for uid in recipients.supervisors(case) - users:
                        above[uid].append((row, case))
                epoch = row.extensions or 0
                params = {
                    "case_number": case.number,
                    "stage": row.stage,
                    "due_at": row.due_at.isoformat(),
                }
                for uid in sorted(users):
                    messages.append(
                        Message(
                            uid,
                            case.id,
                            kind,
                            params,
                            case.urgency == "urgent",
                            f"{kind}:timer:{row.id}:{epoch}:user:{uid}",
                        )
                    )
            messages += _supervisor_messages(above, now, digest_over())
            result.notifications += len(write_messages(session, cal, messages, now))
            if level is Level.YELLOW:
                result.yellow += len(rows)
            else:
                result.red += len(rows)
            if commit:
                session.commit()
            if len(rows) < batch:
                break
    result.seconds = round(time.perf_counter() - started, 4)
    return result
