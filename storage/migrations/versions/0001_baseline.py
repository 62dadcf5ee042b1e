"""baseline: the schema as create_all made it

Revision ID: 0001
Revises: (none, the first)
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('access_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('period', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('card_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('attested_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('attested_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('approval_watch',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('pending_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('next_reminder_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('escalate_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('approval_watch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_watch_next_reminder_at'), ['next_reminder_at'], unique=False)

    op.create_table('approver_nudge',
    sa.Column('approver_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_digest_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('approver_id')
    )
    op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('personal_paths', sa.JSON(), nullable=False),
    sa.Column('salt', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('personal_digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('prev_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_hash'), ['hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_request_id'), ['request_id'], unique=False)

    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ticket', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('approvals_needed', sa.Integer(), nullable=False),
    sa.Column('card_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('details_shared', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('notified', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_status'), ['status'], unique=False)

    op.create_table('invite_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('inviter_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('approval_why', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('personal_override_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('inviter_told', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invite_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_batch_status'), ['status'], unique=False)

    op.create_table('job_run',
    sa.Column('job', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('slot', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('job', 'slot')
    )
    op.create_table('offboard_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject_email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('subject_slack_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('subject_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('ticket', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('requester_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('source_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('new_owner_slack_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('new_owner_email', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('vendors', sa.JSON(), nullable=False),
    sa.Column('card_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('mode_params', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('offboard_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offboard_request_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_offboard_request_effective_at'), ['effective_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_offboard_request_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_offboard_request_subject_email'), ['subject_email'], unique=False)

    op.create_table('onboard_job',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('retention_purge',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('retained_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('purge_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('scheduled_notice',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('started_posted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_posted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('request_id')
    )
    op.create_table('slack_delivery',
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    with op.batch_alter_table('slack_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_delivery_seen_at'), ['seen_at'], unique=False)

    op.create_table('sweep_exemption',
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('why', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('email')
    )
    op.create_table('sweep_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('card_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('card_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('page', sa.Integer(), nullable=False),
    sa.Column('vendors', sa.JSON(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('approver_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decision', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['offboard_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'approver_id')
    )
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_request_id'), ['request_id'], unique=False)

    op.create_table('batch_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('approver_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('batch_id', 'approver_id')
    )
    with op.batch_alter_table('batch_approval', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_approval_batch_id'), ['batch_id'], unique=False)

    op.create_table('emergency',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('responder_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seconds_to_removal', sa.Float(), nullable=True),
    sa.Column('acknowledged_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['offboard_request.id'], ),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('emergency', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emergency_last_reminded_at'), ['last_reminded_at'], unique=False)

    op.create_table('invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('vendors', sa.JSON(), nullable=False),
    sa.Column('projects', sa.JSON(), nullable=False),
    sa.Column('needs_approval', sa.Boolean(), nullable=False),
    sa.Column('personal_domain', sa.Boolean(), nullable=False),
    sa.Column('access_ends_on', sa.Date(), nullable=True),
    sa.Column('end_reminder_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_request_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['invite_batch.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitation_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitation_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitation_end_due_at'), ['end_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invitation_end_reminder_due_at'), ['end_reminder_due_at'], unique=False)

    op.create_table('restore_window',
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_shown', sa.Boolean(), nullable=False),
    sa.Column('restore_request_id', sa.Integer(), nullable=True),
    sa.Column('restored_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['offboard_request.id'], ),
    sa.PrimaryKeyConstraint('request_id')
    )
    with op.batch_alter_table('restore_window', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_restore_window_closes_at'), ['closes_at'], unique=False)

    op.create_table('step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('instructions', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['offboard_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'vendor', 'kind', 'key')
    )
    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_step_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_step_status'), ['status'], unique=False)

    op.create_table('sweep_finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sweep_id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('vendors', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('acted_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('acted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('slack_user_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('dm_channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('dm_ts', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('grace_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['sweep_id'], ['sweep_run.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sweep_finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sweep_finding_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweep_finding_grace_until'), ['grace_until'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweep_finding_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sweep_finding_sweep_id'), ['sweep_id'], unique=False)

    op.create_table('vendor_assessment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['offboard_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'vendor')
    )
    with op.batch_alter_table('vendor_assessment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_assessment_request_id'), ['request_id'], unique=False)

    op.create_table('invite_send',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('vendor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('summary', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('failure_kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('role_seen', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('resends', sa.Integer(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expiry_flagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitation.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('invitation_id', 'vendor')
    )
    with op.batch_alter_table('invite_send', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_send_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_send_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_send_sent_at'), ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_send_status'), ['status'], unique=False)

    op.create_table('invite_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('send_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('manual', sa.Boolean(), nullable=False),
    sa.Column('instructions', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('done_by', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['send_id'], ['invite_send.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('send_id', 'round', 'seq')
    )
    with op.batch_alter_table('invite_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invite_step_send_id'), ['send_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invite_step_status'), ['status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('invite_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_step_status'))
        batch_op.drop_index(batch_op.f('ix_invite_step_send_id'))

    op.drop_table('invite_step')
    with op.batch_alter_table('invite_send', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_send_status'))
        batch_op.drop_index(batch_op.f('ix_invite_send_sent_at'))
        batch_op.drop_index(batch_op.f('ix_invite_send_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_invite_send_batch_id'))

    op.drop_table('invite_send')
    with op.batch_alter_table('vendor_assessment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_assessment_request_id'))

    op.drop_table('vendor_assessment')
    with op.batch_alter_table('sweep_finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sweep_finding_sweep_id'))
        batch_op.drop_index(batch_op.f('ix_sweep_finding_status'))
        batch_op.drop_index(batch_op.f('ix_sweep_finding_grace_until'))
        batch_op.drop_index(batch_op.f('ix_sweep_finding_email'))

    op.drop_table('sweep_finding')
    with op.batch_alter_table('step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_step_status'))
        batch_op.drop_index(batch_op.f('ix_step_request_id'))

    op.drop_table('step')
    with op.batch_alter_table('restore_window', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_restore_window_closes_at'))

    op.drop_table('restore_window')
    with op.batch_alter_table('invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitation_end_reminder_due_at'))
        batch_op.drop_index(batch_op.f('ix_invitation_end_due_at'))
        batch_op.drop_index(batch_op.f('ix_invitation_email'))
        batch_op.drop_index(batch_op.f('ix_invitation_batch_id'))

    op.drop_table('invitation')
    with op.batch_alter_table('emergency', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_emergency_last_reminded_at'))

    op.drop_table('emergency')
    with op.batch_alter_table('batch_approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_approval_batch_id'))

    op.drop_table('batch_approval')
    with op.batch_alter_table('approval', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_request_id'))

    op.drop_table('approval')
    op.drop_table('sweep_run')
    op.drop_table('sweep_exemption')
    with op.batch_alter_table('slack_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_delivery_seen_at'))

    op.drop_table('slack_delivery')
    op.drop_table('scheduled_notice')
    op.drop_table('retention_purge')
    op.drop_table('onboard_job')
    with op.batch_alter_table('offboard_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offboard_request_subject_email'))
        batch_op.drop_index(batch_op.f('ix_offboard_request_status'))
        batch_op.drop_index(batch_op.f('ix_offboard_request_effective_at'))
        batch_op.drop_index(batch_op.f('ix_offboard_request_batch_id'))

    op.drop_table('offboard_request')
    op.drop_table('job_run')
    with op.batch_alter_table('invite_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invite_batch_status'))

    op.drop_table('invite_batch')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_status'))

    op.drop_table('batch')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_request_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_hash'))
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))

    op.drop_table('audit_event')
    op.drop_table('audit_chain_head')
    op.drop_table('approver_nudge')
    with op.batch_alter_table('approval_watch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_approval_watch_next_reminder_at'))

    op.drop_table('approval_watch')
    op.drop_table('access_review')

