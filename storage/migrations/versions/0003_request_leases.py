"""Which bot instance works on a request: a lease (runner, runner_until) and a rerun flag, so that several
instances sharing one database never assess or execute the same request at once, and a dead instance's
work is taken over once its lease runs out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offboard_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("runner_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rerun", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_offboard_request_runner_until"), ["runner_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offboard_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offboard_request_runner_until"))
        batch_op.drop_column("rerun")
        batch_op.drop_column("runner_until")
        batch_op.drop_column("runner")
