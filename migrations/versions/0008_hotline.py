"""The 12345 hotline desk: calls, gazetteer, knowledge base, callbacks, incoming calls, reveals

Revision ID: 0008_hotline
Revises: 0008_open_cases
Create Date: 2026-11-21 18:31:54.146241
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.types

revision: str = "0008_hotline"
down_revision: str | None = "0008_open_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_caller", schema=None) as batch_op:
        batch_op.create_index("ix_case_caller_phone", ["phone"], unique=False)
    op.create_table(
        "gazetteer_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("aliases", sa.String(length=500), nullable=False),
        sa.Column("parent_name", sa.String(length=200), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "kind IN ('district', 'street', 'community', 'road', 'landmark')",
            name=op.f("ck_gazetteer_entry_kind_known"),
        ),
        sa.CheckConstraint(
            "lng BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
            name=op.f("ck_gazetteer_entry_lnglat"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gazetteer_entry")),
        sa.UniqueConstraint("kind", "name", "parent_name", name="uq_gazetteer_entry_place"),
    )
    with op.batch_alter_table("gazetteer_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gazetteer_entry_name"), ["name"], unique=False)

    op.create_table(
        "hotline_counter",
        sa.Column("day", sa.String(length=8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_hotline_counter")),
    )
    op.create_table(
        "hotline_incoming",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("line", sa.String(length=16), nullable=False),
        sa.Column("seat", sa.String(length=32), nullable=False),
        sa.Column("announced_by_id", sa.Integer(), nullable=True),
        sa.Column("at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["announced_by_id"],
            ["app_user.id"],
            name=op.f("fk_hotline_incoming_announced_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_incoming")),
    )
    with op.batch_alter_table("hotline_incoming", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotline_incoming_seat"), ["seat"], unique=False)

    op.create_table(
        "knowledge_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["app_user.id"],
            name=op.f("fk_knowledge_entry_updated_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entry")),
    )
    op.create_table(
        "hotline_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("caller_phone", sa.String(length=32), nullable=False),
        sa.Column("caller_name", sa.String(length=100), nullable=False),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("attached_to_case_id", sa.Integer(), nullable=True),
        sa.Column("knowledge_entry_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("operator_user_id", sa.Integer(), nullable=True),
        sa.Column("seat", sa.String(length=32), nullable=False),
        sa.Column("created_at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(outcome = 'answered') = (case_id IS NULL)",
            name=op.f("ck_hotline_call_case_unless_answered"),
        ),
        sa.CheckConstraint(
            "channel IN ('12345', '12319', '12369', '12348', '12318', '12355', 'enterprise', 'web', 'sms', 'mini_program')",
            name=op.f("ck_hotline_call_channel_known"),
        ),
        sa.CheckConstraint(
            "outcome <> 'answered' OR answer <> ''",
            name=op.f("ck_hotline_call_answered_has_answer"),
        ),
        sa.CheckConstraint(
            "outcome IN ('new_case', 'attached', 'answered')",
            name=op.f("ck_hotline_call_outcome_known"),
        ),
        sa.CheckConstraint(
            "request_type IN ('consultation', 'help', 'complaint', 'report', 'suggestion', 'praise', 'other')",
            name=op.f("ck_hotline_call_request_type_known"),
        ),
        sa.ForeignKeyConstraint(
            ["attached_to_case_id"],
            ["case_file.id"],
            name=op.f("fk_hotline_call_attached_to_case_id_case_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_hotline_call_case_id_case_file"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["knowledge_entry_id"],
            ["knowledge_entry.id"],
            name=op.f("fk_hotline_call_knowledge_entry_id_knowledge_entry"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["operator_user_id"],
            ["app_user.id"],
            name=op.f("fk_hotline_call_operator_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_call")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_hotline_call_idempotency_key")),
        sa.UniqueConstraint("number", name=op.f("uq_hotline_call_number")),
    )
    with op.batch_alter_table("hotline_call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotline_call_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hotline_call_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_hotline_call_phone_created", ["caller_phone", "created_at"], unique=False
        )

    op.create_table(
        "hotline_callback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.Integer(), nullable=False),
        sa.Column("timer_round", sa.Integer(), nullable=False),
        sa.Column("satisfaction", sa.String(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "satisfaction IN ('satisfied', 'basically_satisfied', 'dissatisfied')",
            name=op.f("ck_hotline_callback_satisfaction_known"),
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["case_caller.id"],
            name=op.f("fk_hotline_callback_caller_id_case_caller"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
            name=op.f("fk_hotline_callback_case_id_case_file"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_hotline_callback_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_callback")),
        sa.UniqueConstraint("caller_id", "timer_round", name="uq_hotline_callback_caller_round"),
    )
    with op.batch_alter_table("hotline_callback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotline_callback_case_id"), ["case_id"], unique=False)

    op.create_table(
        "phone_reveal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("caller_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["hotline_call.id"],
            name=op.f("fk_phone_reveal_call_id_hotline_call"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["case_caller.id"],
            name=op.f("fk_phone_reveal_caller_id_case_caller"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["app_user.id"],
            name=op.f("fk_phone_reveal_user_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_reveal")),
    )
    with op.batch_alter_table("phone_reveal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_reveal_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_caller", schema=None) as batch_op:
        batch_op.drop_index("ix_case_caller_phone")
    with op.batch_alter_table("phone_reveal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_reveal_user_id"))

    op.drop_table("phone_reveal")
    with op.batch_alter_table("hotline_callback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotline_callback_case_id"))

    op.drop_table("hotline_callback")
    with op.batch_alter_table("hotline_call", schema=None) as batch_op:
        batch_op.drop_index("ix_hotline_call_phone_created")
        batch_op.drop_index(batch_op.f("ix_hotline_call_created_at"))
        batch_op.drop_index(batch_op.f("ix_hotline_call_case_id"))

    op.drop_table("hotline_call")
    op.drop_table("knowledge_entry")
    with op.batch_alter_table("hotline_incoming", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotline_incoming_seat"))

    op.drop_table("hotline_incoming")
    op.drop_table("hotline_counter")
    with op.batch_alter_table("gazetteer_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gazetteer_entry_name"))

    op.drop_table("gazetteer_entry")
