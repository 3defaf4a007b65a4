"""The performance evaluation's (综合评价) editable settings: factor weights and grade bands.

Defaults live in code (``dispatch.insight.settings``) and are seeded into these tables; an
administrator changes them on ``/insight/settings`` or with ``flask insight``. A missing row
falls back to the default, so the evaluation never breaks on an empty table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import UTCDateTime, utcnow


class EvaluationWeight(Base):
    """The weight (in percent) of one factor in one kind of subject's score."""

    __tablename__ = "evaluation_weight"
    __table_args__ = (
        UniqueConstraint("subject_kind", "factor", name="uq_evaluation_weight_kind_factor"),
        CheckConstraint(
            "subject_kind IN ('department', 'inspector', 'operator', 'shift_supervisor',"
            " 'dispatcher')",
            name="subject_kind_known",
        ),
        CheckConstraint("weight >= 0 AND weight <= 100", name="weight_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: department, inspector, operator, shift_supervisor or dispatcher.
    subject_kind: Mapped[str] = mapped_column(String(32))
    #: The factor's key (``closure_rate``, ``on_time_check`` …; see ``dispatch.insight``).
    factor: Mapped[str] = mapped_column(String(32))
    #: Percent; the weights of one kind add up to 100 (checked when they are saved).
    weight: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )


class EvaluationGrade(Base):
    """A grade band: a score at or above ``min_score`` earns ``grade`` (the highest band wins)."""

    __tablename__ = "evaluation_grade"
    __table_args__ = (
        CheckConstraint("grade IN ('A', 'B', 'C', 'D', 'E')", name="grade_known"),
        CheckConstraint("min_score >= 0 AND min_score <= 100", name="min_score_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    grade: Mapped[str] = mapped_column(String(1), unique=True)
    min_score: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"), nullable=True
    )
