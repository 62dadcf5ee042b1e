"""Retention: how long the personal data of a request is kept, and the purge that removes it after.

Periods (defaults from the runbooks' "Retention Policies", configurable per reason with
OFFBOARD_RETENTION_YEARS): employment ends (termination, resignation) 7 years; security incidents
forever; access reviews (inactive accounts, audit findings, and role changes, which are access
changes of a person who stays) 5 years; contractors 3 years after the end of the contract. A request's
period runs from when it closed (completed, rejected or cancelled), or from its effective date when
that is later (a contract that ends after the request closed). Requests still open are never purged,
nor is a request whose reason has no period ("forever"). Entries that belong to no request (e.g. a
refused look at audit data) are kept OFFBOARD_RETENTION_OTHER_YEARS (default 7) from when they happened.

How a purge keeps the audit chain verifiable
--------------------------------------------
Every audit entry is split when it is recorded (storage/audit.py):

* its *public* part: seq, time, request id, action, and actor and details with the personal values
  blanked. "Personal" is decided by rule (storage.audit: every key not declared a process fact in
  SAFE_KEYS, a step title where a step kind could be, any text with an "@" in it, and every actor but
  the bot) and the result is stored with the entry as `personal_paths`, so that verifying never
  depends on the rule as it is today;
* its *personal* part: the values at those paths (emails, names, free text, who acted), hashed with a
  random per-entry salt into `personal_digest`.

The chain hash covers the public part, the paths and the digest, never the personal values
themselves. Verifying an entry recomputes the hash from the stored columns and, while the salt is
there, the digest from the personal values; so an edit of either kind is caught. A purge sets the
personal values to null, the actor to "[purged]" and the salt to null. The public part is what it was
(blanking is idempotent), so the chain hash still matches; the digest can no longer be recomputed,
and without the salt it cannot be tested against guessed emails either. A purge is itself recorded
in the chain (action "retention_purged", naming the requests and entries it erased), and
`verify_chain` accepts an entry without salt only when such a purge names it: erasing personal data
outside a purge shows as an edit.

The purge also removes the personal fields of the request's own rows (request, assessments, steps,
approvals), which the chain does not cover; their process facts (status, reason, vendors, times,
step kinds and statuses) stay, so counts and timeliness figures still add up.

Records that belong to no request (sweep findings, runs and exemptions, access reviews, approver digest
times, invitations) have their own periods (RECORD_RETENTION_YEARS) and are purged in the same pass by
storage/retention_records.py; invitation audit entries are placed by their batch, invitation or send.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from storage import audit
from storage import retention_records as records
from storage.models import (
    OPEN_STATUSES,
    Approval,
    AuditEvent,
    OffboardRequest,
    RetentionPurge,
    Step,
    VendorAssessment,
)

# Keyed by the values of bot.offboarding.workflow.Reason (storage does not import the bot); None keeps forever.
DEFAULT_RETENTION_YEARS: dict[str, int | None] = {
    "termination": 7,
    "resignation": 7,
    "contract_end": 3,
    "role_change": 5,
    "inactive": 5,
    "security_incident": None,
    "audit_finding": 5,
}
DEFAULT_OTHER_YEARS = 7
# Records that belong to no offboarding request, by kind (configurable with OFFBOARD_RETENTION_YEARS too):
# sweep findings, their runs and exemptions (access reviews of inactive accounts, from the sweep or from the
# exemption's end), access reviews (from when they were made), invitations (a grant of access: from the
# batch's last change or the access end date, whichever is later, like an employment record), and approver
# digest times (a Slack id and a time, useful for a day; kept a year).
RECORD_RETENTION_YEARS: dict[str, int | None] = {
    "sweep": 5,
    "access_review": 5,
    "invitation": 7,
    "approver_nudge": 1,
}


@dataclass(frozen=True)
class RetentionPolicy:
    years_by_reason: Mapping[str, int | None] = field(default_factory=lambda: dict(DEFAULT_RETENTION_YEARS))
    other_years: int | None = DEFAULT_OTHER_YEARS  # audit entries that belong to no request
    years_by_record: Mapping[str, int | None] = field(default_factory=lambda: dict(RECORD_RETENTION_YEARS))

    def years_for(self, reason: str) -> int | None:
        # A reason the policy does not know (renamed, say) is kept: deleting evidence by accident is worse.
        return self.years_by_reason.get(reason)

    def years_for_record(self, kind: str) -> int | None:
        return self.years_by_record.get(kind)


def policy_with(overrides: Mapping[str, int | None], other_years: int | None = DEFAULT_OTHER_YEARS) -> RetentionPolicy:
    """The defaults with some reasons' (or records') periods replaced (see OFFBOARD_RETENTION_YEARS)."""
    reasons = {k: v for k, v in overrides.items() if k not in RECORD_RETENTION_YEARS}
    records = {k: v for k, v in overrides.items() if k in RECORD_RETENTION_YEARS}
    return RetentionPolicy({**DEFAULT_RETENTION_YEARS, **reasons}, other_years, {**RECORD_RETENTION_YEARS, **records})


def add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February in a year that has none
        return moment.replace(year=moment.year + years, day=28)


def retained_until(request: OffboardRequest, policy: RetentionPolicy) -> datetime | None:
    """When the request's personal data may go; None while it must be kept."""
    if request.status in OPEN_STATUSES:
        return None
    years = policy.years_for(request.reason)
    if years is None:
        return None
    ends = [t for t in (request.completed_at, request.effective_at) if t is not None]
    start = max(ends) if ends else request.updated_at
    return add_years(start, years)


@dataclass(frozen=True)
class PurgeCandidate:
    request_id: int
    reason: str
    retained_until: datetime


@dataclass(frozen=True)
class PurgeReport:
    requests: list[PurgeCandidate]
    unlinked_seqs: list[int]
    audit_entries: int  # entries whose personal data was (or would be) erased
    dry_run: bool
    purge_seq: int | None = None  # the audit entry recording the purge
    records: dict[str, int] = field(default_factory=dict)  # rows of other tables erased, by table
    invite_batches: list[int] = field(default_factory=list)  # invitation batches past retention


def plan_purge(session: Session, policy: RetentionPolicy, now: datetime) -> tuple[list[PurgeCandidate], list[int]]:
    """Requests past retention with personal data left (not purged yet, or given new entries since,
    such as a look at their evidence), and request-less entries past their own period."""
    purged = set(session.exec(select(RetentionPurge.request_id)))
    left_since = set(
        session.exec(
            select(AuditEvent.request_id).where(
                col(AuditEvent.request_id).in_(purged), col(AuditEvent.salt).is_not(None)
            )
        )
    )
    closed = session.exec(select(OffboardRequest).where(col(OffboardRequest.status).not_in(OPEN_STATUSES)))
    candidates = []
    for request in closed:
        until = retained_until(request, policy)
        pending = request.id not in purged or request.id in left_since
        if request.id is not None and pending and until is not None and until <= now:
            candidates.append(PurgeCandidate(request.id, request.reason, until))
    unlinked: list[int] = []
    if policy.other_years is not None:
        loose = session.exec(
            select(AuditEvent).where(col(AuditEvent.request_id).is_(None), col(AuditEvent.salt).is_not(None))
        )
        # An invitation's entries follow its batch (records.invitation_entries), not this period.
        unlinked = [e.seq for e in loose
                    if add_years(e.at, policy.other_years) <= now and records.invitation_key(e) is None]
    return sorted(candidates, key=lambda c: c.request_id), sorted(unlinked)


def purge(
    session: Session,
    policy: RetentionPolicy,
    now: datetime,
    *,
    dry_run: bool = False,
    actor: str = audit.BOT_ACTOR,
    via: str = "cli",
) -> PurgeReport:
    """Erase the personal data of everything past retention, in the caller's transaction, and record
    the purge in the audit chain. A dry run changes nothing and records nothing."""
    candidates, unlinked = plan_purge(session, policy, now)
    others = records.plan(session, policy, now)
    unlinked = sorted({*unlinked, *others.audit_seqs})
    request_ids = [c.request_id for c in candidates]
    entries = _entries_to_erase(session, request_ids, unlinked)
    if dry_run or (not candidates and not unlinked and not others.rows):
        return PurgeReport(candidates, unlinked, len(entries), dry_run=dry_run, records=others.rows,
                           invite_batches=others.invite_batches)
    for entry in entries:
        _erase_entry(session, entry)
    for request_id in request_ids:
        _erase_request_rows(session, request_id)
    records.erase(session, others)
    event = audit.record(
        session,
        audit.PURGE_ACTION,
        actor=actor,
        at=now,
        via=via,
        request_ids=request_ids,
        unlinked_seqs=unlinked,
        count=len(entries),
        invite_batch_ids=others.invite_batches,
        records=[{"table": table, "count": count} for table, count in sorted(others.rows.items())],
    )
    audit.write_queued(session)  # the purge rows below name the purge's own seq
    already = set(session.exec(select(RetentionPurge.request_id)))
    for candidate in (c for c in candidates if c.request_id not in already):
        session.add(
            RetentionPurge(
                request_id=candidate.request_id,
                reason=candidate.reason,
                retained_until=candidate.retained_until,
                purged_at=now,
                purge_seq=event.seq,
            )
        )
    return PurgeReport(candidates, unlinked, len(entries), dry_run=False, purge_seq=event.seq, records=others.rows,
                       invite_batches=others.invite_batches)


def _entries_to_erase(session: Session, request_ids: list[int], unlinked: list[int]) -> list[AuditEvent]:
    found: list[AuditEvent] = []
    if request_ids:
        found += session.exec(select(AuditEvent).where(col(AuditEvent.request_id).in_(request_ids)))
    if unlinked:
        found += session.exec(select(AuditEvent).where(col(AuditEvent.seq).in_(unlinked)))
    return [e for e in found if not audit.is_purged(e)]


def _erase_entry(session: Session, entry: AuditEvent) -> None:
    whole = audit.blanked({"actor": entry.actor, "details": entry.details}, entry.personal_paths)
    entry.details = whole["details"]
    if ["actor"] in entry.personal_paths:
        entry.actor = audit.PURGED
    entry.salt = None
    session.add(entry)


def blank_json(value: dict[str, Any]) -> dict[str, Any]:
    """The same JSON with its personal values emptied, keeping each value's type, so code that reads
    these rows back (e.g. `assessment_from_json`) still can."""
    copied = copy.deepcopy(value)
    for path in list(audit.personal_in(copied)):
        parent = audit.value_at(copied, path[:-1])
        parent[path[-1]] = _empty_like(parent[path[-1]])
    return copied


def _empty_like(value: Any) -> Any:
    if isinstance(value, str):
        return ""
    if isinstance(value, list):
        return []
    return {} if isinstance(value, dict) else None


def _erase_request_rows(session: Session, request_id: int) -> None:
    request = session.get(OffboardRequest, request_id)
    if request is not None:
        request.subject_email = ""
        request.subject_slack_id = None
        request.subject_name = ""
        request.ticket = ""
        request.note = ""
        request.requester_id = audit.PURGED
        request.new_owner_slack_id = None
        request.new_owner_email = None
        request.decided_by = audit.PURGED if request.decided_by else None
        request.decision_comment = ""
        session.add(request)
    for assessment in session.exec(select(VendorAssessment).where(VendorAssessment.request_id == request_id)):
        assessment.data = blank_json(assessment.data)
        session.add(assessment)
    for step in session.exec(select(Step).where(Step.request_id == request_id)):
        step.params = blank_json(step.params)
        step.details = blank_json(step.details)
        step.instructions = ""
        step.outcome = ""
        step.last_error = ""
        step.done_by = audit.PURGED if step.done_by else None
        session.add(step)
    for approval in session.exec(select(Approval).where(Approval.request_id == request_id)):
        approval.approver_id = audit.PURGED
        approval.comment = ""
        session.add(approval)
