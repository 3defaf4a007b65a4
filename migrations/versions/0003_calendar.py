"""The working-time calendar: weekday windows, holidays and make-up days, known years, revision

Revision ID: 0003_calendar
Revises: 0002_cases
Create Date: 2026-11-21 15:40:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.types import UTCDateTime

revision: str = "0003_calendar"
down_revision: str | None = "0002_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_window",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.CheckConstraint(
            "weekday BETWEEN 0 AND 7", name=op.f("ck_calendar_window_weekday_known")
        ),
        sa.CheckConstraint(
            "start_time LIKE '__:__' AND end_time LIKE '__:__'",
            name=op.f("ck_calendar_window_times_are_hh_mm"),
        ),
        sa.CheckConstraint(
            "start_time < end_time", name=op.f("ck_calendar_window_start_before_end")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_window")),
        sa.UniqueConstraint("weekday", "start_time", name="uq_calendar_window_weekday_start"),
    )
    op.create_table(
        "calendar_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('holiday', 'workday')", name=op.f("ck_calendar_day_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["app_user.id"],
            name=op.f("fk_calendar_day_updated_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_day")),
        sa.UniqueConstraint("day", name=op.f("uq_calendar_day_day")),
    )
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    revision_table = op.create_table(
        "calendar_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_calendar_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_revision")),
    )
    # The counter's one row exists from the start, so every edit is a plain UPDATE.
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0, "changed_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("calendar_revision")
    op.drop_table("calendar_year")
    op.drop_table("calendar_day")
    op.drop_table("calendar_window")
