"""Periodic work (the SLA sweep, the outbox pump, the calendar check, tidying the case-number
sequences of past days), run exactly once.

With Redis, run ``flask jobs scheduler`` in one or more processes: they compete for a Redis lock
and only its holder enqueues. Each run is enqueued with a job id naming its time slot
(``sla-sweep-29463112``) and ``unique=True``, so even two holders in a split second enqueue a slot
once; and the work itself is idempotent (the sweep marks each crossing once). A holder that dies
loses the lock after ``SCHEDULER_LOCK_SECONDS`` and another takes over. On the embedded default
the in-process runner calls the same tasks on the same intervals.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

LOCK_NAME = "dispatch:scheduler"


@dataclass(frozen=True)
class Periodic:
    """A task to run every ``seconds`` on ``queue``."""

    name: str
    seconds: float
    func: Callable[..., Any]
    queue: str


def periodic_tasks(app: Flask) -> list[Periodic]:
    """The periodic work and its intervals (configurable)."""
    from dispatch.jobs import tasks

    cfg = app.config
    return [
        Periodic("sla-sweep", float(cfg.get("SLA_SWEEP_SECONDS", 60)), tasks.sweep, "sla"),
        Periodic(
            "outbox-pump", float(cfg.get("OUTBOX_PUMP_SECONDS", 15)), tasks.pump, "notifications"
        ),
        Periodic(
            "calendar-check",
            float(cfg.get("CALENDAR_ALARM_SECONDS", 3600)),
            tasks.check_calendar,
            "default",
        ),
        Periodic("case-numbers-tidy", 86400.0, tasks.tidy_case_numbers, "default"),
    ]


class Scheduler:
    """One scheduler process: holds the lock when it can, enqueues each slot's run once."""

    def __init__(self, app: Flask) -> None:
        from dispatch.jobs.queue import redis_connection

        self.app = app
        self.conn = redis_connection(app)
        if self.conn is None:
            raise RuntimeError(
                "the scheduler needs REDIS_URL (the embedded default runs "
                "periodic work inside `flask start`)"
            )
        self.ttl = float(app.config.get("SCHEDULER_LOCK_SECONDS", 30))
        self.lock = self.conn.lock(LOCK_NAME, timeout=self.ttl, thread_local=False)
        self.tasks = periodic_tasks(app)
        self.last_slot: dict[str, int] = {}
        self.leader = False
        self._stop = False

    def stop(self, *_: Any) -> None:
        self._stop = True

    def tick(self, now: float | None = None) -> list[str]:
        """One round: keep or take the lock, enqueue the slots that began; returns job ids."""
        from redis.exceptions import LockError, RedisError

        now = time.time() if now is None else now
        try:
            if self.leader:
                try:
                    self.lock.reacquire()
                except LockError:
                    log.warning("scheduler lost its lock; another process took over")
                    self.leader = False
            if not self.leader:
                self.leader = bool(self.lock.acquire(blocking=False))
                if self.leader:
                    log.info("scheduler holds the lock")
            if not self.leader:
                return []
            return self._enqueue_due(now)
        except RedisError as exc:
            log.warning("scheduler: Redis unavailable (%s); retrying", exc)
            self.leader = False
            return []

    def _enqueue_due(self, now: float) -> list[str]:
        from rq.exceptions import DuplicateJobError

        from dispatch.jobs.queue import rq_queue

        enqueued = []
        for task in self.tasks:
            slot = int(now // task.seconds)
            if self.last_slot.get(task.name) == slot:
                continue
            job_id = f"{task.name}-{slot}"
            try:
                with self.app.app_context():
                    rq_queue(task.queue, self.app).enqueue(
                        task.func,
                        job_id=job_id,
                        unique=True,
                        result_ttl=3600,
                        failure_ttl=7 * 86400,
                        job_timeout=max(task.seconds * 5, 300),
                    )
                enqueued.append(job_id)
            except DuplicateJobError:
                pass  # another scheduler got there first: that is the point
            self.last_slot[task.name] = slot
        return enqueued

    def run(self, interval: float = 1.0) -> None:
        """Tick until SIGTERM/SIGINT; release the lock on the way out."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        while not self._stop:
            self.tick()
            time.sleep(interval)
        if self.leader:
            with contextlib.suppress(Exception):  # expired already: nothing to release
                self.lock.release()
