"""Tables: offboarding requests, what each vendor said about the person, the steps that remove
them, the approvals, and the append-only audit log."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime, Integer, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware datetime (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json_column(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class RequestStatus(StrEnum):
    ASSESSING = "assessing"
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"  # approved, waits for its effective time
    EXECUTING = "executing"
    AWAITING_MANUAL = "awaiting_manual"  # automated work done, manual steps still unticked
    NEEDS_ATTENTION = "needs_attention"  # a step failed; Retry resumes it
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # nobody decided within the approval expiry


OPEN_STATUSES = (
    RequestStatus.ASSESSING,
    RequestStatus.PENDING_APPROVAL,
    RequestStatus.SCHEDULED,
    RequestStatus.EXECUTING,
    RequestStatus.AWAITING_MANUAL,
    RequestStatus.NEEDS_ATTENTION,
)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OffboardRequest(SQLModel, table=True):
    __tablename__ = "offboard_request"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=RequestStatus.ASSESSING, index=True)
    subject_email: str = Field(index=True)
    subject_slack_id: str | None = None
    subject_name: str = ""
    reason: str
    ticket: str = ""
    note: str = ""
    requester_id: str
    source_channel: str | None = None
    new_owner_slack_id: str | None = None
    new_owner_email: str | None = None
    effective_at: datetime | None = _time_column(index=True)
    vendors: list[str] = _json_column(list)
    card_channel: str | None = None
    card_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = _time_column()
    decision_comment: str = ""
    created_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)
    started_at: datetime | None = _time_column()
    completed_at: datetime | None = _time_column()
    # What the request changes (a RequestMode value), the batch it belongs to, and the mode's
    # choices (e.g. {"projects": ["Finance"]} for a project-only removal).
    mode: str = "full"
    batch_id: int | None = Field(default=None, index=True)
    mode_params: dict[str, Any] = _json_column(dict)
    # Several instances: the bot instance working on the request (assessing or executing it) and until when its lease
    # holds unless renewed; `rerun` asks the holder for one more pass (another instance had work for it).
    runner: str | None = None
    runner_until: datetime | None = _time_column(index=True)
    rerun: bool = False


class VendorAssessment(SQLModel, table=True):
    __tablename__ = "vendor_assessment"
    __table_args__ = (UniqueConstraint("request_id", "vendor"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="offboard_request.id", index=True)
    vendor: str
    status: str  # vendors.base.AssessmentStatus
    data: dict[str, Any] = _json_column(dict)
    assessed_at: datetime = _time_column(nullable=False)


class Step(SQLModel, table=True):
    """One vendor action, manual check, or notification. Persisted before and after it runs."""

    __tablename__ = "step"
    __table_args__ = (UniqueConstraint("request_id", "vendor", "kind", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="offboard_request.id", index=True)
    vendor: str  # a vendor name, or "slack" for notifications
    seq: int
    kind: str
    key: str = ""
    title: str
    manual: bool = False
    instructions: str = ""
    params: dict[str, Any] = _json_column(dict)
    status: str = Field(default=StepStatus.PENDING, index=True)
    attempts: int = 0
    last_error: str = ""
    outcome: str = ""
    details: dict[str, Any] = _json_column(dict)
    done_by: str | None = None  # who ticked a manual step
    started_at: datetime | None = _time_column()
    finished_at: datetime | None = _time_column()


class Approval(SQLModel, table=True):
    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="offboard_request.id", index=True)
    approver_id: str
    decision: str  # "approved" | "rejected"
    comment: str = ""
    decided_at: datetime = _time_column(nullable=False)


class AuditEvent(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted, with one exception: a retention
    purge blanks the personal fields of a request past its retention (see storage/retention.py).

    The rows form a hash chain (storage/audit.py): `seq` counts 1, 2, 3… without gaps, and `hash`
    covers the entry's public fields, the digest of its personal fields, and `prev_hash`, the hash
    of the entry before it."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(Integer, nullable=False, unique=True))
    at: datetime = _time_column(nullable=False, index=True)
    request_id: int | None = Field(default=None, index=True)
    actor: str  # a Slack user id, or "offboard" for the bot itself
    action: str
    details: dict[str, Any] = _json_column(dict)
    # Where the personal data sits: paths into {"actor": …, "details": …}, fixed when the entry is
    # recorded so that verifying never depends on today's idea of what is personal.
    personal_paths: list[list[str | int]] = _json_column(list)
    salt: str | None = None  # random; erased by a retention purge, which makes the digest unlinkable
    personal_digest: str = ""
    prev_hash: str
    hash: str = Field(index=True)


class AuditChainHead(SQLModel, table=True):
    """One row: the last entry of the audit chain. Every append updates it first, so the row lock
    (PostgreSQL) or the write lock (SQLite) puts concurrent appends in one order; it also shows
    when entries were cut off the end of the chain."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str


class RetentionPurge(SQLModel, table=True):
    """A request whose personal data a retention purge removed, and when."""

    __tablename__ = "retention_purge"

    request_id: int = Field(primary_key=True)
    reason: str
    retained_until: datetime = _time_column(nullable=False)
    purged_at: datetime = _time_column(nullable=False)
    purge_seq: int  # the audit entry that records the purge


class SlackDelivery(SQLModel, table=True):
    """A Slack request already handled, by a digest of its body: a retry (X-Slack-Retry-Num) or a
    replay of the same signed request within Slack's 5-minute window then acts at most once, even
    across bot instances sharing the database (the primary key makes the claim atomic)."""

    __tablename__ = "slack_delivery"

    digest: str = Field(primary_key=True)
    seen_at: datetime = _time_column(nullable=False, index=True)


# -- Scheduled work (sweeps, reminders, reviews). Every time something is due is a column here,
# and each due item is claimed by a conditional UPDATE or a unique insert, so it runs once across instances.
class JobRun(SQLModel, table=True):
    """One run of a periodic job (the sweep, the access review, the checklist reminders) for one due time
    (`slot`). The primary key is the claim: whoever inserts (job, slot) first runs it. A "baseline" row
    marks when the bot first saw the job, so a fresh install does not run every job at once."""

    __tablename__ = "job_run"

    job: str = Field(primary_key=True)
    slot: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    claimed_at: datetime = _time_column(nullable=False)
    finished_at: datetime | None = _time_column()
    outcome: str = ""  # "baseline", "done", "failed: …"


class SweepRun(SQLModel, table=True):
    """One inactive-user sweep and its review card."""

    __tablename__ = "sweep_run"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str  # "schedule", "cli", or the Slack user id who asked
    started_at: datetime = _time_column(nullable=False)
    finished_at: datetime | None = _time_column()
    status: str = "running"  # running | done | failed
    card_channel: str | None = None
    card_ts: str | None = None
    page: int = 0  # the page of findings the card shows
    # Per vendor: {"label", "days", "source": "api"|"export"|None, "members", "stale", "left_out": {why: n},
    # "unjudged": reason|None, "hint", "export": {"by", "at", "rows", "filename"}|None}
    vendors: dict[str, Any] = _json_column(dict)
    policy: dict[str, Any] = _json_column(dict)  # thresholds used, for the card and the record


class FindingStatus(StrEnum):
    FOUND = "found"
    NOTIFIED = "notified"  # DM sent; removal at grace_until unless they answer
    KEPT = "kept"  # an admin kept them (exempt for a while)
    STILL_NEEDED = "still_needed"  # they answered "I still need access"
    OFFBOARDING = "offboarding"  # an offboarding request was opened (request_id)


class SweepFinding(SQLModel, table=True):
    """A person a sweep found inactive, with what each vendor said, and what was decided."""

    __tablename__ = "sweep_finding"

    id: int | None = Field(default=None, primary_key=True)
    sweep_id: int = Field(foreign_key="sweep_run.id", index=True)
    email: str = Field(index=True)
    name: str = ""
    # {vendor: {"role", "vendor_role", "last_login" (ISO|None), "joined_at", "source": "api"|"export"}}
    vendors: dict[str, Any] = _json_column(dict)
    status: str = Field(default=FindingStatus.FOUND, index=True)
    acted_by: str | None = None  # who notified, kept or offboarded
    acted_at: datetime | None = _time_column()
    slack_user_id: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    grace_until: datetime | None = _time_column(index=True)
    claimed_at: datetime | None = _time_column()  # when the grace deadline was claimed
    request_id: int | None = None


class SweepExemption(SQLModel, table=True):
    """Someone sweeps leave out until `until` (Keep, or "I still need access")."""

    __tablename__ = "sweep_exemption"

    email: str = Field(primary_key=True)
    until: datetime = _time_column(nullable=False)
    by: str
    why: str = ""


class ApprovalWatch(SQLModel, table=True):
    """When a pending request is next reminded, escalated and expired. Each is claimed by a conditional
    UPDATE on this row, so a restart or a second instance never reminds twice."""

    __tablename__ = "approval_watch"

    request_id: int = Field(primary_key=True)
    pending_since: datetime = _time_column(nullable=False)
    reminders_sent: int = 0
    next_reminder_at: datetime = _time_column(nullable=False, index=True)
    escalate_at: datetime = _time_column(nullable=False)
    escalated_at: datetime | None = _time_column()
    expires_at: datetime = _time_column(nullable=False)


class ApproverNudge(SQLModel, table=True):
    """When an approver was last sent a digest of their pending requests (one digest per interval)."""

    __tablename__ = "approver_nudge"

    approver_id: str = Field(primary_key=True)
    last_digest_at: datetime | None = _time_column()


class ScheduledNotice(SQLModel, table=True):
    """The thread posts of a scheduled removal: when it started and when its automated part finished."""

    __tablename__ = "scheduled_notice"

    request_id: int = Field(primary_key=True)
    started_posted_at: datetime = _time_column(nullable=False)
    finished_posted_at: datetime | None = _time_column()


class AccessReview(SQLModel, table=True):
    """One access review report (quarterly or on demand) and who attested it."""

    __tablename__ = "access_review"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str
    period: str  # "2025 Q2"
    started_at: datetime = _time_column(nullable=False)
    card_channel: str | None = None
    card_ts: str | None = None
    summary: dict[str, Any] = _json_column(dict)
    attested_by: str | None = None
    attested_at: datetime | None = _time_column()


# -- Emergency removal, partial modes, batches, restore ------------------------------------------------------
class RequestMode(StrEnum):
    """What an OffboardRequest changes (its `mode` column)."""

    FULL = "full"  # remove from the organization, after approval and the hand-over
    PROJECTS = "projects"  # remove from chosen projects only; they stay in the organization
    READ_ONLY = "read_only"  # downgrade to read-only (or the nearest the vendor has)
    EMERGENCY = "emergency"  # security incident: remove now, no approval, hand-over afterwards
    RESTORE = "restore"  # re-invite after a disputed removal, with the role and projects they had


class Emergency(SQLModel, table=True):
    """An emergency removal: who started it, when it was verified everywhere, who acknowledged it."""

    __tablename__ = "emergency"

    request_id: int = Field(primary_key=True, foreign_key="offboard_request.id")
    responder_id: str
    started_at: datetime = _time_column(nullable=False)  # when the command arrived
    removed_at: datetime | None = _time_column()  # removal verified in every vendor
    seconds_to_removal: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = _time_column()
    last_reminded_at: datetime | None = _time_column(index=True)
    reminders_sent: int = 0


class BatchStatus(StrEnum):
    ASSESSING = "assessing"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    DONE = "done"  # every member finished; the one notification is planned
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Batch(SQLModel, table=True):
    """Several people offboarded under one approval card (their requests carry `batch_id`)."""

    __tablename__ = "batch"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=BatchStatus.ASSESSING, index=True)
    requester_id: str
    mode: str = "full"
    reason: str  # the default reason; each member may have its own
    ticket: str = ""
    note: str = ""
    source: str = ""  # "list" or the CSV file's name
    source_channel: str | None = None
    size: int = 0
    approvals_needed: int = 1
    card_channel: str | None = None
    card_ts: str | None = None
    details_shared: bool = False  # the detail file is attached to the card
    decided_by: str | None = None  # the approver who completed the approval, or who rejected
    decided_at: datetime | None = _time_column()
    decision_comment: str = ""
    notified: bool = False  # the one notification went out
    created_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)
    completed_at: datetime | None = _time_column()


class BatchApproval(SQLModel, table=True):
    __tablename__ = "batch_approval"
    __table_args__ = (UniqueConstraint("batch_id", "approver_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    approver_id: str
    decided_at: datetime = _time_column(nullable=False)


class RestoreWindow(SQLModel, table=True):
    """A completed removal that may be undone until `closes_at` (the dispute window)."""

    __tablename__ = "restore_window"

    request_id: int = Field(primary_key=True, foreign_key="offboard_request.id")
    closes_at: datetime = _time_column(nullable=False, index=True)
    closed_shown: bool = False  # the card was re-shown without its Restore button
    restore_request_id: int | None = None  # the request that restores them
    restored_by: str | None = None
    restored_at: datetime | None = _time_column()


# -- Invitations (/onboard) ----------------------------------------------------------------------------------
# One batch per /onboard (a command, the form, a CSV): its people (`Invitation`), one `InviteSend` per person and
# tool, and the steps each send, resend or cancellation ran (`InviteStep`). Everything due later (reminders,
# expiry flags, the access end date) is a column here, claimed by a conditional UPDATE so it happens once.
class InviteBatchStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # some invitations wait for an approver
    SENDING = "sending"  # nothing waits for a decision any more
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # withdrawn by the inviter before a decision


class InviteBatch(SQLModel, table=True):
    __tablename__ = "invite_batch"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=InviteBatchStatus.SENDING, index=True)
    inviter_id: str
    source: str = "command"  # command | form | csv | cli
    source_name: str = ""  # the CSV file's name
    source_channel: str | None = None
    message: str = ""
    approval_why: str = ""  # why an approver must click, empty when nobody must
    personal_override_by: str | None = None  # the admin who allowed personal email domains
    card_channel: str | None = None
    card_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = _time_column()
    decision_comment: str = ""
    inviter_told: bool = False  # the inviter got the results (claimed once)
    created_at: datetime = _time_column(nullable=False)
    updated_at: datetime = _time_column(nullable=False)


class Invitation(SQLModel, table=True):
    """One person of a batch: the role, the tools and projects, and the access end date."""

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="invite_batch.id", index=True)
    email: str = Field(index=True)
    role: str  # vendors.base.Role
    vendors: list[str] = _json_column(list)
    projects: dict[str, list[str]] = _json_column(dict)  # vendor → project ids
    needs_approval: bool = False
    personal_domain: bool = False
    access_ends_on: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    end_reminder_due_at: datetime | None = _time_column(index=True)
    end_reminded_at: datetime | None = _time_column()
    end_due_at: datetime | None = _time_column(index=True)
    end_claimed_at: datetime | None = _time_column()
    end_request_id: int | None = None  # the "contract end" offboarding request made on the day
    created_at: datetime = _time_column(nullable=False)


class InviteState(StrEnum):
    WAITING = "waiting"  # for an approver
    QUEUED = "queued"  # free to go; not started yet
    SENDING = "sending"
    RESENDING = "resending"
    CANCELLING = "cancelling"
    MANUAL = "manual"  # a person sends it by hand, then ticks it
    INVITED = "invited"  # sent, not accepted yet as far as the tool shows
    ALREADY_INVITED = "already_invited"
    ALREADY_MEMBER = "already_member"
    CREATED = "created"  # the tool created the account outright (Mixpanel's SCIM): nothing to accept
    ACCEPTED = "accepted"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the batch was cancelled before it went out


class InviteSend(SQLModel, table=True):
    """One person's invitation to one tool, with its latest outcome."""

    __tablename__ = "invite_send"
    __table_args__ = (UniqueConstraint("invitation_id", "vendor"),)

    id: int | None = Field(default=None, primary_key=True)
    invitation_id: int = Field(foreign_key="invitation.id", index=True)
    batch_id: int = Field(index=True)
    vendor: str
    status: str = Field(default=InviteState.QUEUED, index=True)
    action: str = "invite"  # what the current round of steps does: invite | resend | cancel
    round: int = 0
    summary: str = ""  # the tool's outcome, in words
    error: str = ""  # why it failed, as the connector said it
    failure_kind: str = ""  # seat_limit, domain, permission, … (bot/onboarding/workflow.py)
    role_seen: str = ""  # a member's current role, when the tool said
    details: dict[str, Any] = _json_column(dict)  # the connector's outcome details (e.g. invited_by_offboard)
    sent_at: datetime | None = _time_column(index=True)
    accepted_at: datetime | None = _time_column()
    cancelled_at: datetime | None = _time_column()
    cancelled_by: str | None = None
    resends: int = 0
    reminded_at: datetime | None = _time_column()
    expiry_flagged_at: datetime | None = _time_column()
    updated_at: datetime = _time_column(nullable=False)
    # The instance sending (resending, cancelling) it, as for offboarding requests (storage/leases.py).
    runner: str | None = None
    runner_until: datetime | None = _time_column(index=True)
    rerun: bool = False


class InviteStep(SQLModel, table=True):
    """One step of a send, resend or cancellation: automated (a connector's INVITE/CANCEL_INVITE) or manual."""

    __tablename__ = "invite_step"
    __table_args__ = (UniqueConstraint("send_id", "round", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    send_id: int = Field(foreign_key="invite_send.id", index=True)
    round: int = 0
    seq: int
    purpose: str = "invite"
    kind: str
    key: str = ""
    title: str
    manual: bool = False
    instructions: str = ""
    params: dict[str, Any] = _json_column(dict)
    status: str = Field(default=StepStatus.PENDING, index=True)
    attempts: int = 0
    last_error: str = ""
    outcome: str = ""
    details: dict[str, Any] = _json_column(dict)
    done_by: str | None = None
    started_at: datetime | None = _time_column()
    finished_at: datetime | None = _time_column()


class OnboardJob(SQLModel, table=True):
    """When a periodic onboarding check (the acceptance check) next runs; claimed by a conditional UPDATE."""

    __tablename__ = "onboard_job"

    name: str = Field(primary_key=True)
    next_run_at: datetime = _time_column(nullable=False)


class VendorCallAllowance(SQLModel, table=True):
    """How much of a vendor's rate limits is spent, shared by every instance on this database (the limits are
    the vendor's, per credential, not per process): for each window ("480/60s"), the wall-clock time of its
    next free slot (vendors/ratelimit.py). Claimed in small batches by compare-and-set on `version`."""

    __tablename__ = "vendor_call_allowance"

    vendor: str = Field(primary_key=True)
    key_fingerprint: str = Field(primary_key=True)  # a short SHA-256 prefix of the credential, never the credential
    next_free: dict[str, float] = _json_column(dict)
    version: int = 0
    updated_at: datetime = _time_column(nullable=False)


class WitnessedHead(SQLModel, table=True):
    """A signed audit chain head offboard posted (or is posting) to the audit channel. Only bookkeeping: which
    head was last witnessed, so the next is posted when due. Verification never trusts this table; it reads the
    signed heads back from Slack or from an exported file (storage/witness.py)."""

    __tablename__ = "witnessed_head"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})  # the claim: one post per head
    hash: str
    signed_at: datetime = _time_column(nullable=False)
    key_id: str
    signature: str
    channel: str
    claimed_at: datetime = _time_column(nullable=False)
    ts: str | None = None  # Slack's timestamp of the post; None until it landed
    posted_at: datetime | None = _time_column(index=True)


class TriggerEvent(SQLModel, table=True):
    """One offboarding event from an identity provider, an HR system or a script (bot/triggers). The unique
    (source, event_id) is what keeps a redelivered event, or one delivered to several instances, to one request."""

    __tablename__ = "trigger_event"
    __table_args__ = (UniqueConstraint("source", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str  # "okta", "hr", "bamboohr", "cli"
    event_id: str
    event_type: str = ""
    subject_email: str = Field(index=True)
    effective_at: datetime | None = _time_column()
    received_at: datetime = _time_column(nullable=False)
    digest: str = ""  # SHA-256 of the raw delivery, as received
    request_id: int | None = Field(default=None, foreign_key="offboard_request.id", index=True)
    outcome: str = ""  # "created" or "attached"
    # False when OFFBOARD_TRIGGER_APPROVAL=event: the event is the approval, given once assessment is done.
    approval_required: bool = True
    approved_at: datetime | None = _time_column()


class RemovalRecheck(SQLModel, table=True):
    """A re-check after removal: one tool asked again, at a set time after the request completed, whether
    the person is still gone. Claimed by a conditional UPDATE, so each is asked once across instances."""

    __tablename__ = "removal_recheck"
    __table_args__ = (UniqueConstraint("request_id", "vendor", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="offboard_request.id", index=True)
    vendor: str
    seq: int
    due_at: datetime = _time_column(nullable=False, index=True)
    claimed_at: datetime | None = _time_column()
    checked_at: datetime | None = _time_column()
    outcome: str = ""  # "still_gone", "back", "unknown"
    new_request_id: int | None = None
    alerted_at: datetime | None = _time_column()  # when the security channel was told the person is back


class DeadlineNotice(SQLModel, table=True):
    """A reminder that a request's removal deadline nears ("nearing") or has passed ("passed"). The row is
    made before the message is posted (unique per request and stage: one across instances) and marked
    once Slack has it, so an unposted one is posted again."""

    __tablename__ = "deadline_notice"
    __table_args__ = (UniqueConstraint("request_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="offboard_request.id", index=True)
    stage: str
    created_at: datetime = _time_column(nullable=False)
    posted_at: datetime | None = _time_column()


class CardOwed(SQLModel, table=True):
    """A Slack message some item (a request, a batch, an invitation batch) should show, owed until Slack has
    accepted its latest version. `wanted` goes up with every change worth showing; `shown` is the version Slack
    last accepted. Whoever delivers claims the row first (`claimed_by`, `claimed_until`), so two instances never
    post the same card twice, and one render at a time means an older one never lands after a newer one."""

    __tablename__ = "card_owed"
    __table_args__ = (UniqueConstraint("kind", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # request | batch | invite_batch
    item_id: int
    channel: str | None = None  # where it was posted, once Slack said
    ts: str | None = None
    wanted: int = 0
    shown: int = 0
    attempts: int = 0  # failed attempts since the last delivery
    next_attempt_at: datetime | None = _time_column(index=True)  # the back-off; a new change ends it
    throttled_until: datetime | None = _time_column()  # Slack's Retry-After, which a new change does not end
    last_error: str = ""
    claimed_by: str | None = None
    claimed_until: datetime | None = _time_column()
    updated_at: datetime | None = _time_column()
