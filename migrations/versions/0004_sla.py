"""SLA: stage policy, case timers; notifications: inbox and outbox; urging count on cases

Revision ID: 0004_sla
Revises: 0003_calendar
Create Date: 2026-11-21 15:24:56.141994
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0004_sla"
down_revision: str | None = "0003_calendar"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("clock_type", sa.String(length=16), nullable=False),
        sa.Column("warn_share", sa.Float(), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "clock_type IN ('natural_hours', 'working_hours', 'working_days')",
            name=op.f("ck_sla_policy_clock_known"),
        ),
        sa.CheckConstraint(
            "stage IN ('verify', 'file', 'dispatch', 'accept', 'handle', 'check', 'close', 'callback')",
            name=op.f("ck_sla_policy_stage_known"),
        ),
        sa.CheckConstraint(
            "urgency IN ('normal', 'urgent')", name=op.f("ck_sla_policy_urgency_known")
        ),
        sa.CheckConstraint("limit_value > 0", name=op.f("ck_sla_policy_limit_positive")),
        sa.CheckConstraint(
            "warn_share > 0 AND warn_share < 1", name=op.f("ck_sla_policy_warn_share_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policy")),
        sa.UniqueConstraint("stage", "urgency", name="uq_sla_policy_stage_urgency"),
    )
    op.create_table(
        "case_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("limit_value", sa.Float(), nullable=False),
        sa.Column("clock_type", sa.String(length=16), nullable=False),
        sa.Column("limit_source", sa.String(length=64), nullable=False),
        sa.Column("warn_share", sa.Float(), nullable=False),
        sa.Column("budget_s", sa.Float(), nullable=False),
        sa.Column("used_s", sa.Float(), nullable=False),
        sa.Column("started_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("running_since", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("warn_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("yellow_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("red_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_by", sa.JSON(), nullable=False),
        sa.Column("pauses", sa.JSON(), nullable=False),
        sa.Column("extensions", sa.JSON(), nullable=False),
        sa.Column("ended_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=8), nullable=True),
        sa.Column("late_by_s", sa.Float(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "(state = 'running') = (running_since IS NOT NULL)",
            name=op.f("ck_case_timer_running_has_since"),
        ),
        sa.CheckConstraint(
            "(state IN ('met', 'cancelled')) = (ended_at IS NOT NULL)",
            name=op.f("ck_case_timer_ended_has_time"),
        ),
        sa.CheckConstraint(
            "stage IN ('verify', 'file', 'dispatch', 'accept', 'handle', 'check', 'close', 'callback')",
            name=op.f("ck_case_timer_stage_known"),
        ),
        sa.CheckConstraint(
            "state <> 'met' OR result IN ('on_time', 'late')",
            name=op.f("ck_case_timer_met_has_result"),
        ),
        sa.CheckConstraint(
            "state IN ('running', 'paused', 'met', 'cancelled')",
            name=op.f("ck_case_timer_state_known"),
        ),
        sa.CheckConstraint(
            "budget_s >= 0 AND used_s >= 0", name=op.f("ck_case_timer_budget_nonnegative")
        ),
        sa.CheckConstraint("level IN (0, 1, 2)", name=op.f("ck_case_timer_level_known")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_timer_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_timer")),
        sa.UniqueConstraint("case_id", "stage", "round", name="uq_case_timer_stage_round"),
    )
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_timer_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_case_timer_due_running",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running' AND level < 2"),
            sqlite_where=sa.text("state = 'running' AND level < 2"),
        )
        batch_op.create_index(
            "ix_case_timer_open_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("state IN ('running', 'paused')"),
            sqlite_where=sa.text("state IN ('running', 'paused')"),
        )
        batch_op.create_index(
            "ix_case_timer_warn_running",
            ["warn_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running' AND level < 1"),
            sqlite_where=sa.text("state = 'running' AND level < 1"),
        )

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_notification_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_notification_user_id_app_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_notification_user_unread", ["user_id", "read_at", "id"], unique=False
        )

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(state = 'sent') = (sent_at IS NOT NULL)", name=op.f("ck_outbox_message_sent_has_time")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed')",
            name=op.f("ck_outbox_message_state_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_message_attempts_nonnegative")),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
            name=op.f("fk_outbox_message_notification_id_notification"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("notification_id", "channel", name="uq_outbox_message_channel"),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_message_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("state IN ('pending', 'sending')"),
            sqlite_where=sa.text("state IN ('pending', 'sending')"),
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_notification_id"), ["notification_id"], unique=False
        )

    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urge_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(op.f("ck_case_file_urge_nonnegative"), "urge_count >= 0")


def downgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_case_file_urge_nonnegative"), type_="check")
        batch_op.drop_column("urge_count")

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_notification_id"))
        batch_op.drop_index(
            "ix_outbox_message_due",
            postgresql_where=sa.text("state IN ('pending', 'sending')"),
            sqlite_where=sa.text("state IN ('pending', 'sending')"),
        )

    op.drop_table("outbox_message")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_user_unread")
        batch_op.drop_index(batch_op.f("ix_notification_case_id"))

    op.drop_table("notification")
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_case_timer_warn_running",
            postgresql_where=sa.text("state = 'running' AND level < 1"),
            sqlite_where=sa.text("state = 'running' AND level < 1"),
        )
        batch_op.drop_index(
            "ix_case_timer_open_due",
            postgresql_where=sa.text("state IN ('running', 'paused')"),
            sqlite_where=sa.text("state IN ('running', 'paused')"),
        )
        batch_op.drop_index(
            "ix_case_timer_due_running",
            postgresql_where=sa.text("state = 'running' AND level < 2"),
            sqlite_where=sa.text("state = 'running' AND level < 2"),
        )
        batch_op.drop_index(batch_op.f("ix_case_timer_case_id"))

    op.drop_table("case_timer")
    op.drop_table("sla_policy")
