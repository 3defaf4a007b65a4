"""Background jobs against a real Redis, real RQ worker processes and a real webhook receiver.

Workers are separate processes, so nothing here runs in the rolled-back test transaction: the
module migrates a database of its own (SQLite file, or ``<dbname>_jobs_<pid>`` on PostgreSQL)
and commits. Each test starts its own redis-server on a free port and its own webhook receiver;
every process and server is stopped in finalizers, also when a test fails. Every wait polls the
database or the receiver against a deadline.

Quiet hours: notifications that are not urgent wait for working time, so the cases here are
filed under an urgent filing condition (their messages are due at once whatever the clock says),
or the messages are written urgent, or the sweep runs at an explicit working-time ``now``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import database, is_lock_race
from core.types import utcnow
from dispatch.jobs import enqueue_deliveries, tasks
from dispatch.jobs.queue import rq_queue
from dispatch.jobs.scheduler import LOCK_NAME
from dispatch.models import Case, Notification, OutboxMessage, User
from dispatch.models.cases import CaseState
from dispatch.models.sla import CaseTimer, Level, Stage, TimerState
from dispatch.notifications import Message, write_messages
from dispatch.notifications.recipients import CaseRef, Recipients
from dispatch.sla.calendar_store import calendar
from dispatch.sla.sweep import SweepResult, sweep
from dispatch.workflow import Action
from tests.conftest import DATABASE_URL, make_test_app
from tests.jobs_support import (
    FlaskProcess,
    RedisServer,
    WebhookReceiver,
    free_port,
    fresh_database,
    is_gone,
    kill_pid,
    prepare_database,
    process_env,
    wait_for,
)
from tests.workflow_helpers import World, act, build_world, new_case

A = Action
SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """An Asia/Shanghai wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def jobs_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own database, migrated, with the demo city and the seed committed."""
    with fresh_database(DATABASE_URL, tmp_path_factory.mktemp("jobs-db")) as url:
        prepare_database(url)
        yield url


@dataclass
class Harness:
    """One test's servers, apps and processes (all stopped by the fixture)."""

    db_url: str
    tmp: Path
    receiver: WebhookReceiver
    redis: RedisServer | None = None
    apps: list[Flask] = field(default_factory=list)
    procs: list[FlaskProcess] = field(default_factory=list)
    stray_pids: list[int] = field(default_factory=list)

    def config(self, **extra: Any) -> dict[str, Any]:
        """Settings shared by the test's in-process app and its worker processes."""
        return {
            "NOTIFY_WEBHOOK_URL": self.receiver.url,
            "NOTIFY_CHANNELS": ["webhook"],
            "NOTIFY_WEBHOOK_TIMEOUT": 60.0,
            **extra,
        }

    def start_redis(self) -> RedisServer:
        self.redis = RedisServer(self.tmp)
        self.redis.start()
        return self.redis

    def app(self, *, redis: bool = True, **extra: Any) -> Flask:
        redis_url = self.redis.url if redis and self.redis else None
        app = make_test_app(self.db_url, **{"REDIS_URL": redis_url, **self.config(**extra)})
        self.apps.append(app)
        return app

    def flask(self, *args: str, **extra: Any) -> FlaskProcess:
        """``flask --app wsgi <args>`` on this test's database and Redis, configured by env."""
        assert self.redis is not None
        env = process_env(self.db_url, self.redis.url, self.config(**extra))
        proc = FlaskProcess(list(args), env, self.tmp / f"proc-{len(self.procs)}.log")
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        for pid in self.stray_pids:
            kill_pid(pid)
        if self.redis is not None:
            self.redis.stop()
        self.receiver.close()
        for app in self.apps:
            conn = app.extensions.get("redis")
            if conn is not None:
                conn.close()
            database(app).engine.dispose()


@pytest.fixture
def h(jobs_db: str, tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(jobs_db, tmp_path, WebhookReceiver())
    try:
        yield harness
    finally:
        harness.close()


# ------------------------------------------------------------------------------ helpers
def outbox_rows(app: Flask, after_id: int = 0) -> list[OutboxMessage]:
    with database(app).new_session() as sess:
        return list(
            sess.scalars(
                select(OutboxMessage).where(OutboxMessage.id > after_id).order_by(OutboxMessage.id)
            )
        )


def last_outbox_id(app: Flask) -> int:
    with database(app).new_session() as sess:
        return sess.scalar(select(func.max(OutboxMessage.id))) or 0


def outbox_row(app: Flask, outbox_id: int) -> OutboxMessage:
    with database(app).new_session() as sess:
        row = sess.get(OutboxMessage, outbox_id)
        assert row is not None
        return row


def write_one_message(app: Flask, cause: str) -> int:
    """One urgent notification to a demo user, committed; the id of its (single) outbox row.

    The commit asks for its delivery (after-commit enqueue), as every notification does.
    """
    before = last_outbox_id(app)
    with app.app_context(), database(app).new_session() as sess:
        user_id = sess.scalar(select(User.id).where(User.username == "dispatcher"))
        assert user_id is not None
        message = Message(user_id, None, "urged", {"note": cause}, True, f"{cause}:user:{user_id}")
        write_messages(sess, calendar(sess), [message], utcnow())
        sess.commit()
    rows = outbox_rows(app, before)
    assert [r.channel for r in rows] == ["webhook"]
    return rows[0].id


def committed_world(app: Flask, prefix: str, code: str) -> tuple[Session, World]:
    """A World whose rows are committed, and the session holding them (the caller closes it)."""
    sess = database(app).new_session()
    world = build_world(
        sess, prefix=prefix, code=code, other_code=f"{int(code) + 1:05d}", fresh_catalogue=True
    )
    sess.commit()
    return sess, world


# ------------------------------------------------------------------------------ wiring
def test_the_app_registers_the_jobs_commands(jobs_db: str) -> None:
    """``flask --app wsgi jobs worker`` (the documented worker command) must exist."""
    app = make_test_app(jobs_db)
    try:
        assert "jobs" in app.cli.commands, "dispatch.init_app does not register jobs_cli"
    finally:
        database(app).engine.dispose()


# ------------------------------------------------------------------------------ fakeredis
@dataclass
class FakeRq:
    """An app whose Redis is fakeredis, its notifications queue and an in-process worker."""

    app: Flask
    redis: Any
    queue: Any

    def work(self) -> None:
        from rq import SimpleWorker

        SimpleWorker([self.queue], connection=self.redis).work(burst=True)

    def scheduled(self) -> list[tuple[str, tuple[Any, ...]]]:
        """(function, args) of the jobs waiting in the scheduled registry."""
        jobs = [
            self.queue.fetch_job(i) for i in ScheduledJobRegistry(queue=self.queue).get_job_ids()
        ]
        return [(j.func_name, tuple(j.args)) for j in jobs if j is not None]


def fake_rq(h: Harness, **config: Any) -> FakeRq:
    import fakeredis
    from rq import Queue

    app = h.app(redis=False, **config)
    app.config["REDIS_URL"] = "redis://fake.invalid:6379/0"
    fake = fakeredis.FakeRedis()
    app.extensions["redis"] = fake
    return FakeRq(app, fake, Queue("notifications", connection=fake))


def test_delivery_through_rq_is_idempotent_and_retries_a_refusal(h: Harness) -> None:
    """Without a server: enqueue twice, one send; a 500 is retried with backoff, sent once."""
    from dispatch.notifications.outbox import due_deliveries

    backoff = 0.5
    rq = fake_rq(h, OUTBOX_BACKOFF_SECONDS=backoff)
    app = rq.app
    with app.app_context():
        first = write_one_message(app, "fake-ok")
        assert rq.queue.job_ids == [f"outbox-{first}"]  # asked for by the commit
        assert enqueue_deliveries([first]) is True  # asked again: harmless
        rq.work()
        row = outbox_row(app, first)
        assert (row.state, row.attempts) == ("sent", 1)
        assert h.receiver.delivered() == {f"outbox-{first}": 1}
        job = rq.queue.fetch_job(f"outbox-{first}")
        assert job is not None
        assert sorted(r.return_value for r in job.results()) == ["sent", "skip"]

        # The channel refuses once: the row waits (backoff), a delayed job is scheduled.
        second_key = f"outbox-{last_outbox_id(app) + 1}"
        h.receiver.fail_first(second_key)
        second = write_one_message(app, "fake-500")
        assert f"outbox-{second}" == second_key
        refused_at = utcnow()
        rq.work()
        row = outbox_row(app, second)
        assert (row.state, row.attempts, row.last_error) == ("pending", 1, "webhook answered 500")
        assert row.next_attempt_at >= refused_at + timedelta(seconds=backoff)
        assert second not in due_deliveries(row.next_attempt_at - timedelta(milliseconds=1))
        assert rq.scheduled() == [("dispatch.jobs.tasks.deliver", (second,))]
        # When the backoff is over, the pump hands it over again and it is sent.
        wait_for(lambda: outbox_row(app, second).next_attempt_at <= utcnow(), "the backoff")
        assert tasks.pump() == 1
        rq.work()
        row = outbox_row(app, second)
        assert (row.state, row.attempts) == ("sent", 2)
        assert [r.outcome for r in h.receiver.requests_for(second_key)] == ["failed", "ok"]
        assert tasks.pump() == 0


def test_a_scheduled_retry_outlives_the_job_that_scheduled_it(h: Harness) -> None:
    rq = fake_rq(h, OUTBOX_BACKOFF_SECONDS=600.0)
    with rq.app.app_context():
        h.receiver.fail_first(f"outbox-{last_outbox_id(rq.app) + 1}")
        outbox_id = write_one_message(rq.app, "retry-ttl")
        rq.work()
        assert outbox_row(rq.app, outbox_id).state == "pending"
        (job_id,) = ScheduledJobRegistry(queue=rq.queue).get_job_ids()
        job = rq.queue.fetch_job(job_id)
        assert job is not None and job.get_status() == "scheduled"
        assert rq.redis.ttl(job.key) == -1  # kept until it runs


def test_a_message_that_cannot_be_built_gives_up_after_the_last_attempt(h: Harness) -> None:
    from dispatch.notifications.outbox import deliver
    from tests.factories import make_user

    app = h.app(redis=False, OUTBOX_MAX_ATTEMPTS=3, OUTBOX_LEASE_SECONDS=1.0)
    with app.app_context():
        with database(app).new_session() as sess:
            user = make_user(sess, "j-bad-locale", "operator")
            user.locale = "not-a-locale"  # e.g. a bad import: rendering the message raises
            sess.commit()
            message = Message(user.id, None, "urged", {}, True, "bad-locale:user")
            before = last_outbox_id(app)
            write_messages(sess, calendar(sess), [message], utcnow())
            sess.info.pop("after_commit", None)  # deliver by hand below
            sess.commit()
        (row,) = outbox_rows(app, before)
        for hour in range(1, 6):  # well past every lease and backoff
            with contextlib.suppress(ValueError):
                deliver(row.id, now=utcnow() + timedelta(hours=hour))
        row = outbox_row(app, row.id)
        assert (row.state, row.attempts) == ("failed", 3)
        assert "not-a-locale" in row.last_error


def test_the_pump_reports_nothing_handed_over_while_redis_is_down(h: Harness) -> None:
    app = h.app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    outbox_id = write_one_message(app, "pump-count")
    with app.app_context():
        handed = tasks.pump()
    assert outbox_row(app, outbox_id).state == "pending"
    assert handed == 0


# ------------------------------------------------------------------------------ Redis down
N_CASES = 100


def test_redis_down_during_intake_loses_and_duplicates_nothing(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """100 cases while Redis is stopped: all saved, their notifications wait in the outbox, and
    once Redis is back the pump and a burst worker deliver each exactly once."""
    redis = h.start_redis()
    app = h.app(AUTO_DISPATCH=False)
    with app.app_context():
        sess, world = committed_world(app, "j1", "06981")
    first_outbox = last_outbox_id(app)
    redis.stop()
    started = time.monotonic()
    # Filed under the urgent condition, so the message is due now (no quiet hours); dispatched
    # to the department, whose one staff member is told.
    urgent = {
        "category_id": world.other_category.id,
        "filing_condition_id": world.other_condition.id,
    }
    to_department = {"department_id": world.department.id, "reason": "归环卫处管"}
    case_ids = []
    with app.app_context(), caplog.at_level(logging.WARNING, logger="dispatch.jobs.queue"):
        for i in range(N_CASES):
            case = new_case(sess, world, key=f"j1-{i}", phone=f"1380000{i:04d}")
            sess.commit()
            act(sess, world, case, A.ACCEPT_REPORT)
            act(sess, world, case, A.FILE, data=urgent)
            sess.commit()
            act(sess, world, case, A.DISPATCH, data=to_department)
            sess.commit()
            case_ids.append(case.id)
    sess.close()
    intake_s = time.monotonic() - started
    refused = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(refused) == N_CASES, "each dispatch's commit tried to enqueue and was refused"

    with database(app).new_session() as check:
        states = check.scalars(select(Case.state).where(Case.id.in_(case_ids))).all()
        assert sorted(states) == [CaseState.TO_ACCEPT] * N_CASES  # saved and dispatched
        notes = {
            n.id: n
            for n in check.scalars(
                select(Notification).where(
                    Notification.case_id.in_(case_ids), Notification.kind == "dispatched"
                )
            )
        }
        assert sorted(n.case_id for n in notes.values()) == sorted(case_ids)  # one each
        assert {(n.user_id, n.urgent) for n in notes.values()} == {
            (world.users["department"].id, True)
        }
        numbers = dict(
            (r.id, r.number)
            for r in check.execute(select(Case.id, Case.number).where(Case.id.in_(case_ids)))
        )
    rows = outbox_rows(app, first_outbox)
    assert sorted(r.notification_id for r in rows) == sorted(notes)
    assert {(r.state, r.attempts, r.channel) for r in rows} == {("pending", 0, "webhook")}
    assert h.receiver.delivered() == {}

    redis.start()  # the same port, empty: every job asked for while it was down is gone
    assert rq_queue("notifications", app).count == 0
    with app.app_context():
        handed = tasks.pump()
    assert handed >= len(rows)
    queued = set(rq_queue("notifications", app).job_ids)
    assert {f"outbox-{r.id}" for r in rows} <= queued
    # Two burst workers (one per core), racing for the same queue.
    workers = [h.flask("jobs", "worker", "--burst") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=90) == 0, worker.log()
    deliver_s = time.monotonic() - started - intake_s

    rows = outbox_rows(app, first_outbox)
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}
    keys = {f"outbox-{r.id}": r for r in rows}
    delivered = {k: n for k, n in h.receiver.delivered().items() if k in keys}
    assert delivered == dict.fromkeys(keys, 1)  # every message once, none twice
    for key, row in keys.items():
        (body,) = [r.body for r in h.receiver.requests_for(key)]
        note = notes[row.notification_id]
        assert body["id"] == key and body["kind"] == "dispatched" and body["urgent"] is True
        assert body["case_number"] == numbers[note.case_id]
        assert body["to"]["user_id"] == note.user_id
    with app.app_context():
        assert tasks.pump() == 0  # nothing left to hand over
    assert len(rq_queue("notifications", app).failed_job_registry) == 0
    print(f"intake {intake_s:.1f}s, {len(rows)} deliveries {deliver_s:.1f}s")


# ------------------------------------------------------------------------------ killed worker
def test_a_killed_workers_delivery_is_retried_and_delivered_once(h: Harness) -> None:
    """SIGKILL the worker and its work horse mid-send: the claim lapses, the pump hands the
    row to a new worker, and the receiver completes exactly one delivery."""
    h.start_redis()
    lease = 5.0
    app = h.app(OUTBOX_LEASE_SECONDS=lease)
    h.receiver.hang_first(None)  # the first request of any key hangs (this test sends one)
    worker = h.flask("jobs", "worker", OUTBOX_LEASE_SECONDS=lease)
    outbox_id = write_one_message(app, "killed-worker")
    key = f"outbox-{outbox_id}"
    wait_for(h.receiver.hanging.is_set, f"the worker to POST {key}\n{worker.log()}")
    assert [r.key for r in h.receiver.received] == [key]

    row = outbox_row(app, outbox_id)
    assert (row.state, row.attempts) == ("sending", 1)
    horse = int(row.claimed_by.rsplit(":", 1)[1])
    h.stray_pids.append(horse)
    assert horse != worker.pid and not is_gone(horse)  # the send runs in a forked work horse
    worker.kill()
    kill_pid(horse)  # the horse has its own process group: killing the worker spares it
    wait_for(lambda: is_gone(horse), "the work horse to die", timeout=10)

    h.receiver.release()  # the hung request now finds its sender gone: not a delivery
    wait_for(lambda: h.receiver.requests_for(key)[0].outcome != "hanging", "the receiver")
    assert [r.outcome for r in h.receiver.requests_for(key)] == ["aborted"]
    row = outbox_row(app, outbox_id)
    assert (row.state, row.attempts) == ("sending", 1)  # nobody recorded a send

    with app.app_context():
        assert tasks.pump() == 0  # the claim still holds: nobody else may send meanwhile
        wait_for(lambda: tasks.pump() == 1, "the claim to lapse", timeout=lease + 10, every=0.2)
    retry = h.flask("jobs", "worker", "--burst", OUTBOX_LEASE_SECONDS=lease)
    assert retry.wait(timeout=60) == 0, retry.log()

    row = outbox_row(app, outbox_id)
    assert (row.state, row.attempts) == ("sent", 2), retry.log()
    assert [r.outcome for r in h.receiver.requests_for(key)] == ["aborted", "ok"]
    assert h.receiver.delivered() == {key: 1}
    with app.app_context():
        assert tasks.pump() == 0


# ------------------------------------------------------------------------------ two sweeps
N_FILED = 5  # filed, not dispatched: the dispatch stage runs (0.5 working hours)
N_DISPATCHED = 5  # dispatched at 09:10: accept (1 working hour) and handle (4) run

#: (sweep time, yellow crossings, red crossings) on Monday 2026-03-02, Asia/Shanghai.
ROUNDS = [
    ("2026-03-02 09:32", N_FILED, 0),  # dispatch stage warned (09:29), due 09:35
    ("2026-03-02 10:00", N_DISPATCHED, N_FILED),  # accept warned (09:58); dispatch overdue
    ("2026-03-02 15:00", N_DISPATCHED, N_DISPATCHED),  # handle warned; accept overdue (10:10)
    ("2026-03-02 15:00", 0, 0),  # the same instant again: nothing left to mark
    ("2026-03-03 09:00", 0, N_DISPATCHED),  # handle overdue (due 15:40 the day before)
]


#: How many times each round's sweeps lost SQLite's lock race and were retried (reported).
LOCK_RACES: list[int] = []
SWEPT = Notification.kind.in_(["yellow", "red"])


def _sweep_twice(app: Flask, now: datetime) -> list[SweepResult]:
    """Two sweeps at the same ``now``, each in its own thread and session, released together."""
    barrier = threading.Barrier(2, timeout=30)
    results: list[Any] = [None, None]
    lock_races: list[int] = [0, 0]

    def run(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                for _attempt in range(20):
                    with database(app).new_session() as sess:
                        try:
                            results[i] = sweep(sess, now=now)
                            sess.commit()
                            return
                        except Exception as exc:
                            if not is_lock_race(exc):
                                raise
                            lock_races[i] += 1  # SQLite: the other sweep wrote first
                    time.sleep(0.05)
                raise AssertionError("sweep kept losing the SQLite lock race")
            except BaseException as exc:
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a sweep hung"
    for r in results:
        if isinstance(r, BaseException):
            raise r
    LOCK_RACES.append(sum(lock_races))
    return results


def _expected_crossings(sess: Session, now: datetime) -> tuple[set[int], set[int]]:
    """Running timers that cross warn (yellow) and due (red) at ``now``, from their stored
    times: what one sweep must mark."""
    rows = sess.execute(
        select(CaseTimer.id, CaseTimer.level, CaseTimer.warn_at, CaseTimer.due_at).where(
            CaseTimer.state == TimerState.RUNNING
        )
    ).all()
    yellow = {r.id for r in rows if r.level < Level.YELLOW and r.warn_at <= now < r.due_at}
    red = {r.id for r in rows if r.level < Level.RED and r.due_at <= now}
    return yellow, red


def _expected_keys(sess: Session, yellow: set[int], red: set[int]) -> set[str]:
    """The dedupe keys one sweep writes for these crossings: the stage's desk (and, when red,
    the supervisors above), once each."""
    recipients = Recipients(sess)
    keys = set()
    for kind, ids in (("yellow", yellow), ("red", red)):
        for timer in sess.scalars(select(CaseTimer).where(CaseTimer.id.in_(ids))):
            case = sess.get(Case, timer.case_id)
            assert case is not None
            ref = CaseRef(
                case.id,
                case.number,
                case.grid_code,
                case.district_code,
                case.owner_officer_id,
                case.owner_department_id,
                case.urgency,
            )
            users = recipients.for_stage(ref, Stage(timer.stage))
            if kind == "red":
                users |= recipients.supervisors(ref)
            assert users, f"nobody to tell about timer {timer.id}"
            keys |= {f"{kind}:timer:{timer.id}:0:user:{u}" for u in users}
    return keys


def test_two_sweeps_at_once_mark_and_notify_each_crossing_once(h: Harness) -> None:
    """Concurrent sweeps at the same instant split the work: every crossing is marked once and
    notified once (FOR UPDATE SKIP LOCKED on PostgreSQL; serialised writers on SQLite)."""
    # No Redis: deliveries run inline after each sweep's commit (log channel). The calendar's
    # revision is checked at every sweep, as in production (sweep every 60 s, check every 5 s).
    app = h.app(
        redis=False,
        AUTO_DISPATCH=False,
        NOTIFY_CHANNELS=["log"],
        NOTIFY_WEBHOOK_URL="",
        CALENDAR_CHECK_SECONDS=0.0,
        # One message per red stage for the supervisors too (no digest): how two concurrent
        # sweeps split the batches must not change what is written.
        SLA_SUPERVISOR_DIGEST_OVER=10_000,
    )
    with app.app_context():
        sess, world = committed_world(app, "j3", "06983")
        for i in range(N_FILED + N_DISPATCHED):
            case = new_case(sess, world, key=f"j3-{i}", now=at("2026-03-02 09:00"))
            act(sess, world, case, A.ACCEPT_REPORT, now=at("2026-03-02 09:00"))
            act(sess, world, case, A.FILE, now=at("2026-03-02 09:05"))
            if i >= N_FILED:
                act(sess, world, case, A.DISPATCH, now=at("2026-03-02 09:10"))
            sess.commit()
        sess.close()
    first_outbox = last_outbox_id(app)
    seen: set[str] = set()
    marked_at: dict[int, tuple[datetime | None, datetime | None]] = {}
    for when, n_yellow, n_red in ROUNDS:
        now = at(when)
        with database(app).new_session() as s:
            yellow, red = _expected_crossings(s, now)
            expected = _expected_keys(s, yellow, red)
        assert (len(yellow), len(red)) == (n_yellow, n_red), when
        results = _sweep_twice(app, now)
        assert sum(r.yellow for r in results) == n_yellow, (when, results)
        assert sum(r.red for r in results) == n_red, (when, results)
        assert sum(r.notifications for r in results) == len(expected), (when, results)
        with database(app).new_session() as s:
            for tid in yellow | red:
                marked_at.setdefault(tid, (None, None))
            for timer in s.scalars(select(CaseTimer).where(CaseTimer.id.in_(marked_at))):
                before_yellow, before_red = marked_at[timer.id]
                if timer.id in yellow:
                    assert (timer.level, timer.yellow_at, timer.red_at) == (1, now, None)
                elif timer.id in red:
                    assert timer.level == 2 and timer.red_at == now
                    assert timer.yellow_at == (before_yellow or now)
                else:  # marked in an earlier round: untouched since
                    assert (timer.yellow_at, timer.red_at) == (before_yellow, before_red)
                marked_at[timer.id] = (timer.yellow_at, timer.red_at)
            written = set(s.scalars(select(Notification.dedupe_key).where(SWEPT))) - seen
            assert written == expected, when  # one sweep's worth
            seen |= written
    with database(app).new_session() as s:
        keys = s.scalars(select(Notification.dedupe_key).where(SWEPT)).all()
        assert sorted(keys) == sorted(seen)
    rows = outbox_rows(app, first_outbox)
    assert len(rows) == len(keys)
    # Each sweep's commit delivered its own messages inline: each once.
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}
    print(f"sweep lock races per round: {LOCK_RACES[-len(ROUNDS) :]}")


# ------------------------------------------------------------------------------ scheduler
def test_exactly_one_scheduler_enqueues_each_slot_and_a_survivor_takes_over(h: Harness) -> None:
    """Two schedulers on one Redis: only the lock holder enqueues, each slot once; when it stops
    ticking, its lock expires and the other one carries on without repeating a slot."""
    from dispatch.jobs.scheduler import Scheduler

    h.start_redis()
    ttl = 2.0
    app_a, app_b = h.app(SCHEDULER_LOCK_SECONDS=ttl), h.app(SCHEDULER_LOCK_SECONDS=ttl)
    a, b = Scheduler(app_a), Scheduler(app_b)
    seconds = {t.name: t.seconds for t in a.tasks}
    assert seconds == {
        "sla-sweep": 60.0,
        "outbox-pump": 15.0,
        "calendar-check": 3600.0,
        "case-numbers-tidy": 86400.0,
    }
    t0 = 1_800_000_000.0  # a whole hour: every task's slot starts here

    def slots(t: float, names: tuple[str, ...] = tuple(seconds)) -> list[str]:
        return sorted(f"{n}-{int(t // seconds[n])}" for n in names)

    def queued() -> list[str]:
        return sorted(
            job_id
            for name in ("sla", "notifications", "default")
            for job_id in rq_queue(name, app_a).job_ids
        )

    assert sorted(a.tick(t0)) == slots(t0)
    assert b.tick(t0) == [] and not b.leader
    assert a.tick(t0 + 5) == []  # same slots: nothing new
    assert b.tick(t0 + 15) == [] and not b.leader
    assert a.tick(t0 + 15) == slots(t0 + 15, ("outbox-pump",))
    assert sorted(a.tick(t0 + 60)) == slots(t0 + 60, ("outbox-pump", "sla-sweep"))
    assert b.tick(t0 + 60) == []
    expected = sorted(
        [
            *slots(t0),
            *slots(t0 + 15, ("outbox-pump",)),
            *slots(t0 + 60, ("outbox-pump", "sla-sweep")),
        ]
    )
    assert queued() == expected

    # A second holder in a split second (clock skew, a paused holder) still cannot repeat a
    # slot: the job ids are unique in Redis.
    assert Scheduler(app_b)._enqueue_due(t0 + 60) == []
    assert queued() == expected

    # A stops ticking (hung, killed): its lock expires and B takes over, enqueueing only the
    # slots A had not.
    started = time.monotonic()
    wait_for(lambda: b.tick(t0 + 61) == [] and b.leader, "B to take the lock", timeout=ttl + 5)
    takeover_s = time.monotonic() - started
    assert queued() == expected  # the slots A enqueued are not repeated
    assert b.tick(t0 + 75) == slots(t0 + 75, ("outbox-pump",))
    assert a.tick(t0 + 75) == [] and not a.leader  # A wakes up: it lost the lock, stays quiet
    assert a.tick(t0 + 90) == []
    assert b.tick(t0 + 90) == slots(t0 + 90, ("outbox-pump",))
    assert len(queued()) == len(set(queued())) == len(expected) + 2
    assert takeover_s <= ttl + 1.5


def test_scheduler_processes_drive_the_periodic_work_through_a_worker(h: Harness) -> None:
    """Two ``flask jobs scheduler`` processes: each slot's job is queued once, SIGTERM releases
    the lock, and a worker runs the periodic jobs; the pump job delivers a message whose
    enqueue was lost (its commit could not reach Redis)."""
    redis = h.start_redis()
    unreachable = h.app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    outbox_id = write_one_message(unreachable, "lost-enqueue")
    assert outbox_row(unreachable, outbox_id).state == "pending"
    fast = {"OUTBOX_PUMP_SECONDS": 1.0, "SLA_SWEEP_SECONDS": 1.0, "SCHEDULER_LOCK_SECONDS": 2.0}
    schedulers = [h.flask("jobs", "scheduler", **fast) for _ in range(2)]
    app = h.app()

    def job_ids() -> list[str]:
        return [i for q in ("sla", "notifications", "default") for i in rq_queue(q, app).job_ids]

    wait_for(
        lambda: sum(i.startswith("sla-sweep-") for i in job_ids()) >= 3,
        f"three sweep slots\n{schedulers[0].log()}\n{schedulers[1].log()}",
    )
    with redis.client() as client:
        assert client.exists(LOCK_NAME) == 1
        for proc in schedulers:
            assert proc.stop() == 0, proc.log()
        assert client.exists(LOCK_NAME) == 0  # the holder released it on SIGTERM
    ids = job_ids()
    assert len(ids) == len(set(ids))  # no slot queued twice
    assert sum(i.startswith("calendar-check-") for i in ids) == 1
    assert sum(i.startswith("case-numbers-tidy-") for i in ids) == 1
    sweeps = sorted(int(i.rsplit("-", 1)[1]) for i in ids if i.startswith("sla-sweep-"))
    assert len(sweeps) >= 3

    worker = h.flask("jobs", "worker", "--burst")
    assert worker.wait(timeout=60) == 0, worker.log()
    for name in ("sla", "notifications", "default"):
        assert len(rq_queue(name, app).failed_job_registry) == 0, worker.log()
    sweep_job = rq_queue("sla", app).fetch_job(f"sla-sweep-{sweeps[0]}")
    assert sweep_job is not None and set(sweep_job.return_value()) >= {"yellow", "red"}
    row = outbox_row(app, outbox_id)
    assert (row.state, row.attempts) == ("sent", 1), worker.log()
    assert [r.outcome for r in h.receiver.requests_for(f"outbox-{outbox_id}")] == ["ok"]
