"""Two people acting on one case at the same moment (PostgreSQL: real row locks).

These tests cannot live in the rolled-back test transaction: each thread has its own session on
its own connection and commits for real. The fixture commits its World (fresh categories,
departments and users), and deletes everything the tests made afterwards, restoring the case
number counters, so the rest of the suite never sees it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, create_engine, delete, or_, select, update
from sqlalchemy.orm import Session

from core.db import database
from dispatch.access import Actor
from dispatch.auth import issue_token
from dispatch.errors import Conflict, WorkflowError
from dispatch.models import (
    ApiToken,
    Case,
    CaseCaller,
    CaseCounter,
    CaseEvent,
    CaseRequest,
    Category,
    Department,
    FilingCondition,
    RoleGrant,
    User,
)
from dispatch.models.cases import CaseState
from dispatch.workflow import Action, perform
from tests.workflow_helpers import (
    USER_ROLES,
    World,
    advance_to,
    api_act,
    build_world,
    default_data,
    event_count,
)

pytestmark = pytest.mark.postgres

A = Action
S = CaseState


@dataclass
class Committed:
    """A World whose rows are committed, and what the cleanup must remove."""

    app: Flask
    world: World
    user_ids: list[int]
    tokens: dict[str, str] = field(default_factory=dict)

    def session(self) -> Session:
        return database(self.app).new_session()

    def case(self, state: CaseState, **kw: Any) -> tuple[int, str, int]:
        """A committed case brought to ``state``: (id, number, version)."""
        with self.session() as sess:
            world = _reload(sess, self.world)
            case = advance_to(sess, world, state, **kw)
            sess.commit()
            return case.id, case.number, case.version


def _reload(sess: Session, world: World) -> World:
    """The World's rows attached to ``sess`` (a thread's own session)."""
    users = {key: sess.get(User, user.id) for key, user in world.users.items()}
    return World(
        sess.get(Category, world.category.id),
        sess.get(FilingCondition, world.condition.id),
        sess.get(Category, world.other_category.id),
        sess.get(FilingCondition, world.other_condition.id),
        sess.get(Department, world.department.id),
        sess.get(Department, world.other_department.id),
        world.grid,
        world.near_grid,
        world.far_grid,
        users,  # type: ignore[arg-type]
    )


def _cleanup(sess: Session, user_ids: list[int], world: World, counters: dict[str, int]) -> None:
    case_ids = list(
        sess.scalars(
            select(Case.id).where(
                or_(
                    Case.reporter_user_id.in_(user_ids),
                    Case.id.in_(
                        select(CaseEvent.case_id).where(CaseEvent.actor_user_id.in_(user_ids))
                    ),
                )
            )
        )
    )
    if case_ids:
        sess.execute(update(Case).where(Case.id.in_(case_ids)).values(duplicate_of_id=None))
        sess.execute(delete(CaseEvent).where(CaseEvent.case_id.in_(case_ids)))
        sess.execute(
            delete(CaseCaller).where(
                or_(CaseCaller.case_id.in_(case_ids), CaseCaller.from_case_id.in_(case_ids))
            )
        )
        sess.execute(delete(CaseRequest).where(CaseRequest.case_id.in_(case_ids)))
        sess.execute(delete(Case).where(Case.id.in_(case_ids)))
    sess.execute(delete(ApiToken).where(ApiToken.user_id.in_(user_ids)))
    sess.execute(delete(RoleGrant).where(RoleGrant.user_id.in_(user_ids)))
    sess.execute(delete(User).where(User.id.in_(user_ids)))
    category_ids = [world.category.id, world.other_category.id]
    sess.execute(delete(FilingCondition).where(FilingCondition.category_id.in_(category_ids)))
    sess.execute(delete(Category).where(Category.id.in_(category_ids)))
    sess.execute(
        delete(Department).where(
            Department.id.in_([world.department.id, world.other_department.id])
        )
    )
    # Case numbers handed out here must not shift the numbers other tests see.
    for row in sess.scalars(select(CaseCounter)).all():
        if row.day not in counters:
            sess.delete(row)
        else:
            row.last = counters[row.day]
    sess.commit()


@pytest.fixture
def committed(app: Flask) -> Iterator[Committed]:
    db = database(app)
    assert db.bind is db.engine, "these tests must not run inside the test transaction"
    auto = app.config.get("AUTO_DISPATCH", True)
    app.config["AUTO_DISPATCH"] = False  # one new event per action, nothing behind our back
    prefix = f"cc-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        sess = db.new_session()
        counters = {row.day: row.last for row in sess.scalars(select(CaseCounter))}
        world = build_world(sess, prefix=prefix, code="06991", other_code="06992",
                            fresh_catalogue=True)  # fmt: skip
        user_ids = [u.id for u in world.users.values()]
        done = Committed(app, world, user_ids)
        for key, user in world.users.items():
            done.tokens[key] = issue_token(sess, user, "concurrency")
        sess.commit()
        sess.close()
        try:
            yield done
        finally:
            app.config["AUTO_DISPATCH"] = auto
            with db.new_session() as cleanup:
                _cleanup(cleanup, user_ids, world, counters)


def _race(n: int, work: Callable[[int, threading.Barrier], Any], app: Flask) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; results (or exceptions) by index."""
    barrier = threading.Barrier(n, timeout=30)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        with app.app_context():
            try:
                results[i] = work(i, barrier)
            except BaseException as exc:
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


def _state(done: Committed, case_id: int) -> tuple[str, int, int, Any, Any]:
    with done.session() as sess:
        case = sess.get(Case, case_id)
        assert case is not None
        return (
            case.state,
            case.version,
            event_count(sess, case_id),
            case.owner_officer_id,
            case.owner_department_id,
        )


# (id, state, pending requests, [(action, who, data or None), ×2], send expected_version)
RACES: list[tuple[str, CaseState, tuple[str, ...], list[tuple[Action, str, Any]], bool]] = [
    (
        "two-dispatchers",
        S.TO_DISPATCH,
        (),
        [
            (A.DISPATCH, "dispatcher", None),
            (A.DISPATCH, "dispatcher", "department"),
        ],
        False,
    ),
    (
        "accept-vs-approve-return",
        S.TO_ACCEPT,
        ("return",),
        [(A.ACCEPT, "officer", None), (A.APPROVE_RETURN, "shift_supervisor", None)],
        True,
    ),
    (
        "check-pass-vs-check-fail",
        S.TO_CHECK,
        (),
        [(A.CHECK_PASS, "inspector", None), (A.CHECK_FAIL, "inspector", None)],
        False,
    ),
    (
        "same-close-twice",
        S.TO_CLOSE,
        (),
        [(A.CLOSE, "shift_supervisor", None), (A.CLOSE, "shift_supervisor", None)],
        False,
    ),
    (
        "two-extension-requests",
        S.IN_PROGRESS,
        (),
        [(A.REQUEST_EXTENSION, "officer", None), (A.REQUEST_EXTENSION, "officer", None)],
        False,
    ),
]


@pytest.mark.parametrize(
    ("state", "requests", "moves", "versioned"),
    [row[1:] for row in RACES],
    ids=[row[0] for row in RACES],
)
@pytest.mark.parametrize("round_", range(3))
def test_two_sessions_race_exactly_one_wins(
    committed: Committed,
    state: CaseState,
    requests: tuple[str, ...],
    moves: list[tuple[Action, str, Any]],
    versioned: bool,
    round_: int,
) -> None:
    case_id, _number, version = committed.case(state, requests=requests)
    before = _state(committed, case_id)
    assert before[:3] == (state, version, version)

    def work(i: int, barrier: threading.Barrier) -> Any:
        action, who, data = moves[i]
        with committed.session() as sess:
            world = _reload(sess, committed.world)
            user = world.users[who]
            assert user.grants  # loaded before the race starts
            if data == "department":
                data = {"department_id": world.department.id, "reason": "并发测试"}
            payload = data if data is not None else default_data(world, action)
            barrier.wait()
            try:
                outcome = perform(
                    sess,
                    case_id,
                    action,
                    Actor(user, USER_ROLES[who]),
                    note="并发测试",
                    data=payload,
                    expected_version=version if versioned else None,
                )
                sess.commit()
                return outcome.event.action
            except WorkflowError as exc:
                sess.rollback()
                return exc

    results = _race(2, work, committed.app)
    wins = [r for r in results if isinstance(r, str)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, results
    after = _state(committed, case_id)
    assert after[1] == before[1] + 1
    assert after[2] == before[2] + 1
    with committed.session() as sess:
        events = list(
            sess.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq)
            )
        )
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].action == wins[0]
        pending = sess.scalars(
            select(CaseRequest).where(
                CaseRequest.case_id == case_id, CaseRequest.decision.is_(None)
            )
        ).all()
        kinds = [r.kind for r in pending]
        assert len(kinds) == len(set(kinds))


def test_two_http_requests_one_200_one_409(committed: Committed) -> None:
    from tests.factories import ApiClient

    _id, number, _version = committed.case(S.TO_FILE)
    data = default_data(committed.world, A.FILE)

    def work(i: int, barrier: threading.Barrier) -> Any:
        client = ApiClient(committed.app.test_client(), committed.tokens["shift_supervisor"])
        barrier.wait()
        res = api_act(client, number, A.FILE, data=data)
        return res.status_code, res.get_json()

    results = _race(2, work, committed.app)
    assert sorted(r[0] for r in results) == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert loser["error"]["code"] == "conflict"
    winner = next(body for status, body in results if status == 200)
    assert winner["state"] == "to_dispatch" and winner["version"] == 3
    assert _state(committed, _id)[:3] == ("to_dispatch", 3, 3)


@pytest.fixture
def short_pool_timeout(committed: Committed) -> Iterator[Engine]:
    """The app's sessions on an engine like the app's (pool 10 + 10) that gives up waiting for
    a connection after 5 s instead of 30, with its pool warmed up (10 idle connections)."""
    db = database(committed.app)
    engine = create_engine(db.url, pool_size=10, max_overflow=10, pool_timeout=5)
    connections = [engine.connect() for _ in range(10)]
    for conn in connections:
        conn.close()
    db.bind = engine
    try:
        yield engine
    finally:
        db.bind = db.engine
        engine.dispose()


def _post_concurrently(committed: Committed, body: dict[str, Any], n: int = 20) -> list[Any]:
    from tests.factories import ApiClient

    key = f"concurrent-{uuid.uuid4().hex}"

    def work(i: int, barrier: threading.Barrier) -> Any:
        client = ApiClient(committed.app.test_client(), committed.tokens["operator"])
        barrier.wait()
        res = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": key})
        answer = res.get_json() or {}
        return res.status_code, answer.get("number") or answer.get("error")

    results = _race(n, work, committed.app)
    odd = [r for r in results if not (isinstance(r, tuple) and r[0] in (200, 201))]
    assert not odd, odd
    assert sorted(r[0] for r in results) == [200] * (n - 1) + [201], results
    assert len({r[1] for r in results}) == 1
    with committed.session() as sess:
        cases = sess.scalars(select(Case).where(Case.idempotency_key == key)).all()
        assert len(cases) == 1
        assert event_count(sess, cases[0].id) == 1
        callers = sess.scalars(select(CaseCaller).where(CaseCaller.case_id == cases[0].id)).all()
        assert len(callers) == 1
    return results


def test_twenty_concurrent_posts_with_one_idempotency_key_make_one_case(
    committed: Committed, short_pool_timeout: Engine
) -> None:
    _post_concurrently(
        committed, {"description": "并发提交的同一个上报", "reporter_phone": "13812345678"}
    )


def test_twenty_concurrent_located_posts_do_not_exhaust_the_pool(
    committed: Committed, short_pool_timeout: Engine
) -> None:
    body = {"description": "并发提交的同一个上报", "reporter_phone": "13812345678"}
    _post_concurrently(committed, {**body, **committed.world.grid.point})


# --------------------------------------------------------------- intake's own-transaction path
def _idle_connections_autocommit(engine: Engine) -> list[bool]:
    """The autocommit flag of every connection resting in ``engine``'s pool."""
    pooled = [engine.raw_connection() for _ in range(engine.pool.checkedin())]
    try:
        return [p.driver_connection.autocommit for p in pooled]
    finally:
        for p in pooled:
            p.close()


def test_api_intake_commits_by_its_one_statement(committed: Committed) -> None:
    """The API writes a case, its first event and its caller by one autocommitted statement,
    on connections of their own: the session pool's stay transactional."""
    from tests.factories import ApiClient

    client = ApiClient(committed.app.test_client(), committed.tokens["operator"])
    body = {"description": "一条语句提交的上报", "reporter_phone": "13812345678",
            **committed.world.grid.point}  # fmt: skip
    res = client.post("/api/v1/cases", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert res.status_code == 201, res.get_json()
    number = res.get_json()["number"]
    with committed.session() as sess:
        case = sess.scalar(select(Case).where(Case.number == number))
        assert case is not None and case.grid_code == committed.world.grid.code
        assert event_count(sess, case.id) == 1
        assert sess.scalar(select(CaseCaller.phone).where(CaseCaller.case_id == case.id)) == (
            "13812345678"
        )
    engine = database(committed.app).engine
    assert engine.pool.checkedin() > 0
    assert not any(_idle_connections_autocommit(engine))


def test_autocommit_statement_errors_are_sqlalchemy_errors(committed: Committed) -> None:
    from sqlalchemy.exc import DBAPIError

    from core.db import autocommit_engine
    from dispatch.intake import _execute_autocommit

    engine = autocommit_engine(database(committed.app).engine)
    assert autocommit_engine(database(committed.app).engine) is engine
    with pytest.raises(DBAPIError, match="division by zero"):
        _execute_autocommit(engine, "SELECT 1 / %(zero)s", {"zero": 0})
    assert all(_idle_connections_autocommit(engine))
    # A connection whose server went away is dropped, not handed out again.
    with pytest.raises(DBAPIError) as gone:
        _execute_autocommit(engine, "SELECT pg_terminate_backend(pg_backend_pid())", {})
    assert gone.value.connection_invalidated
    for _ in range(engine.pool.checkedin() + 1):
        assert _execute_autocommit(engine, "SELECT %(n)s::int", {"n": 7}) == (7,)
