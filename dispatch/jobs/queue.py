"""Where background work runs: RQ on Redis when ``REDIS_URL`` is set, else in this process.

``enqueue`` is the one door. With Redis, jobs go to named RQ queues with a deterministic job id
(re-enqueueing the same work is harmless: every job re-checks the database before acting) and
retries with backoff. If Redis cannot be reached, ``enqueue`` logs and returns False: the work
is recorded in the database (outbox rows, timers) and the periodic pump hands it over again
once Redis is back, so nothing is lost. Without Redis (the embedded default) a ``LocalRunner``
thread started by ``flask start`` runs the same jobs and the same periodic work; when no runner
is started (tests, one-off commands) immediate jobs run inline after the commit.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)

#: Named queues, most urgent first (workers listen to all three in this order).
QUEUES = ("notifications", "sla", "default")
#: Job-level retries (a crash or lost database connection, not a channel refusal).
RETRY_INTERVALS = [10, 60, 300]


def redis_connection(app: Flask | None = None) -> Any:
    """The app's Redis client, or None on the embedded default (no ``REDIS_URL``)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    conn = app.extensions.get("redis")
    if conn is None:
        from redis import Redis

        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        app.extensions["redis"] = conn
    return conn


def rq_queue(name: str, app: Flask | None = None) -> Any:
    """The RQ queue ``name`` on the app's Redis."""
    from rq import Queue

    return Queue(name, connection=redis_connection(app))


def enqueue(
    func: Callable[..., Any],
    *args: Any,
    job_id: str | None = None,
    queue: str = "default",
    delay: timedelta | None = None,
) -> bool:
    """Run ``func(*args)`` in the background; False when it could not be handed over now."""
    return enqueue_many(func, [args], job_ids=[job_id], queue=queue, delay=delay)


def enqueue_many(
    func: Callable[..., Any],
    arg_lists: list[tuple[Any, ...]],
    *,
    job_ids: list[str | None] | None = None,
    queue: str = "default",
    delay: timedelta | None = None,
    timeout: int | None = None,
) -> bool:
    """Enqueue ``func`` once per argument tuple (one Redis round trip for the lot);
    ``timeout``: seconds after which RQ stops the job."""
    if not arg_lists:
        return True
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    job_ids = job_ids or [None] * len(arg_lists)
    conn = redis_connection(app)
    if conn is not None:
        return _enqueue_rq(app, func, arg_lists, job_ids, queue, delay, timeout)
    runner: LocalRunner | None = app.extensions.get("job_runner")
    if runner is not None and runner.is_alive():
        for args in arg_lists:
            runner.submit(func, args, delay=delay)
        return True
    if delay is not None:
        return False  # nobody to wake up later: the periodic pump will find it when due
    for args in arg_lists:
        try:
            func(*args)
        except Exception:
            log.exception("inline job %s%r failed", getattr(func, "__name__", func), args)
    return True


def _enqueue_rq(
    app: Flask,
    func: Callable[..., Any],
    arg_lists: list[tuple[Any, ...]],
    job_ids: list[str | None],
    queue: str,
    delay: timedelta | None,
    timeout: int | None,
) -> bool:
    from redis.exceptions import RedisError
    from rq import Retry

    try:
        q = rq_queue(queue, app)
        retry = Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)
        if delay is not None:
            for args, job_id in zip(arg_lists, job_ids, strict=True):
                q.enqueue_in(
                    delay,
                    func,
                    *args,
                    job_id=job_id,
                    retry=retry,
                    failure_ttl=7 * 86400,
                    job_timeout=timeout,
                )
            return True
        datas = [
            q.prepare_data(
                func,
                args=args,
                job_id=job_id,
                retry=retry,
                failure_ttl=7 * 86400,
                timeout=timeout,
            )
            for args, job_id in zip(arg_lists, job_ids, strict=True)
        ]
        with q.connection.pipeline() as pipe:
            q.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
        return True
    except RedisError as exc:
        # The work is in the database; the pump re-enqueues it when Redis is back.
        log.warning(
            "Redis unavailable, %d %s job(s) wait for the pump: %s",
            len(arg_lists),
            getattr(func, "__name__", func),
            exc,
        )
        return False


class LocalRunner(threading.Thread):
    """The embedded default's worker and scheduler: one daemon thread running submitted jobs
    (at once or after a delay) and periodic tasks, each inside the app's context."""

    def __init__(self, app: Flask) -> None:
        super().__init__(name="dispatch-jobs", daemon=True)
        self.app = app
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...], float | None]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stopping = False

    def submit(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...] = (),
        *,
        delay: timedelta | None = None,
        every: float | None = None,
    ) -> None:
        """Run ``func(*args)`` after ``delay`` (now by default), and then ``every`` seconds."""
        when = time.monotonic() + (delay.total_seconds() if delay else 0.0)
        with self._cv:
            heapq.heappush(self._heap, (when, next(self._seq), func, args, every))
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()

    def run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and (
                    not self._heap or self._heap[0][0] > time.monotonic()
                ):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cv.wait(timeout)
                if self._stopping:
                    return
                _when, _seq, func, args, every = heapq.heappop(self._heap)
                if every is not None:
                    heapq.heappush(
                        self._heap, (time.monotonic() + every, next(self._seq), func, args, every)
                    )
            try:
                with self.app.app_context():
                    func(*args)
            except Exception:
                log.exception("background job %s failed", getattr(func, "__name__", func))


def start_embedded(app: Flask) -> LocalRunner | None:
    """Start the in-process runner with the periodic work (embedded default only)."""
    if app.config.get("REDIS_URL"):
        return None
    from dispatch.jobs.scheduler import periodic_tasks

    runner = LocalRunner(app)
    app.extensions["job_runner"] = runner
    for task in periodic_tasks(app):
        runner.submit(task.func, (), delay=timedelta(seconds=1), every=task.seconds)
    runner.start()
    return runner
