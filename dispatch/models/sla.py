"""SLA policy (process limits per stage) and the timer each stage of a case runs.

A timer copies its limit and clock from the policy or the filing condition when its stage starts,
so editing a policy changes new stages only. Its deadline (``due_at``) and warning point
(``warn_at``) are stored and indexed; the sweep marks yellow and red from them, and the result
(on time or late, by how much) is frozen when the stage ends.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, one_of
from core.types import UTCDateTime, utcnow


class Stage(enum.StrEnum):
    """The stages of a case that each have their own clock (DOMAIN.md §4-§5)."""

    VERIFY = "verify"  #: 核实
    FILE = "file"  #: 立案
    DISPATCH = "dispatch"  #: 派遣
    ACCEPT = "accept"  #: 签收
    HANDLE = "handle"  #: 处置 (limit from the filing condition)
    CHECK = "check"  #: 核查
    CLOSE = "close"  #: 结案
    CALLBACK = "callback"  #: 12345 回访


class TimerState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  #: suspended case, or an approval request waiting
    MET = "met"  #: the stage ended; ``result`` says on time or late
    CANCELLED = "cancelled"  #: the stage ended without counting (e.g. an approved return)


class Level(enum.IntEnum):
    """How alarming a running timer is."""

    NONE = 0
    YELLOW = 1  #: used the warning share of its limit
    RED = 2  #: past due


class SlaPolicy(Base):
    """The process limit of a stage (verify, file, dispatch, accept, check, close, callback) for an
    urgency; the handling stage takes its limit from the case's filing condition instead."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        UniqueConstraint("stage", "urgency", name="uq_sla_policy_stage_urgency"),
        CheckConstraint(one_of("stage", Stage), name="stage_known"),
        CheckConstraint("urgency IN ('normal', 'urgent')", name="urgency_known"),
        CheckConstraint("limit_value > 0", name="limit_positive"),
        CheckConstraint(
            "clock_type IN ('natural_hours', 'working_hours', 'working_days')", name="clock_known"
        ),
        CheckConstraint("warn_share > 0 AND warn_share < 1", name="warn_share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    limit_value: Mapped[float] = mapped_column(Float)
    clock_type: Mapped[str] = mapped_column(String(16))
    #: Yellow when this share of the limit is used.
    warn_share: Mapped[float] = mapped_column(Float, default=0.8)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseTimer(Base):
    """One stage of one case against its limit.

    The budget is kept in seconds of the timer's clock (natural seconds, or working seconds for
    working-hour and working-day limits): ``used_s`` is what was consumed before
    ``running_since``; pausing adds the running part to ``used_s``; resuming computes the new
    ``due_at``/``warn_at`` from what is left. Deadlines are thus stored, never recomputed on read.
    """

    __tablename__ = "case_timer"
    __table_args__ = (
        UniqueConstraint("case_id", "stage", "round", name="uq_case_timer_stage_round"),
        CheckConstraint(one_of("stage", Stage), name="stage_known"),
        CheckConstraint(one_of("state", TimerState), name="state_known"),
        CheckConstraint("level IN (0, 1, 2)", name="level_known"),
        CheckConstraint("budget_s >= 0 AND used_s >= 0", name="budget_nonnegative"),
        CheckConstraint(
            "(state = 'running') = (running_since IS NOT NULL)", name="running_has_since"
        ),
        CheckConstraint(
            "(state IN ('met', 'cancelled')) = (ended_at IS NOT NULL)", name="ended_has_time"
        ),
        CheckConstraint("state <> 'met' OR result IN ('on_time', 'late')", name="met_has_result"),
        # The sweep's two questions, each answered from a small partial index.
        Index(
            "ix_case_timer_due_running",
            "due_at",
            postgresql_where=text("state = 'running' AND level < 2"),
            sqlite_where=text("state = 'running' AND level < 2"),
        ),
        Index(
            "ix_case_timer_warn_running",
            "warn_at",
            postgresql_where=text("state = 'running' AND level < 1"),
            sqlite_where=text("state = 'running' AND level < 1"),
        ),
        # Stages due in a period, open or ended, with what the on-time rates read (the dashboard
        # and the evaluation answer from the index alone).
        Index("ix_case_timer_stage_due", "stage", "due_at", "state", "result", "case_id"),
        # Overdue lists: open timers in due order.
        Index(
            "ix_case_timer_open_due",
            "due_at",
            postgresql_where=text("state IN ('running', 'paused')"),
            sqlite_where=text("state IN ('running', 'paused')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    #: 1 for the first run of the stage; rework, a return or a reopening start round 2, 3 …
    round: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default=TimerState.RUNNING)

    #: The limit as it was when the stage started (copied, so policy edits never rewrite it).
    limit_value: Mapped[float] = mapped_column(Float)
    clock_type: Mapped[str] = mapped_column(String(16))
    #: Where the limit came from: ``policy:handle/normal``, ``filing_condition:12``.
    limit_source: Mapped[str] = mapped_column(String(64), default="")
    warn_share: Mapped[float] = mapped_column(Float, default=0.8)
    #: The limit in seconds of the clock (working seconds for working clocks).
    budget_s: Mapped[float] = mapped_column(Float)
    #: Clock seconds consumed before ``running_since`` (i.e. up to the last pause).
    used_s: Mapped[float] = mapped_column(Float, default=0.0)

    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The deadline fell in a year whose holidays are not known yet (weekday rule assumed).
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)

    level: Mapped[int] = mapped_column(Integer, default=Level.NONE)
    yellow_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    red_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    #: Why the clock stands still now (``suspended``, ``request:extension`` …); empty: running.
    paused_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Every pause, for the record: [[from, to or null, reason], …] (ISO 8601 UTC).
    pauses: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    #: Approved extensions: [{"request_id", "from", "to", "at"}].
    extensions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Frozen when the stage ends: ``on_time`` or ``late`` (NULL while open or when cancelled).
    result: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: How late the stage ended: natural seconds past the due time (0 when on time); for a
    #: stage that ended while its clock stood still, the clock seconds it overran its budget.
    late_by_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_reason: Mapped[str] = mapped_column(String(32), default="")

    case = relationship("Case", back_populates="timers")

    @property
    def is_open(self) -> bool:
        return self.state in (TimerState.RUNNING, TimerState.PAUSED)
