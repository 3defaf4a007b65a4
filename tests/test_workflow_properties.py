"""Random sequences of actions by random people (right and wrong roles, in and out of scope) on
a few cases, through ``perform``; after every step the workflow's invariants must hold.

Each example runs in its own transaction on its own connection (like the ``connection``
fixture), rolled back in ``teardown``; the machine reaches the app through a module-level
reference, so no function-scoped fixture is shared between examples. Every attempt also runs in
a savepoint, as a request would, and its outcome must be the one ``expected_status`` (the
oracle written from the transition table and the scope rules) predicts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from core.db import database
from core.types import utcnow
from dispatch.access import SYSTEM, Actor
from dispatch.errors import WorkflowError
from dispatch.models import Case, CaseEvent, CaseRequest
from dispatch.models.cases import FINAL_STATES, CaseState
from dispatch.models.people import Role
from dispatch.workflow import NOTE_REQUIRED, TRANSITIONS, Action, perform, replay
from tests.workflow_helpers import (
    USER_ROLES,
    Facts,
    Who,
    build_world,
    default_data,
    events_of,
    expected_status,
    new_case,
    quick_user,
    sees,
    sorted_actions,
    status_of,
)

S = CaseState
ACTIONS = sorted_actions()
#: Actions that move a case on (the terminal ones are left to the other rules).
PROGRESS = [
    a
    for a in ACTIONS
    if a not in (Action.VOID, Action.MARK_INVALID, Action.MERGE, Action.REFUSE, Action.VERIFY_FALSE)
]
#: Where a pending request of each kind can be decided (the approve edge's sources).
DECIDABLE = {
    e.needs_request: e.sources for e in TRANSITIONS.values() if e.needs_request is not None
}
#: States in which a case has an owner (and outside which it has none).
OWNED = {S.TO_ACCEPT, S.IN_PROGRESS, S.SUSPENDED, S.TO_CHECK, S.TO_CLOSE, S.CLOSED}

_APP: Flask | None = None
#: (action, from state) of every successful attempt of the random runs, to show their reach.
REACHED: Counter[tuple[str, str]] = Counter()


class WorkflowMachine(RuleBasedStateMachine):
    """Four cases (three in grid A's district, one in another; one of A's unplaced) and
    eighteen actors, including district- and grid-scoped ones and the system."""

    def __init__(self) -> None:
        super().__init__()
        assert _APP is not None
        self.db = database(_APP)
        self.conn = self.db.engine.connect()
        self.outer = self.conn.begin()
        self.db.bind = self.conn
        self.app_ctx = _APP.app_context()
        self.app_ctx.push()
        self.session = self.db.new_session()
        s = self.session
        w = self.world = build_world(s, prefix="hm")
        self.actors: list[tuple[str, Actor, Who]] = []
        for key, role in USER_ROLES.items():
            self._add_actor(key, Actor(w.users[key], role))
        self._add_actor("system", SYSTEM)
        far, home = w.far_grid.district, w.grid.district
        scoped = [
            ("far-operator", Role.OPERATOR, "district", far, None, None),
            ("far-supervisor", Role.SHIFT_SUPERVISOR, "district", far, None, None),
            ("far-dispatcher", Role.DISPATCHER, "district", far, None, None),
            ("far-leader", Role.LEADER, "district", far, None, None),
            ("home-inspector", Role.INSPECTOR, "district", home, None, None),
            ("grid-c-inspector", Role.INSPECTOR, "grids", w.near_grid.code, None, None),
            ("officer-a-own-grids", Role.GRID_OFFICER, "grids", "", w.grid.officer_id, None),
            ("dept-own-cases", Role.DEPARTMENT_STAFF, "grids", "", None, w.department.id),
        ]
        for name, role, kind, code, officer_id, department_id in scoped:
            user = quick_user(
                s,
                f"hm-{name}",
                role,
                scope_kind=kind,
                scope_code=code,
                officer_id=officer_id,
                department_id=department_id,
            )
            self._add_actor(name, Actor(user, role))
        self.cases: list[Case] = [
            new_case(s, w, phone="13800000001"),
            new_case(s, w, phone="13800000002"),
            new_case(s, w, placed=False, phone="13800000003"),
            new_case(s, w, grid=w.far_grid, phone="13800000004"),
        ]
        self.steps = 0
        #: Each case's event log and requests, read once per step for all the invariants.
        self._logs: dict[int, tuple[list[CaseEvent], list[CaseRequest]]] = {}

    def _add_actor(self, name: str, actor: Actor) -> None:
        who = (
            Who(Role.SYSTEM) if actor.user is None else Who.of(self.session, actor.user, actor.role)
        )
        self.actors.append((name, actor, who))

    def teardown(self) -> None:
        try:
            self.session.close()
            self.app_ctx.pop()
        finally:
            self.db.bind = self.db.engine
            self.outer.rollback()
            self.conn.close()

    # ------------------------------------------------------------------------------ rules
    def _attempt(self, case: Case, action: Action, actor_i: int, note: bool, other: Case) -> None:
        self._logs.clear()
        name, actor, who = self.actors[actor_i]
        facts = Facts.of(case)
        placed = case.placement != "pending"
        want = expected_status(action, who, facts, note=note, placed=placed, api=False)
        data: dict[str, Any] = default_data(self.world, action, utcnow())
        if action is Action.MERGE:
            data = {"duplicate_of": other.number}
            target_ok = (
                other.id != case.id
                and CaseState(other.state) not in FINAL_STATES
                and other.duplicate_of_id is None
                and sees(who, Facts.of(other))
            )
            if want == 200 and not target_ok:
                want = 400
        before = (case.state, case.version, len(events_of(self.session, case)))
        exc: WorkflowError | None = None
        try:
            with self.session.begin_nested():
                perform(
                    self.session,
                    case.id,
                    action,
                    actor,
                    note="随机测试" if note else "",
                    data=data,
                )
        except WorkflowError as err:
            exc = err
        self.session.refresh(case)
        got = status_of(exc)
        assert got == want, (
            f"{name} ({actor.role}) {action} on {before[0]} case: expected {want}, got {got}"
            + (f": {exc.message}" if exc else "")
        )
        after = (case.state, case.version, len(events_of(self.session, case)))
        if exc is None:
            edge = TRANSITIONS[action]
            assert after[0] == (edge.target or before[0])
            assert after[1:] == (before[1] + 1, before[2] + 1)
            REACHED[(str(action), str(before[0]))] += 1
        else:
            assert after == before, "a refused action changed the case"
        self.steps += 1

    @rule(data=st.data())
    def anything(self, data: st.DataObject) -> None:
        """Any action by anyone on any case (most of it must be refused)."""
        case = data.draw(st.sampled_from(self.cases), label="case")
        self._attempt(
            case,
            data.draw(st.sampled_from(ACTIONS), label="action"),
            data.draw(st.integers(0, len(self.actors) - 1), label="actor"),
            data.draw(st.booleans(), label="note"),
            data.draw(st.sampled_from(self.cases), label="merge target"),
        )

    @rule(data=st.data())
    def plausible(self, data: st.DataObject) -> None:
        """An action the case's state allows, by someone holding a role the edge admits."""
        case = data.draw(st.sampled_from(self.cases), label="case")
        state = CaseState(case.state)
        possible = [a for a in ACTIONS if state in TRANSITIONS[a].sources]
        if not possible:
            return
        action = data.draw(st.sampled_from(possible), label="action")
        roles = TRANSITIONS[action].roles
        fit = [i for i, (_n, actor, _w) in enumerate(self.actors) if actor.role in roles]
        self._attempt(
            case,
            action,
            data.draw(st.sampled_from(fit), label="actor"),
            data.draw(st.sampled_from([True, True, True, False]), label="note"),
            data.draw(st.sampled_from(self.cases), label="merge target"),
        )

    @rule(data=st.data())
    def progress(self, data: st.DataObject) -> None:
        """A step forward (no voiding or merging) by someone the oracle expects to succeed, so
        that cases get deep into the workflow: requests, rework, closure, reopening."""
        case = data.draw(st.sampled_from(self.cases), label="case")
        facts = Facts.of(case)
        placed = case.placement != "pending"
        candidates = [
            (action, i)
            for action in PROGRESS
            for i, (_n, _a, who) in enumerate(self.actors)
            if expected_status(action, who, facts, placed=placed, api=False) == 200
        ]
        if not candidates:
            return
        action, actor_i = data.draw(st.sampled_from(candidates), label="action, actor")
        self._attempt(case, action, actor_i, True, case)

    # ------------------------------------------------------------------------------ invariants
    @invariant()
    def log_rebuilds_every_case(self) -> None:
        for case in self.cases:
            self.session.refresh(case)
            events = self._events(case)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            snap = replay(events)
            assert snap.state == case.state
            assert (snap.owner_officer_id, snap.owner_department_id) == (
                case.owner_officer_id,
                case.owner_department_id,
            )
            assert snap.rework_count == case.rework_count
            assert snap.duplicate_of_id == case.duplicate_of_id
            assert snap.grid_code == case.grid_code
            assert snap.version == case.version == len(events)

    @invariant()
    def owners_exactly_where_the_workflow_puts_them(self) -> None:
        for case in self.cases:
            owners = [o for o in (case.owner_officer_id, case.owner_department_id) if o]
            assert len(owners) == (1 if CaseState(case.state) in OWNED else 0), case.state

    @invariant()
    def closed_cases_were_checked_after_the_last_fix(self) -> None:
        for case in self.cases:
            if case.state != S.CLOSED:
                continue
            actions = [e.action for e in self._events(case)]
            last_done = max(i for i, a in enumerate(actions) if a == Action.REPORT_DONE)
            assert Action.CHECK_PASS in actions[last_done:]
            assert case.closed_at is not None and case.checked_at is not None

    @invariant()
    def every_event_follows_an_edge(self) -> None:
        for case in self.cases:
            for ev in self._events(case)[1:]:
                edge = TRANSITIONS[Action(ev.action)]
                assert ev.from_state in edge.sources, (ev.action, ev.from_state)
                assert ev.actor_role in edge.roles, (ev.action, ev.actor_role)
                assert ev.to_state == (edge.target or ev.from_state)
                if ev.action in NOTE_REQUIRED:
                    assert ev.note.strip()

    def _log(self, case: Case) -> tuple[list[CaseEvent], list[CaseRequest]]:
        if case.id not in self._logs:
            requests = self.session.scalars(
                select(CaseRequest).where(CaseRequest.case_id == case.id).order_by(CaseRequest.id)
            )
            self._logs[case.id] = (events_of(self.session, case), list(requests))
        return self._logs[case.id]

    def _events(self, case: Case) -> list[CaseEvent]:
        return self._log(case)[0]

    def _requests(self, case: Case) -> list[CaseRequest]:
        return self._log(case)[1]

    @invariant()
    def at_most_one_open_request_per_kind(self) -> None:
        for case in self.cases:
            requests = self._requests(case)
            kinds = [r.kind for r in requests if r.decision is None]
            assert len(kinds) == len(set(kinds))
            for r in requests:
                if r.kind == "extension":
                    assert r.requested_due_at is not None
                    assert r.requested_due_at > r.requested_at

    @invariant()
    def pending_requests_can_still_be_decided(self) -> None:
        """A request waits only where someone may still approve it (DOMAIN.md §5)."""
        for case in self.cases:
            for r in self._requests(case):
                if r.decision is None:
                    assert case.state in DECIDABLE[r.kind], (r.kind, case.state)


@contextmanager
def machine_app(app: Flask) -> Iterator[None]:
    """Point the machine at ``app``, with auto-dispatch off (nothing commits in the machine, so
    no side effect should run; this keeps it so even if savepoint releases were to run them)."""
    global _APP
    auto = app.config.get("AUTO_DISPATCH", True)
    _APP, app.config["AUTO_DISPATCH"] = app, False
    try:
        yield
    finally:
        _APP, app.config["AUTO_DISPATCH"] = None, auto


def test_random_action_sequences_keep_the_invariants(app: Flask) -> None:
    with machine_app(app):
        run_state_machine_as_test(
            WorkflowMachine,
            settings=settings(
                max_examples=20,
                stateful_step_count=45,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
                # Shrinking 50-step runs of database work can take many minutes; the failure
                # message names the actor, action and state, which is what one needs.
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
            ),
        )
    # The runs got deep: most kinds of action succeeded somewhere, closure and rework included.
    done = {action for action, _state in REACHED}
    assert len(done) >= 20, sorted(REACHED.items())


def test_the_machine_reaches_deep_states(app: Flask) -> None:
    """A fixed walk through the machine's own rules reaches closure (so the random runs can)."""
    with machine_app(app):
        machine = WorkflowMachine()
        try:
            names = [n for n, _a, _w in machine.actors]
            case = machine.cases[0]
            walk = [
                (Action.ACCEPT_REPORT, "operator"),
                (Action.FILE, "shift_supervisor"),
                (Action.DISPATCH, "system"),
                (Action.ACCEPT, "officer-a-own-grids"),
                (Action.REPORT_DONE, "officer"),
                (Action.CHECK_FAIL, "home-inspector"),
                (Action.REPORT_DONE, "officer"),
                (Action.CHECK_PASS, "inspector"),
                (Action.CLOSE, "shift_supervisor"),
            ]
            for action, who in walk:
                machine._attempt(case, action, names.index(who), True, machine.cases[1])
                machine.log_rebuilds_every_case()
                machine.owners_exactly_where_the_workflow_puts_them()
            machine.closed_cases_were_checked_after_the_last_fix()
            machine.every_event_follows_an_edge()
            assert case.state == S.CLOSED and case.rework_count == 1
            # Out of the district: not found; in it but the wrong role: forbidden (by the oracle).
            machine._attempt(case, Action.REOPEN, names.index("far-operator"), True, case)
            machine._attempt(case, Action.REOPEN, names.index("far-supervisor"), True, case)
            machine._attempt(case, Action.REOPEN, names.index("operator"), False, case)
            machine._attempt(case, Action.REOPEN, names.index("operator"), True, case)
            assert case.state == S.TO_DISPATCH and case.owner_officer_id is None
        finally:
            machine.teardown()
