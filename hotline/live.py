"""Incoming-call announcements: the telephony system says who is calling which seat, and the
operator's open page hears it at once (server-sent events).

One broker per app: in this process (the embedded default, no Redis) or Redis pub/sub when
``REDIS_URL`` is set, so an announcement reaching one web process is heard on the pages served
by every other. Announcements are also stored (``IncomingCall``) and published only after the
commit that stored them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy.orm import Session

from core.db import after_commit
from core.types import utcnow
from dispatch.errors import InvalidInput
from dispatch.models import User
from hotline.models import Channel, IncomingCall
from hotline.services import normalise_phone

log = logging.getLogger(__name__)

#: The Redis channel announcements travel on.
CHANNEL = "hotline:incoming"


class Subscription(Protocol):
    """A listener's end: ``get`` waits up to ``timeout`` seconds for the next message."""

    def get(self, timeout: float) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class LocalBroker:
    """Announcements within this process (the embedded default)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: set[queue.Queue[dict[str, Any]]] = set()

    def publish(self, message: dict[str, Any]) -> None:
        """Hand ``message`` to every current listener."""
        with self._lock:
            targets = list(self._queues)
        for q in targets:
            q.put_nowait(message)

    def subscribe(self) -> _LocalSubscription:
        """A new listener (close it when done)."""
        q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1000)
        with self._lock:
            self._queues.add(q)
        return _LocalSubscription(self, q)

    def _drop(self, q: queue.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._queues.discard(q)


class _LocalSubscription:
    def __init__(self, broker: LocalBroker, q: queue.Queue[dict[str, Any]]) -> None:
        self._broker, self._q = broker, q

    def get(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._q.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._broker._drop(self._q)


class RedisBroker:
    """Announcements through Redis pub/sub (every web process hears every announcement)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def publish(self, message: dict[str, Any]) -> None:
        """Publish ``message``; a Redis outage is logged (the call is stored all the same)."""
        from redis.exceptions import RedisError

        try:
            self.connection.publish(CHANNEL, json.dumps(message, ensure_ascii=False))
        except RedisError as exc:
            log.warning("incoming call not published (Redis unavailable): %s", exc)

    def subscribe(self) -> _RedisSubscription:
        """A new listener on the channel (close it when done)."""
        pubsub = self.connection.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(CHANNEL)
        return _RedisSubscription(pubsub)


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    def get(self, timeout: float) -> dict[str, Any] | None:
        import time

        # Subscription confirmations come back as None at once: wait out the whole timeout.
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            msg = self._pubsub.get_message(timeout=max(left, 0.0))
            if msg and msg.get("type") == "message":
                data = msg["data"]
                return json.loads(data.decode() if isinstance(data, bytes) else data)
            if left <= 0:
                return None

    def close(self) -> None:
        try:
            self._pubsub.close()
        except Exception:  # the connection may already be gone
            log.debug("closing a pub/sub subscription failed", exc_info=True)


def broker(app: Flask | None = None) -> LocalBroker | RedisBroker:
    """The app's broker: Redis pub/sub with ``REDIS_URL``, else this process's."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    found = app.extensions.get("hotline_broker")
    if found is None:
        from dispatch.jobs.queue import redis_connection

        conn = redis_connection(app)
        found = RedisBroker(conn) if conn is not None else LocalBroker()
        app.extensions["hotline_broker"] = found
    return found


def announce(
    session: Session,
    user: User,
    phone: str,
    line: str = "12345",
    seat: str = "",
    *,
    now: datetime | None = None,
) -> IncomingCall:
    """Store an incoming call and publish it once the transaction commits."""
    phone = normalise_phone(phone)
    if not phone:
        raise InvalidInput("the caller's number is required", {"phone": "required"})
    if line not in {str(c) for c in Channel}:
        raise InvalidInput("unknown line", {"line": "unknown"})
    if len(seat) > 32:
        raise InvalidInput("a seat has at most 32 characters", {"seat": "too long"})
    row = IncomingCall(
        phone=phone, line=line, seat=seat.strip(), announced_by_id=user.id, at=now or utcnow()
    )
    session.add(row)
    session.flush()
    message = {
        "id": row.id,
        "phone": row.phone,
        "line": row.line,
        "seat": row.seat,
        "at": row.at.isoformat(),
    }
    target = broker()
    after_commit(session, lambda: target.publish(message))
    return row


def stream(
    sub: Subscription, seat: str, *, heartbeat: float = 15.0, lifetime: float = 300.0
) -> Iterator[str]:
    """Server-sent events for one page: incoming calls for ``seat`` (or for any seat when the
    announcement names none), a comment every ``heartbeat`` seconds, and an end after
    ``lifetime`` seconds (the browser reconnects: no process keeps a dead page forever)."""
    import time

    end = time.monotonic() + lifetime
    try:
        yield "retry: 1000\n: connected\n\n"
        while time.monotonic() < end:
            msg = sub.get(timeout=min(heartbeat, max(end - time.monotonic(), 0.1)))
            if msg is None:
                yield ": keep-alive\n\n"
                continue
            if seat and msg.get("seat") and msg["seat"] != seat:
                continue
            yield f"event: incoming\ndata: {json.dumps(msg, ensure_ascii=False)}\n\n"
    finally:
        sub.close()
