"""Invitation sends get the same lease as offboarding requests (runner, runner_until, rerun), so that
several instances never send, resend or cancel one invitation at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invite_send", schema=None) as batch_op:
        batch_op.add_column(sa.Column("runner", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("runner_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rerun", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_invite_send_runner_until"), ["runner_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("invite_send", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_send_runner_until"))
        batch_op.drop_column("rerun")
        batch_op.drop_column("runner_until")
        batch_op.drop_column("runner")
