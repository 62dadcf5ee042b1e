"""Evidence an auditor accepts, read from the audit log: the record of one request, and the removal
log export with its timeliness figures. No Slack here; bot/audit/slack/blocks.py renders evidence for Slack
and bot/cli/main.py for the terminal.

The facts come from the hash-chained audit entries (storage/audit.py), not from the request's working
rows, so what is shown is what `offboard audit verify` vouches for. The request row adds only what the
log does not hold (its status and the person's display name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from bot import spreadsheet
from bot.offboarding.values import REASON_LABELS, Reason
from bot.triggers import deadline
from storage import audit
from storage.models import AuditEvent, OffboardRequest, RetentionPurge

PURGED_TEXT = "[purged]"
UNKNOWN = "?"

# What an audit admin does with audit data; each is itself an audit entry.
VIEWED = "audit_evidence_viewed"
EXPORTED = "audit_exported"
REFUSED = "audit_access_refused"


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


# -- reading input ----------------------------------------------------------------------------------
def parse_since(text: str) -> datetime:
    """The start of the export, from a date (YYYY-MM-DD, midnight UTC) or an ISO date and time
    (UTC when no offset is given). Raises ValueError with a message for people."""
    cleaned = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", cleaned):
            return datetime.combine(date.fromisoformat(cleaned), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"“{text}” is not a date: write it as YYYY-MM-DD, for example 2024-01-31.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_format(text: str) -> ExportFormat:
    try:
        return ExportFormat(text.strip().lower())
    except ValueError:
        raise ValueError(f"“{text}” is not an export format: use csv or json.") from None


# -- the evidence of one request --------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    decision: str  # "approved" | "rejected" | "cancelled"
    by: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True)
class VendorBefore:
    """The person's membership when offboard assessed them: what the runbooks' "before" screenshot shows."""

    vendor: str
    status: str  # member | not_member | unknown
    at: datetime
    role: str = ""
    vendor_role: str = ""
    projects: tuple[str, ...] = ()
    last_login: str = ""
    assets: tuple[tuple[str, int], ...] = ()  # (kind, how many) they owned
    problem: str = ""  # why the vendor could not be asked


@dataclass(frozen=True)
class VendorAfter:
    """How the removal from one vendor was verified (the "after" screenshot)."""

    vendor: str
    state: str  # verified | confirmed_by_hand | not_a_member | failed | pending
    at: datetime | None = None
    by: tuple[str, ...] = ()
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.state in ("verified", "confirmed_by_hand", "not_a_member")


@dataclass(frozen=True)
class AssetMove:
    vendor: str
    kind: str
    name: str
    project: str
    from_email: str
    to_email: str
    action: str


@dataclass(frozen=True)
class ManualTick:
    vendor: str
    step: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Notice:
    kind: str
    summary: str
    at: datetime
    delivered: bool


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    text: str


@dataclass(frozen=True)
class Evidence:
    request_id: int
    subject: str
    subject_name: str
    reason: str
    ticket: str
    note: str
    requested_by: str
    requested_at: datetime | None
    status: str
    vendors: tuple[str, ...]
    new_owner: str
    effective_at: str
    decisions: tuple[Decision, ...]
    before: tuple[VendorBefore, ...]
    after: tuple[VendorAfter, ...]
    assets_moved: tuple[AssetMove, ...]
    manual_ticks: tuple[ManualTick, ...]
    notifications: tuple[Notice, ...]
    timeline: tuple[TimelineEntry, ...]
    completed_at: datetime | None
    purged: bool
    started_by: tuple[str, ...] = ()  # the events (Okta, an HR system, a script) that started or joined it
    mode: str = "full"  # full removal, or a partial change, emergency or restore (as recorded at creation)

    @property
    def reason_label(self) -> str:
        return reason_label(self.reason)

    @property
    def approval(self) -> Decision | None:
        return next((d for d in self.decisions if d.decision == "approved"), None)

    @property
    def removal_verified_at(self) -> datetime | None:
        """When the last vendor's removal was verified; None until every vendor is done, and when
        the person was in none of them (nothing was removed)."""
        if not self.after or not all(a.done for a in self.after):
            return None
        times = [a.at for a in self.after if a.state != "not_a_member" and a.at is not None]
        return max(times) if times else None

    @property
    def deadline(self) -> str:
        """The removal deadline and how it went: "due 2026-03-03T09:00:00Z, met" (empty without a deadline)."""
        cells = _deadline_cells(self)
        return f"due {cells['removal_due_utc']}, {cells['deadline']}" if cells else ""

    @property
    def request_to_approval(self) -> timedelta | None:
        approval = self.approval
        if approval is None or self.requested_at is None:
            return None
        return approval.at - self.requested_at

    @property
    def approval_to_removal(self) -> timedelta | None:
        approval, removed = self.approval, self.removal_verified_at
        return removed - approval.at if approval and removed else None

    @property
    def removed_by(self) -> tuple[str, ...]:
        """Who took the access away: offboard where it removed through the API, the people who
        ticked the manual steps where it was done by hand."""
        found: list[str] = []
        for after in self.after:
            if after.state == "verified":
                found.append(f"{audit.BOT_ACTOR} ({after.vendor}, API)")
            elif after.state == "confirmed_by_hand":
                found += [f"{person} ({after.vendor}, by hand)" for person in after.by]
        return tuple(dict.fromkeys(found))


def reason_label(reason: str) -> str:
    try:
        return REASON_LABELS[Reason(reason)]
    except ValueError:
        return reason or UNKNOWN


def load_evidence(session: Session, request_id: int) -> Evidence | None:
    request = session.get(OffboardRequest, request_id)
    events = audit.events_for(session, request_id)
    if request is None and not events:
        return None
    purged = session.get(RetentionPurge, request_id) is not None
    return build_evidence(request_id, request, events, purged=purged)


def request_ids_for(session: Session, target: str) -> list[int]:
    """Requests named by `target`: a request number ("12", "#12") or the person's email (newest first).
    Raises ValueError when it is neither."""
    cleaned = target.strip()
    if re.fullmatch(r"#?\d+", cleaned):
        return [int(cleaned.lstrip("#"))]
    if "@" not in cleaned:
        raise ValueError(f"“{target}” is neither a request number nor an email address.")
    statement = (
        select(OffboardRequest.id)
        .where(OffboardRequest.subject_email == cleaned.lower())
        .order_by(col(OffboardRequest.id).desc())
    )
    return [rid for rid in session.exec(statement) if rid is not None]


def evidence_for(session: Session, target: str, limit: int | None = None) -> list[Evidence]:
    ids = request_ids_for(session, target)[:limit]
    return [e for e in (load_evidence(session, rid) for rid in ids) if e is not None]


def record_access(session: Session, action: str, actor: str, *, via: str, request_id: int | None = None,
                  **details: Any) -> None:
    """Log that someone saw (or was refused) audit data; in the caller's transaction."""
    audit.record(session, action, actor=actor, request_id=request_id, via=via, **details)


def build_evidence(
    request_id: int, request: OffboardRequest | None, events: Sequence[AuditEvent], *, purged: bool = False
) -> Evidence:
    created = next((e for e in events if e.action == "request_created"), None)
    asked: dict[str, Any] = created.details if created else {}
    vendors = tuple(asked.get("vendors") or (request.vendors if request else ()))
    before = _befores(events)
    return Evidence(
        request_id=request_id,
        subject=_shown(created, "subject", missing=request.subject_email if request else ""),
        subject_name=(request.subject_name if request else "") or "",
        reason=str(asked.get("reason") or (request.reason if request else "")),
        ticket=_shown(created, "ticket"),
        note=(request.note if request else "") or "",
        requested_by=created.actor if created else (request.requester_id if request else UNKNOWN),
        requested_at=created.at if created else (request.created_at if request else None),
        status=request.status if request else UNKNOWN,
        vendors=vendors,
        new_owner=_shown(created, "new_owner"),
        effective_at=str(asked.get("effective_at") or ""),
        decisions=tuple(
            Decision(e.action, e.actor, e.at, _shown(e, "comment"))
            for e in events
            if e.action in ("approved", "rejected", "cancelled")
        ),
        before=tuple(before.values()),
        after=tuple(_after(vendor, events, before.get(vendor)) for vendor in vendors),
        assets_moved=tuple(_assets_moved(events)),
        manual_ticks=tuple(_ticks(events)),
        notifications=tuple(
            Notice(str(e.details.get("kind") or ""), _shown(e, "summary"), e.at,
                   e.action == "notification_sent")
            for e in events
            if e.action in ("notification_sent", "notification_failed")
        ),
        timeline=tuple(TimelineEntry(e.seq, e.at, e.actor, e.action, describe(e)) for e in events),
        completed_at=next((e.at for e in reversed(events) if e.action == "completed"), None),
        purged=purged or any(audit.is_purged(e) for e in events),
        mode=str(asked.get("mode") or "full"),
        started_by=tuple(f"{e.details.get('source')} event {e.details.get('event_id')} "
                         f"(sha256 {e.details.get('digest')})" for e in events if e.action == "trigger_received"),
    )


def _shown(event: AuditEvent | None, *path: str | int, missing: str = "") -> str:
    """A recorded value as text: `missing` when it was not recorded, "[purged]" when a retention
    purge erased it."""
    if event is None:
        return missing
    value: Any = event.details
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            value = None
        if value is None:
            break
    if value is not None:
        return str(value)
    where = ["details", *path]
    erased = audit.is_purged(event) and any(where[: len(p)] == p for p in event.personal_paths)
    return PURGED_TEXT if erased else missing


def _befores(events: Iterable[AuditEvent]) -> dict[str, VendorBefore]:
    found: dict[str, VendorBefore] = {}
    for event in events:
        if event.action != "vendor_assessed":
            continue
        data = event.details
        member = data.get("member") or {}
        kinds: dict[str, int] = {}
        for asset in data.get("assets") or []:
            kind = str((asset or {}).get("kind") or "asset")
            kinds[kind] = kinds.get(kind, 0) + 1
        known = member.get("last_login_known", True)
        found[str(data.get("vendor"))] = VendorBefore(  # a resumed assessment's later entry wins
            vendor=str(data.get("vendor")),
            status=str(data.get("status")),
            at=event.at,
            role=str(member.get("role") or ""),
            vendor_role=str(member.get("vendor_role") or ""),
            projects=tuple(
                f"{p.get('project_name') or p.get('project_id')} ({p.get('level')})"
                for p in member.get("projects") or []
            ),
            last_login=_day(member.get("last_login")) or ("never" if known and member else "unknown"),
            assets=tuple(sorted(kinds.items())),
            problem=_shown(event, "error") if data.get("status") == "unknown" else "",
        )
    return found


def _day(value: Any) -> str:
    """An ISO time as its UTC date; anything else as it is."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d")
    except ValueError:
        return value


def _after(vendor: str, events: Sequence[AuditEvent], before: VendorBefore | None) -> VendorAfter:
    mine = [e for e in events if e.details.get("vendor") == vendor]
    plan = next((e.details.get("steps") or [] for e in reversed(mine) if e.action == "plan_made"), [])
    succeeded = {str(e.details.get("step")): e for e in mine if e.action == "step_succeeded"}
    verified = succeeded.get("verify_removed")
    if verified is not None:
        return VendorAfter(vendor, "verified", verified.at, (audit.BOT_ACTOR,),
                           _shown(verified, "outcome", missing="checked through the vendor's API"))
    if before is not None and before.status == "not_member" and not plan:
        return VendorAfter(vendor, "not_a_member", before.at, (), "was not a member when checked")
    ticks = [e for e in mine if e.action == "manual_step_confirmed"]
    manual = sum(1 for s in plan if s.get("manual"))
    automated = {str(s.get("kind")) for s in plan if not s.get("manual")}
    # Each manual step can be confirmed once only, so as many confirmations as manual steps is all of
    # them (counted, since a purge erases the titles that would name them).
    if plan and ticks and len(ticks) >= manual and automated <= set(succeeded):
        people = tuple(dict.fromkeys(e.actor for e in ticks))
        return VendorAfter(vendor, "confirmed_by_hand", max(e.at for e in ticks), people,
                           f"{manual} manual step(s) confirmed, the last “{_shown(ticks[-1], 'step')}”")
    last = next((e for e in reversed(mine) if e.action in ("step_succeeded", "step_failed")), None)
    if last is not None and last.action == "step_failed":
        return VendorAfter(vendor, "failed", last.at, (), _shown(last, "error", missing="a step failed"))
    return VendorAfter(vendor, "pending", None, (), "not verified yet")


def _assets_moved(events: Iterable[AuditEvent]) -> Iterable[AssetMove]:
    for event in events:
        if event.action != "step_succeeded" or event.details.get("step") != "handover_assets":
            continue
        outcome = event.details.get("details") or {}
        to_all = _shown(event, "details", "new_owner_email", missing="the project")
        for index, asset in enumerate(outcome.get("assets") or []):
            yield AssetMove(
                vendor=str(event.details.get("vendor")),
                kind=str(asset.get("kind") or "asset"),
                name=_shown(event, "details", "assets", index, "name", missing=UNKNOWN),
                project=str(asset.get("project_name") or asset.get("project_id") or ""),
                from_email=_shown(event, "details", "from_email", missing=UNKNOWN),
                to_email=_shown(event, "details", "assets", index, "new_owner_email", missing=to_all),
                action=str(asset.get("action") or "handed over"),
            )


def _ticks(events: Iterable[AuditEvent]) -> Iterable[ManualTick]:
    for event in events:
        if event.action == "manual_step_confirmed":
            yield ManualTick(str(event.details.get("vendor")), _shown(event, "step"), event.actor, event.at)


# -- a line per audit entry -------------------------------------------------------------------------
def describe(event: AuditEvent) -> str:
    """One line for people, from what the entry recorded (purged values read "[purged]")."""
    d = event.details
    vendor = str(d.get("vendor") or "")
    match event.action:
        case "request_created":
            ticket = _shown(event, "ticket")
            ticket = f", ticket {ticket}" if ticket else ""
            return (f"asked to offboard {_shown(event, 'subject', missing=UNKNOWN)} "
                    f"({reason_label(str(d.get('reason')))})"
                    f"{ticket} from {', '.join(d.get('vendors') or [])}")
        case "vendor_assessed":
            return f"{vendor}: {_assessed(event)}"
        case "plan_made":
            steps = d.get("steps") or []
            manual = sum(1 for s in steps if s.get("manual"))
            return f"{vendor}: planned {len(steps)} step(s), {manual} of them by hand"
        case "approved" | "cancelled" | "completed" | "awaiting_approval" | "scheduled_start":
            return event.action.replace("_", " ")
        case "rejected":
            return f"rejected: {_shown(event, 'comment') or 'no comment'}"
        case "scheduled":
            return f"scheduled for {d.get('due')}"
        case "trigger_received":
            return (f"{d.get('source')} event {d.get('event_id')} ({d.get('event_type')}) {d.get('outcome')}, "
                    f"sha256 of the delivery {d.get('digest')}; approval: {d.get('approval')}")
        case "removal_rechecked":
            return f"{vendor}: re-checked {d.get('after_hours')} h after removal: {d.get('result')}"
        case "step_started":
            return f"{vendor}: started {d.get('step')}"
        case "step_succeeded":
            return f"{vendor}: {d.get('step')} done: {_shown(event, 'outcome')}"
        case "step_failed":
            return f"{vendor}: {d.get('step')} failed: {_shown(event, 'error')}"
        case "manual_step_confirmed":
            return f"{vendor}: confirmed “{_shown(event, 'step')}”"
        case "notification_sent" | "notification_failed":
            verb = "sent" if event.action == "notification_sent" else "failed"
            return f"notification {d.get('kind')} {verb}: {_shown(event, 'summary')}"
        case "action_refused":
            return f"refused: {d.get('why')}"
        case "status_changed":
            return f"now {d.get('status')}"
        case "card_posted":
            return "approval card posted"
        case "retry_requested" | "step_interrupted":
            return f"{event.action.replace('_', ' ')}: {vendor + ' ' if vendor else ''}{d.get('step')}"
        case _:
            facts = ", ".join(f"{k}={_shown(event, k)}" for k, v in sorted(d.items()) if not isinstance(v, dict | list))
            return event.action.replace("_", " ") + (f" ({facts})" if facts else "")


def _assessed(event: AuditEvent) -> str:
    d = event.details
    status = d.get("status")
    if status == "not_member":
        return "not a member"
    if status != "member":
        return f"could not be checked: {_shown(event, 'error')}"
    member = d.get("member") or {}
    assets = len(d.get("assets") or [])
    projects = len(member.get("projects") or [])
    role = member.get("vendor_role") or member.get("role")
    return (f"member, role {role}, {projects} project(s), last login {_day(member.get('last_login')) or 'unknown'}, "
            f"{assets} asset(s)")


# -- the removal log --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemovalRow:
    request_id: int
    user: str
    user_name: str
    removed_at_utc: str
    removed_by: str
    reason: str
    approved_by: str
    approved_at_utc: str
    assets_transferred: list[str]
    verification: list[str]
    ticket: str
    requested_by: str
    requested_at_utc: str
    scheduled_for_utc: str
    hours_request_to_approval: float | None
    hours_approval_to_verified_removal: float | None
    vendors: list[str]
    # The removal deadline (bot.triggers.deadline): when it was due, and "met" or "late by 5 h".
    removal_due_utc: str = ""
    deadline: str = ""
    # What started it when not a person in Slack: "okta event <id> (sha256 <digest of the raw delivery>)".
    started_by: str = ""


CSV_COLUMNS = [f for f in RemovalRow.__dataclass_fields__]


def iso_utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _hours(span: timedelta | None) -> float | None:
    return round(span.total_seconds() / 3600, 2) if span is not None else None


def removal_row(evidence: Evidence) -> RemovalRow:
    approvals = [d for d in evidence.decisions if d.decision == "approved"]
    moved = [f"{m.vendor} {m.kind} “{m.name}” ({m.project}) from {m.from_email} to {m.to_email}"
             for m in evidence.assets_moved]
    return RemovalRow(
        request_id=evidence.request_id,
        user=evidence.subject,
        user_name=evidence.subject_name,
        removed_at_utc=iso_utc(evidence.removal_verified_at or evidence.completed_at),
        removed_by="; ".join(evidence.removed_by),
        reason=evidence.reason_label,
        approved_by="; ".join(d.by for d in approvals),
        approved_at_utc="; ".join(iso_utc(d.at) for d in approvals),
        assets_transferred=moved,
        verification=[_verification(a) for a in evidence.after],
        ticket=evidence.ticket,
        requested_by=evidence.requested_by,
        requested_at_utc=iso_utc(evidence.requested_at),
        scheduled_for_utc=iso_utc(datetime.fromisoformat(evidence.effective_at)) if evidence.effective_at else "",
        hours_request_to_approval=_hours(evidence.request_to_approval),
        hours_approval_to_verified_removal=_hours(evidence.approval_to_removal),
        vendors=list(evidence.vendors),
        **_deadline_cells(evidence),
        started_by="; ".join(evidence.started_by),
    )


def _deadline_cells(evidence: Evidence) -> dict[str, str]:
    if not deadline.removes(evidence.mode):
        return {}
    start = datetime.fromisoformat(evidence.effective_at) if evidence.effective_at else evidence.requested_at
    due = deadline.policy().due_from(start)
    if due is None:
        return {}
    verdict = deadline.judged(due, evidence.removal_verified_at or evidence.completed_at)
    return {"removal_due_utc": iso_utc(due), "deadline": verdict.words}


def _verification(after: VendorAfter) -> str:
    match after.state:
        case "verified":
            return f"{after.vendor}: verified gone through the API at {iso_utc(after.at)}"
        case "confirmed_by_hand":
            return f"{after.vendor}: confirmed by hand by {', '.join(after.by)} at {iso_utc(after.at)}"
        case "not_a_member":
            return f"{after.vendor}: was not a member when checked at {iso_utc(after.at)}"
        case _:
            return f"{after.vendor}: {after.state} ({after.detail})"


def removal_rows(session: Session, since: datetime | None = None) -> list[RemovalRow]:
    """One row per completed offboarding whose removal was verified on or after `since`."""
    statement = select(AuditEvent.request_id).where(AuditEvent.action == "completed")
    if since is not None:
        statement = statement.where(col(AuditEvent.at) >= since)  # completion is never before verification
    ids = sorted({rid for rid in session.exec(statement) if rid is not None})
    rows = []
    for request_id in ids:
        evidence = load_evidence(session, request_id)
        if evidence is None:
            continue
        row = removal_row(evidence)
        when = evidence.removal_verified_at or evidence.completed_at
        if since is None or (when is not None and when >= since):
            rows.append(row)
    return rows


def render_csv(rows: Iterable[RemovalRow]) -> str:
    """The removal log as a CSV file a spreadsheet opens safely (bot.spreadsheet quotes formula-like cells,
    since ticket numbers and names come from people)."""
    return spreadsheet.render(CSV_COLUMNS, ([asdict(row)[c] for c in CSV_COLUMNS] for row in rows))


def render_json(rows: Iterable[RemovalRow], *, since: datetime | None, generated_at: datetime,
                chain: audit.VerifyResult | None = None) -> str:
    document: dict[str, Any] = {
        "generated_at_utc": iso_utc(generated_at),
        "since_utc": iso_utc(since),
        "removals": [asdict(r) for r in rows],
    }
    if chain is not None:
        document["audit_chain"] = {
            "verified": chain.ok,
            "entries": chain.entries,
            "head_seq": chain.head_seq,
            "head_hash": chain.head_hash,
            "problem": chain.problem.message if chain.problem else None,
        }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def render_export(rows: list[RemovalRow], fmt: ExportFormat, *, since: datetime | None, generated_at: datetime,
                  chain: audit.VerifyResult | None = None) -> str:
    if fmt == ExportFormat.CSV:
        return render_csv(rows)
    return render_json(rows, since=since, generated_at=generated_at, chain=chain)
