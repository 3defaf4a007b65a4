"""The case workflow as data, and the one function that performs every transition.

``TRANSITIONS`` says, for each action, from which states it may be taken, where it leads and
which roles may take it. ``perform`` is the only code that changes a case's state: it locks the
row, checks the edge, the actor's role and scope, applies the action, appends the event and
bumps the version, and records side effects to run after the commit. Pages, the API, intake and
jobs all call it. ``replay`` rebuilds a case's state from its events, to prove the log complete.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import after_commit
from core.types import utcnow
from dispatch.access import Actor, in_scope, is_owner
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.models import Case, CaseCaller, CaseEvent, CaseRequest, Category, FilingCondition
from dispatch.models.cases import FINAL_STATES, CaseState
from dispatch.models.catalog import Department
from dispatch.models.people import Role

S = CaseState
R = Role


class Action(enum.StrEnum):
    """Everything that can be done to a case."""

    REPORT = "report"  #: the creation event (intake only)
    SEND_TO_VERIFY = "send_to_verify"
    ACCEPT_REPORT = "accept_report"  #: file directly, no verification needed
    MARK_INVALID = "mark_invalid"
    MERGE = "merge"
    VERIFY_TRUE = "verify_true"
    VERIFY_FALSE = "verify_false"
    FILE = "file"
    REFUSE = "refuse"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    REQUEST_RETURN = "request_return"
    APPROVE_RETURN = "approve_return"
    REJECT_RETURN = "reject_return"
    REQUEST_EXTENSION = "request_extension"
    APPROVE_EXTENSION = "approve_extension"
    REJECT_EXTENSION = "reject_extension"
    REQUEST_SUSPEND = "request_suspend"
    APPROVE_SUSPEND = "approve_suspend"
    REJECT_SUSPEND = "reject_suspend"
    RESUME = "resume"
    REPORT_DONE = "report_done"
    CHECK_PASS = "check_pass"
    CHECK_FAIL = "check_fail"
    CLOSE = "close"
    REOPEN = "reopen"
    VOID = "void"
    PLACE = "place"
    URGE = "urge"  #: 督办: a supervisor presses the case's current desk or owner
    RECORD_CALLBACK = "record_callback"  #: 回访: the citizen is satisfied (dissatisfied: reopen)


@dataclass(frozen=True)
class Edge:
    """One row of the transition table."""

    sources: frozenset[CaseState]
    #: None: the case stays in the state it is in.
    target: CaseState | None
    roles: frozenset[Role]
    #: The actor must be the case's current owner (its officer, or staff of its department).
    owner_only: bool = False
    #: An undecided request of this kind must exist (approve/reject) or must not (request).
    needs_request: str | None = None
    refuses_open_request: str | None = None


def _edge(sources: Iterable[CaseState], target: CaseState | None, *roles: Role, **kw: Any) -> Edge:
    return Edge(frozenset(sources), target, frozenset(roles), **kw)


#: States before filing, where a report can still be merged, voided or found invalid.
_INTAKE = (S.REPORTED, S.TO_VERIFY, S.TO_FILE)
_OWNED_ACTIVE = (S.TO_ACCEPT, S.IN_PROGRESS)
_ALL_OPEN = tuple(s for s in CaseState if s not in FINAL_STATES)

TRANSITIONS: dict[Action, Edge] = {
    Action.SEND_TO_VERIFY: _edge([S.REPORTED], S.TO_VERIFY, R.OPERATOR, R.SHIFT_SUPERVISOR),
    Action.ACCEPT_REPORT: _edge([S.REPORTED], S.TO_FILE, R.OPERATOR, R.SHIFT_SUPERVISOR),
    Action.MARK_INVALID: _edge([S.REPORTED], S.VOID, R.OPERATOR, R.SHIFT_SUPERVISOR),
    # Duplicates are merged before filing: after that the case has its own clock and owner.
    Action.MERGE: _edge(_INTAKE, S.MERGED, R.OPERATOR, R.SHIFT_SUPERVISOR),
    Action.VERIFY_TRUE: _edge([S.TO_VERIFY], S.TO_FILE, R.INSPECTOR),
    Action.VERIFY_FALSE: _edge([S.TO_VERIFY], S.VOID, R.INSPECTOR),
    Action.FILE: _edge([S.TO_FILE], S.TO_DISPATCH, R.SHIFT_SUPERVISOR),
    Action.REFUSE: _edge([S.TO_FILE], S.VOID, R.SHIFT_SUPERVISOR),
    # The system dispatches automatically from grid + category; a dispatcher may do it by hand.
    Action.DISPATCH: _edge([S.TO_DISPATCH], S.TO_ACCEPT, R.DISPATCHER, R.SYSTEM),
    Action.ACCEPT: _edge(
        [S.TO_ACCEPT], S.IN_PROGRESS, R.GRID_OFFICER, R.DEPARTMENT_STAFF, owner_only=True
    ),
    # Return (回退: wrong owner) is asked by the owner and takes effect only when approved.
    Action.REQUEST_RETURN: _edge(
        _OWNED_ACTIVE,
        None,
        R.GRID_OFFICER,
        R.DEPARTMENT_STAFF,
        owner_only=True,
        refuses_open_request="return",
    ),
    Action.APPROVE_RETURN: _edge(
        _OWNED_ACTIVE, S.TO_DISPATCH, R.SHIFT_SUPERVISOR, needs_request="return"
    ),
    Action.REJECT_RETURN: _edge(_OWNED_ACTIVE, None, R.SHIFT_SUPERVISOR, needs_request="return"),
    Action.REQUEST_EXTENSION: _edge(
        [S.IN_PROGRESS],
        None,
        R.GRID_OFFICER,
        R.DEPARTMENT_STAFF,
        owner_only=True,
        refuses_open_request="extension",
    ),
    Action.APPROVE_EXTENSION: _edge(
        [S.IN_PROGRESS], None, R.SHIFT_SUPERVISOR, R.LEADER, needs_request="extension"
    ),
    Action.REJECT_EXTENSION: _edge(
        [S.IN_PROGRESS], None, R.SHIFT_SUPERVISOR, R.LEADER, needs_request="extension"
    ),
    # Suspension (挂账: seasonal or engineering work) stops the clock; only a leader approves.
    Action.REQUEST_SUSPEND: _edge(
        [S.IN_PROGRESS],
        None,
        R.GRID_OFFICER,
        R.DEPARTMENT_STAFF,
        owner_only=True,
        refuses_open_request="suspend",
    ),
    Action.APPROVE_SUSPEND: _edge([S.IN_PROGRESS], S.SUSPENDED, R.LEADER, needs_request="suspend"),
    Action.REJECT_SUSPEND: _edge([S.IN_PROGRESS], None, R.LEADER, needs_request="suspend"),
    Action.RESUME: _edge([S.SUSPENDED], S.IN_PROGRESS, R.LEADER, R.SHIFT_SUPERVISOR),
    Action.REPORT_DONE: _edge(
        [S.IN_PROGRESS], S.TO_CHECK, R.GRID_OFFICER, R.DEPARTMENT_STAFF, owner_only=True
    ),
    Action.CHECK_PASS: _edge([S.TO_CHECK], S.TO_CLOSE, R.INSPECTOR),
    # Not fixed: back to the same owner for rework (返工), rework count + 1.
    Action.CHECK_FAIL: _edge([S.TO_CHECK], S.IN_PROGRESS, R.INSPECTOR),
    Action.CLOSE: _edge([S.TO_CLOSE], S.CLOSED, R.SHIFT_SUPERVISOR),
    # A citizen dissatisfied at the callback reopens the case: it goes back to dispatch.
    Action.REOPEN: _edge([S.CLOSED], S.TO_DISPATCH, R.OPERATOR),
    Action.VOID: _edge(
        [S.REPORTED, S.TO_VERIFY, S.TO_FILE, S.TO_DISPATCH], S.VOID, R.SHIFT_SUPERVISOR, R.ADMIN
    ),
    # Placing a case that had no usable location (map click); allowed in any open state.
    Action.PLACE: _edge(_ALL_OPEN, None, R.OPERATOR, R.DISPATCHER, R.SHIFT_SUPERVISOR),
    # Urging (督办) changes nothing but the record: the owner (or the stage's desk) is notified.
    Action.URGE: _edge(_ALL_OPEN, None, R.SHIFT_SUPERVISOR, R.LEADER),
    Action.RECORD_CALLBACK: _edge([S.CLOSED], None, R.OPERATOR),
}

#: Actions that need a note (a reason a reader of the timeline will want).
NOTE_REQUIRED = frozenset(
    {
        Action.MARK_INVALID,
        Action.VERIFY_FALSE,
        Action.REFUSE,
        Action.REQUEST_RETURN,
        Action.REQUEST_EXTENSION,
        Action.REQUEST_SUSPEND,
        Action.CHECK_FAIL,
        Action.REOPEN,
        Action.VOID,
        Action.REJECT_RETURN,
        Action.REJECT_EXTENSION,
        Action.REJECT_SUSPEND,
        Action.URGE,
    }
)


@dataclass
class Outcome:
    """What ``perform`` did, for the caller to render."""

    case: Case
    event: CaseEvent
    side_effects: list[str] = field(default_factory=list)


def allowed_actions(case: Case) -> list[Action]:
    """Actions whose edge starts in the case's state (before role and scope checks)."""
    state = CaseState(case.state)
    return [a for a, e in TRANSITIONS.items() if state in e.sources]


def actions_for(session: Session, case: Case, actor: Actor) -> list[Action]:
    """Actions ``actor`` may take on ``case`` now (for the case page's buttons)."""
    candidates = [a for a in allowed_actions(case) if actor.role in TRANSITIONS[a].roles]
    # Scope does not depend on the action: ask once (it may read the officer's duties).
    if not candidates or not in_scope(session, actor, case):
        return []
    out = []
    for action in candidates:
        edge = TRANSITIONS[action]
        if edge.needs_request and case.pending_request(edge.needs_request) is None:
            continue
        if edge.refuses_open_request and case.pending_request(edge.refuses_open_request):
            continue
        if edge.owner_only and not is_owner(actor, case):
            continue
        if action is Action.PLACE and not case.needs_placement:
            continue
        if action is Action.RECORD_CALLBACK and not awaits_callback(case):
            continue
        out.append(action)
    return out


def lock_case(session: Session, case_id: int) -> Case:
    """Load a case with a row lock (PostgreSQL); on SQLite the write lock serialises writers."""
    query = select(Case).where(Case.id == case_id).with_for_update()
    case = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} does not exist")
    return case


def perform(
    session: Session,
    case_id: int,
    action: Action | str,
    actor: Actor,
    *,
    note: str = "",
    data: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Perform ``action`` on case ``case_id`` as ``actor``: the only way a case changes.

    Raises NotFound, Forbidden (role, scope or ownership), Conflict (the case is not in a state
    the action starts from, or not at ``expected_version``) or InvalidInput (bad payload).
    Flushes; the caller commits.
    """
    try:
        action = Action(action)
    except ValueError:
        raise InvalidInput(f"unknown action {action!r}", {"action": "unknown"}) from None
    edge = TRANSITIONS.get(action)
    if edge is None:
        raise InvalidInput(f"{action} cannot be performed directly", {"action": "not allowed"})
    data = dict(data or {})
    now = now or utcnow()
    case = lock_case(session, case_id)

    if actor.role not in edge.roles:
        raise Forbidden(f"the {actor.role} role may not {action}")
    if not in_scope(session, actor, case):
        # Indistinguishable from a missing case, so scope cannot be probed.
        raise NotFound(f"case {case_id} does not exist")
    if expected_version is not None and expected_version != case.version:
        raise Conflict(
            f"case {case.number} changed (version {case.version}, you had {expected_version})",
            current_state=case.state,
            current_version=case.version,
        )
    state = CaseState(case.state)
    if state not in edge.sources:
        raise Conflict(
            f"case {case.number} is {state}; {action} is possible only from "
            + ", ".join(sorted(edge.sources)),
            current_state=case.state,
            current_version=case.version,
        )
    if edge.owner_only and not is_owner(actor, case):
        raise Forbidden(f"only the owner of case {case.number} may {action}")
    if edge.needs_request and case.pending_request(edge.needs_request) is None:
        raise Conflict(f"case {case.number} has no pending {edge.needs_request} request")
    if edge.refuses_open_request and case.pending_request(edge.refuses_open_request):
        raise Conflict(
            f"case {case.number} already has a pending {edge.refuses_open_request} request"
        )
    if action in NOTE_REQUIRED and not note.strip():
        raise InvalidInput(f"{action} needs a note saying why", {"note": "required"})

    target = edge.target or state
    changes = _APPLY[action](session, case, actor, data, note, now)
    if action is Action.ACCEPT:
        case.accepted_at = now  # the current owner's acceptance (a return means a new one)
    if target is not state:
        _stamp(case, target, now)
        with session.no_autoflush:  # the row is mid-update: do not flush it half-changed
            withdrawn = _withdraw_stale_requests(case, target, actor, now)
        if withdrawn:
            changes["withdrawn_requests"] = withdrawn
    changes.update(_run_timers(session, case, action, state, target, changes, now))
    case.state = target
    case.version += 1
    case.updated_at = now
    event = append_event(
        session,
        case,
        action,
        actor,
        from_state=state,
        to_state=target,
        note=note,
        data=changes,
        attachments=attachments or [],
        at=now,
    )
    outcome = Outcome(case, event)
    from dispatch.notifications.events import notify_action

    notify_action(session, case, action, actor, changes, note, now)
    if target is S.TO_DISPATCH and state is not S.TO_DISPATCH:
        _schedule_auto_dispatch(session, case, outcome)
    if action is Action.PLACE and state is S.TO_DISPATCH:
        _schedule_auto_dispatch(session, case, outcome)
    session.flush()
    return outcome


def _run_timers(
    session: Session,
    case: Case,
    action: Action,
    state: CaseState,
    target: CaseState,
    changes: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Start, pause, extend and end the stage clocks for this action (see ``dispatch.sla``)."""
    from dispatch.models.sla import Stage
    from dispatch.sla import timers
    from dispatch.sla.calendar_store import calendar

    request = None
    if action is Action.APPROVE_EXTENSION and changes.get("request_id"):
        request = session.get(CaseRequest, changes["request_id"])
    with session.no_autoflush:
        result = timers.on_transition(
            session,
            calendar(session),
            case,
            action,
            state,
            target,
            now,
            extension_request=request,
            cancel_stages=(Stage.ACCEPT, Stage.HANDLE) if action is Action.APPROVE_RETURN else (),
            end_stages=(Stage.CALLBACK,) if action is Action.RECORD_CALLBACK else (),
        )
    return {"timers": result} if result else {}


def append_event(
    session: Session,
    case: Case,
    action: Action,
    actor: Actor,
    *,
    from_state: CaseState | None,
    to_state: CaseState,
    note: str = "",
    data: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    at: datetime | None = None,
) -> CaseEvent:
    """Append the next event of ``case`` (sequence numbers are dense and unique per case)."""
    last = session.scalar(
        select(CaseEvent.seq).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq.desc())
    )
    event = CaseEvent(
        case_id=case.id,
        seq=(last or 0) + 1,
        action=str(action),
        from_state=str(from_state) if from_state else None,
        to_state=str(to_state),
        actor_user_id=actor.user.id if actor.user else None,
        actor_role=str(actor.role),
        at=at or utcnow(),
        note=note,
        data=data or {},
        attachments=attachments or [],
    )
    session.add(event)
    return event


_STAMPS = {
    S.TO_FILE: "verified_at",
    S.TO_DISPATCH: "filed_at",
    S.TO_ACCEPT: "dispatched_at",
    S.TO_CHECK: "done_at",
    S.TO_CLOSE: "checked_at",
    S.CLOSED: "closed_at",
    S.VOID: "voided_at",
}


#: Where a request of each kind can still be decided (from the approve/reject edges).
_DECIDABLE: dict[str, frozenset[CaseState]] = {}
for _edge_ in TRANSITIONS.values():
    if _edge_.needs_request:
        _DECIDABLE[_edge_.needs_request] = _DECIDABLE.get(_edge_.needs_request, frozenset()).union(
            _edge_.sources
        )


def _withdraw_stale_requests(
    case: Case, target: CaseState, actor: Actor, now: datetime
) -> list[int]:
    """Requests nobody can decide any more once the case is in ``target`` lapse as withdrawn
    (an extension asked by an owner who then returned the case must not block the next one)."""
    withdrawn = []
    for req in case.requests:
        if req.decision is None and target not in _DECIDABLE.get(req.kind, frozenset()):
            req.decision = "withdrawn"
            req.decided_at = now
            req.decided_by_id = actor.user.id if actor.user else None
            req.decision_note = f"case moved to {target}"
            withdrawn.append(req.id)
    return withdrawn


def _stamp(case: Case, target: CaseState, now: datetime) -> None:
    column = _STAMPS.get(target)
    if column == "filed_at" and case.filed_at is not None:
        return  # a return or reopen goes back to dispatch: keep the first filing time
    if column:
        setattr(case, column, now)


# ---------------------------------------------------------------------------- per-action effects
Apply = Callable[[Session, Case, Actor, dict[str, Any], str, datetime], dict[str, Any]]


def _nothing(*_args: Any) -> dict[str, Any]:
    return {}


def _merge(
    session: Session, case: Case, actor: Actor, data: dict[str, Any], *_: Any
) -> dict[str, Any]:
    target_ref = data.get("duplicate_of")
    if target_ref in (None, ""):
        raise InvalidInput(
            "merge needs duplicate_of (the case number kept)", {"duplicate_of": "required"}
        )
    target = session.scalar(select(Case).where(Case.number == str(target_ref)))
    if target is None and str(target_ref).isdigit():
        target = session.get(Case, int(target_ref))
    if target is None or not in_scope(session, actor, target):
        raise InvalidInput(f"no case {target_ref}", {"duplicate_of": "not found"})
    if target.id == case.id:
        raise InvalidInput("a case cannot be merged into itself", {"duplicate_of": "same case"})
    if not target.is_open:
        raise InvalidInput(f"case {target.number} is {target.state}", {"duplicate_of": "not open"})
    if target.duplicate_of_id is not None:
        raise InvalidInput(f"case {target.number} is itself merged", {"duplicate_of": "merged"})
    case.duplicate_of_id = target.id
    # Every caller of the duplicate is kept on the case that goes on, to be called back.
    for caller in case.callers:
        session.add(
            CaseCaller(
                case_id=target.id, name=caller.name, phone=caller.phone, from_case_id=case.id
            )
        )
    return {
        "duplicate_of": target.number,
        "duplicate_of_id": target.id,
        "callers_moved": len(case.callers),
    }


def _file(
    session: Session, case: Case, _actor: Actor, data: dict[str, Any], *_: Any
) -> dict[str, Any]:
    category_id = data.get("category_id", case.category_id)
    condition_id = data.get("filing_condition_id", case.filing_condition_id)
    if category_id is None:
        raise InvalidInput("filing needs a minor class", {"category_id": "required"})
    category = session.get(Category, _int(category_id, "category_id"))
    if category is None or not category.is_active:
        raise InvalidInput("no such active category", {"category_id": "not found"})
    if condition_id is None:
        condition = next((c for c in category.conditions if c.is_active), None)
        if condition is None:
            raise InvalidInput(
                "the category has no filing condition", {"filing_condition_id": "required"}
            )
    else:
        condition = session.get(FilingCondition, _int(condition_id, "filing_condition_id"))
        if condition is None or condition.category_id != category.id or not condition.is_active:
            raise InvalidInput(
                "the filing condition does not belong to the category",
                {"filing_condition_id": "mismatch"},
            )
    case.category_id = category.id
    case.filing_condition_id = condition.id
    case.urgency = condition.urgency
    return {
        "category_id": category.id,
        "category": f"{category.code} {category.name}",
        "filing_condition_id": condition.id,
        "limit": {"value": condition.limit_value, "clock": condition.clock_type},
        "urgency": condition.urgency,
    }


def _dispatch(
    session: Session, case: Case, actor: Actor, data: dict[str, Any], note: str, *_: Any
) -> dict[str, Any]:
    from dispatch.routing import propose_owner

    if case.needs_placement:
        raise InvalidInput(
            f"case {case.number} awaits placement: place it on the map first",
            {"location": "pending"},
        )
    proposal = propose_owner(session, case)
    officer_id = data.get("officer_id")
    department_id = data.get("department_id")
    if officer_id is None and department_id is None:
        if proposal is None:
            raise InvalidInput(
                "no owner can be proposed for this grid and category: choose one",
                {"owner": "required"},
            )
        officer_id, department_id = proposal.officer_id, proposal.department_id
    if officer_id is not None and department_id is not None:
        raise InvalidInput("choose an officer or a department, not both", {"owner": "ambiguous"})
    if department_id is not None:
        dept = session.get(Department, _int(department_id, "department_id"))
        if dept is None or not dept.is_active:
            raise InvalidInput("no such department", {"department_id": "not found"})
    if officer_id is not None:
        from grids.models import Officer

        officer = session.get(Officer, _int(officer_id, "officer_id"))
        if officer is None or not officer.is_active:
            raise InvalidInput("no such officer", {"officer_id": "not found"})
    chosen = (
        int(officer_id) if officer_id is not None else None,
        int(department_id) if department_id is not None else None,
    )
    proposed = (proposal.officer_id, proposal.department_id) if proposal else (None, None)
    overridden = chosen != proposed
    if overridden and not (data.get("reason") or note).strip():
        raise InvalidInput(
            "dispatching to another owner than proposed needs a reason", {"reason": "required"}
        )
    case.owner_officer_id, case.owner_department_id = chosen
    return {
        "owner_officer_id": chosen[0],
        "owner_department_id": chosen[1],
        "proposed": {"officer_id": proposed[0], "department_id": proposed[1]},
        "overridden": overridden,
        "reason": data.get("reason") or (note if overridden else ""),
        "automatic": actor.role is R.SYSTEM,
    }


def _open_request(kind: str) -> Apply:
    def apply(
        session: Session, case: Case, actor: Actor, data: dict[str, Any], note: str, now: datetime
    ) -> dict[str, Any]:
        due = None
        if kind == "extension":
            due = _parse_due(data.get("due_at"), now)
        req = CaseRequest(
            case_id=case.id,
            kind=kind,
            reason=note,
            requested_due_at=due,
            requested_by_id=actor.user.id if actor.user else None,
            requested_at=now,
        )
        session.add(req)
        case.requests.append(req)
        return {"request": kind, "requested_due_at": due.isoformat() if due else None}

    return apply


def _decide(kind: str, approved: bool) -> Apply:
    def apply(
        session: Session, case: Case, actor: Actor, data: dict[str, Any], note: str, now: datetime
    ) -> dict[str, Any]:
        req = case.pending_request(kind)
        assert req is not None  # checked by perform
        req.decision = "approved" if approved else "rejected"
        req.decided_by_id = actor.user.id if actor.user else None
        req.decided_at = now
        req.decision_note = note
        out: dict[str, Any] = {"request": kind, "request_id": req.id, "decision": req.decision}
        if approved and kind == "return":
            out["previous_owner"] = {
                "officer_id": case.owner_officer_id,
                "department_id": case.owner_department_id,
            }
            case.owner_officer_id = case.owner_department_id = None
        if approved and kind == "extension":
            case.extended_due_at = req.requested_due_at
            out["extended_due_at"] = (
                req.requested_due_at.isoformat() if req.requested_due_at else None
            )
        return out

    return apply


def _check_fail(_s: Session, case: Case, *_: Any) -> dict[str, Any]:
    case.rework_count += 1
    case.done_at = None
    return {"rework_count": case.rework_count}


def _reopen(_s: Session, case: Case, *_: Any) -> dict[str, Any]:
    previous = {"officer_id": case.owner_officer_id, "department_id": case.owner_department_id}
    case.owner_officer_id = case.owner_department_id = None
    case.closed_at = None
    case.checked_at = None
    case.done_at = None
    return {"previous_owner": previous}


def _place(
    session: Session, case: Case, _actor: Actor, data: dict[str, Any], *_: Any
) -> dict[str, Any]:
    from dispatch.intake import place_case

    if not case.needs_placement:
        raise Conflict(f"case {case.number} is already placed in grid {case.grid_code}")
    return place_case(session, case, data, manual=True)


def _urge(_s: Session, case: Case, *_: Any) -> dict[str, Any]:
    case.urge_count += 1
    return {"urge_count": case.urge_count}


#: What a citizen may say at the callback without reopening the case.
CALLBACK_OUTCOMES = ("satisfied", "basically_satisfied")


def awaits_callback(case: Case) -> bool:
    """Whether the case's callback (回访) clock is running (closed, with a caller to call)."""
    return any(t.is_open and t.stage == "callback" for t in case.timers)


def _record_callback(
    _s: Session, case: Case, _actor: Actor, data: dict[str, Any], *_: Any
) -> dict[str, Any]:
    if not awaits_callback(case):
        raise Conflict(f"case {case.number} has no callback waiting")
    outcome = data.get("satisfaction")
    if outcome == "dissatisfied":
        raise InvalidInput(
            "a dissatisfied citizen reopens the case: use reopen", {"satisfaction": "reopen"}
        )
    if outcome not in CALLBACK_OUTCOMES:
        raise InvalidInput(
            "satisfaction must be satisfied or basically_satisfied", {"satisfaction": "required"}
        )
    return {"satisfaction": outcome, "caller_id": data.get("caller_id")}


_APPLY: dict[Action, Apply] = {
    Action.SEND_TO_VERIFY: _nothing,
    Action.ACCEPT_REPORT: _nothing,
    Action.MARK_INVALID: _nothing,
    Action.MERGE: _merge,
    Action.VERIFY_TRUE: _nothing,
    Action.VERIFY_FALSE: _nothing,
    Action.FILE: _file,
    Action.REFUSE: _nothing,
    Action.DISPATCH: _dispatch,
    Action.ACCEPT: _nothing,
    Action.REQUEST_RETURN: _open_request("return"),
    Action.APPROVE_RETURN: _decide("return", True),
    Action.REJECT_RETURN: _decide("return", False),
    Action.REQUEST_EXTENSION: _open_request("extension"),
    Action.APPROVE_EXTENSION: _decide("extension", True),
    Action.REJECT_EXTENSION: _decide("extension", False),
    Action.REQUEST_SUSPEND: _open_request("suspend"),
    Action.APPROVE_SUSPEND: _decide("suspend", True),
    Action.REJECT_SUSPEND: _decide("suspend", False),
    Action.RESUME: _nothing,
    Action.REPORT_DONE: _nothing,
    Action.CHECK_PASS: _nothing,
    Action.CHECK_FAIL: _check_fail,
    Action.CLOSE: _nothing,
    Action.REOPEN: _reopen,
    Action.VOID: _nothing,
    Action.PLACE: _place,
    Action.URGE: _urge,
    Action.RECORD_CALLBACK: _record_callback,
}
assert set(_APPLY) == set(TRANSITIONS), "every action needs its effect"


def _int(value: Any, field_name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{field_name} must be an integer id", {field_name: "not an id"}
        ) from None


def _parse_due(raw: Any, now: datetime) -> datetime:
    if not raw:
        raise InvalidInput("an extension needs the new due time", {"due_at": "required"})
    try:
        due = datetime.fromisoformat(str(raw))
    except ValueError:
        raise InvalidInput(
            "due_at must be an ISO 8601 date-time", {"due_at": "not a date-time"}
        ) from None
    if due.tzinfo is None:
        from core.i18n import SHANGHAI

        due = due.replace(tzinfo=SHANGHAI)  # people type local time
    if due <= now:
        raise InvalidInput("the new due time must be in the future", {"due_at": "in the past"})
    return due


def _schedule_auto_dispatch(session: Session, case: Case, outcome: Outcome) -> None:
    """After the commit, let the system dispatch the case to the proposed owner."""
    from dispatch.jobs import auto_dispatch

    if case.needs_placement:
        return
    case_id = case.id
    after_commit(session, lambda: auto_dispatch(case_id))
    outcome.side_effects.append("auto_dispatch")


# ---------------------------------------------------------------------------- replay
@dataclass
class Snapshot:
    """The parts of a case that its event log determines."""

    state: str | None = None
    owner_officer_id: int | None = None
    owner_department_id: int | None = None
    rework_count: int = 0
    category_id: int | None = None
    filing_condition_id: int | None = None
    grid_code: str | None = None
    duplicate_of_id: int | None = None
    version: int = 0


def replay(events: Iterable[CaseEvent]) -> Snapshot:
    """Rebuild a case's state from its events alone (each event's ``data`` says what changed)."""
    snap = Snapshot()
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            raise ValueError(f"event log has a gap at {expected_seq}")
        if snap.state is not None and ev.from_state != snap.state:
            raise ValueError(f"event {ev.seq} starts from {ev.from_state}, log was at {snap.state}")
        expected_seq += 1
        d = ev.data or {}
        action = ev.action
        if action == Action.DISPATCH:
            snap.owner_officer_id = d.get("owner_officer_id")
            snap.owner_department_id = d.get("owner_department_id")
        elif "previous_owner" in d:  # approved return, reopen
            snap.owner_officer_id = snap.owner_department_id = None
        if action == Action.CHECK_FAIL:
            snap.rework_count = d.get("rework_count", snap.rework_count + 1)
        if action == Action.FILE:
            snap.category_id = d.get("category_id")
            snap.filing_condition_id = d.get("filing_condition_id")
        if action in (Action.REPORT, Action.PLACE) and "grid_code" in d:
            snap.grid_code = d.get("grid_code")
        if action == Action.REPORT and "category_id" in d:
            snap.category_id = d.get("category_id")
            snap.filing_condition_id = d.get("filing_condition_id")
        if action == Action.MERGE:
            snap.duplicate_of_id = d.get("duplicate_of_id")
        snap.state = ev.to_state
        snap.version += 1
    return snap
