"""Notifications: the in-app inbox row per user, and the outbox of deliveries to send.

Both are written in the same transaction as the case change (or sweep) that caused them, so a
committed change always has its notifications, and a rolled-back one has none. Jobs deliver the
outbox; a delivery is claimed before it is sent and marked sent after, so nothing leaves twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.types import UTCDateTime, utcnow


class NotificationKind(enum.StrEnum):
    DISPATCHED = "dispatched"  #: a case was dispatched to you
    YELLOW = "yellow"  #: a stage used its warning share
    RED = "red"  #: a stage is past due
    RED_DIGEST = "red_digest"  #: many stages past due at once (for the supervisors above)
    URGED = "urged"  #: a supervisor urged (督办) the case
    REWORK = "rework"  #: the check failed: the case is back with you
    APPROVAL_WAITING = "approval_waiting"  #: a request waits for your decision
    REQUEST_DECIDED = "request_decided"  #: your request was approved or rejected
    REPORT_FLAGGED = "report_flagged"  #: an inspector's report looks doubtful


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"  #: claimed by a job until ``claimed_until``
    SENT = "sent"
    FAILED = "failed"  #: gave up after the last attempt (kept, visible to administrators)


class Notification(Base):
    """One message to one user, shown in their inbox (every page's header)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_file.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    #: What the message says, rendered in the reader's language when shown (case number, stage…).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Urgent messages leave at once; others wait for working time (quiet hours).
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Names the cause (``red:timer:17:user:4``): the same cause never notifies twice.
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    deliveries: Mapped[list[OutboxMessage]] = relationship(back_populates="notification")


class OutboxMessage(Base):
    """A notification to deliver through one outbound channel (webhook, log)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("notification_id", "channel", name="uq_outbox_message_channel"),
        CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed')", name="state_known"),
        CheckConstraint("(state = 'sent') = (sent_at IS NOT NULL)", name="sent_has_time"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        # What the pump looks for: due deliveries and stale claims.
        Index(
            "ix_outbox_message_due",
            "next_attempt_at",
            postgresql_where=text("state IN ('pending', 'sending')"),
            sqlite_where=text("state IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notification.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Not before this instant (quiet hours), then retried with backoff from ``next_attempt_at``.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: A claim: the job that set it owns the delivery until then (a killed job's claim lapses).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: host:pid of the process that claimed it last (for operators chasing a stuck delivery).
    claimed_by: Mapped[str] = mapped_column(String(100), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    notification: Mapped[Notification] = relationship(back_populates="deliveries")
