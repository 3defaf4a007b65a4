"""The outbox: delivery through a real HTTP webhook, claims, retries with backoff, giving up,
lapsed claims picked up by the pump, and a change rolled back sends nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch.models import Notification, OutboxMessage
from dispatch.notifications import notify
from dispatch.notifications.outbox import claim, deliver, due_deliveries
from dispatch.sla.calendar_store import calendar
from tests.test_sla_timers import at
from tests.workflow_helpers import World, build_world, new_case


class Receiver:
    """A webhook endpoint on loopback that records what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = Receiver()
    monkeypatch.setitem(app.config, "NOTIFY_CHANNELS", ["webhook"])
    monkeypatch.setitem(app.config, "NOTIFY_WEBHOOK_URL", r.url)
    monkeypatch.setitem(app.config, "NOTIFY_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setitem(app.config, "OUTBOX_MAX_ATTEMPTS", 3)
    yield r
    r.close()


@pytest.fixture
def world(app: Flask, db_session: Session) -> Iterator[World]:
    with app.app_context():
        yield build_world(db_session, prefix="outbox")


def one_message(session: Session, world: World, *, when: str = "2026-03-02 10:00") -> int:
    """An urgent notification to the world's officer; returns its outbox row id."""
    case = new_case(session, world, now=at(when))
    notify(
        session,
        calendar(session),
        [world.users["officer"].id],
        case_id=case.id,
        kind="urged",
        params={"case_number": case.number, "note": "请尽快处理", "by": "值班长"},
        urgent=True,
        cause=f"test:{case.id}",
        now=at(when),
    )
    session.flush()
    return session.scalar(
        select(OutboxMessage.id).join(Notification).where(Notification.case_id == case.id)
    )


def test_webhook_delivery_is_signed_and_idempotent(
    db_session: Session, world: World, receiver: Receiver
) -> None:
    outbox_id = one_message(db_session, world)
    assert deliver(outbox_id, now=at("2026-03-02 10:00")) == "sent"
    [request] = receiver.requests
    assert request["headers"]["Idempotency-Key"] == f"outbox-{outbox_id}"
    assert request["headers"]["X-Signature"].startswith("sha256=")
    body = request["body"]
    assert body["kind"] == "urged" and body["urgent"] is True
    assert "督办" in body["title"] or "urged" in body["title"].lower()
    assert body["body"] == "请尽快处理"
    row = db_session.get(OutboxMessage, outbox_id)
    db_session.refresh(row)
    assert (row.state, row.attempts) == ("sent", 1) and row.sent_at is not None
    # Delivering again (a duplicate job) sends nothing.
    assert deliver(outbox_id, now=at("2026-03-02 10:01")) == "skip"
    assert len(receiver.requests) == 1


def test_failures_retry_with_backoff_then_give_up(
    db_session: Session, world: World, receiver: Receiver
) -> None:
    outbox_id = one_message(db_session, world)
    receiver.status = 500
    assert deliver(outbox_id, now=at("2026-03-02 10:00")) == "retry"
    row = db_session.get(OutboxMessage, outbox_id)
    db_session.refresh(row)
    assert row.state == "pending" and row.attempts == 1 and "500" in row.last_error
    first_wait = row.next_attempt_at
    # Not due yet: the pump leaves it alone and a stray job does nothing.
    assert outbox_id not in due_deliveries(first_wait - timedelta(seconds=1))
    assert deliver(outbox_id, now=first_wait - timedelta(seconds=1)) == "skip"
    assert outbox_id in due_deliveries(first_wait + timedelta(seconds=1))
    # Second attempt fails too: the wait doubles.
    db_session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(next_attempt_at=at("2026-03-02 10:00"))
    )
    assert deliver(outbox_id, now=at("2026-03-02 10:05")) == "retry"
    db_session.refresh(row)
    assert row.attempts == 2
    db_session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(next_attempt_at=at("2026-03-02 10:00"))
    )
    assert deliver(outbox_id, now=at("2026-03-02 10:10")) == "failed"
    db_session.refresh(row)
    assert row.state == "failed" and row.attempts == 3
    assert outbox_id not in due_deliveries(at("2026-03-09 10:00"))
    assert len(receiver.requests) == 3


def test_a_claim_is_taken_once_and_a_lapsed_claim_is_handed_over(
    db_session: Session,
    world: World,
    receiver: Receiver,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 60)
    outbox_id = one_message(db_session, world)
    now = at("2026-03-02 10:00")
    assert claim(outbox_id, now) is True
    assert claim(outbox_id, now) is False  # a second job: somebody holds it
    assert outbox_id not in due_deliveries(now + timedelta(seconds=30))
    # The holder died: after the lease, the pump sees it and a new job delivers it.
    later = now + timedelta(seconds=61)
    assert outbox_id in due_deliveries(later)
    assert deliver(outbox_id, now=later) == "sent"
    row = db_session.get(OutboxMessage, outbox_id)
    db_session.refresh(row)
    assert row.attempts == 2 and row.claimed_by
    assert len(receiver.requests) == 1


def test_a_rolled_back_change_sends_nothing(
    app: Flask, db_session: Session, world: World, receiver: Receiver
) -> None:
    before = db_session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))
    sp = db_session.begin_nested()
    one_message(db_session, world)
    sp.rollback()
    after = db_session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()))
    assert after == before
    # A delivery request queued inside the rolled-back savepoint finds no row: nothing leaves.
    for fn in db_session.info.pop("after_commit", []):
        fn()
    assert receiver.requests == []


def test_unknown_channel_is_a_recorded_failure(
    db_session: Session, world: World, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "NOTIFY_CHANNELS", ["carrier-pigeon"])
    outbox_id = one_message(db_session, world)
    assert deliver(outbox_id, now=at("2026-03-02 10:00")) == "retry"
    row = db_session.get(OutboxMessage, outbox_id)
    db_session.refresh(row)
    assert "unknown channel" in row.last_error
