"""Re-checks after removal: each tool that can be asked is asked again, at set times after a request
completed (1 hour, 1 day, 7 days by default), whether the person is still gone.

Each answer is an audit entry ("still gone", or unknown when the tool could not say), the evidence that the
removal held. A person found back (re-provisioned by SCIM, re-invited, another account under the same email)
gets a card in the security channel and a new request. Every re-check is a row planned when the request is
first seen completed and claimed by a conditional UPDATE before it is asked, so each is asked once across
instances; the security card is owed from the moment the row says "back" and is posted until it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from bot.offboarding.slack.blocks import Message
from bot.offboarding.values import Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.slack.post import SlackPoster, info_message
from bot.triggers.deadline import removal_times
from bot.triggers.text import escape
from storage import audit
from storage.models import (
    Invitation,
    OffboardRequest,
    RemovalRecheck,
    RequestMode,
    RequestStatus,
    RestoreWindow,
    utcnow,
)
from vendors.base import AssessmentStatus, Capability

log = logging.getLogger(__name__)

BACK = "back"
STILL_GONE = "still_gone"
UNKNOWN = "unknown"
EXPLAINED = "back_explained"  # back through offboard itself: restored, or invited again through /onboard
# Only these modes take the person out of a tool; after the others (projects only, read-only, restore) the
# person is meant to still be there.
REMOVING_MODES = (RequestMode.FULL, RequestMode.EMERGENCY)
CLAIM_TIMEOUT = timedelta(minutes=10)  # a claim older than this was cut off (a crash): ask again


class Rechecks:
    def __init__(self, workflow: Workflow, poster: SlackPoster, security_channel: str,
                 offsets: Sequence[timedelta], clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.poster = poster
        self.security_channel = security_channel
        self.offsets = tuple(sorted(offsets))
        self.clock = clock

    def tick(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        self.plan(now)
        for recheck_id in self._claim_due(now):
            self._ask(recheck_id, now)
        self.alert_owed()

    def plan(self, now: datetime) -> int:
        """Re-check rows for each request completed recently that has none yet."""
        if not self.offsets:
            return 0
        since = now - self.offsets[-1]
        with self.db.session() as session:
            # A request completed since `since` has its re-checks due after it, so this finds every planned one.
            planned = set(session.exec(select(RemovalRecheck.request_id).where(
                col(RemovalRecheck.due_at) >= since).distinct()).all())
            completed = session.exec(select(OffboardRequest).where(
                OffboardRequest.status == RequestStatus.COMPLETED, col(OffboardRequest.completed_at) >= since,
                col(OffboardRequest.mode).in_(REMOVING_MODES))).all()
            added = 0
            for request in completed:
                if request.id in planned or request.completed_at is None:
                    continue
                for vendor in self._askable(request.vendors):
                    for seq, offset in enumerate(self.offsets):
                        session.add(RemovalRecheck(request_id=request.id, vendor=vendor, seq=seq,
                                                   due_at=request.completed_at + offset))
                        added += 1
            return added

    def _askable(self, vendors: list[str]) -> list[str]:
        return [v for v in vendors if v in self.workflow.vendors
                and Capability.FIND_MEMBER in self.workflow.vendors[v].capabilities]

    def _claim_due(self, now: datetime) -> list[int]:
        stale = now - CLAIM_TIMEOUT
        with self.db.session() as session:
            due = session.exec(select(RemovalRecheck.id).where(
                col(RemovalRecheck.due_at) <= now, col(RemovalRecheck.checked_at).is_(None),
                (col(RemovalRecheck.claimed_at).is_(None)) | (col(RemovalRecheck.claimed_at) < stale))).all()
        claimed = []
        for recheck_id in due:
            with self.db.session() as session:
                won = session.execute(update(RemovalRecheck).where(
                    col(RemovalRecheck.id) == recheck_id, col(RemovalRecheck.checked_at).is_(None),
                    (col(RemovalRecheck.claimed_at).is_(None)) | (col(RemovalRecheck.claimed_at) < stale))
                    .values(claimed_at=now))
                if won.rowcount == 1 and recheck_id is not None:  # type: ignore[attr-defined]
                    claimed.append(recheck_id)
        return claimed

    def _ask(self, recheck_id: int, now: datetime) -> None:
        with self.db.session() as session:
            recheck = session.get(RemovalRecheck, recheck_id)
            assert recheck is not None
            request = session.get(OffboardRequest, recheck.request_id)
            assert request is not None
            vendor_name, email, request_id = recheck.vendor, request.subject_email, recheck.request_id
            completed = request.completed_at or recheck.due_at
            hours = (recheck.due_at - completed).total_seconds() / 3600
            # An invitation since the access went explains them being back, though the request completed
            # later (when a person ticked its checklist).
            removed = removal_times(session, [request_id]).get(request_id) or completed
        assessment = self.workflow.vendors[vendor_name].assess(email)  # never raises: a failure is UNKNOWN
        outcome = {AssessmentStatus.MEMBER: BACK, AssessmentStatus.NOT_MEMBER: STILL_GONE}.get(
            assessment.status, UNKNOWN)
        because = self._brought_back(request_id, email, removed) if outcome == BACK else ""
        if because:
            outcome = EXPLAINED
        new_request = self._reopen(request_id, email, vendor_name) if outcome == BACK else None
        with self.db.session() as session:
            session.execute(update(RemovalRecheck).where(col(RemovalRecheck.id) == recheck_id).values(
                checked_at=now, outcome=outcome, new_request_id=new_request))
            words = {STILL_GONE: "still gone", BACK: "back", UNKNOWN: "unknown", EXPLAINED: f"back, {because}"}
            audit.record(session, "removal_rechecked", request_id=request_id, at=now, vendor=vendor_name,
                         subject=email, result=words[outcome], after_hours=round(hours, 2),
                         error=assessment.error if outcome == UNKNOWN else None, new_request=new_request)

    def _brought_back(self, request_id: int, email: str, removed: datetime) -> str:
        """Why offboard itself has the person back, if it does: their removal was restored, or they were
        invited again through /onboard. Empty when nothing here explains it."""
        with self.db.session() as session:
            window = session.get(RestoreWindow, request_id)
            if window is not None and window.restore_request_id is not None:
                return f"restored by request #{window.restore_request_id}"
            invited = session.exec(select(Invitation.batch_id).where(
                col(Invitation.email) == email, col(Invitation.created_at) > removed)).first()
        return f"invited again through /onboard (invitation #{invited})" if invited is not None else ""

    def _reopen(self, request_id: int, email: str, vendor: str) -> int:
        """The request for a person found back: one already open for them is reused."""
        existing = self.workflow.open_request_for(email)
        if existing is not None:
            return existing
        new_id = self.workflow.create_request(RequestDraft(
            subject_email=email, reason=Reason.AUDIT_FINDING, requester_id=audit.BOT_ACTOR,
            ticket=f"re-check of #{request_id}",
            note=f"Found back in {vendor} when re-checked after request #{request_id} removed them."))
        self.workflow.start_assessment(new_id)
        return new_id

    def alert_owed(self) -> list[int]:
        """Post the security card for each "back" the channel has not been told of yet; the ones that landed."""
        with self.db.session() as session:
            owed = session.exec(select(RemovalRecheck, OffboardRequest.subject_email)
                                .join(OffboardRequest, col(OffboardRequest.id) == col(RemovalRecheck.request_id))
                                .where(RemovalRecheck.outcome == BACK, col(RemovalRecheck.alerted_at).is_(None))).all()
            rows = [(r.id, r.request_id, r.vendor, r.new_request_id, email) for r, email in owed]
        sent = []
        for recheck_id, request_id, vendor, new_request, email in rows:
            try:
                self.poster.post(self.security_channel, back_card(email, vendor, request_id, new_request))
            except Exception as exc:  # left owed: the next tick posts it again
                log.warning("could not post the re-check alert for request #%s: %s", request_id, exc)
                continue
            with self.db.session() as session:
                session.execute(update(RemovalRecheck).where(col(RemovalRecheck.id) == recheck_id)
                                .values(alerted_at=self.clock()))
            if recheck_id is not None:
                sent.append(recheck_id)
        return sent


def back_card(email: str, vendor: str, request_id: int, new_request: int | None) -> Message:
    opened = f" Offboarding request #{new_request} is open for them." if new_request else ""
    text = (f":rotating_light: *{escape(email)} is back in {escape(vendor)}* after request #{request_id} removed "
            f"them (re-provisioned by SCIM, re-invited, or another account under the same email).{opened}")
    return info_message(text, f"{email} is back in {vendor} after removal")
