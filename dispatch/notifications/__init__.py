"""Notifications: who is told what, written with the change that caused them.

``notify`` writes inbox rows (``Notification``) and one outbox row per outbound channel in the
caller's transaction, and asks for delivery after the commit. A unique ``dedupe_key`` per cause
and user makes a second attempt to notify the same thing a no-op, so a retried job or a second
sweep can never notify twice. Outbound delivery honours quiet hours: messages that are not
urgent wait for working time (the inbox shows them at once).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import after_commit
from dispatch.models import Notification, OutboxMessage
from dispatch.notifications.recipients import Recipients
from dispatch.sla.calendar import WorkCalendar

__all__ = ["Message", "Recipients", "channels_enabled", "notify", "write_messages"]


@dataclass(frozen=True)
class Message:
    """One notification to one user."""

    user_id: int
    case_id: int | None
    kind: str
    params: dict[str, Any]
    urgent: bool
    dedupe_key: str


def channels_enabled() -> list[str]:
    """Outbound channels in use: ``NOTIFY_CHANNELS`` (``log`` by default; ``webhook`` when a
    ``NOTIFY_WEBHOOK_URL`` is configured)."""
    if not has_app_context():
        return ["log"]
    config = current_app.config
    names = list(config.get("NOTIFY_CHANNELS") or ["log"])
    if config.get("NOTIFY_WEBHOOK_URL") and "webhook" not in names:
        names.append("webhook")
    return names


def write_messages(
    session: Session, cal: WorkCalendar, messages: Iterable[Message], now: datetime
) -> list[int]:
    """Insert ``messages`` (skipping causes already notified) and their outbox rows; returns the
    ids of the inbox rows created. Set-based: one INSERT for the inbox, one for the outbox."""
    rows = [
        {
            "user_id": m.user_id,
            "case_id": m.case_id,
            "kind": m.kind,
            "params": m.params,
            "urgent": m.urgent,
            "dedupe_key": m.dedupe_key,
            "created_at": now,
        }
        for m in messages
    ]
    if not rows:
        return []
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    created = _insert_inbox_pg(conn, rows, now) if postgres else _insert_inbox(conn, rows)
    if not created:
        return []
    quiet_until = now if cal.is_working_time(now) else cal.next_working_instant(now)
    outbox = [
        (nid, channel, now if urgent else quiet_until)
        for nid, urgent in created
        for channel in channels_enabled()
    ]
    if outbox:
        written = (
            _insert_outbox_pg(conn, outbox, now) if postgres else _insert_outbox(conn, outbox, now)
        )
        # Ask for delivery once the change is committed (a rollback sends nothing).
        due_ids = [oid for oid, next_at in written if next_at <= now]
        if due_ids:
            from dispatch.jobs import enqueue_deliveries

            after_commit(session, lambda: enqueue_deliveries(due_ids))
    return [nid for nid, _urgent in created]


# Inserts, portable (executemany) and PostgreSQL (one statement over arrays: the sweep can write
# tens of thousands at a deadline minute, and psycopg re-parses long multi-VALUES batches).
_INBOX_PG = """
INSERT INTO notification (user_id, case_id, kind, params, urgent, dedupe_key, created_at)
SELECT u, c, k, p::json, g, d, %(now)s
FROM unnest(%(u)s::integer[], %(c)s::integer[], %(k)s::varchar[], %(p)s::text[],
            %(g)s::boolean[], %(d)s::varchar[]) AS x(u, c, k, p, g, d)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, urgent"""

_OUTBOX_PG = """
INSERT INTO outbox_message (notification_id, channel, state, attempts, next_attempt_at,
                            created_at, claimed_by, last_error)
SELECT n, ch, 'pending', 0, nx, %(now)s, '', ''
FROM unnest(%(n)s::integer[], %(ch)s::varchar[], %(nx)s::timestamptz[]) AS x(n, ch, nx)
RETURNING id, next_attempt_at"""


def _insert_inbox(conn: Any, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    table = Notification.__table__
    stmt = (
        sqlite_insert(table)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(table.c.id, table.c.urgent)
    )
    return [(nid, urgent) for nid, urgent in conn.execute(stmt, rows)]


def _insert_inbox_pg(
    conn: Any, rows: list[dict[str, Any]], now: datetime
) -> list[tuple[int, bool]]:
    params = {
        "now": now,
        "u": [r["user_id"] for r in rows],
        "c": [r["case_id"] for r in rows],
        "k": [r["kind"] for r in rows],
        "p": [json.dumps(r["params"], ensure_ascii=False) for r in rows],
        "g": [r["urgent"] for r in rows],
        "d": [r["dedupe_key"] for r in rows],
    }
    return [(nid, urgent) for nid, urgent in conn.exec_driver_sql(_INBOX_PG, params)]


def _insert_outbox(
    conn: Any, outbox: list[tuple[int, str, datetime]], now: datetime
) -> list[tuple[int, datetime]]:
    table = OutboxMessage.__table__
    stmt = insert(table).returning(table.c.id, table.c.next_attempt_at)
    rows = [
        {
            "notification_id": nid,
            "channel": channel,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": next_at,
            "created_at": now,
            "claimed_by": "",
            "last_error": "",
        }
        for nid, channel, next_at in outbox
    ]
    return [(oid, next_at) for oid, next_at in conn.execute(stmt, rows)]


def _insert_outbox_pg(
    conn: Any, outbox: list[tuple[int, str, datetime]], now: datetime
) -> list[tuple[int, datetime]]:
    params = {
        "now": now,
        "n": [o[0] for o in outbox],
        "ch": [o[1] for o in outbox],
        "nx": [o[2] for o in outbox],
    }
    return [(oid, next_at) for oid, next_at in conn.exec_driver_sql(_OUTBOX_PG, params)]


def notify(
    session: Session,
    cal: WorkCalendar,
    user_ids: Iterable[int],
    *,
    case_id: int | None,
    kind: str,
    params: dict[str, Any],
    urgent: bool,
    cause: str,
    now: datetime,
) -> list[int]:
    """Notify each of ``user_ids`` once about ``cause`` (e.g. ``dispatch:event:42``)."""
    messages = [
        Message(uid, case_id, kind, params, urgent, f"{cause}:user:{uid}")
        for uid in sorted(set(user_ids))
    ]
    return write_messages(session, cal, messages, now)


def unread_count(session: Session, user_id: int) -> int:
    """How many inbox messages ``user_id`` has not read (the header badge)."""
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )
