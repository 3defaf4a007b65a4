"""Stage timers: start, pause, resume, extend and end the clock of each stage of a case.

``on_transition`` is called by ``workflow.perform`` for every action, inside its transaction: it
ends the timers of the stages the case leaves (freezing on time / late), starts those of the
stages it enters, and keeps each open timer paused exactly while something stops its clock (the
case is suspended, or an approval request waits). Nothing else writes timers except the sweep,
which only raises their warning level.

Which stages run in which state (a case can run two at once: accept and handle):

====================  ===========================
state                 stages whose clock runs
====================  ===========================
to_verify             verify
to_file               file
to_dispatch           dispatch
to_accept             accept, handle
in_progress           handle
suspended             handle (paused)
to_check              check
to_close              close
closed                callback (cases with a caller to call back)
====================  ===========================

The handling limit is counted from dispatch (派遣) to the report of completion, so an owner who
does not accept does not stop the citizen's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import Case, FilingCondition
from dispatch.models.cases import CaseState
from dispatch.models.catalog import ClockType
from dispatch.models.sla import CaseTimer, Level, SlaPolicy, Stage, TimerState
from dispatch.sla.calendar import WorkCalendar

S = CaseState

STATE_STAGES: dict[CaseState, tuple[Stage, ...]] = {
    S.TO_VERIFY: (Stage.VERIFY,),
    S.TO_FILE: (Stage.FILE,),
    S.TO_DISPATCH: (Stage.DISPATCH,),
    S.TO_ACCEPT: (Stage.ACCEPT, Stage.HANDLE),
    S.IN_PROGRESS: (Stage.HANDLE,),
    S.SUSPENDED: (Stage.HANDLE,),
    S.TO_CHECK: (Stage.CHECK,),
    S.TO_CLOSE: (Stage.CLOSE,),
    S.CLOSED: (Stage.CALLBACK,),
}

#: What stops which stage's clock: a suspended case, or a request waiting for approval.
PAUSE_APPLIES: dict[str, frozenset[Stage]] = {
    "suspended": frozenset({Stage.HANDLE}),
    "request:return": frozenset({Stage.ACCEPT, Stage.HANDLE}),
    "request:extension": frozenset({Stage.HANDLE}),
    "request:suspend": frozenset({Stage.HANDLE}),
}

#: Process limits used when the policy table has no row (and seeded into it).
DEFAULT_POLICY: dict[tuple[Stage, str], tuple[float, ClockType]] = {
    (Stage.VERIFY, "normal"): (1, ClockType.WORKING_HOURS),
    (Stage.VERIFY, "urgent"): (0.5, ClockType.NATURAL_HOURS),
    (Stage.FILE, "normal"): (0.5, ClockType.WORKING_HOURS),
    (Stage.FILE, "urgent"): (10 / 60, ClockType.NATURAL_HOURS),
    (Stage.DISPATCH, "normal"): (0.5, ClockType.WORKING_HOURS),
    (Stage.DISPATCH, "urgent"): (10 / 60, ClockType.NATURAL_HOURS),
    (Stage.ACCEPT, "normal"): (1, ClockType.WORKING_HOURS),
    (Stage.ACCEPT, "urgent"): (0.5, ClockType.NATURAL_HOURS),
    # Used only for a case filed without a filing condition (imported, legacy).
    (Stage.HANDLE, "normal"): (1, ClockType.WORKING_DAYS),
    (Stage.HANDLE, "urgent"): (4, ClockType.NATURAL_HOURS),
    (Stage.CHECK, "normal"): (1, ClockType.WORKING_HOURS),
    (Stage.CHECK, "urgent"): (1, ClockType.NATURAL_HOURS),
    (Stage.CLOSE, "normal"): (2, ClockType.WORKING_HOURS),
    (Stage.CLOSE, "urgent"): (1, ClockType.NATURAL_HOURS),
    # 12345: call the citizen back the next working day.
    (Stage.CALLBACK, "normal"): (1, ClockType.WORKING_DAYS),
    (Stage.CALLBACK, "urgent"): (1, ClockType.WORKING_DAYS),
}


def warn_share_default() -> float:
    """The share of a limit after which a stage turns yellow (``SLA_WARN_SHARE``, 0.8)."""
    if has_app_context():
        return float(current_app.config.get("SLA_WARN_SHARE", 0.8))
    return 0.8


def paused_request_kinds() -> frozenset[str]:
    """Request kinds whose waiting stops the clock (``SLA_PAUSE_FOR_REQUESTS``)."""
    kinds = ("return", "extension", "suspend")
    if has_app_context():
        kinds = current_app.config.get("SLA_PAUSE_FOR_REQUESTS", kinds)
    return frozenset(kinds)


# ---------------------------------------------------------------------------- clock arithmetic
def is_working_clock(clock: str) -> bool:
    return clock != ClockType.NATURAL_HOURS


def clock_add(cal: WorkCalendar, start: datetime, seconds: float, clock: str) -> datetime:
    """``start`` plus ``seconds`` of the clock (natural, or working time)."""
    if is_working_clock(clock):
        return cal.add_working_seconds(start, max(seconds, 0.0))
    return start + timedelta(seconds=max(seconds, 0.0))


def clock_between(cal: WorkCalendar, a: datetime, b: datetime, clock: str) -> float:
    """Seconds of the clock from ``a`` to ``b`` (0 when ``b`` is not after ``a``)."""
    if b <= a:
        return 0.0
    if is_working_clock(clock):
        return cal.working_seconds_between(a, b)
    return (b - a).total_seconds()


@dataclass(frozen=True)
class Limit:
    """A stage's limit as it applies when the stage starts."""

    value: float
    clock: str
    source: str
    warn_share: float


def limit_for(session: Session, case: Case, stage: Stage) -> Limit:
    """The limit a new ``stage`` timer of ``case`` gets: the filing condition's for handling,
    the policy table's for the process stages (urgent row for urgent cases)."""
    share = warn_share_default()
    if stage is Stage.HANDLE and case.filing_condition_id is not None:
        cond = session.get(FilingCondition, case.filing_condition_id)
        if cond is not None:
            return Limit(cond.limit_value, cond.clock_type, f"filing_condition:{cond.id}", share)
    urgency = case.urgency if case.urgency in ("normal", "urgent") else "normal"
    rows = session.scalars(
        select(SlaPolicy).where(
            SlaPolicy.stage == stage, SlaPolicy.urgency.in_([urgency, "normal"])
        )
    ).all()
    row = next((r for r in rows if r.urgency == urgency), None) or next(iter(rows), None)
    if row is not None:
        return Limit(
            row.limit_value, row.clock_type, f"policy:{stage}/{row.urgency}", row.warn_share
        )
    value, clock = DEFAULT_POLICY[(stage, urgency)]
    return Limit(value, clock, f"default:{stage}/{urgency}", share)


# ---------------------------------------------------------------------------- one timer
def start_timer(
    session: Session, cal: WorkCalendar, case: Case, stage: Stage, now: datetime
) -> CaseTimer:
    """Start a new round of ``stage`` for ``case`` at ``now``."""
    limit = limit_for(session, case, stage)
    due = cal.add(now, limit.value, limit.clock)
    budget = clock_between(cal, now, due, limit.clock)
    rounds = [t.round for t in case.timers if t.stage == stage]
    timer = CaseTimer(
        case_id=case.id,
        stage=str(stage),
        round=max(rounds, default=0) + 1,
        state=TimerState.RUNNING,
        limit_value=limit.value,
        clock_type=str(limit.clock),
        limit_source=limit.source,
        warn_share=limit.warn_share,
        budget_s=budget,
        used_s=0.0,
        started_at=now,
        running_since=now,
        due_at=due,
        warn_at=clock_add(cal, now, budget * limit.warn_share, limit.clock),
        provisional=cal.assumed(now, due),
        level=Level.NONE,
        paused_by=[],
        pauses=[],
        extensions=[],
    )
    case.timers.append(timer)
    return timer


def _iso(t: datetime) -> str:
    return t.isoformat()


def pause(cal: WorkCalendar, timer: CaseTimer, reason: str, now: datetime) -> None:
    """Stop ``timer``'s clock for ``reason`` (several reasons may hold it at once)."""
    if reason in timer.paused_by:
        return
    timer.paused_by = [*timer.paused_by, reason]
    timer.pauses = [*timer.pauses, [_iso(now), None, reason]]
    if timer.state == TimerState.RUNNING:
        assert timer.running_since is not None
        timer.used_s += clock_between(cal, timer.running_since, now, timer.clock_type)
        timer.running_since = None
        timer.state = TimerState.PAUSED


def resume(cal: WorkCalendar, timer: CaseTimer, reason: str, now: datetime) -> None:
    """Lift ``reason``; when nothing holds the clock any more it runs again from ``now`` and the
    deadline moves by the time it stood still."""
    if reason not in timer.paused_by:
        return
    timer.paused_by = [r for r in timer.paused_by if r != reason]
    timer.pauses = [
        [p[0], _iso(now), p[2]] if p[1] is None and p[2] == reason else p for p in timer.pauses
    ]
    if not timer.paused_by and timer.state == TimerState.PAUSED:
        timer.state = TimerState.RUNNING
        timer.running_since = now
        _reschedule(cal, timer, now)


def _reschedule(cal: WorkCalendar, timer: CaseTimer, now: datetime) -> None:
    """Recompute ``due_at``/``warn_at`` from what is left of the budget, counted from ``now``."""
    left = timer.budget_s - timer.used_s
    if left > 0:
        timer.due_at = clock_add(cal, now, left, timer.clock_type)
        timer.provisional = cal.assumed(now, timer.due_at)
    warn_left = timer.budget_s * timer.warn_share - timer.used_s
    if warn_left > 0:
        timer.warn_at = clock_add(cal, now, warn_left, timer.clock_type)


def extend(
    cal: WorkCalendar, timer: CaseTimer, new_due: datetime, request_id: int | None, now: datetime
) -> None:
    """An approved extension: the stage is now due at ``new_due``; warnings start afresh."""
    used = timer.used_s
    if timer.state == TimerState.RUNNING and timer.running_since is not None:
        used += clock_between(cal, timer.running_since, now, timer.clock_type)
    old_due = timer.due_at
    timer.budget_s = used + clock_between(cal, now, new_due, timer.clock_type)
    timer.due_at = new_due
    warn_left = timer.budget_s * timer.warn_share - used
    timer.warn_at = clock_add(cal, now, warn_left, timer.clock_type) if warn_left > 0 else now
    timer.provisional = cal.assumed(now, new_due)
    entry = {
        "request_id": request_id,
        "from": _iso(old_due),
        "to": _iso(new_due),
        "at": _iso(now),
        "level_before": timer.level,
    }
    # The new deadline's warnings start afresh (the old ones stay on record in ``extensions``).
    timer.level = Level.NONE
    timer.yellow_at = timer.red_at = None
    timer.extensions = [*timer.extensions, entry]


def end(
    cal: WorkCalendar, timer: CaseTimer, now: datetime, reason: str, *, cancelled: bool = False
) -> None:
    """End the stage and freeze its result: on time when it ended by its due time."""
    if not timer.is_open:
        return
    running = timer.state == TimerState.RUNNING
    if running and timer.running_since is not None:
        timer.used_s += clock_between(cal, timer.running_since, now, timer.clock_type)
    timer.pauses = [[p[0], _iso(now), p[2]] if p[1] is None else p for p in timer.pauses]
    timer.paused_by = []
    timer.running_since = None
    timer.ended_at = now
    timer.end_reason = reason[:32]
    if cancelled:
        timer.state = TimerState.CANCELLED
        timer.result = None
        timer.late_by_s = None
        return
    timer.state = TimerState.MET
    # A running clock is judged by the instant (late by natural seconds past the due time); a
    # stopped one (ended while paused, its due time stale) by its budget, late by the overrun.
    if running:
        late = now > timer.due_at
        timer.late_by_s = (now - timer.due_at).total_seconds() if late else 0.0
    else:
        late = timer.used_s > timer.budget_s
        timer.late_by_s = timer.used_s - timer.budget_s if late else 0.0
    timer.result = "late" if late else "on_time"


# ---------------------------------------------------------------------------- the workflow hook
def stages_in(case: Case, state: CaseState) -> tuple[Stage, ...]:
    """The stages whose clocks run while ``case`` is in ``state``."""
    stages = STATE_STAGES.get(state, ())
    if state is S.CLOSED and not any(c.phone for c in case.callers):
        return ()  # nobody to call back
    return stages


def _pause_reasons(case: Case, state: CaseState) -> set[str]:
    reasons = {f"request:{r.kind}" for r in case.requests if r.decision is None}
    reasons &= {f"request:{k}" for k in paused_request_kinds()}
    if state is S.SUSPENDED:
        reasons.add("suspended")
    return reasons


def on_transition(
    session: Session,
    cal: WorkCalendar,
    case: Case,
    action: str,
    from_state: CaseState,
    to_state: CaseState,
    now: datetime,
    *,
    extension_request: Any = None,
    cancel_stages: Iterable[Stage] = (),
    end_stages: Iterable[Stage] = (),
) -> dict[str, Any]:
    """Bring ``case``'s timers in line with the action just applied; returns what changed.

    ``cancel_stages`` end without counting (an approved return: the wrong owner is not judged);
    ``end_stages`` end even though the state does not change (a recorded callback).
    """
    entering = set(stages_in(case, to_state))
    cancel = set(cancel_stages)
    forced = set(end_stages)
    ended: dict[str, str] = {}
    started: list[str] = []
    for timer in case.timers:
        if not timer.is_open:
            continue
        stage = Stage(timer.stage)
        if stage in entering and stage not in forced and stage not in cancel:
            continue
        end(cal, timer, now, str(action), cancelled=stage in cancel)
        ended[stage] = timer.result or "cancelled"
    open_stages = {Stage(t.stage) for t in case.timers if t.is_open}
    for stage in STATE_STAGES.get(to_state, ()):
        # A stage this action ended or cancelled does not start again in the same breath.
        if stage in entering and stage not in open_stages and stage not in forced | cancel:
            start_timer(session, cal, case, stage, now)
            started.append(str(stage))
    reasons = _pause_reasons(case, to_state)
    for timer in case.timers:
        if not timer.is_open:
            continue
        wanted = {r for r in reasons if Stage(timer.stage) in PAUSE_APPLIES.get(r, frozenset())}
        # Pause for new reasons first, so a hand-over (request -> suspended) never runs.
        for reason in sorted(wanted - set(timer.paused_by)):
            pause(cal, timer, reason, now)
        for reason in sorted(set(timer.paused_by) - wanted):
            resume(cal, timer, reason, now)
    if extension_request is not None and extension_request.requested_due_at is not None:
        for timer in case.timers:
            if timer.is_open and timer.stage == Stage.HANDLE:
                extend(cal, timer, extension_request.requested_due_at, extension_request.id, now)
    out: dict[str, Any] = {}
    if ended:
        out["ended"] = ended
    if started:
        out["started"] = started
    return out


def open_timers(case: Case) -> list[CaseTimer]:
    return [t for t in case.timers if t.is_open]
