"""Offboarding events from identity providers, HR systems and scripts (one row per source and event id, so a
redelivery never opens a second request), the re-checks after a removal that show it held, and the
reminders owed as a removal deadline nears and passes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("subject_email", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["offboard_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id"),
    )
    with op.batch_alter_table("trigger_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_event_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_event_subject_email"), ["subject_email"], unique=False)

    op.create_table(
        "removal_recheck",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("vendor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("new_request_id", sa.Integer(), nullable=True),
        sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["offboard_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "vendor", "seq"),
    )
    with op.batch_alter_table("removal_recheck", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_removal_recheck_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_removal_recheck_request_id"), ["request_id"], unique=False)

    op.create_table(
        "deadline_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["offboard_request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "stage"),
    )
    with op.batch_alter_table("deadline_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_notice_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deadline_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_notice_request_id"))
    op.drop_table("deadline_notice")
    with op.batch_alter_table("removal_recheck", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_removal_recheck_request_id"))
        batch_op.drop_index(batch_op.f("ix_removal_recheck_due_at"))
    op.drop_table("removal_recheck")
    with op.batch_alter_table("trigger_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trigger_event_subject_email"))
        batch_op.drop_index(batch_op.f("ix_trigger_event_request_id"))
    op.drop_table("trigger_event")
