"""An offboarding event in, an offboarding request out, through the workflow's own request path.

One request per event however often it is delivered and to however many instances: the event's row
(source, event id: unique) and the request it opens commit in one transaction, so a second delivery finds
the row and changes nothing. A person who already has an open request gets the event attached to it.
Whether a triggered request still needs an approver's click is a setting; when it does not, the event is
the approval, recorded as such once the tools have been asked (`approve_ready`, which every tick runs too,
so a restart between the two loses nothing).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.offboarding.values import Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.triggers.events import OffboardEvent
from storage import audit
from storage.models import OffboardRequest, RequestStatus, TriggerEvent, utcnow

log = logging.getLogger(__name__)

SOURCE_LABELS = {"okta": "Okta", "hr": "the HR webhook", "bamboohr": "BambooHR", "cli": "offboard request"}
EVENT_IS_APPROVAL = "the HR event is the approval (OFFBOARD_TRIGGER_APPROVAL=event)"


@dataclass(frozen=True)
class Taken:
    request_id: int | None
    outcome: str  # "created", "attached", "duplicate"


def _requester(asked_by: str) -> str:
    """A Slack user id names the requester (told the outcome, kept from approving it); anyone else asked
    through offboard itself, and is named in the request's note."""
    return asked_by if re.fullmatch(r"[UW][A-Z0-9]{2,}", asked_by) else audit.BOT_ACTOR


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Intake:
    def __init__(self, workflow: Workflow, *, approval_required: bool = True,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.approval_required = approval_required
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="trigger-intake")

    def take(self, event: OffboardEvent, raw: bytes) -> Taken:
        if event.vendors is not None and not any(v in self.workflow.vendors for v in event.vendors):
            return Taken(None, "ignored")  # an app removal for a tool this installation does not work on
        now = self.clock()
        digest = digest_of(raw)
        open_id = self.workflow.open_request_for(event.email)
        try:
            with self.db.session() as session:
                row = TriggerEvent(source=event.source, event_id=event.event_id, event_type=event.event_type,
                                   subject_email=event.email, effective_at=event.effective_at, received_at=now,
                                   digest=digest, approval_required=self.approval_required)
                session.add(row)
                session.flush()  # the unique (source, event_id) claims the event here, before any request
                if open_id is not None:
                    row.request_id, row.outcome = open_id, "attached"
                else:
                    # The workflow's own insert (what create_request does), in this transaction: the event's row
                    # and its request commit together or not at all, so no crash leaves an event without one.
                    row.request_id = self.workflow._insert_request(session, self._draft(event), now)
                    row.outcome = "created"
                audit.record(session, "trigger_received", request_id=row.request_id, at=now,
                             source=event.source, event_id=event.event_id, event_type=event.event_type,
                             subject=event.email, digest=digest, outcome=row.outcome,
                             effective_at=event.effective_at.isoformat() if event.effective_at else None,
                             requested_by=event.requested_by or None,
                             approval="required" if self.approval_required else EVENT_IS_APPROVAL)
                request_id, outcome = row.request_id, row.outcome
        except IntegrityError:
            return Taken(self._known_request(event), "duplicate")
        if outcome == "created":
            assert request_id is not None
            if self.approval_required:
                self.workflow.start_assessment(request_id)
            else:
                self._pool.submit(self._assess_then_approve, request_id)
        return Taken(request_id, outcome)

    def _draft(self, event: OffboardEvent) -> RequestDraft:
        source = SOURCE_LABELS.get(event.source, event.source)
        asked = f", asked by {event.requested_by}" if event.requested_by else ""
        return RequestDraft(
            subject_email=event.email, reason=Reason(event.reason), requester_id=_requester(event.requested_by),
            ticket=event.ticket, note=f"Started by {source} ({event.event_type}, event {event.event_id}{asked}).",
            effective_at=event.effective_at,
            vendors=tuple(v for v in event.vendors if v in self.workflow.vendors) if event.vendors else None)

    def _known_request(self, event: OffboardEvent) -> int | None:
        with self.db.session() as session:
            return session.exec(select(TriggerEvent.request_id).where(
                TriggerEvent.source == event.source, TriggerEvent.event_id == event.event_id)).first()

    def _assess_then_approve(self, request_id: int) -> None:
        try:
            self.workflow.assess(request_id)
            self.approve_ready()
        except Exception:
            log.exception("the triggered request #%d could not be assessed and approved", request_id)

    def approve_ready(self) -> list[int]:
        """Approve, on the event, each triggered request that needs no approver and has been assessed. Each is
        claimed by a conditional update first, so it is approved once across instances."""
        with self.db.session() as session:
            ready = session.exec(
                select(TriggerEvent.id, TriggerEvent.request_id)
                .join(OffboardRequest, col(OffboardRequest.id) == col(TriggerEvent.request_id))
                .where(col(TriggerEvent.approval_required).is_(False), col(TriggerEvent.approved_at).is_(None),
                       TriggerEvent.outcome == "created",
                       OffboardRequest.status == RequestStatus.PENDING_APPROVAL)).all()
        approved = []
        for row_id, request_id in ready:
            now = self.clock()
            with self.db.session() as session:
                won = session.execute(update(TriggerEvent).where(
                    col(TriggerEvent.id) == row_id, col(TriggerEvent.approved_at).is_(None)).values(approved_at=now))
                if won.rowcount != 1:  # type: ignore[attr-defined]
                    continue
            if request_id is not None and self.workflow.approve_automatically(request_id, EVENT_IS_APPROVAL).ok:
                approved.append(request_id)
        return approved

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
