"""Callbacks (回访): every caller of a closed case is called back by the next working day.

The case's callback clock (``dispatch.sla``, stage ``callback``) starts when the case closes
with a caller to call. Each caller's answer is recorded here; a dissatisfied caller reopens the
case through the workflow (``reopen``: back to dispatch, the clock frozen on time or late); when
every caller is satisfied or basically satisfied the workflow's ``record_callback`` ends the
clock. A reopened case closed again is called back again (the clock's next round).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.types import utcnow
from dispatch.access import Actor, in_scope, scope_clause
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.models import Case, CaseCaller, User
from dispatch.models.people import Role
from dispatch.models.sla import CaseTimer, Stage, TimerState
from dispatch.workflow import Action, lock_case, perform
from hotline.models import CallbackRecord, Satisfaction
from hotline.privacy import phone_for

_OPEN = (TimerState.RUNNING, TimerState.PAUSED)


def _open_timer(case: Case) -> CaseTimer | None:
    return next((t for t in case.timers if t.stage == Stage.CALLBACK and t.is_open), None)


def callback_queue(
    session: Session, user: User, now: datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Closed cases waiting for their callback, in the viewer's scope, soonest due first; each
    with its callers (number in full for operators) and what each said so far this round."""
    now = now or utcnow()
    rows = session.execute(
        select(Case, CaseTimer)
        .join(CaseTimer, CaseTimer.case_id == Case.id)
        .where(
            CaseTimer.stage == Stage.CALLBACK,
            CaseTimer.state.in_([str(s) for s in _OPEN]),
            scope_clause(session, user),
        )
        .options(selectinload(Case.callers))
        .order_by(CaseTimer.due_at, Case.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    done = {
        (r.caller_id, r.timer_round): r
        for r in session.scalars(
            select(CallbackRecord).where(CallbackRecord.case_id.in_([c.id for c, _t in rows]))
        )
    }
    out = []
    for case, timer in rows:
        callers = []
        for caller in case.callers:
            if not caller.phone:
                continue
            rec = done.get((caller.id, timer.round))
            callers.append(
                {
                    "id": caller.id,
                    "name": caller.name,
                    "phone": phone_for(user, caller.phone),
                    "satisfaction": rec.satisfaction if rec else None,
                    "note": rec.note if rec else "",
                }
            )
        out.append(
            {
                "number": case.number,
                "version": case.version,
                "description": case.description[:200],
                "address": case.address,
                "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                "due_at": timer.due_at.isoformat(),
                "overdue": timer.due_at < now,
                "round": timer.round,
                "callers": callers,
            }
        )
    return out


def record_callback(
    session: Session,
    actor: Actor,
    caller_id: int,
    satisfaction: str,
    note: str = "",
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record what one caller said at the callback; reopen the case when dissatisfied, end
    its callback clock once every caller has answered. Flushes; the caller commits."""
    if actor.role is not Role.OPERATOR:
        raise Forbidden("callbacks are made by hotline operators")
    if satisfaction not in {str(s) for s in Satisfaction}:
        raise InvalidInput(
            "satisfaction must be satisfied, basically_satisfied or dissatisfied",
            {"satisfaction": "unknown"},
        )
    if len(note) > 2000:
        raise InvalidInput("at most 2000 characters", {"note": "too long"})
    if satisfaction == Satisfaction.DISSATISFIED and not note.strip():
        raise InvalidInput("say what the caller is dissatisfied with", {"note": "required"})
    now = now or utcnow()
    caller = session.get(CaseCaller, caller_id)
    if caller is None:
        raise NotFound(f"no caller {caller_id}")
    case = lock_case(session, caller.case_id)  # one callback at a time per case
    if not in_scope(session, actor, case):
        raise NotFound(f"no caller {caller_id}")
    timer = _open_timer(case)
    if timer is None:
        raise Conflict(f"case {case.number} has no callback waiting")
    if not caller.phone:
        raise InvalidInput("this caller left no number", {"caller_id": "no phone"})
    record = CallbackRecord(
        case_id=case.id,
        caller_id=caller.id,
        timer_round=timer.round,
        satisfaction=satisfaction,
        note=note.strip(),
        user_id=actor.user.id if actor.user else None,
        at=now,
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        raise Conflict("this caller's answer is already recorded") from None
    result: dict[str, Any] = {"number": case.number, "case_action": None}
    if satisfaction == Satisfaction.DISSATISFIED:
        perform(
            session,
            case.id,
            Action.REOPEN,
            actor,
            note=f"回访不满意 / dissatisfied at callback: {note.strip()}",
            data={"caller_id": caller.id},
            now=now,
        )
        result["case_action"] = str(Action.REOPEN)
    else:
        answered = dict(
            session.execute(
                select(CallbackRecord.caller_id, CallbackRecord.satisfaction).where(
                    CallbackRecord.case_id == case.id, CallbackRecord.timer_round == timer.round
                )
            ).all()
        )
        waiting = [c for c in case.callers if c.phone and c.id not in answered]
        if not waiting:
            overall = (
                Satisfaction.BASICALLY_SATISFIED
                if Satisfaction.BASICALLY_SATISFIED in answered.values()
                else Satisfaction.SATISFIED
            )
            perform(
                session,
                case.id,
                Action.RECORD_CALLBACK,
                actor,
                note=note.strip(),
                data={"satisfaction": str(overall), "caller_id": caller.id},
                now=now,
            )
            result["case_action"] = str(Action.RECORD_CALLBACK)
    session.flush()
    result["state"] = case.state
    return result
