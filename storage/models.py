"""Tables: offboarding requests, what each vendor said about the person, the steps that remove
them, the approvals, and the append-only audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, UniqueConstraint
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
