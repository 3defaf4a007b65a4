"""Delivering the outbox: claim a row, send it through its channel, record the outcome.

A delivery is *claimed* (state ``sending`` until ``claimed_until``) in its own short transaction
before anything is sent, and marked ``sent`` after. Two jobs for the same row: the second finds
it claimed or sent and does nothing. A job killed mid-send leaves a claim that lapses; the pump
then hands the row to a new job, which sends it with the same idempotency key. Failures retry
with exponential backoff up to ``OUTBOX_MAX_ATTEMPTS``, then the row is kept as ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.db import database
from core.types import utcnow
from dispatch.models import Case, Notification, OutboxMessage, User
from dispatch.models.notifications import OutboxState
from dispatch.notifications.channels import Outbound, channel
from dispatch.notifications.render import render

log = logging.getLogger(__name__)


@contextmanager
def _tx() -> Iterator[Session]:
    """A short transaction of its own (committed on exit), on the app's database."""
    with database().new_session() as sess:
        yield sess
        sess.commit()


def _config(key: str, default: float) -> float:
    return float(current_app.config.get(key, default))


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 30 s, 1 min, 2 min … capped at an hour."""
    base = _config("OUTBOX_BACKOFF_SECONDS", 30.0)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600.0))


def claim(outbox_id: int, now: datetime) -> bool:
    """Take the delivery (committed at once) if it is due and nobody holds it."""
    table = OutboxMessage.__table__
    lease = timedelta(seconds=_config("OUTBOX_LEASE_SECONDS", 120.0))
    stmt = (
        update(table)
        .where(
            table.c.id == outbox_id,
            table.c.next_attempt_at <= now,
            or_(
                table.c.state == OutboxState.PENDING,
                (table.c.state == OutboxState.SENDING) & (table.c.claimed_until < now),
            ),
        )
        .values(
            state=OutboxState.SENDING,
            claimed_until=now + lease,
            claimed_by=f"{socket.gethostname()}:{os.getpid()}",
            attempts=table.c.attempts + 1,
        )
    )
    with _tx() as conn:
        return conn.execute(stmt).rowcount == 1


def _outbound(outbox_id: int) -> tuple[str, Outbound]:
    with database().new_session() as sess:
        msg = sess.get(OutboxMessage, outbox_id)
        assert msg is not None
        note = sess.get(Notification, msg.notification_id)
        assert note is not None
        user = sess.get(User, note.user_id)
        case = sess.get(Case, note.case_id) if note.case_id else None
        person: dict[str, object] = {"user_id": note.user_id}
        if user is not None:
            person["username"] = user.username
            person["name"] = user.display_name
            if user.officer_id is not None:
                from grids.models import Officer

                officer = sess.get(Officer, user.officer_id)
                if officer is not None:
                    person["phone"] = officer.phone
        locale = user.locale if user is not None and user.locale else None
        with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            title, body = render(note.kind, note.params or {})
        return msg.channel, Outbound(
            idempotency_key=f"outbox-{outbox_id}",
            kind=note.kind,
            urgent=note.urgent,
            case_number=case.number if case else None,
            title=title,
            body=body,
            user=person,
        )


def deliver(outbox_id: int, now: datetime | None = None) -> str:
    """Deliver one outbox row; returns what happened (``sent``, ``retry``, ``failed``, ``skip``).

    Safe to call any number of times for the same row: only a successful claim sends.
    """
    now = now or utcnow()
    if not claim(outbox_id, now):
        return "skip"
    table = OutboxMessage.__table__
    channel_name = "?"
    try:
        channel_name, outbound = _outbound(outbox_id)
        channel(channel_name).send(outbound)
    except Exception as exc:  # any failure (rendering, the channel) is retried, never lost
        with _tx() as conn:
            attempts = conn.execute(
                select(table.c.attempts).where(table.c.id == outbox_id)
            ).scalar_one()
            give_up = attempts >= int(_config("OUTBOX_MAX_ATTEMPTS", 8))
            conn.execute(
                update(table)
                .where(table.c.id == outbox_id, table.c.state == OutboxState.SENDING)
                .values(
                    state=OutboxState.FAILED if give_up else OutboxState.PENDING,
                    claimed_until=None,
                    next_attempt_at=utcnow() + backoff(attempts),
                    last_error=str(exc)[:2000],
                )
            )
        log.warning(
            "delivery %s via %s failed (attempt %s): %s", outbox_id, channel_name, attempts, exc
        )
        if give_up:
            return "failed"
        from dispatch.jobs import enqueue_deliveries

        # Its own job id: the id of this (finishing) job stays taken for a while in RQ.
        enqueue_deliveries([outbox_id], delay=backoff(attempts), attempt=attempts)
        return "retry"
    with _tx() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == outbox_id, table.c.state == OutboxState.SENDING)
            .values(state=OutboxState.SENT, sent_at=utcnow(), claimed_until=None, last_error="")
        )
    return "sent"


def due_deliveries(now: datetime, limit: int = 1000) -> list[int]:
    """Rows to hand to jobs: pending and due, or claimed by a job whose claim lapsed."""
    table = OutboxMessage.__table__
    query = (
        select(table.c.id)
        .where(
            table.c.next_attempt_at <= now,
            or_(
                table.c.state == OutboxState.PENDING,
                (table.c.state == OutboxState.SENDING) & (table.c.claimed_until < now),
            ),
        )
        .order_by(table.c.next_attempt_at)
        .limit(limit)
    )
    with database().new_session() as sess:
        return list(sess.execute(query).scalars())


def pump(now: datetime | None = None) -> int:
    """Hand every due delivery to a job (the safety net for jobs lost with Redis or a worker);
    returns how many were handed over."""
    from dispatch.jobs import enqueue_deliveries

    ids = due_deliveries(now or utcnow())
    if ids and enqueue_deliveries(ids):
        return len(ids)
    return 0
