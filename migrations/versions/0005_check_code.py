"""Cases get a check code for the public progress look-up (existing cases get random ones)

Revision ID: 0005_check_code
Revises: 0004_sla
Create Date: 2026-11-21 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_check_code"
down_revision: str | None = "0004_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("check_code", sa.String(length=8), nullable=False, server_default="")
        )
    # Existing cases: a random code each (6 characters of the look-up alphabet would be nicer,
    # but these were never handed out; what matters is that they cannot be guessed).
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE case_file SET check_code = upper(substr(md5(random()::text), 1, 6))")
    else:
        op.execute("UPDATE case_file SET check_code = upper(substr(hex(randomblob(3)), 1, 6))")


def downgrade() -> None:
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_column("check_code")
