"""A case's progress as the public may see it: plain-word status, public milestones and result.

Used by the public look-up (case number + check code, ``dispatch.tracking.views``) and by
Open311 (``dispatch.open311``). Nothing here reveals personal data: no names, phones, notes
(which may name people) or officers' names; the office in charge is a department's name or
"grid officer of <grid>".
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.models import Case, CaseEvent, Category, Department, FilingCondition
from dispatch.models.cases import CHECK_CODE_ALPHABET, CaseState
from dispatch.models.sla import Stage, TimerState
from grids.models import Grid

S = CaseState

#: The public phase of each state: several internal states read the same to a citizen.
PHASE_OF_STATE: dict[CaseState, str] = {
    S.REPORTED: "received",
    S.TO_VERIFY: "received",
    S.TO_FILE: "received",
    S.TO_DISPATCH: "dispatching",
    S.TO_ACCEPT: "handling",
    S.IN_PROGRESS: "handling",
    S.SUSPENDED: "on_hold",
    S.TO_CHECK: "checking",
    S.TO_CLOSE: "closing",
    S.CLOSED: "closed",
    S.VOID: "not_accepted",
    S.MERGED: "merged",
}
PHASE_LABELS = {
    "received": _l("Received: the report is being verified and registered."),
    "dispatching": _l("Registered: being sent to the office that will handle it."),
    "handling": _l("Being handled by the office in charge."),
    "on_hold": _l("On hold: the work waits for seasonal or engineering reasons."),
    "checking": _l("Handled: an inspector is checking the result on site."),
    "closing": _l("Checked on site: the case is about to be closed."),
    "closed": _l("Closed: the problem was fixed and checked on site."),
    "not_accepted": _l(
        "Not accepted: the report was found invalid or outside what the centre handles."
    ),
    "merged": _l("Merged with an earlier report of the same problem, handled together."),
}

#: Workflow actions that are public milestones, and the milestone each one is.
MILESTONE_OF_ACTION: dict[str, str] = {
    "report": "received",
    "dispatch": "dispatched",
    "report_done": "handled",
    "check_pass": "checked",
    "close": "closed",
    "reopen": "reopened",
    "mark_invalid": "not_accepted",
    "verify_false": "not_accepted",
    "refuse": "not_accepted",
    "void": "not_accepted",
    "merge": "merged",
}
MILESTONE_LABELS = {
    "received": _l("Report received"),
    "dispatched": _l("Sent to the office in charge"),
    "handled": _l("Reported as fixed"),
    "checked": _l("Checked on site"),
    "closed": _l("Case closed"),
    "reopened": _l("Reopened after the reporter's feedback"),
    "not_accepted": _l("Not accepted"),
    "merged": _l("Merged with an earlier report"),
}
RESULT_LABELS = {
    "resolved": _l("Resolved: fixed and checked on site."),
    "not_accepted": _l("Not accepted."),
}

#: Merged cases point at the case that goes on; follow at most this many hops.
MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class Milestone:
    """One public step of a case, with its instant (UTC)."""

    kind: str
    at: datetime

    @property
    def label(self) -> str:
        return str(MILESTONE_LABELS[self.kind])


@dataclass(frozen=True)
class PublicProgress:
    """Everything the public look-up shows of one case (and of the case it was merged into)."""

    number: str
    phase: str
    is_open: bool
    category: str | None
    office: str | None
    expected_at: datetime | None
    milestones: list[Milestone]
    #: "resolved" or "not_accepted" once the case has ended, else None.
    result: str | None
    #: What "fixed" means for this kind of problem (the filing condition's closing condition).
    closing_condition: str | None
    merged: bool
    updated_at: datetime

    @property
    def phase_label(self) -> str:
        return str(PHASE_LABELS[self.phase])

    @property
    def result_label(self) -> str | None:
        return str(RESULT_LABELS[self.result]) if self.result else None


def phase_of(case: Case) -> str:
    """The public phase of a case's state (``received``, ``handling``, ``closed`` …)."""
    return PHASE_OF_STATE[CaseState(case.state)]


def phase_label(phase: str) -> str:
    """A phase in plain words, in the request's language."""
    return str(PHASE_LABELS[phase])


def local_iso(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in Asia/Shanghai (``2026-11-21T09:30:00+08:00``)."""
    if value is None:
        return None
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


def normalise_code(raw: str | None) -> str:
    """A check code as typed (any case, stray spaces or dashes) in canonical form."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def find_for_public(session: Session, number: str, code: str) -> Case | None:
    """The case with this number if ``code`` is its check code; None otherwise.

    An unknown number and a wrong code take the same path (a constant-time comparison either
    way), so neither the answer nor its timing tells whether a number exists.
    """
    wanted = normalise_code(code)
    case = None
    if 0 < len(number) <= 16 and number.isascii() and number.isdigit():
        case = session.scalar(select(Case).where(Case.number == number))
    stored = case.check_code if case is not None else "#" * 6
    matches = hmac.compare_digest(stored.encode(), wanted.encode())
    valid_shape = bool(wanted) and all(ch in CHECK_CODE_ALPHABET for ch in wanted)
    return case if case is not None and matches and valid_shape else None


def expected_due(case: Case) -> datetime | None:
    """When the case is expected to be done: the open handling clock's deadline, else the
    earliest deadline of any open stage clock (None when no clock runs)."""
    open_timers = [t for t in case.timers if t.state in (TimerState.RUNNING, TimerState.PAUSED)]
    handling = [t.due_at for t in open_timers if t.stage == Stage.HANDLE]
    if handling:
        return min(handling)
    return min((t.due_at for t in open_timers), default=None)


def office_names(session: Session, cases: Sequence[Case]) -> dict[int, str | None]:
    """The office in charge of each case (by case id), readable by the public: the owning
    department's name, or "grid officer of <grid name>" (never the officer's own name)."""
    dept_ids = {c.owner_department_id for c in cases if c.owner_department_id}
    grid_ids = {c.grid_id for c in cases if c.owner_officer_id and c.grid_id}
    departments: dict[int, str] = {}
    if dept_ids:
        query = select(Department.id, Department.name).where(Department.id.in_(dept_ids))
        departments = {row.id: row.name for row in session.execute(query)}
    grids: dict[int, str] = {}
    if grid_ids:
        query = select(Grid.id, Grid.name).where(Grid.id.in_(grid_ids))
        grids = {row.id: row.name for row in session.execute(query)}
    names: dict[int, str | None] = {}
    for case in cases:
        if case.owner_department_id:
            names[case.id] = departments.get(case.owner_department_id)
        elif case.owner_officer_id:
            grid = grids.get(case.grid_id) if case.grid_id else None
            names[case.id] = _("Grid officer of %(grid)s", grid=grid) if grid else _("Grid officer")
        else:
            names[case.id] = None
    return names


def category_names(session: Session, category_ids: Iterable[int | None]) -> dict[int, Category]:
    """Categories by id, in one query."""
    ids = {i for i in category_ids if i}
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Category).where(Category.id.in_(ids)))}


def _milestones(events: Iterable[CaseEvent], *, skip_received: bool = False) -> list[Milestone]:
    found = []
    for ev in events:
        kind = MILESTONE_OF_ACTION.get(ev.action)
        if kind is None or (skip_received and kind == "received"):
            continue
        found.append(Milestone(kind, ev.at))
    return found


def _kept_case(session: Session, case: Case) -> Case:
    """The case a merged case's problem is handled in (following merges), or the case itself."""
    current = case
    for _hop in range(MAX_MERGE_HOPS):
        if current.state != CaseState.MERGED or current.duplicate_of_id is None:
            break
        target = session.get(Case, current.duplicate_of_id)
        if target is None:
            break
        current = target
    return current


def public_progress(session: Session, case: Case) -> PublicProgress:
    """The public view of ``case``. A merged case shows its own report and merge, then the
    progress of the case its problem is handled in (the reporter is told the outcome)."""
    kept = _kept_case(session, case)
    milestones = _milestones(case.events)
    if kept is not case:
        merged_at = next((m.at for m in milestones if m.kind == "merged"), case.updated_at)
        milestones += [m for m in _milestones(kept.events, skip_received=True) if m.at >= merged_at]
    state = CaseState(kept.state)
    result = None
    closing = None
    if state == CaseState.CLOSED:
        result = "resolved"
        if kept.filing_condition_id:
            condition = session.get(FilingCondition, kept.filing_condition_id)
            if condition is not None and condition.closing_condition:
                closing = condition.closing_condition
    elif state == CaseState.VOID:
        result = "not_accepted"
    category = session.get(Category, kept.category_id) if kept.category_id else None
    return PublicProgress(
        number=case.number,
        phase=phase_of(kept),
        is_open=kept.is_open,
        category=category.name if category else None,
        office=office_names(session, [kept])[kept.id],
        expected_at=expected_due(kept) if kept.is_open else None,
        milestones=milestones,
        result=result,
        closing_condition=closing,
        merged=kept is not case,
        updated_at=max(case.updated_at, kept.updated_at),
    )


def progress_json(progress: PublicProgress) -> dict[str, Any]:
    """The public look-up's JSON answer (times in Asia/Shanghai)."""
    return {
        "number": progress.number,
        "status": progress.phase,
        "status_text": progress.phase_label,
        "is_open": progress.is_open,
        "merged": progress.merged,
        "category": progress.category,
        "office": progress.office,
        "expected_at": local_iso(progress.expected_at),
        "updated_at": local_iso(progress.updated_at),
        "timeline": [
            {"milestone": m.kind, "label": m.label, "at": local_iso(m.at)}
            for m in progress.milestones
        ],
        "result": (
            {
                "outcome": progress.result,
                "text": progress.result_label,
                "closing_condition": progress.closing_condition,
            }
            if progress.result
            else None
        ),
    }
