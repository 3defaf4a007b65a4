"""Grids: boundary sets, the grid hierarchy (geometry), officers and their duties.

Revision ID: 0001_grids
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.types import GeometryType, UTCDateTime

revision: str = "0001_grids"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "boundary_set",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boundary_set")),
        sa.UniqueConstraint("version", name=op.f("uq_boundary_set_version")),
    )
    op.create_index(
        "uq_boundary_set_one_active",
        "boundary_set",
        ["is_active"],
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )

    op.create_table(
        "grid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("boundary_set_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=15), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("geom", GeometryType("MULTIPOLYGON", 4326), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=op.f("ck_grid_level_range")),
        sa.CheckConstraint("length(code) = 15", name=op.f("ck_grid_code_length")),
        sa.ForeignKeyConstraint(
            ["boundary_set_id"],
            ["boundary_set.id"],
            name=op.f("fk_grid_boundary_set_id_boundary_set"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["grid.id"], name=op.f("fk_grid_parent_id_grid"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid")),
        sa.UniqueConstraint("boundary_set_id", "code", name="uq_grid_set_code"),
    )
    op.create_index(op.f("ix_grid_boundary_set_id"), "grid", ["boundary_set_id"])
    op.create_index(op.f("ix_grid_parent_id"), "grid", ["parent_id"])
    op.create_index("ix_grid_set_level", "grid", ["boundary_set_id", "level"])
    if bind.dialect.name == "postgresql":
        # Alembic autogenerate ignores ddl_if: the spatial index is PostgreSQL-only by hand.
        op.create_index("ix_grid_geom_gist", "grid", ["geom"], postgresql_using="gist")

    op.create_table(
        "officer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer")),
    )
    op.create_table(
        "grid_duty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.CheckConstraint("role IN ('primary', 'deputy')", name=op.f("ck_grid_duty_role_known")),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on", name=op.f("ck_grid_duty_period_order")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["officer.id"],
            name=op.f("fk_grid_duty_officer_id_officer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_duty")),
    )
    op.create_index("ix_grid_duty_code_dates", "grid_duty", ["grid_code", "starts_on"])


def downgrade() -> None:
    op.drop_table("grid_duty")
    op.drop_table("officer")
    op.drop_table("grid")
    op.drop_index("uq_boundary_set_one_active", table_name="boundary_set")
    op.drop_table("boundary_set")
