"""Retention for the records that belong to no offboarding request: sweep findings, sweep runs and
exemptions, access reviews, approver digest times, and invitations (storage/retention.py purges them with
the requests, in the same transaction, and records both in one audit entry).

Each kind's period is RetentionPolicy.years_for_record (RECORD_RETENTION_YEARS, or OFFBOARD_RETENTION_YEARS).
Rows whose key is personal (an exemption is keyed by the email, a digest time by the approver's Slack id) are
deleted; the others keep their process facts (status, times, counts of steps) with the personal fields
emptied, as a request's rows do.

Invitation audit entries carry no request id; they are placed by the invitation's own keys, which every one of
them records: the batch (`batch`), the invitation (`invitation`) or the tool's send (`send`). They are erased
with their batch and named in the purge entry, so the chain still verifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage import audit
from storage import retention as policy_module
from storage.models import (
    AccessReview,
    ApproverNudge,
    AuditEvent,
    Invitation,
    InviteBatch,
    InviteBatchStatus,
    InviteSend,
    InviteStep,
    SweepExemption,
    SweepFinding,
    SweepRun,
)

PURGED_MARK = "retention_purged"  # set in an access review's summary once its personal data is gone
INVITATION_ACTIONS = ("invitation_", "invite_", "personal_domain_allowed")


@dataclass
class RecordPlan:
    sweeps: list[int] = field(default_factory=list)
    exemptions: list[str] = field(default_factory=list)
    reviews: list[int] = field(default_factory=list)
    nudges: list[str] = field(default_factory=list)
    invite_batches: list[int] = field(default_factory=list)
    audit_seqs: list[int] = field(default_factory=list)  # invitation entries to erase with their batches
    rows: dict[str, int] = field(default_factory=dict)  # table → rows that go


def invitation_key(event: AuditEvent) -> tuple[str, int] | None:
    """(key, id) that places a request-less invitation entry with its batch, or None for any other entry."""
    if event.request_id is not None or not event.action.startswith(INVITATION_ACTIONS):
        return None
    for key in ("batch", "invitation", "send"):
        value = event.details.get(key)
        if isinstance(value, int):
            return key, value
    return None


def _due(start: datetime | None, years: int | None, now: datetime) -> bool:
    return start is not None and years is not None and policy_module.add_years(start, years) <= now


def plan(session: Session, policy: Any, now: datetime) -> RecordPlan:
    found = RecordPlan()
    sweep_years = policy.years_for_record("sweep")
    for run in session.exec(select(SweepRun).where(col(SweepRun.status) != "running")):
        if run.id is not None and _due(run.finished_at or run.started_at, sweep_years, now):
            left = session.exec(select(SweepFinding.id).where(SweepFinding.sweep_id == run.id,
                                                               SweepFinding.email != "")).all()
            if left or run.trigger not in ("schedule", "cli", audit.PURGED) or _export_named(run.vendors):
                found.sweeps.append(run.id)
                found.rows["sweep_finding"] = found.rows.get("sweep_finding", 0) + len(left)
    found.exemptions = [e.email for e in session.exec(select(SweepExemption)) if _due(e.until, sweep_years, now)]
    review_years = policy.years_for_record("access_review")
    found.reviews = [r.id for r in session.exec(select(AccessReview))
                     if r.id is not None and not r.summary.get(PURGED_MARK) and _due(r.started_at, review_years, now)]
    nudge_years = policy.years_for_record("approver_nudge")
    found.nudges = [n.approver_id for n in session.exec(select(ApproverNudge))
                    if n.last_digest_at is None or _due(n.last_digest_at, nudge_years, now)]
    found.invite_batches = _invite_batches_due(session, policy.years_for_record("invitation"), now)
    found.audit_seqs = invitation_entries(session, found.invite_batches)
    for table, count in (("sweep_run", len(found.sweeps)), ("sweep_exemption", len(found.exemptions)),
                         ("access_review", len(found.reviews)), ("approver_nudge", len(found.nudges)),
                         ("invite_batch", len(found.invite_batches))):
        if count:
            found.rows[table] = count
    if not found.rows.get("sweep_finding"):
        found.rows.pop("sweep_finding", None)
    return found


def _export_named(per_vendor: dict[str, Any]) -> bool:
    """A members export is recorded with who uploaded it and its file name."""
    return any(isinstance(v, dict) and v.get("export") for v in per_vendor.values())


def _invite_batches_due(session: Session, years: int | None, now: datetime) -> list[int]:
    if years is None:
        return []
    due = []
    for batch in session.exec(select(InviteBatch).where(col(InviteBatch.inviter_id) != audit.PURGED,
                                                        col(InviteBatch.status) != InviteBatchStatus.PENDING_APPROVAL)):
        ends = [datetime.combine(i.access_ends_on, time(0), UTC)
                for i in session.exec(select(Invitation).where(Invitation.batch_id == batch.id))
                if i.access_ends_on is not None]
        if batch.id is not None and _due(max([batch.updated_at, *ends]), years, now):
            due.append(batch.id)
    return sorted(due)


def invitation_entries(session: Session, batch_ids: list[int]) -> list[int]:
    """The seqs of the invitation audit entries of these batches that still hold personal data."""
    if not batch_ids:
        return []
    invitations = set(session.exec(select(Invitation.id).where(col(Invitation.batch_id).in_(batch_ids))))
    sends = set(session.exec(select(InviteSend.id).where(col(InviteSend.batch_id).in_(batch_ids))))
    owned = {"batch": set(batch_ids), "invitation": invitations, "send": sends}
    loose = session.exec(select(AuditEvent).where(col(AuditEvent.request_id).is_(None),
                                                  col(AuditEvent.salt).is_not(None)))
    seqs = []
    for event in loose:
        placed = invitation_key(event)
        if placed is not None and placed[1] in owned[placed[0]]:
            seqs.append(event.seq)
    return sorted(seqs)


def erase(session: Session, found: RecordPlan) -> None:
    blank = policy_module.blank_json
    for sweep_id in found.sweeps:
        for finding in session.exec(select(SweepFinding).where(SweepFinding.sweep_id == sweep_id)):
            finding.email, finding.name = "", ""
            finding.vendors = blank(finding.vendors)
            finding.acted_by = audit.PURGED if finding.acted_by else None
            finding.slack_user_id = finding.dm_channel = finding.dm_ts = None
            session.add(finding)
        run = session.get(SweepRun, sweep_id)
        if run is not None:
            run.vendors = _without_names(run.vendors, {"export": None})
            if run.trigger not in ("schedule", "cli"):
                run.trigger = audit.PURGED
            session.add(run)
    if found.exemptions:
        session.execute(delete(SweepExemption).where(col(SweepExemption.email).in_(found.exemptions)))
    for review_id in found.reviews:
        review = session.get(AccessReview, review_id)
        if review is not None:
            review.summary = {**_without_names(review.summary, {"owners": [], "admins": []}), PURGED_MARK: True}
            review.attested_by = audit.PURGED if review.attested_by else None
            if review.trigger not in ("schedule", "cli"):
                review.trigger = audit.PURGED
            session.add(review)
    if found.nudges:
        session.execute(delete(ApproverNudge).where(col(ApproverNudge.approver_id).in_(found.nudges)))
    for batch_id in found.invite_batches:
        _erase_invite_batch(session, batch_id)


def _without_names(per_vendor: dict[str, Any], emptied: dict[str, Any]) -> dict[str, Any]:
    """Per-vendor counts kept (members, inactive, …), the keys in `emptied` replaced, and any text naming
    someone (an email, a mention) emptied: what a review or a sweep counted stays, whom it named goes."""
    kept: dict[str, Any] = {}
    for vendor, counted in per_vendor.items():
        if not isinstance(counted, dict):
            kept[vendor] = counted
            continue
        kept[vendor] = {key: emptied[key] if key in emptied else ("" if isinstance(value, str) and "@" in value
                                                                  else value)
                        for key, value in counted.items()}
    return kept


def _erase_invite_batch(session: Session, batch_id: int) -> None:
    blank = policy_module.blank_json
    batch = session.get(InviteBatch, batch_id)
    if batch is not None:
        batch.inviter_id = audit.PURGED
        batch.source_name = batch.message = batch.approval_why = batch.decision_comment = ""
        batch.personal_override_by = audit.PURGED if batch.personal_override_by else None
        batch.decided_by = audit.PURGED if batch.decided_by else None
        session.add(batch)
    for invitation in session.exec(select(Invitation).where(Invitation.batch_id == batch_id)):
        invitation.email = ""
        session.add(invitation)
    for send in session.exec(select(InviteSend).where(InviteSend.batch_id == batch_id)):
        send.summary = send.error = send.role_seen = ""
        send.details = blank(send.details)
        send.cancelled_by = audit.PURGED if send.cancelled_by else None
        session.add(send)
        for step in session.exec(select(InviteStep).where(InviteStep.send_id == send.id)):
            step.params, step.details = blank(step.params), blank(step.details)
            step.instructions = step.outcome = step.last_error = ""
            step.done_by = audit.PURGED if step.done_by else None
            session.add(step)
