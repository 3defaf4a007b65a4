"""The job functions RQ workers (and the embedded runner) execute.

Each takes plain ids, runs inside an app context (the worker command pushes one; a bare
``rq worker`` gets one built from the environment on first use), opens its own sessions and is
safe to run twice: it re-checks the database before acting.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, has_app_context

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_app: Flask | None = None


def _job_app() -> Flask:
    global _app
    if _app is None:
        from core.factory import create_app

        _app = create_app()
    return _app


def in_app(func: F) -> F:
    """Run the job inside an app context (reusing the caller's when there is one)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return func(*args, **kwargs)
        with _job_app().app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@in_app
def deliver(outbox_id: int) -> str:
    """Deliver one outbox row through its channel (claim, send, record)."""
    from dispatch.notifications.outbox import deliver as deliver_row

    return deliver_row(outbox_id)


@in_app
def pump() -> int:
    """Hand due and abandoned deliveries to jobs again."""
    from dispatch.notifications.outbox import pump as pump_outbox

    return pump_outbox()


@in_app
def sweep() -> dict[str, Any]:
    """The SLA sweep: mark timers crossing yellow and red, once each, with their notifications."""
    import time

    from sqlalchemy.exc import OperationalError

    from core.db import database, is_lock_race
    from dispatch.sla.sweep import sweep as run_sweep

    for attempt in range(5):
        try:
            with database().new_session() as sess:
                result = run_sweep(sess, commit=True)
            break
        except OperationalError as exc:  # SQLite: a request wrote first; sweep again
            if not is_lock_race(exc) or attempt == 4:
                raise
            time.sleep(0.05 * 2**attempt)
    if result.yellow or result.red:
        log.info("sweep: %s", result)
    return result.as_dict()


@in_app
def check_calendar() -> str | None:
    """Warn (log) when the working-time calendar lacks the coming year."""
    from core.db import database
    from dispatch.access import today
    from dispatch.sla.calendar_store import coverage_warning

    with database().new_session() as sess:
        message = coverage_warning(sess, today())
    if message:
        logging.getLogger("dispatch.sla.calendar").warning("%s", message)
    return message


@in_app
def tidy_case_numbers() -> list[str]:
    """Drop the case-number sequences of past days (PostgreSQL; nothing to do elsewhere)."""
    from core.db import database
    from dispatch.access import today
    from dispatch.case_numbers import drop_old_day_sequences

    with database().engine.begin() as conn:
        dropped = drop_old_day_sequences(conn, today())
    if dropped:
        log.info("dropped the number sequences of past days: %s", ", ".join(dropped))
    return dropped
