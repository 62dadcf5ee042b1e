"""The removal deadline: N business days (OFFBOARD_REMOVAL_DEADLINE_DAYS, 1 by default) after a request's
effective time, or after it was made when it has none. The card shows the due time and its clock, the
evidence and the export say met or late by how much, and a daily list in the admin channel names leavers
past their deadline whose removal is still open.

The policy is one setting for the whole installation, set once at start-up (`configure`), so the card
builders and the evidence read the same deadline without each being handed the settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bot.offboarding.values import NOTIFY_VENDOR
from storage.changes import add_business_days
from storage.models import OffboardRequest, RequestMode, RequestStatus, Step, StepStatus
from vendors.base import StepKind


def removes(mode: str) -> bool:
    """The deadline is for taking a leaver's access away: full and emergency removals, not partial changes
    (projects only, read-only) nor restores."""
    return mode in (RequestMode.FULL, RequestMode.EMERGENCY)


@dataclass(frozen=True)
class DeadlinePolicy:
    business_days: int = 1  # 0: no deadline

    def due(self, request: OffboardRequest) -> datetime | None:
        if not removes(request.mode):
            return None
        return self.due_from(request.effective_at or request.created_at)

    def due_from(self, start: datetime | None) -> datetime | None:
        """The due time of a removal whose clock starts at `start` (its effective time, else its creation)."""
        if self.business_days <= 0 or start is None:
            return None
        return add_business_days(start, self.business_days)


_policy = DeadlinePolicy()


def configure(business_days: int) -> None:
    global _policy
    _policy = DeadlinePolicy(business_days)


def policy() -> DeadlinePolicy:
    return _policy


def span(delta: timedelta) -> str:
    """3 d 4 h, 5 h 10 min, 12 min: the size of a gap, for people."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


@dataclass(frozen=True)
class Verdict:
    due: datetime
    met: bool | None  # None: not finished yet
    late_by: timedelta = timedelta(0)

    @property
    def words(self) -> str:
        if self.met is None:
            return "open"
        return "met" if self.met else f"late by {span(self.late_by)}"


CLOSED_UNREMOVED = (RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.EXPIRED)


def removed_at(steps: Iterable[Step]) -> datetime | None:
    """When the person was gone from the last of their tools, as the evidence judges it: per tool, its verified
    removal, else (removed by hand) its last step once all are done. Steps a person still owes after a verified
    removal (replacing their personal API keys) do not hold the deadline open. None while a tool's removal is
    open, and when no tool had anything to remove."""
    by_vendor: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        if step.vendor != NOTIFY_VENDOR:
            by_vendor[step.vendor].append(step)
    times = []
    for vendor_steps in by_vendor.values():
        verified = [s.finished_at for s in vendor_steps
                    if s.kind == StepKind.VERIFY_REMOVED and s.status == StepStatus.DONE and s.finished_at]
        if verified:
            times.append(max(verified))
        elif all(s.status == StepStatus.DONE and s.finished_at for s in vendor_steps):
            times.append(max(s.finished_at for s in vendor_steps if s.finished_at))
        else:
            return None
    return max(times) if times else None


def removal_times(session: Session, request_ids: Sequence[int]) -> dict[int, datetime | None]:
    """`removed_at` of each request, read in one query."""
    steps: dict[int, list[Step]] = {request_id: [] for request_id in request_ids}
    for step in session.exec(select(Step).where(col(Step.request_id).in_(list(request_ids)))):
        steps[step.request_id].append(step)
    return {request_id: removed_at(found) for request_id, found in steps.items()}


def verdict(request: OffboardRequest, chosen: DeadlinePolicy | None = None,
            removed: datetime | None = None) -> Verdict | None:
    """Met, late by how much, or still open; None when there is no deadline or nothing was to be removed.
    `removed` is when the access was gone (`removed_at`): a request can still wait for a person's checklist
    after that, and the deadline is for the removal; without it, the request's completion counts."""
    due = (chosen or _policy).due(request)
    if due is None or request.status in CLOSED_UNREMOVED:
        return None
    if removed is not None:
        return judged(due, removed)
    if request.status != RequestStatus.COMPLETED or request.completed_at is None:
        return Verdict(due, None)
    return judged(due, request.completed_at)


def judged(due: datetime, finished: datetime | None) -> Verdict:
    if finished is None:
        return Verdict(due, None)
    late = finished - due
    return Verdict(due, late <= timedelta(0), max(late, timedelta(0)))


def card_line(request: OffboardRequest, now: datetime, slack_date: Callable[[datetime], str],
              removed: datetime | None = None) -> str | None:
    """The card's *Removal due* field: the due time and its clock (stopped once the access is gone)."""
    found = verdict(request, removed=removed)
    if found is None:
        return None
    when = slack_date(found.due)
    if found.met is True:
        return f"{when}\n:white_check_mark: met"
    if found.met is False:
        return f"{when}\n:hourglass: late by {span(found.late_by)}"
    if now > found.due:
        return f"{when}\n:red_circle: overdue by {span(now - found.due)}"
    left = found.due - now
    clock = ":large_orange_circle:" if left <= timedelta(hours=4) else ":clock3:"
    return f"{when}\n{clock} {span(left)} left"
