"""A partial index of the open cases with what supervisors filter them by

The overdue list's count and its filter choices read a district's open cases; without this
index PostgreSQL hashed the district's whole history (178,000 rows of a million) to count
8,000 (bench/results/supervisor.json).

Revision ID: 0008_open_cases
Revises: 0007_evaluation
Create Date: 2026-11-21 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_open_cases"
down_revision: str | None = "0007_evaluation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "state NOT IN ('closed', 'void', 'merged')"


def upgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_file_open",
            [
                "district_code",
                "grid_code",
                "owner_officer_id",
                "owner_department_id",
                "category_id",
                "id",
            ],
            unique=False,
            postgresql_where=sa.text(OPEN),
            sqlite_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_index("ix_case_file_open")
