"""Which workflow actions notify whom (called by ``workflow.perform`` in its transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch.access import Actor
from dispatch.models import Case, CaseRequest
from dispatch.models.people import Role
from dispatch.models.sla import Stage
from dispatch.notifications import notify
from dispatch.notifications.recipients import CaseRef, Recipients

#: Who decides each kind of request.
APPROVERS: dict[str, tuple[Role, ...]] = {
    "return": (Role.SHIFT_SUPERVISOR,),
    "extension": (Role.SHIFT_SUPERVISOR, Role.LEADER),
    "suspend": (Role.LEADER,),
}
_REQUEST_ACTIONS = {
    "request_return": "return",
    "request_extension": "extension",
    "request_suspend": "suspend",
}
_DECISION_ACTIONS = {
    "approve_return": "return",
    "reject_return": "return",
    "approve_extension": "extension",
    "reject_extension": "extension",
    "approve_suspend": "suspend",
    "reject_suspend": "suspend",
}


def case_ref(case: Case) -> CaseRef:
    return CaseRef(
        case.id,
        case.number,
        case.grid_code,
        case.district_code,
        case.owner_officer_id,
        case.owner_department_id,
        case.urgency,
    )


def _open_stage(case: Case) -> Stage | None:
    stages = [Stage(t.stage) for t in case.timers if t.is_open]
    for preferred in (Stage.HANDLE, Stage.ACCEPT):
        if preferred in stages:
            return preferred
    return stages[0] if stages else None


def notify_action(
    session: Session,
    case: Case,
    action: str,
    actor: Actor,
    changes: dict[str, Any],
    note: str,
    now: datetime,
) -> None:
    """Write the notifications ``action`` causes (nothing for most actions)."""
    from dispatch.sla.calendar_store import calendar

    action = str(action)
    if action not in {"dispatch", "check_fail", "urge", *_REQUEST_ACTIONS, *_DECISION_ACTIONS}:
        return
    ref = case_ref(case)
    recipients = Recipients(session)
    params: dict[str, Any] = {"case_number": case.number}
    urgent = case.urgency == "urgent"
    users: set[int] = set()
    if action == "dispatch":
        kind = "dispatched"
        users = recipients.owners(ref)
        handle = next((t for t in case.timers if t.is_open and t.stage == Stage.HANDLE), None)
        if handle is not None:
            params["due_at"] = handle.due_at.isoformat()
    elif action == "check_fail":
        kind, users = "rework", recipients.owners(ref)
        params["note"] = note
    elif action == "urge":
        kind = "urged"
        stage = _open_stage(case)
        users = recipients.for_stage(ref, stage) if stage else recipients.owners(ref)
        if not users:  # no clock and no owner (just reported): the desk that has it now
            desk = Role.OPERATOR if case.state == "reported" else Role.SHIFT_SUPERVISOR
            users = recipients.in_scope(ref, (desk,))
        params.update(note=note, by=actor.label, stage=str(stage) if stage else "")
    elif action in _REQUEST_ACTIONS:
        kind = "approval_waiting"
        request_kind = _REQUEST_ACTIONS[action]
        users = recipients.in_scope(ref, APPROVERS[request_kind])
        params.update(request=request_kind, note=note, by=actor.label)
    else:
        kind = "request_decided"
        request = session.get(CaseRequest, changes.get("request_id"))
        if request is None or request.requested_by_id is None:
            return
        users = {request.requested_by_id}
        params.update(request=request.kind, decision=request.decision, note=note)
    if actor.user is not None:
        users.discard(actor.user.id)  # nobody needs telling what they just did
    if not users:
        return
    notify(
        session,
        calendar(session),
        users,
        case_id=case.id,
        kind=kind,
        params=params,
        urgent=urgent,
        cause=f"{action}:case:{case.id}:v{case.version}",
        now=now,
    )
