"""The audit report: one self-contained HTML file for a period, for an auditor who wants evidence rather than
screenshots. Per leaver: who, when they left, the request and its source, the approver, each tool's removal and
verification times, manual confirmations, assets handed over, the deadline met or missed, the re-checks after
removal. Then a summary (counts, time to verified removal per tool, deadline compliance, seats freed), the
chain's verification with its witnessed heads, and the period's access reviews with their attestation.

The facts come from bot.audit.evidence (the hash-chained audit entries). `build_report` gathers them; `render_html`
writes the page: every text through html.escape, charts as inline SVG, no script, no URL to fetch, so it reads
the same offline in ten years. bot/audit/report_html.py holds the page's template.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, or_, select

from bot.audit import evidence
from storage import audit
from storage.models import AccessReview, AuditEvent, OffboardRequest, RequestMode, RequestStatus
from storage.witness import SignedHead, WitnessResult

DEFAULT_DEADLINE_HOURS = 24.0
CLOSED_WITHOUT_REMOVAL = (RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.EXPIRED)
REMOVAL_STEPS = ("remove_member", "remove_from_project", "change_role")
LEAVER_MODES = (RequestMode.FULL, RequestMode.EMERGENCY, RequestMode.PROJECTS, RequestMode.READ_ONLY)
_SLACK_ID = re.compile(r"[UW][A-Z0-9]+")
SOURCE_WORDS = {"slack": "Slack", "hr": "HR system", "idp": "identity provider", "cli": "command line",
                "csv": "CSV file", "schedule": "scheduled sweep"}


@dataclass(frozen=True)
class ToolOutcome:
    vendor: str
    state: str  # evidence.VendorAfter.state
    removed_at: datetime | None  # the removal step (or the manual confirmation) finished
    verified_at: datetime | None  # verified gone through the API, or confirmed by hand
    by: tuple[str, ...]
    seat_freed: bool  # they were a member before and are gone now


@dataclass(frozen=True)
class Recheck:
    vendor: str
    at: datetime
    result: str  # "not a member" | "still a member" | "could not be checked"


@dataclass(frozen=True)
class Leaver:
    request_id: int
    who: str
    name: str
    reason: str
    ticket: str
    mode: str
    status: str
    left_at: datetime | None  # the termination or effective time (the request time when none was set)
    requested_at: datetime | None
    requested_by: str
    source: str
    approvals: tuple[evidence.Decision, ...]
    tools: tuple[ToolOutcome, ...]
    manual: tuple[evidence.ManualTick, ...]
    assets: tuple[evidence.AssetMove, ...]
    rechecks: tuple[Recheck, ...]
    verified_at: datetime | None
    deadline: datetime | None
    deadline_state: str  # "met" | "missed" | "open" | "none" (rejected, cancelled or expired: nothing was due)
    purged: bool


@dataclass(frozen=True)
class ReviewSummary:
    period: str
    started_at: datetime
    attested_by: str | None
    attested_at: datetime | None
    tools: tuple[tuple[str, str], ...]  # (tool, what the review counted)


@dataclass(frozen=True)
class AuditReport:
    start: datetime
    end: datetime
    generated_at: datetime
    deadline_hours: float
    leavers: tuple[Leaver, ...]
    chain: audit.VerifyResult
    witness: WitnessResult | None = None
    witnessed_heads: tuple[SignedHead, ...] = ()
    witness_source: str = ""
    reviews: tuple[ReviewSummary, ...] = ()
    seat_cost: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, vendor: str) -> str:
        return self.labels.get(vendor, vendor)

    @property
    def counts(self) -> Counter[str]:
        found: Counter[str] = Counter({"leavers": len(self.leavers)})
        for leaver in self.leavers:
            found[f"deadline_{leaver.deadline_state}"] += 1
            found["verified" if leaver.verified_at else "not_verified"] += 1
            found["manual_confirmations"] += len(leaver.manual)
            found["assets_handed_over"] += len(leaver.assets)
        return found

    def hours_to_verified(self) -> dict[str, list[float]]:
        """Per tool: hours from leaving to verified removal, one value per leaver the tool verified."""
        found: dict[str, list[float]] = {}
        for leaver in self.leavers:
            for tool in leaver.tools:
                if leaver.left_at and tool.verified_at and tool.state in ("verified", "confirmed_by_hand"):
                    hours = max(0.0, (tool.verified_at - leaver.left_at).total_seconds() / 3600)
                    found.setdefault(tool.vendor, []).append(hours)
        return found

    def seats_freed(self) -> dict[str, int]:
        found: Counter[str] = Counter()
        for leaver in self.leavers:
            found.update(t.vendor for t in leaver.tools if t.seat_freed)
        return dict(sorted(found.items()))

    def seat_value(self, vendor: str) -> float | None:
        cost = self.seat_cost.get(vendor, self.seat_cost.get("*"))
        return None if cost is None else cost * self.seats_freed().get(vendor, 0)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


# -- gathering -------------------------------------------------------------------------------------------
def build_report(session: Session, start: datetime, end: datetime, *, generated_at: datetime,
                 deadline_hours: float = DEFAULT_DEADLINE_HOURS, witness: WitnessResult | None = None,
                 witnessed_heads: Sequence[SignedHead] = (), witness_source: str = "",
                 seat_cost: Mapping[str, float] | None = None, labels: Mapping[str, str] | None = None
                 ) -> AuditReport:
    """Requests asked for or completed in [start, end), their evidence, and the chain as it is now."""
    statement = select(OffboardRequest).where(
        or_((col(OffboardRequest.created_at) >= start) & (col(OffboardRequest.created_at) < end),
            (col(OffboardRequest.completed_at) >= start) & (col(OffboardRequest.completed_at) < end)),
        col(OffboardRequest.mode).in_(LEAVER_MODES),
    ).order_by(col(OffboardRequest.id))
    leavers = []
    for request in session.exec(statement):
        assert request.id is not None
        found = evidence.load_evidence(session, request.id)
        if found is not None:
            leavers.append(_leaver(found, request, audit.events_for(session, request.id), deadline_hours,
                                   generated_at))
    reviews = [_review(r) for r in session.exec(
        select(AccessReview).where(col(AccessReview.started_at) >= start, col(AccessReview.started_at) < end)
        .order_by(col(AccessReview.started_at)))]
    return AuditReport(start, end, generated_at, deadline_hours, tuple(leavers), audit.verify_chain(session),
                       witness, tuple(witnessed_heads), witness_source, tuple(reviews), dict(seat_cost or {}),
                       dict(labels or {}))


def _leaver(found: evidence.Evidence, request: OffboardRequest, events: Sequence[AuditEvent],
            deadline_hours: float, now: datetime) -> Leaver:
    left_at = _parse_time(found.effective_at) or found.requested_at
    verified = found.removal_verified_at
    deadline = left_at + timedelta(hours=deadline_hours) if left_at else None
    if request.status in CLOSED_WITHOUT_REMOVAL:
        state = "none"  # nobody was to lose access
    elif deadline is None:
        state = "open"
    elif verified is not None:
        state = "met" if verified <= deadline else "missed"
    elif request.status == RequestStatus.COMPLETED:
        state = "met"  # nothing to remove anywhere: nothing could be late
    else:
        state = "missed" if now > deadline else "open"
    befores = {b.vendor: b for b in found.before}
    tools = tuple(_tool(after, befores.get(after.vendor), events, request.mode) for after in found.after)
    return Leaver(
        request_id=found.request_id, who=found.subject, name=found.subject_name, reason=found.reason_label,
        ticket=found.ticket, mode=str(request.mode), status=found.status, left_at=left_at,
        requested_at=found.requested_at,
        requested_by=found.requested_by, source=_source(events, found.requested_by),
        approvals=tuple(d for d in found.decisions if d.decision == "approved"), tools=tools,
        manual=found.manual_ticks, assets=found.assets_moved, rechecks=tuple(_rechecks(events, tools)),
        verified_at=verified, deadline=deadline, deadline_state=state, purged=found.purged)


def _tool(after: evidence.VendorAfter, before: evidence.VendorBefore | None, events: Sequence[AuditEvent],
          mode: str) -> ToolOutcome:
    mine = [e for e in events if e.details.get("vendor") == after.vendor]
    removed = next((e.at for e in mine if e.action == "step_succeeded" and e.details.get("step") in REMOVAL_STEPS),
                   None)
    if removed is None and after.state == "confirmed_by_hand":
        removed = after.at
    done = after.state in ("verified", "confirmed_by_hand")
    freed = done and before is not None and before.status == "member" and mode in (RequestMode.FULL,
                                                                                    RequestMode.EMERGENCY)
    return ToolOutcome(after.vendor, after.state, removed, after.at if done else None, after.by, freed)


def _rechecks(events: Sequence[AuditEvent], tools: Sequence[ToolOutcome]) -> list[Recheck]:
    """Looks at the tool after its removal was verified: the bot's own check, and any "check again"."""
    verified = {t.vendor: t.verified_at for t in tools if t.verified_at}
    found = []
    for event in events:
        vendor = str(event.details.get("vendor") or "")
        if event.action not in ("membership_after", "vendor_assessed") or vendor not in verified:
            continue
        if event.action == "vendor_assessed" and event.at <= verified[vendor]:
            continue
        status = event.details.get("status")
        result = {"not_member": "not a member", "member": "still a member"}.get(str(status), "could not be checked")
        found.append(Recheck(vendor, event.at, result))
    return found


def _source(events: Sequence[AuditEvent], requested_by: str) -> str:
    created = next((e for e in events if e.action == "request_created"), None)
    recorded = str((created.details.get("source") or created.details.get("via") or "") if created else "")
    if recorded:
        return SOURCE_WORDS.get(recorded.lower(), recorded)
    if created is not None and created.details.get("batch"):
        return "Slack (bulk request)"
    return "Slack" if _SLACK_ID.fullmatch(requested_by) else (requested_by or evidence.UNKNOWN)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _review(review: AccessReview) -> ReviewSummary:
    tools = []
    for vendor, counted in sorted(review.summary.items()):
        if not isinstance(counted, dict):
            continue
        if not counted.get("listed", True):
            tools.append((vendor, f"not listed: {counted.get('problem') or 'no API'}"))
            continue
        inactive = counted.get("inactive")
        tools.append((vendor, f"{counted.get('members', 0)} members, {len(counted.get('owners') or [])} owners, "
                              f"{len(counted.get('admins') or [])} admins, "
                              f"{'unknown' if inactive is None else inactive} inactive"))
    return ReviewSummary(review.period, review.started_at, review.attested_by, review.attested_at, tuple(tools))
