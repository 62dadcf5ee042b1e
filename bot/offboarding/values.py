"""What offboarding's requests look like from outside the workflow: the drafts it is given, the snapshots it
shows, the words for its statuses, and the notifiers it talks to. The Slack side and the CLI read these without
the workflow's machinery (bot/offboarding/workflow.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from storage.changes import ChangeFacts
from storage.models import (
    Approval,
    Batch,
    BatchApproval,
    BatchStatus,
    OffboardRequest,
    RequestMode,
    RequestStatus,
    Step,
    StepStatus,
)
from storage.owed_cards import CardLocation
from vendors.base import (
    Assessment,
    AssessmentStatus,
    Capability,
    StepKind,
)

NOTIFY_VENDOR = "slack"  # the pseudo-vendor that owns notification steps

# Where a request has steps to run: executing, waiting on a person's tick, or stopped at a failure.
ACTIVE_STATUSES = (RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL, RequestStatus.NEEDS_ATTENTION)


class Reason(StrEnum):
    TERMINATION = "termination"
    RESIGNATION = "resignation"
    CONTRACT_END = "contract_end"
    ROLE_CHANGE = "role_change"
    INACTIVE = "inactive"
    SECURITY_INCIDENT = "security_incident"
    AUDIT_FINDING = "audit_finding"

    @property
    def label(self) -> str:
        return REASON_LABELS[self]


REASON_LABELS = {
    Reason.TERMINATION: "Termination",
    Reason.RESIGNATION: "Resignation",
    Reason.CONTRACT_END: "Contract end",
    Reason.ROLE_CHANGE: "Role change",
    Reason.INACTIVE: "Inactive account",
    Reason.SECURITY_INCIDENT: "Security incident",
    Reason.AUDIT_FINDING: "Audit finding",
}


class NotificationKind(StrEnum):
    DM_REQUESTER = "dm_requester"
    STAKEHOLDERS = "notify_stakeholders"
    DM_NEW_OWNER = "dm_new_owner"


NOTIFICATION_TITLES = {
    NotificationKind.DM_REQUESTER: "Tell the requester the outcome",
    NotificationKind.STAKEHOLDERS: "Announce the removal to stakeholders",
    NotificationKind.DM_NEW_OWNER: "Tell the new owner what they now own",
}


@dataclass(frozen=True)
class RequestDraft:
    subject_email: str
    reason: Reason
    requester_id: str
    subject_slack_id: str | None = None
    subject_name: str = ""
    ticket: str = ""
    note: str = ""
    new_owner_slack_id: str | None = None
    new_owner_email: str | None = None
    effective_at: datetime | None = None
    vendors: tuple[str, ...] | None = None  # None: every configured vendor
    source_channel: str | None = None
    # What to change (full removal, projects only, read-only, emergency, restore), and the batch.
    mode: RequestMode = RequestMode.FULL
    mode_params: Mapping[str, Any] = field(default_factory=dict)
    batch_id: int | None = None


@dataclass(frozen=True)
class RequestSnapshot:
    """Everything a card or a status reply shows, read in one go."""

    request: OffboardRequest
    assessments: dict[str, Assessment]
    steps: list[Step]
    approvals: list[Approval]
    vendor_labels: dict[str, str] = field(default_factory=dict)
    checkable: frozenset[str] = frozenset()  # vendors whose API can look the person up again
    change: ChangeFacts = field(default_factory=ChangeFacts)  # emergency, batch, restore window

    @property
    def id(self) -> int:
        assert self.request.id is not None
        return self.request.id

    @property
    def status(self) -> RequestStatus:
        return RequestStatus(self.request.status)

    def steps_for(self, vendor: str) -> list[Step]:
        return [s for s in self.steps if s.vendor == vendor]

    @property
    def vendor_names(self) -> list[str]:
        return list(self.request.vendors)

    @property
    def manual_steps_open(self) -> list[Step]:
        return [s for s in self.steps if s.manual and s.status != StepStatus.DONE]

    @property
    def removals(self) -> list[Step]:
        """The removals done: through an API, or by a person who confirmed it in Slack."""
        return [s for s in self.steps if is_removal(s) and s.status == StepStatus.DONE]

    @property
    def handed_over(self) -> list[dict[str, Any]]:
        """Assets handed over, as recorded by the hand-over steps that ran."""
        moved: list[dict[str, Any]] = []
        for step in self.steps:
            if step.kind == "handover_assets" and step.status == StepStatus.DONE:
                moved.extend({"vendor": step.vendor, **a} for a in step.details.get("assets", []))
        return moved


@dataclass(frozen=True)
class ActionResult:
    """What a person's click led to. `message` explains a refusal (shown only to them)."""

    ok: bool
    message: str = ""


class Notifier(Protocol):
    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        """Show the request's current state: post the card when `snapshot.request.card_ts` is None
        (and return where), update it in place otherwise (and return None)."""
        ...

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        """Send one notification; return a short summary. Raise to mark it failed."""
        ...


ApproverCheck = Callable[[str], bool]


# -- batches, emergencies, and where their messages go -------------------------------------------------------------
@dataclass(frozen=True)
class BatchPerson:
    """One row of a bulk request (a line of emails, or a CSV row: email, reason, ticket, new owner)."""

    email: str
    reason: Reason | None = None  # None: the batch's reason
    ticket: str = ""
    new_owner_email: str | None = None
    new_owner_slack_id: str | None = None
    subject_slack_id: str | None = None
    subject_name: str = ""


@dataclass(frozen=True)
class BatchDraft:
    requester_id: str
    reason: Reason
    people: tuple[BatchPerson, ...]
    mode: RequestMode = RequestMode.FULL
    mode_params: Mapping[str, Any] = field(default_factory=dict)
    ticket: str = ""
    note: str = ""
    source: str = "list"  # "list", or the CSV file's name
    source_channel: str | None = None
    effective_at: datetime | None = None
    vendors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BatchSnapshot:
    batch: Batch
    members: list[RequestSnapshot]
    approvals: list[BatchApproval]
    vendor_labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> int:
        assert self.batch.id is not None
        return self.batch.id

    @property
    def status(self) -> BatchStatus:
        return BatchStatus(self.batch.status)


@dataclass(frozen=True)
class StartResult:
    request_id: int | None  # None: refused, `message` says why
    message: str = ""


class ChangeNotifier(Protocol):
    """Where the messages of emergencies, batches and restores go: emergency cards (the security channel),
    batch members' cards (the batch card's thread), the batch card, its detail file, its one notification,
    emergency reminders."""

    security_channel: str

    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None: ...

    def show_batch(self, batch: BatchSnapshot) -> CardLocation | None: ...

    def share_batch_details(self, batch: BatchSnapshot) -> None: ...

    def deliver_batch(self, batch: BatchSnapshot) -> str: ...

    def remind_emergency(self, snapshot: RequestSnapshot, number: int) -> None: ...


STATUS_WORDS = {
    RequestStatus.ASSESSING: "being assessed",
    RequestStatus.PENDING_APPROVAL: "waiting for approval",
    RequestStatus.SCHEDULED: "approved and scheduled",
    RequestStatus.EXECUTING: "being carried out",
    RequestStatus.AWAITING_MANUAL: "waiting for manual steps",
    RequestStatus.NEEDS_ATTENTION: "stopped at a failed step",
    RequestStatus.COMPLETED: "completed",
    RequestStatus.REJECTED: "rejected",
    RequestStatus.CANCELLED: "cancelled",
    RequestStatus.EXPIRED: "expired without a decision",
}


def is_removal(step: Step) -> bool:
    """A step that takes the person out of a vendor: the API's, or the manual one a person confirms
    (manual steps are keyed "<vendor>_<capability>", see `Vendor.manual_step`)."""
    if step.manual:
        return step.key.endswith(f"_{Capability.REMOVE_MEMBER}")
    return step.kind == StepKind.REMOVE_MEMBER


def assessment_is_member(assessment: Assessment | None) -> bool:
    return assessment is not None and assessment.status == AssessmentStatus.MEMBER
