"""Reminders for people who must act: approvers (reminder in the card's thread with back-off, one digest
for an approver with several requests waiting, escalation to a fallback, expiry), owners of open checklist
items (daily), and the thread posts of a scheduled removal (started, finished).

Each due time is a column (`approval_watch`, `scheduled_notice`) and each reminder is claimed by a
conditional UPDATE before it is sent, so a restart or a second bot instance never sends it twice. A
reminder is sent at most once: a crash between the claim and the post loses that one reminder, never
doubles it (the next one follows on the back-off schedule).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bot.offboarding.slack.blocks import removal_summary
from bot.offboarding.workflow import Workflow
from bot.slack import mrkdwn
from bot.slack.directory import SlackPerson
from bot.slack.mrkdwn import escape
from bot.slack.post import SlackPoster, info_message
from storage import audit
from storage.models import (
    ApprovalWatch,
    ApproverNudge,
    AuditEvent,
    OffboardRequest,
    RequestStatus,
    ScheduledNotice,
    Step,
    StepStatus,
    utcnow,
)
from storage.schedule import insert_once

log = logging.getLogger(__name__)

CHECKLIST_MIN_AGE = timedelta(hours=12)  # items of a removal that started this morning are not nagged about yet
NOTICE_LOOKBACK = timedelta(days=1)  # scheduled starts older than this are history, not news


class ApproverDirectory(Protocol):
    def by_id(self, user_id: str) -> SlackPerson | None: ...

    def approvers(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class ReminderConfig:
    intervals: tuple[timedelta, ...] = (timedelta(hours=4), timedelta(hours=8), timedelta(hours=16))
    escalate_after: timedelta = timedelta(hours=24)
    expire_after: timedelta = timedelta(days=7)
    fallback_approver: str = ""
    escalation_channel: str = ""
    approvals_channel: str = ""
    checklist_owners: Mapping[str, str] = field(default_factory=dict)


def next_reminder(since: datetime, intervals: Sequence[timedelta], now: datetime) -> datetime:
    """The first reminder time after `now` (missed ones after downtime are not caught up one by one)."""
    moment, step = since, 0
    while moment <= now:
        moment += intervals[min(step, len(intervals) - 1)]
        step += 1
    return moment


def hours(delta: timedelta) -> str:
    total = int(delta.total_seconds() // 3600)
    if total < 48:
        return f"{total} hour{'s' if total != 1 else ''}"
    return f"{total // 24} days"


@dataclass(frozen=True)
class Pending:
    """A request waiting for approval, as a reminder needs it."""

    request_id: int
    subject: str
    requester: str
    card_channel: str | None
    card_ts: str | None
    pending_since: datetime
    number: int = 0  # which reminder this is


class ApprovalReminders:
    def __init__(self, workflow: Workflow, directory: ApproverDirectory, poster: SlackPoster, config: ReminderConfig,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.directory = directory
        self.poster = poster
        self.config = config
        self.clock = clock
        self._people: dict[str, SlackPerson | None] = {}

    def tick(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        self._people.clear()  # who is deactivated is looked up again each pass, once per person
        self.watch_new(now)
        self.expire_due(now)
        self.escalate_due(now)
        self.remind_due(now)

    # -- which requests are watched ----------------------------------------------------------------
    def watch_new(self, now: datetime) -> None:
        """Start the clock of every request that waits for approval and has none yet."""
        with self.db.session() as session:
            watched = select(ApprovalWatch.request_id)
            # A batch member waits for its batch's one approval: nudging or expiring members one by one
            # would split the batch.
            fresh = list(session.exec(select(OffboardRequest).where(
                OffboardRequest.status == RequestStatus.PENDING_APPROVAL, col(OffboardRequest.id).not_in(watched),
                col(OffboardRequest.batch_id).is_(None))))
            since = {r.id: self._pending_since(session, r) for r in fresh}
        for request_id, started in since.items():
            assert request_id is not None
            insert_once(self.db, ApprovalWatch(
                request_id=request_id, pending_since=started,
                next_reminder_at=next_reminder(started, self.config.intervals, started),
                escalate_at=started + self.config.escalate_after, expires_at=started + self.config.expire_after))

    def _pending_since(self, session: Session, request: OffboardRequest) -> datetime:
        """When the request started waiting: its "awaiting_approval" audit entry, else its creation."""
        at = session.exec(select(AuditEvent.at).where(
            AuditEvent.request_id == request.id, AuditEvent.action == "awaiting_approval")
            .order_by(col(AuditEvent.seq).desc())).first()
        return at or request.created_at

    def _due(self, *conditions: object) -> list[Pending]:
        with self.db.session() as session:
            rows = session.exec(select(ApprovalWatch, OffboardRequest).join(
                OffboardRequest, col(OffboardRequest.id) == col(ApprovalWatch.request_id)).where(
                OffboardRequest.status == RequestStatus.PENDING_APPROVAL, *conditions))  # type: ignore[arg-type]
            return [Pending(r.id or 0, r.subject_email, r.requester_id, r.card_channel, r.card_ts, w.pending_since,
                            w.reminders_sent + 1) for w, r in rows]

    # -- expiry --------------------------------------------------------------------------------
    def expire_due(self, now: datetime) -> list[int]:
        expired = []
        days = self.config.expire_after.total_seconds() / 86400
        why = f"nobody approved or rejected it within {days:g} days"
        for pending in self._due(col(ApprovalWatch.expires_at) <= now):
            if self.workflow.expire(pending.request_id, why.capitalize()):
                expired.append(pending.request_id)
                self._thread(pending, f":hourglass: Request #{pending.request_id} expired: {why}. Nothing was "
                                      f"removed; <@{pending.requester}> was told.")
        return expired

    # -- escalation ----------------------------------------------------------------------------
    def escalate_due(self, now: datetime) -> list[int]:
        escalated = []
        for pending in self._due(col(ApprovalWatch.escalated_at).is_(None), col(ApprovalWatch.escalate_at) <= now):
            with self.db.session() as session:
                claimed = session.execute(update(ApprovalWatch).where(
                    col(ApprovalWatch.request_id) == pending.request_id, col(ApprovalWatch.escalated_at).is_(None))
                    .values(escalated_at=now)).rowcount  # type: ignore[attr-defined]
                if claimed:
                    audit.record(session, "approval_escalated", request_id=pending.request_id, at=now,
                                 to=self.config.fallback_approver or None,
                                 channel=self.config.escalation_channel or None)
            if claimed:
                self._escalate(pending, now)
                escalated.append(pending.request_id)
        return escalated

    def _escalate(self, pending: Pending, now: datetime) -> None:
        waited = hours(now - pending.pending_since)
        link = self.poster.permalink(pending.card_channel, pending.card_ts)
        card = mrkdwn.link(link, f"request #{pending.request_id}")
        fallback = self._active(self.config.fallback_approver) if self.config.fallback_approver else None
        targets = [f"<@{fallback}>"] if fallback else []
        if self.config.escalation_channel:
            targets.append(f"<#{self.config.escalation_channel}>")
        if not targets:
            approvers = " ".join(f"<@{a}>" for a in self._active_approvers(pending.requester)[0])
            self._thread(pending, f":rotating_light: Request #{pending.request_id} has waited {waited} for approval "
                                  f"and no fallback approver is configured (OFFBOARD_FALLBACK_APPROVER). {approvers}")
            return
        self._thread(pending, f":rotating_light: Request #{pending.request_id} has waited {waited} for approval: "
                              f"escalated to {' and '.join(targets)}.")
        text = (f":rotating_light: Escalated to you: offboarding {card} for {escape(pending.subject)} has waited "
                f"{waited} for an approver. Please approve or reject it on its card.")
        if fallback:
            self._safely(lambda: self.poster.dm(fallback, info_message(text)), "escalation DM")
        if self.config.escalation_channel:
            self._safely(lambda: self.poster.post(self.config.escalation_channel, info_message(text)),
                         "escalation post")

    # -- reminders and digests -----------------------------------------------------------------
    def remind_due(self, now: datetime) -> list[int]:
        claimed = [p for p in self._due(col(ApprovalWatch.next_reminder_at) <= now) if self._claim_reminder(p, now)]
        if not claimed:
            return []
        waiting = self._waiting_per_approver()
        digest = {a for a, requests in waiting.items() if len(requests) > 1}
        for pending in claimed:
            self._remind(pending, now, digest)
        reminded_approvers = {a for p in claimed for a in self._active_approvers(p.requester)[0]}
        for approver in sorted(digest & reminded_approvers):
            self._digest(approver, waiting[approver], now)
        return [p.request_id for p in claimed]

    def _claim_reminder(self, pending: Pending, now: datetime) -> bool:
        following = next_reminder(pending.pending_since, self.config.intervals, now)
        with self.db.session() as session:
            won = session.execute(update(ApprovalWatch).where(
                col(ApprovalWatch.request_id) == pending.request_id,
                col(ApprovalWatch.reminders_sent) == pending.number - 1,
                col(ApprovalWatch.next_reminder_at) <= now,
            ).values(reminders_sent=pending.number, next_reminder_at=following)).rowcount  # type: ignore[attr-defined]
            if won:
                audit.record(session, "approval_reminder_claimed", request_id=pending.request_id, at=now,
                             count=pending.number, due=following)
        return bool(won)

    def _remind(self, pending: Pending, now: datetime, digest: set[str]) -> None:
        active, skipped = self._active_approvers(pending.requester)
        mentioned = [a for a in active if a not in digest]
        fallback = self.config.fallback_approver
        if (skipped or not active) and fallback and fallback not in mentioned and self._active(fallback):
            mentioned.append(fallback)
        lines = [f":bell: Reminder: request #{pending.request_id} for {escape(pending.subject)} has waited "
                 f"{hours(now - pending.pending_since)} for approval."]
        if mentioned:
            lines.append(" ".join(f"<@{a}>" for a in mentioned) + ", please approve or reject it above.")
        if any(a in digest for a in active):
            lines.append("_Approvers with several requests waiting get one digest by DM instead of a ping here._")
        if skipped:
            names = ", ".join(escape(p.name) for p in skipped)  # Slack real names: what people typed
            lines.append(f"_Skipped (deactivated in Slack): {names}._"
                         + (f" The fallback approver <@{fallback}> is asked instead." if fallback else ""))
        self._thread(pending, "\n".join(lines))
        with self.db.session() as session:
            audit.record(session, "approval_reminder_sent", request_id=pending.request_id, at=now,
                         count=pending.number, mentioned=mentioned, skipped=[p.user_id for p in skipped])

    def _waiting_per_approver(self) -> dict[str, list[Pending]]:
        """Every request waiting for approval, per active approver who may decide it (not its requester)."""
        waiting: dict[str, list[Pending]] = defaultdict(list)
        with self.db.session() as session:
            rows = list(session.exec(select(ApprovalWatch, OffboardRequest).join(
                OffboardRequest, col(OffboardRequest.id) == col(ApprovalWatch.request_id)).where(
                OffboardRequest.status == RequestStatus.PENDING_APPROVAL).order_by(col(OffboardRequest.id))))
        for watch, request in rows:
            pending = Pending(request.id or 0, request.subject_email, request.requester_id, request.card_channel,
                              request.card_ts, watch.pending_since)
            for approver in self._active_approvers(request.requester_id)[0]:
                waiting[approver].append(pending)
        return waiting

    def _digest(self, approver: str, requests: list[Pending], now: datetime) -> None:
        """One DM listing all their waiting requests, at most once per shortest reminder interval."""
        if not self._claim_digest(approver, now):
            return
        lines = [f":bell: {len(requests)} offboarding requests are waiting for your approval:"]
        for pending in requests[:40]:
            link = self.poster.permalink(pending.card_channel, pending.card_ts)
            card = mrkdwn.link(link, f"#{pending.request_id}")
            lines.append(f"• {card} {escape(pending.subject)}, waiting {hours(now - pending.pending_since)}")
        if len(requests) > 40:
            lines.append(f"…and {len(requests) - 40} more in <#{self.config.approvals_channel}>.")
        if self._safely(lambda: self.poster.dm(approver, info_message("\n".join(lines))), "digest DM"):
            with self.db.session() as session:
                audit.record(session, "approval_digest_sent", at=now, to=approver,
                             request_ids=[p.request_id for p in requests])

    def _claim_digest(self, approver: str, now: datetime) -> bool:
        if insert_once(self.db, ApproverNudge(approver_id=approver, last_digest_at=now)):
            return True
        quiet_since = now - min(self.config.intervals)
        with self.db.session() as session:
            return bool(session.execute(update(ApproverNudge).where(
                col(ApproverNudge.approver_id) == approver,
                or_(col(ApproverNudge.last_digest_at).is_(None), col(ApproverNudge.last_digest_at) <= quiet_since),
            ).values(last_digest_at=now)).rowcount)  # type: ignore[attr-defined]

    # -- who is there --------------------------------------------------------------------------
    def _active_approvers(self, requester: str) -> tuple[list[str], list[SlackPerson]]:
        """(approvers still active in Slack, the deactivated ones skipped); never the requester."""
        active, skipped = [], []
        for approver in sorted(self.directory.approvers() - {requester}):
            person = self._person(approver)
            if person is not None and person.deleted:
                skipped.append(person)
            else:
                active.append(approver)
        return active, skipped

    def _active(self, user_id: str) -> str | None:
        person = self._person(user_id)
        return None if person is not None and person.deleted else user_id

    def _person(self, user_id: str) -> SlackPerson | None:
        if user_id in self._people:
            return self._people[user_id]
        try:
            person = self.directory.by_id(user_id)
        except SlackApiError as exc:  # unknown is not deactivated: still remind them (not cached: ask again)
            log.warning("could not look up approver %s: %s", user_id, exc.response.get("error"))
            return None
        self._people[user_id] = person
        return person

    def _thread(self, pending: Pending, text: str) -> None:
        channel = pending.card_channel or self.config.approvals_channel
        self._safely(lambda: self.poster.post(channel, info_message(text), thread_ts=pending.card_ts),
                     f"post about request #{pending.request_id}")

    def _safely(self, post: Callable[[], object], what: str) -> bool:
        try:
            post()
        except SlackApiError as exc:
            log.warning("%s failed: %s", what, exc.response.get("error"))
            return False
        return True


class ChecklistReminders:
    """Once a day: each owner of open manual checklist items gets one DM listing them."""

    def __init__(self, workflow: Workflow, directory: ApproverDirectory, poster: SlackPoster, config: ReminderConfig,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.directory = directory
        self.poster = poster
        self.config = config
        self.clock = clock
        self._deactivated_ids: dict[str, bool] = {}

    def run(self, now: datetime | None = None) -> dict[str, list[int]]:
        """Send the reminders; returns {owner: [step ids]}."""
        now = now or self.clock()
        self._deactivated_ids: dict[str, bool] = {}
        per_owner: dict[str, list[tuple[OffboardRequest, Step]]] = defaultdict(list)
        for request, step in self._open_items(now):
            per_owner[self._owner(request, step.vendor)].append((request, step))
        sent: dict[str, list[int]] = {}
        for owner, items in per_owner.items():
            if self._send(owner, items, now):
                sent[owner] = [s.id or 0 for _, s in items]
        return sent

    def _open_items(self, now: datetime) -> list[tuple[OffboardRequest, Step]]:
        started_before = now - CHECKLIST_MIN_AGE
        with self.db.session() as session:
            return list(session.exec(select(OffboardRequest, Step).join(
                Step, col(Step.request_id) == col(OffboardRequest.id)).where(
                col(OffboardRequest.status).in_([RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL,
                                                 RequestStatus.NEEDS_ATTENTION]),
                col(OffboardRequest.started_at) <= started_before,
                col(Step.manual).is_(True), Step.status != StepStatus.DONE,
            ).order_by(col(OffboardRequest.id), col(Step.vendor), col(Step.seq))))

    def _owner(self, request: OffboardRequest, vendor: str) -> str:
        """The tool's configured owner, else the approver who approved it, else the requester; anyone
        deactivated in Slack is passed over."""
        candidates = [self.config.checklist_owners.get(vendor), request.decided_by, request.requester_id,
                      self.config.fallback_approver]
        for candidate in candidates:
            if candidate and candidate != audit.BOT_ACTOR and not self._deactivated(candidate):
                return candidate
        return request.requester_id

    def _deactivated(self, user_id: str) -> bool:
        if user_id not in self._deactivated_ids:
            try:
                person = self.directory.by_id(user_id)
            except SlackApiError:
                return False
            self._deactivated_ids[user_id] = person is not None and person.deleted
        return self._deactivated_ids[user_id]

    def _send(self, owner: str, items: list[tuple[OffboardRequest, Step]], now: datetime) -> bool:
        labels = {name: v.label for name, v in self.workflow.vendors.items()}
        lines = [f":clipboard: Daily reminder: {len(items)} checklist item{'s' if len(items) > 1 else ''} of "
                 "offboardings are still open. Do them in the tool, then click *Mark done* in the card's *Details*."]
        current: int | None = None
        for request, step in items[:60]:
            if request.id != current:
                current = request.id
                link = self.poster.permalink(request.card_channel, request.card_ts)
                card = mrkdwn.link(link, f"request #{request.id}")
                lines.append(f"*{card}: {escape(request.subject_email)}*")
            opened = request.started_at or request.updated_at
            lines.append(f"• {escape(labels.get(step.vendor, step.vendor))}: {escape(step.title)} "
                         f"(open {hours(now - opened)})")
        try:
            self.poster.dm(owner, info_message("\n".join(lines)))
        except SlackApiError as exc:
            log.warning("checklist reminder to %s failed: %s", owner, exc.response.get("error"))
            return False
        with self.db.session() as session:
            audit.record(session, "checklist_reminder_sent", at=now, to=owner,
                         request_ids=sorted({r.id for r, _ in items if r.id is not None}), count=len(items))
        return True


class ScheduledRemovalNotices:
    """A removal approved ahead of its time starts by itself (Workflow.run_due); this posts in its card's
    thread when it starts and when its automated part has finished."""

    def __init__(self, workflow: Workflow, poster: SlackPoster, clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.poster = poster
        self.clock = clock

    def tick(self, now: datetime | None = None) -> list[int]:
        now = now or self.clock()
        started = self.workflow.run_due(now)
        self._announce_starts(now)
        self._announce_finishes(now)
        return started

    def _announce_starts(self, now: datetime) -> None:
        with self.db.session() as session:
            noticed = select(ScheduledNotice.request_id)
            fresh = list(session.exec(select(OffboardRequest).where(
                col(OffboardRequest.effective_at).is_not(None), col(OffboardRequest.started_at).is_not(None),
                col(OffboardRequest.started_at) >= now - NOTICE_LOOKBACK,
                col(OffboardRequest.decided_at) < col(OffboardRequest.effective_at),
                col(OffboardRequest.id).not_in(noticed))))
        for request in fresh:
            assert request.id is not None and request.effective_at is not None and request.started_at is not None
            if not insert_once(self.db, ScheduledNotice(request_id=request.id, started_posted_at=now)):
                continue
            late = request.started_at - request.effective_at
            when = (f"now, as scheduled for {request.effective_at:%Y-%m-%d %H:%M} UTC" if late < timedelta(minutes=10)
                    else f"at {request.started_at:%Y-%m-%d %H:%M} UTC, late: it was due "
                         f"{request.effective_at:%Y-%m-%d %H:%M} UTC while offboard was not running")
            self._thread(request, f":arrow_forward: The scheduled removal of {escape(request.subject_email)} started "
                                  f"{when}.")

    def _announce_finishes(self, now: datetime) -> None:
        with self.db.session() as session:
            rows = list(session.exec(select(ScheduledNotice, OffboardRequest).join(
                OffboardRequest, col(OffboardRequest.id) == col(ScheduledNotice.request_id)).where(
                col(ScheduledNotice.finished_posted_at).is_(None),
                col(OffboardRequest.status).in_([RequestStatus.COMPLETED, RequestStatus.AWAITING_MANUAL,
                                                 RequestStatus.NEEDS_ATTENTION]))))
        for _, request in rows:
            with self.db.session() as session:
                claimed = session.execute(update(ScheduledNotice).where(
                    col(ScheduledNotice.request_id) == request.id, col(ScheduledNotice.finished_posted_at).is_(None))
                    .values(finished_posted_at=now)).rowcount  # type: ignore[attr-defined]
            if claimed:
                self._thread(request, self._finish_text(request))

    def _finish_text(self, request: OffboardRequest) -> str:
        assert request.id is not None
        if request.status == RequestStatus.NEEDS_ATTENTION:
            return (f":warning: The scheduled removal of {escape(request.subject_email)} stopped at a failed step: see "
                    "the card above and click Retry.")
        snapshot = self.workflow.snapshot(request.id)
        assert snapshot is not None
        done = (f" {escape(request.subject_email)} was removed from {removal_summary(snapshot)}." if snapshot.removals
                else "")
        if request.status == RequestStatus.AWAITING_MANUAL:
            return (f":clipboard: The scheduled removal's automated steps are done.{done} "
                    f"{len(snapshot.manual_steps_open)} checklist item(s) remain on the card.")
        return f":white_check_mark: The scheduled removal finished.{done}"

    def _thread(self, request: OffboardRequest, text: str) -> None:
        if not request.card_channel:
            return
        try:
            self.poster.post(request.card_channel, info_message(text), thread_ts=request.card_ts)
        except SlackApiError as exc:
            log.warning("could not post about scheduled request #%s: %s", request.id, exc.response.get("error"))
