"""The inspector's phone: photos kept as evidence, and where each report was made from

Revision ID: 0009_inspector
Revises: 0008_hotline
Create Date: 2026-11-21 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0009_inspector"
down_revision: str | None = "0008_hotline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("original_format", sa.String(length=8), nullable=False),
        sa.Column("original_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("gps_lng", sa.Float(), nullable=True),
        sa.Column("gps_lat", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('report', 'verify', 'check')", name=op.f("ck_case_photo_purpose_known")
        ),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_case_photo_size_positive")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_case_photo_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["app_user.id"],
            name=op.f("fk_case_photo_uploaded_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_photo")),
        sa.UniqueConstraint("uid", name=op.f("uq_case_photo_uid")),
    )
    op.create_index("ix_case_photo_case_purpose", "case_photo", ["case_id", "purpose"])
    op.create_table(
        "report_evidence",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reporter_user_id", sa.Integer(), nullable=True),
        sa.Column("position_source", sa.String(length=8), nullable=False),
        sa.Column("device_lng", sa.Float(), nullable=True),
        sa.Column("device_lat", sa.Float(), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("reported_on_device_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("flag_detail", sa.JSON(), nullable=False),
        sa.Column("is_flagged", sa.Boolean(), nullable=False),
        sa.Column("reviewed_at", core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "position_source IN ('gps', 'pin', 'none')",
            name=op.f("ck_report_evidence_position_known"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_report_evidence_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"],
            ["app_user.id"],
            name=op.f("fk_report_evidence_reporter_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["app_user.id"],
            name=op.f("fk_report_evidence_reviewed_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_report_evidence")),
    )
    op.create_index("ix_report_evidence_flagged", "report_evidence", ["is_flagged", "reviewed_at"])
    op.create_index(
        "ix_report_evidence_reporter", "report_evidence", ["reporter_user_id", "case_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_report_evidence_reporter", table_name="report_evidence")
    op.drop_index("ix_report_evidence_flagged", table_name="report_evidence")
    op.drop_table("report_evidence")
    op.drop_index("ix_case_photo_case_purpose", table_name="case_photo")
    op.drop_table("case_photo")
