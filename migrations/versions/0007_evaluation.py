"""Performance evaluation: editable factor weights and grade bands; indexes for period queries

Revision ID: 0007_evaluation
Revises: 0006_open311
Create Date: 2026-11-22 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0007_evaluation"
down_revision: str | None = "0006_open311"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_weight",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("factor", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "subject_kind IN ('department', 'inspector', 'operator', 'shift_supervisor',"
            " 'dispatcher')",
            name=op.f("ck_evaluation_weight_subject_kind_known"),
        ),
        sa.CheckConstraint(
            "weight >= 0 AND weight <= 100", name=op.f("ck_evaluation_weight_weight_range")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["app_user.id"],
            name=op.f("fk_evaluation_weight_updated_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_weight")),
        sa.UniqueConstraint("subject_kind", "factor", name="uq_evaluation_weight_kind_factor"),
    )
    op.create_table(
        "evaluation_grade",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "grade IN ('A', 'B', 'C', 'D', 'E')", name=op.f("ck_evaluation_grade_grade_known")
        ),
        sa.CheckConstraint(
            "min_score >= 0 AND min_score <= 100",
            name=op.f("ck_evaluation_grade_min_score_range"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["app_user.id"],
            name=op.f("fk_evaluation_grade_updated_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_grade")),
        sa.UniqueConstraint("grade", name=op.f("uq_evaluation_grade_grade")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index("ix_case_event_action_at", ["action", "at"], unique=False)
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_timer_stage_due",
            ["stage", "due_at", "state", "result", "case_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.drop_index("ix_case_timer_stage_due")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index("ix_case_event_action_at")
    op.drop_table("evaluation_grade")
    op.drop_table("evaluation_weight")
