"""The case workflow (DOMAIN.md §5) from tables: whole paths, every forbidden edge, payload
checks, the database's own CHECK constraints, idempotent intake and case numbers.

Service level: ``dispatch.workflow.perform`` inside the test's rolled-back transaction. Nothing
here commits (so no auto-dispatch runs) except the auto-dispatch tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.i18n import SHANGHAI
from dispatch.access import SYSTEM, Actor
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.intake import Report, create_case
from dispatch.models import Case, CaseCaller, CaseRequest, Category, RoutingRule
from dispatch.models.cases import CaseState, Placement, Source
from dispatch.models.people import Role
from dispatch.workflow import NOTE_REQUIRED, TRANSITIONS, Action, perform
from tests.workflow_helpers import (
    PATHS,
    STAMPS,
    USER_ROLES,
    World,
    act,
    advance_to,
    assert_replay_matches,
    build_world,
    default_data,
    default_note,
    event_count,
    events_of,
    forbidden_edges,
    new_case,
    prepare_for,
    sorted_actions,
)

A = Action
S = CaseState


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session)


def _snapshot(session: Session, case: Case) -> tuple[Any, ...]:
    session.refresh(case)
    return (
        case.state,
        case.version,
        case.owner_officer_id,
        case.owner_department_id,
        case.rework_count,
        case.updated_at,
        event_count(session, case),
        len(session.scalars(select(CaseRequest).where(CaseRequest.case_id == case.id)).all()),
    )


# ----------------------------------------------------------------------------- (a) whole paths
# A step is (action, who, options): who None = the natural actor (the owner for owner-only
# actions); options: "data" (a dict, or a function of (world, ctx)), "note", and "then" (the
# expected attributes right after the step; values may be functions of (world, ctx)).
Value = Any | Callable[[World, dict[str, Any]], Any]


def officer(w: World, _ctx: dict[str, Any]) -> int:
    return w.grid.officer_id


def department(w: World, _ctx: dict[str, Any]) -> int:
    return w.department.id


def to_department(w: World, _ctx: dict[str, Any]) -> dict[str, Any]:
    return {"department_id": w.department.id, "reason": "垃圾量大，环卫处处置"}


def into_target(_w: World, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"duplicate_of": ctx["target"].number}


def target_id(_w: World, ctx: dict[str, Any]) -> int:
    return ctx["target"].id


def place_in_grid(w: World, _ctx: dict[str, Any]) -> dict[str, Any]:
    return dict(w.grid.point)


def grid_code(w: World, _ctx: dict[str, Any]) -> str:
    return w.grid.code


TO_WORK = [(A.ACCEPT_REPORT, None), (A.FILE, None), (A.DISPATCH, None), (A.ACCEPT, None)]
FINISH = [(A.REPORT_DONE, None), (A.CHECK_PASS, None), (A.CLOSE, None)]
ALL_BUT_VOID = set(STAMPS) - {"voided_at"}
BEFORE_FILING = {"filed_at", "dispatched_at", "accepted_at", "done_at", "checked_at", "closed_at"}

# (id, placed, steps, final state, final attributes, stamps set, stamps not set)
FLOWS: list[tuple[str, bool, list[tuple[Any, ...]], CaseState, dict[str, Value], set, set]] = [
    (
        "file-directly-and-close",
        True,
        [*TO_WORK, *FINISH],
        S.CLOSED,
        {"owner_officer_id": officer, "owner_department_id": None, "rework_count": 0},
        ALL_BUT_VOID,
        {"voided_at"},
    ),
    (
        "verified-then-closed",
        True,
        [
            (A.SEND_TO_VERIFY, "operator", {"then": {"state": S.TO_VERIFY}}),
            (A.VERIFY_TRUE, "inspector", {"then": {"state": S.TO_FILE}}),
            (A.FILE, "shift_supervisor", {"then": {"state": S.TO_DISPATCH}}),
            (A.DISPATCH, "dispatcher", {"then": {"state": S.TO_ACCEPT}}),
            (A.ACCEPT, "officer", {"then": {"state": S.IN_PROGRESS}}),
            (A.REPORT_DONE, "officer", {"then": {"state": S.TO_CHECK}}),
            (A.CHECK_PASS, "inspector", {"then": {"state": S.TO_CLOSE}}),
            (A.CLOSE, "shift_supervisor"),
        ],
        S.CLOSED,
        {"owner_officer_id": officer},
        ALL_BUT_VOID,
        {"voided_at"},
    ),
    (
        "verify-false-voids",
        True,
        [(A.SEND_TO_VERIFY, "operator"), (A.VERIFY_FALSE, "inspector", {"note": "现场无垃圾"})],
        S.VOID,
        {"owner_officer_id": None},
        {"voided_at"},
        BEFORE_FILING | {"verified_at"},
    ),
    (
        "refuse-voids",
        True,
        [(A.ACCEPT_REPORT, "operator"), (A.REFUSE, "shift_supervisor", {"note": "不属于受理范围"})],
        S.VOID,
        {"category_id": None},
        {"voided_at", "verified_at"},
        BEFORE_FILING,
    ),
    (
        "mark-invalid",
        True,
        [(A.MARK_INVALID, "operator", {"note": "骚扰电话"})],
        S.VOID,
        {},
        {"voided_at"},
        BEFORE_FILING | {"verified_at"},
    ),
    (
        "merge-into-open-case",
        True,
        [(A.MERGE, "operator", {"data": into_target})],
        S.MERGED,
        {"duplicate_of_id": target_id},
        set(),
        set(STAMPS),
    ),
    (
        "merge-from-to-file",
        True,
        [
            (A.ACCEPT_REPORT, "shift_supervisor"),
            (A.MERGE, "shift_supervisor", {"data": into_target}),
        ],
        S.MERGED,
        {"duplicate_of_id": target_id},
        {"verified_at"},
        BEFORE_FILING,
    ),
    (
        "rework-then-close",
        True,
        [
            *TO_WORK,
            (A.REPORT_DONE, None),
            (
                A.CHECK_FAIL,
                "inspector",
                {
                    "note": "垃圾未清运干净",
                    "then": {"state": S.IN_PROGRESS, "rework_count": 1, "done_at": None},
                },
            ),
            *FINISH,
        ],
        S.CLOSED,
        {"rework_count": 1, "owner_officer_id": officer},
        ALL_BUT_VOID,
        {"voided_at"},
    ),
    (
        "return-approved-then-redispatched",
        True,
        [
            *TO_WORK,
            (A.REQUEST_RETURN, "officer", {"note": "不是本网格的问题"}),
            (
                A.APPROVE_RETURN,
                "shift_supervisor",
                {
                    "then": {
                        "state": S.TO_DISPATCH,
                        "owner_officer_id": None,
                        "owner_department_id": None,
                    }
                },
            ),
            (A.DISPATCH, "dispatcher", {"data": to_department}),
        ],
        S.TO_ACCEPT,
        {"owner_officer_id": None, "owner_department_id": department},
        {"verified_at", "filed_at", "dispatched_at"},
        {"done_at", "checked_at", "closed_at", "voided_at"},
    ),
    (
        "return-from-to-accept",
        True,
        [
            (A.ACCEPT_REPORT, None),
            (A.FILE, None),
            (A.DISPATCH, None),
            (A.REQUEST_RETURN, "officer", {"note": "派错了"}),
            (A.APPROVE_RETURN, "shift_supervisor"),
        ],
        S.TO_DISPATCH,
        {"owner_officer_id": None, "owner_department_id": None},
        {"verified_at", "filed_at", "dispatched_at"},
        {"accepted_at", "done_at", "checked_at", "closed_at", "voided_at"},
    ),
    (
        "return-rejected",
        True,
        [
            *TO_WORK,
            (A.REQUEST_RETURN, "officer", {"note": "不是本网格的问题"}),
            (A.REJECT_RETURN, "shift_supervisor", {"note": "就在本网格内"}),
        ],
        S.IN_PROGRESS,
        {"owner_officer_id": officer},
        {"verified_at", "filed_at", "dispatched_at", "accepted_at"},
        {"done_at", "checked_at", "closed_at", "voided_at"},
    ),
    (
        "extension-approved",
        True,
        [
            *TO_WORK,
            (A.REQUEST_EXTENSION, "officer", {"note": "需要调车"}),
            (A.APPROVE_EXTENSION, "shift_supervisor"),
        ],
        S.IN_PROGRESS,
        {"owner_officer_id": officer},
        {"accepted_at"},
        {"done_at", "closed_at"},
    ),
    (
        "extension-rejected-by-leader",
        True,
        [
            *TO_WORK,
            (A.REQUEST_EXTENSION, "officer", {"note": "需要调车"}),
            (A.REJECT_EXTENSION, "leader", {"note": "时限内可以完成"}),
        ],
        S.IN_PROGRESS,
        {"extended_due_at": None},
        {"accepted_at"},
        {"done_at", "closed_at"},
    ),
    (
        "suspend-approved-then-resumed",
        True,
        [
            *TO_WORK,
            (A.REQUEST_SUSPEND, "officer", {"note": "道路施工期间无法清运"}),
            (A.APPROVE_SUSPEND, "leader", {"then": {"state": S.SUSPENDED}}),
            (A.RESUME, "leader", {"then": {"state": S.IN_PROGRESS}}),
            *FINISH,
        ],
        S.CLOSED,
        {"owner_officer_id": officer},
        ALL_BUT_VOID,
        {"voided_at"},
    ),
    (
        "suspend-rejected",
        True,
        [
            *TO_WORK,
            (A.REQUEST_SUSPEND, "officer", {"note": "道路施工"}),
            (A.REJECT_SUSPEND, "leader", {"note": "不影响处置"}),
        ],
        S.IN_PROGRESS,
        {"owner_officer_id": officer},
        {"accepted_at"},
        {"done_at", "closed_at"},
    ),
    (
        "reopen-after-close-then-redispatched",
        True,
        [
            *TO_WORK,
            *FINISH,
            (
                A.REOPEN,
                "operator",
                {
                    "note": "市民回访不满意",
                    "then": {
                        "state": S.TO_DISPATCH,
                        "owner_officer_id": None,
                        "closed_at": None,
                        "checked_at": None,
                    },
                },
            ),
            (A.DISPATCH, "dispatcher"),
        ],
        S.TO_ACCEPT,
        {"owner_officer_id": officer},
        {"verified_at", "filed_at", "dispatched_at", "accepted_at"},
        {"checked_at", "closed_at", "voided_at"},
    ),
    (
        "void-from-to-dispatch",
        True,
        [(A.ACCEPT_REPORT, None), (A.FILE, None), (A.VOID, "shift_supervisor", {"note": "重复"})],
        S.VOID,
        {"owner_officer_id": None},
        {"verified_at", "filed_at", "voided_at"},
        {"dispatched_at", "accepted_at", "done_at", "checked_at", "closed_at"},
    ),
    (
        "admin-voids-a-report",
        True,
        [(A.VOID, "admin", {"note": "测试数据"})],
        S.VOID,
        {},
        {"voided_at"},
        BEFORE_FILING | {"verified_at"},
    ),
    (
        "place-an-unplaced-case-then-dispatch",
        False,
        [
            (A.ACCEPT_REPORT, "operator", {"then": {"grid_code": None, "placement": "pending"}}),
            (A.FILE, "shift_supervisor", {"then": {"state": S.TO_DISPATCH}}),
            (
                A.PLACE,
                "dispatcher",
                {
                    "data": place_in_grid,
                    "then": {
                        "state": S.TO_DISPATCH,
                        "placement": Placement.MANUAL,
                        "grid_code": grid_code,
                    },
                },
            ),
            (A.DISPATCH, "dispatcher"),
        ],
        S.TO_ACCEPT,
        {"owner_officer_id": officer, "grid_code": grid_code, "placement": Placement.MANUAL},
        {"verified_at", "filed_at", "dispatched_at"},
        {"accepted_at", "closed_at"},
    ),
    (
        "department-handles-and-closes",
        True,
        [
            (A.ACCEPT_REPORT, None),
            (A.FILE, None),
            (A.DISPATCH, "dispatcher", {"data": to_department}),
            (A.ACCEPT, "department"),
            (A.REPORT_DONE, "department"),
            (A.CHECK_PASS, "inspector"),
            (A.CLOSE, "shift_supervisor"),
        ],
        S.CLOSED,
        {"owner_officer_id": None, "owner_department_id": department},
        ALL_BUT_VOID,
        {"voided_at"},
    ),
    (
        "system-dispatches",
        True,
        [(A.ACCEPT_REPORT, None), (A.FILE, None), (A.DISPATCH, "system")],
        S.TO_ACCEPT,
        {"owner_officer_id": officer},
        {"verified_at", "filed_at", "dispatched_at"},
        {"accepted_at"},
    ),
]

#: The stamp a state sets when a case enters it, and whether the first entry counts; the
#: acceptance is the last ACCEPT (entering in_progress by resume or rework does not count).
STAMP_OF_STATE = {
    "verified_at": (S.TO_FILE, False),
    "filed_at": (S.TO_DISPATCH, True),
    "dispatched_at": (S.TO_ACCEPT, False),
    "accepted_at": (S.IN_PROGRESS, False),
    "done_at": (S.TO_CHECK, False),
    "checked_at": (S.TO_CLOSE, False),
    "closed_at": (S.CLOSED, False),
    "voided_at": (S.VOID, False),
}


def _stamp_times(events: list[Any], stamp: str) -> list[datetime]:
    state, _first = STAMP_OF_STATE[stamp]
    if stamp == "accepted_at":
        return [e.at for e in events if e.action == A.ACCEPT]
    return [e.at for e in events if e.to_state == state and e.from_state != state]


def _resolve(value: Value, world: World, ctx: dict[str, Any]) -> Any:
    return value(world, ctx) if callable(value) else value


def _check_attrs(case: Case, expected: dict[str, Value], world: World, ctx: dict[str, Any]):
    for name, value in expected.items():
        assert getattr(case, name) == _resolve(value, world, ctx), name


@pytest.mark.parametrize(
    ("placed", "steps", "final", "attrs", "stamped", "unstamped"),
    [row[1:] for row in FLOWS],
    ids=[row[0] for row in FLOWS],
)
def test_flow(
    db_session: Session,
    world: World,
    placed: bool,
    steps: list[tuple[Any, ...]],
    final: CaseState,
    attrs: dict[str, Value],
    stamped: set[str],
    unstamped: set[str],
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ctx: dict[str, Any] = {"target": new_case(db_session, world, phone="13900001111")}
    case = new_case(db_session, world, placed=placed, now=base)
    for i, (action, who, *rest) in enumerate(steps):
        opts = rest[0] if rest else {}
        data = opts.get("data")
        act(
            db_session,
            world,
            case,
            action,
            who,
            note=opts.get("note"),
            data=data(world, ctx) if callable(data) else data,
            now=base + timedelta(minutes=i + 1),
        )
        _check_attrs(case, opts.get("then", {}), world, ctx)

    db_session.refresh(case)
    assert case.state == final
    events = events_of(db_session, case)
    assert [e.action for e in events] == ["report", *[str(step[0]) for step in steps]]
    assert [e.seq for e in events] == list(range(1, len(steps) + 2))
    assert events[-1].to_state == final
    assert all(e.from_state == p.to_state for p, e in pairwise(events))
    assert case.updated_at == events[-1].at
    assert_replay_matches(db_session, case)
    # The case's own ``events`` relationship gives the same log (the case page replays it).
    assert [e.id for e in case.events] == [e.id for e in events]
    _check_attrs(case, attrs, world, ctx)
    for stamp in stamped:
        entering = _stamp_times(events, stamp)
        assert entering, f"{stamp}: the case never entered {STAMP_OF_STATE[stamp][0]}"
        first = STAMP_OF_STATE[stamp][1]
        assert getattr(case, stamp) == (entering[0] if first else entering[-1]), stamp
    for stamp in unstamped:
        assert getattr(case, stamp) is None, stamp


def test_merge_moves_callers_and_keeps_the_target_open(db_session: Session, world: World) -> None:
    target = new_case(db_session, world, phone="13900001111", name="李女士")
    dup = new_case(db_session, world, phone="13800002222", name="王先生")
    outcome = act(db_session, world, dup, A.MERGE, data={"duplicate_of": target.number})
    assert outcome.event.data["callers_moved"] == 1
    db_session.refresh(target)
    db_session.refresh(dup)
    assert dup.state == S.MERGED and dup.duplicate_of_id == target.id
    assert target.state == S.REPORTED and target.duplicate_of_id is None
    callers = db_session.scalars(
        select(CaseCaller).where(CaseCaller.case_id == target.id).order_by(CaseCaller.id)
    ).all()
    assert [(c.phone, c.from_case_id) for c in callers] == [
        ("13900001111", None),
        ("13800002222", dup.id),
    ]
    assert_replay_matches(db_session, dup)
    # The duplicate cannot take a merge of its own, and nothing can be merged into it.
    other = new_case(db_session, world)
    with pytest.raises(InvalidInput) as err:
        act(db_session, world, other, A.MERGE, data={"duplicate_of": dup.number})
    assert err.value.fields == {"duplicate_of": "not open"}


@pytest.mark.parametrize(
    ("target_state", "field"),
    [(S.CLOSED, "not open"), (S.VOID, "not open"), (None, "same case"), ("", "required")],
)
def test_merge_target_must_be_another_open_case(
    db_session: Session, world: World, target_state: CaseState | str | None, field: str
) -> None:
    case = new_case(db_session, world)
    if target_state is None:
        ref = case.number
    elif target_state == "":
        ref = ""
    else:
        ref = advance_to(db_session, world, CaseState(target_state)).number
    before = _snapshot(db_session, case)
    with pytest.raises(InvalidInput) as err:
        act(db_session, world, case, A.MERGE, data={"duplicate_of": ref})
    assert err.value.fields == {"duplicate_of": field}
    assert _snapshot(db_session, case) == before


def test_extension_sets_extended_due_at(db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS)
    due = (datetime.now(SHANGHAI) + timedelta(days=2)).replace(microsecond=0, tzinfo=None)
    act(db_session, world, case, A.REQUEST_EXTENSION, data={"due_at": due.isoformat()})
    request = case.pending_request("extension")
    assert request is not None
    # A local time without an offset is Asia/Shanghai time.
    assert request.requested_due_at == due.replace(tzinfo=SHANGHAI)
    act(db_session, world, case, A.APPROVE_EXTENSION)
    db_session.refresh(case)
    assert case.extended_due_at == due.replace(tzinfo=SHANGHAI)
    assert case.pending_request("extension") is None
    assert request.decision == "approved" and request.decided_at is not None


@pytest.mark.parametrize(
    "due",
    ["", "2020-01-01T08:00:00+08:00", "not a date"],
    ids=["missing", "in-the-past", "garbage"],
)
def test_extension_needs_a_future_due_time(db_session: Session, world: World, due: str) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS)
    before = _snapshot(db_session, case)
    with pytest.raises(InvalidInput) as err:
        act(db_session, world, case, A.REQUEST_EXTENSION, data={"due_at": due})
    assert set(err.value.fields) == {"due_at"}
    assert _snapshot(db_session, case) == before


def test_auto_dispatch_after_commit(app: Flask, db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    outcome = act(db_session, world, case, A.FILE)
    assert outcome.side_effects == ["auto_dispatch"]
    db_session.commit()  # a savepoint release here; after-commit hooks run all the same
    db_session.refresh(case)
    assert case.state == S.TO_ACCEPT
    assert case.owner_officer_id == world.grid.officer_id
    last = events_of(db_session, case)[-1]
    assert (last.action, last.actor_role, last.actor_user_id) == ("dispatch", "system", None)
    assert last.data["automatic"] is True and last.data["overridden"] is False
    assert_replay_matches(db_session, case)


def test_no_auto_dispatch_when_switched_off(app: Flask, db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    app.config["AUTO_DISPATCH"] = False
    try:
        act(db_session, world, case, A.FILE)
        db_session.commit()
    finally:
        app.config["AUTO_DISPATCH"] = True
    db_session.refresh(case)
    assert case.state == S.TO_DISPATCH and case.owner_officer_id is None


# SQLAlchemy fires after_commit / after_rollback for SAVEPOINTs too; side effects must wait for
# (or be dropped by) the real commit / rollback only.
def test_auto_dispatch_waits_for_the_real_commit(db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    act(db_session, world, case, A.FILE)  # queues the auto-dispatch for after the commit
    new_case(db_session, world)  # intake releases a savepoint of its own: not a commit
    db_session.refresh(case)
    # (In production the job's own connection would not even see the filing yet.)
    assert case.state == S.TO_DISPATCH
    db_session.commit()
    db_session.refresh(case)
    assert case.state == S.TO_ACCEPT


def test_a_rolled_back_savepoint_keeps_earlier_side_effects(
    db_session: Session, world: World
) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    act(db_session, world, case, A.FILE)
    with pytest.raises(ValueError), db_session.begin_nested():
        raise ValueError("some unrelated step fails and is rolled back to its savepoint")
    db_session.commit()
    db_session.refresh(case)
    assert case.state == S.TO_ACCEPT


def test_routing_rule_names_the_department(db_session: Session, world: World) -> None:
    db_session.add(
        RoutingRule(
            category_id=world.category.id,
            district_code=world.grid.district,
            handler="department",
            department_id=world.department.id,
        )
    )
    db_session.flush()
    case = advance_to(db_session, world, S.TO_DISPATCH)
    outcome = act(db_session, world, case, A.DISPATCH)
    assert case.owner_department_id == world.department.id and case.owner_officer_id is None
    assert outcome.event.data["overridden"] is False
    # The rule is per district: in another district the grid's officer is proposed.
    far = advance_to(db_session, world, S.TO_DISPATCH, grid=world.far_grid)
    act(db_session, world, far, A.DISPATCH)
    assert far.owner_officer_id == world.far_grid.officer_id


# ------------------------------------------------------------------- (b) what must not happen
def _allowed_actor(world: World, case: Case, action: Action) -> Actor:
    """An in-scope actor whose role the edge admits (the owner when there is one)."""
    edge = TRANSITIONS[action]
    if edge.owner_only:
        return world.actor("department" if case.owner_department_id else "officer")
    role = min((r for r in edge.roles if r is not Role.SYSTEM), key=list(Role).index)
    return world.actor(next(k for k, r in USER_ROLES.items() if r is role))


FORBIDDEN = forbidden_edges()


def test_forbidden_table_is_the_complement_of_transitions() -> None:
    allowed = sum(len(edge.sources) for edge in TRANSITIONS.values())
    assert len(FORBIDDEN) + allowed == len(TRANSITIONS) * len(CaseState)
    assert (A.CLOSE, S.REPORTED) in FORBIDDEN and (A.CLOSE, S.TO_CLOSE) not in FORBIDDEN
    assert A.REPORT not in TRANSITIONS  # the creation event is intake's alone


@pytest.mark.parametrize("state", list(CaseState), ids=str)
def test_forbidden_edges_conflict_and_change_nothing(
    db_session: Session, world: World, state: CaseState
) -> None:
    case = advance_to(db_session, world, state)
    before = _snapshot(db_session, case)
    tried = []
    for action in [a for a, s in FORBIDDEN if s is state]:
        with pytest.raises(Conflict) as err:
            perform(
                db_session,
                case.id,
                action,
                _allowed_actor(world, case, action),
                note=default_note(action) or "说明",
                data=default_data(world, action),
            )
        assert err.value.extra == {"current_state": state, "current_version": case.version}
        assert _snapshot(db_session, case) == before, action
        tried.append(action)
    assert len(tried) == sum(1 for e in TRANSITIONS.values() if state not in e.sources)


@pytest.mark.parametrize("action", sorted_actions(), ids=str)
def test_wrong_roles_are_forbidden(db_session: Session, world: World, action: Action) -> None:
    case = prepare_for(db_session, world, action)
    before = _snapshot(db_session, case)
    edge = TRANSITIONS[action]
    for role in Role:
        if role in edge.roles:
            continue
        keys = [k for k, r in USER_ROLES.items() if r is role]
        actors = [SYSTEM] if role is Role.SYSTEM else [world.actor(k) for k in keys]
        for actor in actors:
            with pytest.raises(Forbidden):
                perform(
                    db_session,
                    case.id,
                    action,
                    actor,
                    note="说明",
                    data=default_data(world, action),
                )
    assert _snapshot(db_session, case) == before


@pytest.mark.parametrize(
    "action",
    sorted_actions(a for a in TRANSITIONS if TRANSITIONS[a].owner_only),
    ids=str,
)
def test_owner_only_actions_refuse_other_owners(
    db_session: Session, world: World, action: Action
) -> None:
    for owner, intruder in (("officer", "other_officer"), ("department", "other_department")):
        case = prepare_for(db_session, world, action, to_department=owner == "department")
        before = _snapshot(db_session, case)
        with pytest.raises(Forbidden):
            act(db_session, world, case, action, intruder)
        assert _snapshot(db_session, case) == before
        act(db_session, world, case, action, owner)


@pytest.mark.parametrize("action", sorted_actions(NOTE_REQUIRED), ids=str)
def test_missing_note_is_invalid(db_session: Session, world: World, action: Action) -> None:
    case = prepare_for(db_session, world, action)
    before = _snapshot(db_session, case)
    for note in ("", "   \n"):
        with pytest.raises(InvalidInput) as err:
            act(db_session, world, case, action, note=note)
        assert err.value.fields == {"note": "required"}
        assert _snapshot(db_session, case) == before
    act(db_session, world, case, action, note="理由")
    assert case.version == before[1] + 1


def test_dispatch_override_needs_a_reason(db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_DISPATCH)
    before = _snapshot(db_session, case)
    other = {"officer_id": world.near_grid.officer_id}
    for data in (other, {**other, "reason": "  "}, {"department_id": world.department.id}):
        with pytest.raises(InvalidInput) as err:
            act(db_session, world, case, A.DISPATCH, data=data)
        assert err.value.fields == {"reason": "required"}
        assert _snapshot(db_session, case) == before
    with pytest.raises(InvalidInput) as err:
        act(db_session, world, case, A.DISPATCH, data={**other, "department_id": 1, "reason": "x"})
    assert err.value.fields == {"owner": "ambiguous"}
    outcome = act(db_session, world, case, A.DISPATCH, data={**other, "reason": "临时代班"})
    assert outcome.event.data["overridden"] is True
    assert outcome.event.data["reason"] == "临时代班"
    assert outcome.event.data["proposed"] == {
        "officer_id": world.grid.officer_id,
        "department_id": None,
    }
    assert case.owner_officer_id == world.near_grid.officer_id
    assert_replay_matches(db_session, case)


def test_dispatch_of_an_unplaced_case_is_invalid(db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.TO_DISPATCH, placed=False)
    with pytest.raises(InvalidInput) as err:
        act(db_session, world, case, A.DISPATCH, data={"officer_id": world.grid.officer_id})
    assert err.value.fields == {"location": "pending"}


def test_place_is_for_unplaced_cases_inside_a_grid(db_session: Session, world: World) -> None:
    placed = new_case(db_session, world)
    with pytest.raises(Conflict):
        act(db_session, world, placed, A.PLACE)
    unplaced = new_case(db_session, world, placed=False)
    assert (unplaced.placement, unplaced.grid_id, unplaced.grid_code) == ("pending", None, None)
    before = _snapshot(db_session, unplaced)
    for data in ({}, {"lng": 0.0, "lat": 0.0}, {"lng": 500, "lat": 26.9}):
        with pytest.raises(InvalidInput):
            act(db_session, world, unplaced, A.PLACE, data=data)
        assert _snapshot(db_session, unplaced) == before
    act(db_session, world, unplaced, A.PLACE, "shift_supervisor")
    assert unplaced.placement == Placement.MANUAL
    assert (unplaced.grid_code, unplaced.district_code) == (world.grid.code, world.grid.district)
    assert_replay_matches(db_session, unplaced)


def test_file_with_a_condition_of_another_category_is_invalid(
    db_session: Session, world: World
) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    before = _snapshot(db_session, case)
    for data, field in (
        ({"category_id": world.category.id, "filing_condition_id": world.other_condition.id},
         "filing_condition_id"),
        ({"category_id": -1}, "category_id"),
        ({}, "category_id"),
        ({"category_id": "abc"}, "category_id"),
    ):  # fmt: skip
        with pytest.raises(InvalidInput) as err:
            act(db_session, world, case, A.FILE, data=data)
        assert set(err.value.fields) == {field}
        assert _snapshot(db_session, case) == before
    data = {"category_id": world.other_category.id, "filing_condition_id": world.other_condition.id}
    act(db_session, world, case, A.FILE, data=data)
    assert case.category_id == world.other_category.id
    assert case.urgency == world.other_condition.urgency == "urgent"
    assert_replay_matches(db_session, case)


@pytest.mark.parametrize(
    "action", sorted_actions(a for a in TRANSITIONS if TRANSITIONS[a].needs_request), ids=str
)
def test_deciding_without_a_pending_request_conflicts(
    db_session: Session, world: World, action: Action
) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS)
    before = _snapshot(db_session, case)
    with pytest.raises(Conflict):
        act(db_session, world, case, action)
    assert _snapshot(db_session, case) == before
    # Once decided, the request is no longer pending: a second decision conflicts too.
    kind = TRANSITIONS[action].needs_request
    act(db_session, world, case, f"request_{kind}")
    act(db_session, world, case, action)
    if case.state == S.IN_PROGRESS:
        with pytest.raises(Conflict):
            act(db_session, world, case, action)


@pytest.mark.parametrize("kind", ["return", "extension", "suspend"])
def test_a_second_open_request_of_a_kind_conflicts(
    db_session: Session, world: World, kind: str
) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS)
    act(db_session, world, case, f"request_{kind}")
    before = _snapshot(db_session, case)
    with pytest.raises(Conflict):
        act(db_session, world, case, f"request_{kind}")
    assert _snapshot(db_session, case) == before


@pytest.mark.parametrize("offset", [-1, +1, -100])
def test_stale_expected_version_conflicts_and_changes_nothing(
    db_session: Session, world: World, offset: int
) -> None:
    case = advance_to(db_session, world, S.TO_FILE)
    before = _snapshot(db_session, case)
    with pytest.raises(Conflict) as err:
        act(db_session, world, case, A.FILE, expected_version=case.version + offset)
    assert err.value.extra["current_version"] == before[1]
    assert _snapshot(db_session, case) == before
    act(db_session, world, case, A.FILE, expected_version=before[1])
    assert case.version == before[1] + 1 and case.state == S.TO_DISPATCH


def test_unknown_and_internal_actions_are_invalid(db_session: Session, world: World) -> None:
    case = new_case(db_session, world)
    before = _snapshot(db_session, case)
    for action in ("teleport", "report"):
        with pytest.raises(InvalidInput):
            perform(db_session, case.id, action, world.actor("operator"))
    with pytest.raises(NotFound):
        perform(db_session, -1, A.ACCEPT_REPORT, world.actor("operator"))
    assert _snapshot(db_session, case) == before


def test_out_of_scope_actor_gets_not_found(db_session: Session, world: World) -> None:
    from tests.workflow_helpers import quick_user

    user = quick_user(
        db_session, "wf-far-operator", Role.OPERATOR, scope_kind="district",
        scope_code=world.far_grid.district,
    )  # fmt: skip
    case = new_case(db_session, world)
    before = _snapshot(db_session, case)
    with pytest.raises(NotFound):
        perform(db_session, case.id, A.ACCEPT_REPORT, Actor(user, Role.OPERATOR))
    # Acting in a role the user does not hold reaches nothing either.
    with pytest.raises(NotFound):
        perform(db_session, case.id, A.ACCEPT_REPORT, Actor(user, Role.SHIFT_SUPERVISOR))
    assert _snapshot(db_session, case) == before


# ------------------------------------------------------------ (c) the database's own guarantees
def _bad(**values: Any) -> Callable[[World, Case], dict[str, Any]]:
    return lambda _w, _c: values


# (id, state the case is brought to, the direct write that breaks a rule)
CONSTRAINTS: list[tuple[str, CaseState, Callable[[World, Case], dict[str, Any]]]] = [
    ("closed-without-closed_at", S.TO_CLOSE, _bad(state="closed")),
    ("closed-without-checked_at", S.TO_CHECK, lambda _w, c: {
        "state": "closed", "closed_at": c.updated_at}),
    ("in_progress-without-owner", S.TO_DISPATCH, _bad(state="in_progress")),
    ("to_accept-without-owner", S.TO_DISPATCH, _bad(state="to_accept")),
    ("suspended-without-owner", S.TO_FILE, _bad(state="suspended")),
    ("to_check-without-owner", S.TO_FILE, _bad(state="to_check")),
    ("owner-cleared-in_progress", S.IN_PROGRESS, _bad(owner_officer_id=None)),
    ("merged-without-duplicate_of", S.REPORTED, _bad(state="merged")),
    ("duplicate_of-cleared", S.MERGED, _bad(duplicate_of_id=None)),
    ("two-owner-kinds", S.IN_PROGRESS, lambda w, _c: {"owner_department_id": w.department.id}),
    ("unknown-state", S.REPORTED, _bad(state="lost")),
    ("unknown-source", S.REPORTED, _bad(source="pigeon")),
    ("negative-rework", S.IN_PROGRESS, _bad(rework_count=-1)),
    ("pending-with-grid", S.REPORTED, _bad(placement="pending")),
    ("placed-without-grid", S.REPORTED, _bad(grid_id=None)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("state", "values"), [row[1:] for row in CONSTRAINTS], ids=[row[0] for row in CONSTRAINTS]
)
def test_check_constraints_refuse_inconsistent_cases(
    db_session: Session,
    world: World,
    state: CaseState,
    values: Callable[[World, Case], dict[str, Any]],
) -> None:
    case = advance_to(db_session, world, state)
    change = values(world, case)
    # SQL straight to the table …
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(update(Case).where(Case.id == case.id).values(**change))
    # … and the ORM's unit of work.
    db_session.refresh(case)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        for name, value in change.items():
            setattr(case, name, value)
        db_session.flush()
    db_session.refresh(case)
    assert case.state == state
    assert_replay_matches(db_session, case)


def test_check_constraints_admit_consistent_writes(db_session: Session, world: World) -> None:
    """The control for the table above: a consistent direct write goes through."""
    case = advance_to(db_session, world, S.TO_CLOSE)
    with db_session.begin_nested():
        db_session.execute(
            update(Case).where(Case.id == case.id).values(state="closed", closed_at=case.updated_at)
        )
    db_session.refresh(case)
    assert case.state == "closed"


# ------------------------------------------------------------- (d) intake: once, and numbered
def test_create_case_is_idempotent(db_session: Session, world: World) -> None:
    def report() -> Report:
        return Report(
            source=Source.HOTLINE,
            description="井盖缺失",
            lng=world.grid.lng,
            lat=world.grid.lat,
            reporter_phone="13812345678",
            idempotency_key="wf-key-0001",
        )

    first, created = create_case(db_session, report(), world.actor("operator"))
    again, created_again = create_case(db_session, report(), world.actor("operator"))
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.number == first.number
    count = db_session.scalar(
        select(func.count()).select_from(Case).where(Case.idempotency_key == "wf-key-0001")
    )
    assert count == 1
    assert event_count(db_session, first) == 1
    other, created_other = create_case(
        db_session,
        Report(source=Source.HOTLINE, description="井盖缺失", idempotency_key="wf-key-0002"),
        world.actor("operator"),
    )
    assert created_other and other.id != first.id


def test_a_retry_is_answered_even_after_its_category_was_retired(
    db_session: Session, world: World
) -> None:
    """PostgreSQL answers a known key from the insert itself, after validation: a retry of an
    accepted report must not turn into an error because the catalogue changed meanwhile."""
    category = db_session.scalars(select(Category).where(Category.is_active.is_(True))).first()
    assert category is not None

    def report() -> Report:
        return Report(
            source=Source.INSPECTOR,
            description="垃圾满溢",
            lng=world.grid.lng,
            lat=world.grid.lat,
            category_id=category.id,
            idempotency_key="wf-key-retired-1",
        )

    first, created = create_case(db_session, report(), world.actor("inspector"))
    category.is_active = False
    db_session.flush()
    again, created_again = create_case(db_session, report(), world.actor("inspector"))
    assert (created, created_again, again.id) == (True, False, first.id)
    with pytest.raises(InvalidInput):  # a new report in the retired category is refused
        create_case(
            db_session,
            Report(source=Source.INSPECTOR, description="x", category_id=category.id),
            world.actor("inspector"),
        )


def test_new_case_has_report_event_and_placement(db_session: Session, world: World) -> None:
    case = new_case(db_session, world)
    assert (case.state, case.version, case.placement) == ("reported", 1, Placement.INSIDE)
    assert (case.grid_id, case.grid_code) == (world.grid.grid_id, world.grid.code)
    assert case.district_code == world.grid.code[:6]
    (event,) = events_of(db_session, case)
    assert (event.seq, event.action, event.from_state, event.to_state) == (
        1,
        "report",
        None,
        "reported",
    )
    assert event.data["grid_code"] == world.grid.code
    unplaced = new_case(db_session, world, placed=False)
    assert (unplaced.placement, unplaced.grid_code, unplaced.location) == ("pending", None, None)
    assert_replay_matches(db_session, case)
    assert_replay_matches(db_session, unplaced)


@pytest.mark.parametrize(
    ("utc", "local_day"),
    [
        (datetime(2031, 3, 1, 15, 59, 59, tzinfo=UTC), "20310301"),  # 23:59:59 in Shanghai
        (datetime(2031, 3, 1, 16, 0, 0, tzinfo=UTC), "20310302"),  # midnight in Shanghai
        (datetime(2031, 3, 1, 0, 30, 0, tzinfo=UTC), "20310301"),  # 08:30 in Shanghai
        (datetime(2031, 3, 1, 23, 59, 59, tzinfo=UTC), "20310302"),  # UTC is a day behind
        (datetime(2031, 3, 2, 0, 0, 1, tzinfo=UTC), "20310302"),
        (datetime(2031, 12, 31, 16, 0, 1, tzinfo=UTC), "20320101"),  # new year in Shanghai
    ],
)
def test_case_number_starts_with_the_shanghai_date(
    db_session: Session, world: World, utc: datetime, local_day: str
) -> None:
    case = new_case(db_session, world, now=utc)
    assert case.number.startswith(local_day)
    assert len(case.number) == 13 and case.number.isdigit()
    assert case.created_at == utc


def test_case_numbers_are_unique_and_sortable(db_session: Session, world: World) -> None:
    day1 = datetime(2031, 5, 1, 15, 0, tzinfo=UTC)
    day2 = datetime(2031, 5, 1, 16, 30, tzinfo=UTC)  # already 2 May in Shanghai
    numbers = [
        new_case(db_session, world, now=day1 + timedelta(seconds=i)).number for i in range(5)
    ]
    numbers += [
        new_case(db_session, world, now=day2 + timedelta(seconds=i)).number for i in range(3)
    ]
    assert len(set(numbers)) == len(numbers)
    assert numbers == sorted(numbers)
    assert {n[:8] for n in numbers[:5]} == {"20310501"}
    assert {n[:8] for n in numbers[5:]} == {"20310502"}
    seqs = [int(n[8:]) for n in numbers[:5]]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_paths_table_reaches_every_state(db_session: Session, world: World) -> None:
    """The helper paths used above really end in their states (with a consistent log)."""
    assert set(PATHS) == set(CaseState)
    for state in CaseState:
        case = advance_to(db_session, world, state)
        assert case.state == state
        assert_replay_matches(db_session, case)


# ---------------------------------------------------- regressions: requests and acceptance stamps
# A request waits only where it can still be decided: when the case moves on (done, returned,
# suspended), the others lapse; and the acceptance stamp is the current owner's.
def test_a_closed_case_has_no_pending_request(db_session: Session, world: World) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS, requests=("suspend",))
    for action in (A.REPORT_DONE, A.CHECK_PASS, A.CLOSE):
        act(db_session, world, case, action)
    assert case.state == S.CLOSED
    requests = db_session.scalars(select(CaseRequest).where(CaseRequest.case_id == case.id)).all()
    assert [r.kind for r in requests] == ["suspend"]
    assert requests[0].decision not in (None, "approved") and requests[0].decided_at is not None
    assert_replay_matches(db_session, case)


def test_new_owner_is_not_blocked_by_the_previous_owners_request(
    db_session: Session, world: World
) -> None:
    case = advance_to(db_session, world, S.IN_PROGRESS, requests=("extension", "return"))
    act(db_session, world, case, A.APPROVE_RETURN)
    act(db_session, world, case, A.DISPATCH, data={"department_id": world.department.id,
                                                   "reason": "归环卫处"})  # fmt: skip
    act(db_session, world, case, A.ACCEPT, "department")
    # The officer's extension request died with the return: nobody can approve it any more …
    with pytest.raises(Conflict):
        act(db_session, world, case, A.APPROVE_EXTENSION)
    # … and the department may ask its own.
    act(db_session, world, case, A.REQUEST_EXTENSION, "department")
    act(db_session, world, case, A.APPROVE_EXTENSION)
    assert case.extended_due_at is not None
    assert_replay_matches(db_session, case)


def test_accepted_at_is_the_current_owners_acceptance(db_session: Session, world: World) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    case = advance_to(db_session, world, S.TO_ACCEPT)
    steps = [
        (A.ACCEPT, None, None),
        (A.REQUEST_RETURN, None, None),
        (A.APPROVE_RETURN, None, None),
        (A.DISPATCH, "dispatcher", {"department_id": world.department.id, "reason": "环卫处"}),
        (A.ACCEPT, "department", None),
    ]
    for i, (action, who, data) in enumerate(steps):
        act(db_session, world, case, action, who, data=data, now=base + timedelta(minutes=i))
    assert case.dispatched_at == base + timedelta(minutes=3)
    assert case.accepted_at == base + timedelta(minutes=4)


def test_check_codes_use_the_whole_alphabet_at_every_position() -> None:
    """The public look-up's check code: 6 characters of an alphabet without look-alikes, each
    position uniform (one draw from the OS per code, spelt in base 31)."""
    from collections import Counter

    from dispatch.models.cases import CHECK_CODE_ALPHABET, new_check_code

    codes = [new_check_code() for _ in range(6000)]
    assert all(len(c) == 6 and set(c) <= set(CHECK_CODE_ALPHABET) for c in codes)
    assert len(set(codes)) > 5990  # 31^6 values: collisions among 6,000 are rare
    for position in range(6):
        counts = Counter(c[position] for c in codes)
        assert set(counts) == set(CHECK_CODE_ALPHABET)  # every character turns up …
        assert max(counts.values()) < 2 * min(counts.values())  # … about equally often
