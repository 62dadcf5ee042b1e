"""The offboarding workflow: assess → approve → hand over → remove → verify → notify.

No Slack here. The workflow talks to vendors through `vendors.base.Vendor`, to people through a
`Notifier`, and keeps every fact in the database. Two rules make it safe to click twice, to run two
threads (or later two processes), and to restart at any moment:

* every change of state is a conditional UPDATE (`... WHERE status = <expected>`); whoever's update
  hits a row wins, everyone else sees `rowcount == 0` and backs off;
* every step is stored as `running` before the vendor is called and as `done`/`failed` after, and
  every vendor action is idempotent, so a step interrupted by a crash is simply run again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from storage import audit
from storage.db import Database
from storage.models import (
    OPEN_STATUSES,
    Approval,
    OffboardRequest,
    RequestStatus,
    Step,
    StepStatus,
    VendorAssessment,
    utcnow,
)
from vendors.base import (
    CREDENTIALS_PARAM,
    Assessment,
    AssessmentStatus,
    Capability,
    PlannedStep,
    StepKind,
    Vendor,
    VendorError,
    assessment_from_json,
)

log = logging.getLogger(__name__)

NOTIFY_VENDOR = "slack"  # the pseudo-vendor that owns notification steps


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


@dataclass(frozen=True)
class RequestSnapshot:
    """Everything a card or a status reply shows, read in one go."""

    request: OffboardRequest
    assessments: dict[str, Assessment]
    steps: list[Step]
    approvals: list[Approval]
    vendor_labels: dict[str, str] = field(default_factory=dict)
    checkable: frozenset[str] = frozenset()  # vendors whose API can look the person up again

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


@dataclass(frozen=True)
class CardLocation:
    channel: str
    ts: str


class Notifier(Protocol):
    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        """Show the request's current state: post the card when `snapshot.request.card_ts` is None
        (and return where), update it in place otherwise (and return None)."""
        ...

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        """Send one notification; return a short summary. Raise to mark it failed."""
        ...


ApproverCheck = Callable[[str], bool]


class Workflow:
    def __init__(
        self,
        db: Database,
        vendors: Mapping[str, Vendor],
        notifier: Notifier,
        may_approve: ApproverCheck,
        *,
        clock: Callable[[], datetime] = utcnow,
        background: Executor | None = None,
        vendor_workers: int = 8,
    ) -> None:
        self.db = db
        self.vendors = dict(vendors)
        self.notifier = notifier
        self.may_approve = may_approve
        self.clock = clock
        self._background = background or ThreadPoolExecutor(max_workers=4, thread_name_prefix="workflow")
        self._vendor_pool = ThreadPoolExecutor(max_workers=vendor_workers, thread_name_prefix="vendor")
        self._settle_lock = threading.Lock()
        self._card_locks: dict[int, threading.Lock] = {}
        self._card_locks_guard = threading.Lock()

    # -- reading --------------------------------------------------------------------------------
    def snapshot(self, request_id: int) -> RequestSnapshot | None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return None
            return self._snapshot(session, request)

    def requests_for(self, email: str, limit: int = 5) -> list[RequestSnapshot]:
        with self.db.session() as session:
            statement = (
                select(OffboardRequest)
                .where(OffboardRequest.subject_email == email.lower())
                .order_by(col(OffboardRequest.id).desc())
                .limit(limit)
            )
            return [self._snapshot(session, r) for r in session.exec(statement)]

    def open_request_for(self, email: str) -> int | None:
        """The id of this person's request that is still under way, if any."""
        with self.db.session() as session:
            return session.exec(
                select(OffboardRequest.id).where(
                    OffboardRequest.subject_email == email.lower(),
                    col(OffboardRequest.status).in_(OPEN_STATUSES),
                )
            ).first()

    def _snapshot(self, session: Session, request: OffboardRequest) -> RequestSnapshot:
        rid = request.id
        assessments = {
            row.vendor: assessment_from_json(row.data)
            for row in session.exec(select(VendorAssessment).where(VendorAssessment.request_id == rid))
        }
        steps = list(session.exec(select(Step).where(Step.request_id == rid).order_by(col(Step.vendor), col(Step.seq))))
        approvals = list(session.exec(select(Approval).where(Approval.request_id == rid).order_by(col(Approval.id))))
        labels = {name: v.label for name, v in self.vendors.items()}
        checkable = frozenset(n for n, v in self.vendors.items() if Capability.FIND_MEMBER in v.capabilities)
        return RequestSnapshot(request, assessments, steps, approvals, labels, checkable)

    # -- creating and assessing -----------------------------------------------------------------
    def create_request(self, draft: RequestDraft) -> int:
        unknown = [v for v in draft.vendors or () if v not in self.vendors]
        if unknown:
            raise ValueError(f"unknown vendor(s): {', '.join(unknown)}")
        vendors = list(draft.vendors) if draft.vendors else list(self.vendors)
        now = self.clock()
        with self.db.session() as session:
            request = OffboardRequest(
                status=RequestStatus.ASSESSING,
                subject_email=draft.subject_email.lower(),
                subject_slack_id=draft.subject_slack_id,
                subject_name=draft.subject_name,
                reason=draft.reason,
                ticket=draft.ticket,
                note=draft.note,
                requester_id=draft.requester_id,
                source_channel=draft.source_channel,
                new_owner_slack_id=draft.new_owner_slack_id,
                new_owner_email=draft.new_owner_email.lower() if draft.new_owner_email else None,
                effective_at=draft.effective_at,
                vendors=vendors,
                created_at=now,
                updated_at=now,
            )
            session.add(request)
            session.flush()
            assert request.id is not None
            audit.record(
                session,
                "request_created",
                actor=draft.requester_id,
                request_id=request.id,
                at=now,
                subject=request.subject_email,
                reason=str(draft.reason),
                ticket=draft.ticket,
                new_owner=request.new_owner_email,
                effective_at=draft.effective_at.isoformat() if draft.effective_at else None,
                vendors=vendors,
            )
            return request.id

    def start_assessment(self, request_id: int) -> None:
        self._submit(self.assess, request_id)

    def assess(self, request_id: int) -> None:
        """Ask every vendor about the person at once, store what they said, plan the steps."""
        self._show(request_id)  # the card appears at once, saying it is checking
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None or request.status != RequestStatus.ASSESSING:
                return
            email, new_owner, vendor_names = request.subject_email, request.new_owner_email, request.vendors
        assessments = dict(
            zip(
                vendor_names,
                self._vendor_pool.map(lambda name: self.vendors[name].assess(email), vendor_names),
                strict=True,
            )
        )
        plans = {name: self.vendors[name].plan_removal(a, new_owner) for name, a in assessments.items()}
        now = self.clock()
        with self.db.session() as session:
            for name, assessment in assessments.items():
                self._store_assessment(session, request_id, assessment, now)
                self._store_plan(session, request_id, name, plans[name])
            moved = self._transition(
                session, request_id, [RequestStatus.ASSESSING], RequestStatus.PENDING_APPROVAL, now
            )
            if moved:
                audit.record(session, "awaiting_approval", request_id=request_id, at=now)
        self._show(request_id)

    def _store_assessment(self, session: Session, request_id: int, assessment: Assessment, now: datetime) -> None:
        existing = session.exec(
            select(VendorAssessment).where(
                VendorAssessment.request_id == request_id, VendorAssessment.vendor == assessment.vendor
            )
        ).first()
        data = assessment.to_json()
        if existing:
            existing.status, existing.data, existing.assessed_at = assessment.status, data, now
        else:
            session.add(
                VendorAssessment(
                    request_id=request_id,
                    vendor=assessment.vendor,
                    status=assessment.status,
                    data=data,
                    assessed_at=now,
                )
            )
        audit.record(session, "vendor_assessed", request_id=request_id, at=now, **data)

    def _store_plan(
        self, session: Session, request_id: int, vendor: str, plan: list[PlannedStep], *, replace: bool = False
    ) -> None:
        if replace:  # only before approval, when none of these steps can have run
            session.execute(delete(Step).where(col(Step.request_id) == request_id, col(Step.vendor) == vendor))
        already = session.exec(select(Step).where(Step.request_id == request_id, Step.vendor == vendor)).first()
        if already:  # a resumed assessment keeps the plan it made the first time
            return
        for seq, planned in enumerate(plan):
            session.add(
                Step(
                    request_id=request_id,
                    vendor=vendor,
                    seq=seq,
                    kind=planned.kind,
                    key=planned.key,
                    title=planned.title,
                    manual=planned.manual,
                    instructions=planned.instructions,
                    params=planned.params,
                )
            )
        audit.record(
            session,
            "plan_made",
            request_id=request_id,
            vendor=vendor,
            steps=[{"kind": p.kind, "title": p.title, "manual": p.manual} for p in plan],
        )
        flagged = [c for p in plan for c in p.params.get(CREDENTIALS_PARAM, ())]
        if flagged:
            audit.record(session, "credentials_flagged_for_rotation", request_id=request_id, vendor=vendor,
                         credentials=flagged)

    def reassess(self, request_id: int, vendor: str, user_id: str) -> ActionResult:
        """Ask one vendor again while the request waits for approval (it could not be checked the
        first time, e.g. it was down). Reading is harmless, so anyone may ask; it is recorded."""
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return ActionResult(False, f"Request #{request_id} does not exist.")
            if vendor not in request.vendors or vendor not in self.vendors:
                return ActionResult(False, f"Request #{request_id} does not involve {vendor}.")
            if request.status != RequestStatus.PENDING_APPROVAL:
                return ActionResult(
                    False, f"Request #{request_id} is {_status_words(request.status)}: its checks no longer change."
                )
            if Capability.FIND_MEMBER not in self.vendors[vendor].capabilities:
                label = self.vendors[vendor].label
                return ActionResult(False, f"offboard cannot look people up in {label}: its steps are done by hand.")
            audit.record(session, "reassessment_requested", actor=user_id, request_id=request_id, vendor=vendor)
        self._submit(lambda rid: self._reassess(rid, vendor), request_id)
        return ActionResult(True)

    def _reassess(self, request_id: int, vendor: str) -> None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            assert request is not None
            email, new_owner = request.subject_email, request.new_owner_email
        connector = self.vendors[vendor]
        assessment = connector.assess(email)
        plan = connector.plan_removal(assessment, new_owner)
        now = self.clock()
        with self.db.session() as session:
            # Touching the row first holds it: an approval racing us waits for the new plan, and if
            # the approval came first, the plan it approved stays as it was.
            held = session.execute(
                update(OffboardRequest)
                .where(col(OffboardRequest.id) == request_id,
                       col(OffboardRequest.status) == RequestStatus.PENDING_APPROVAL)
                .values(updated_at=now)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                return
            self._store_assessment(session, request_id, assessment, now)
            self._store_plan(session, request_id, vendor, plan, replace=True)
        self._show(request_id)

    # -- decisions ------------------------------------------------------------------------------
    def approve(self, request_id: int, user_id: str) -> ActionResult:
        refusal = self.decision_refusal(request_id, user_id)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            assert request is not None
            due_later = request.effective_at is not None and request.effective_at > now
            target = RequestStatus.SCHEDULED if due_later else RequestStatus.EXECUTING
            won = self._transition(
                session,
                request_id,
                [RequestStatus.PENDING_APPROVAL],
                target,
                now,
                decided_by=user_id,
                decided_at=now,
                started_at=None if due_later else now,
            )
            if not won:
                return self._already_decided(session, request_id)
            session.add(Approval(request_id=request_id, approver_id=user_id, decision="approved", decided_at=now))
            audit.record(session, "approved", actor=user_id, request_id=request_id, at=now)
            if due_later:
                audit.record(session, "scheduled", request_id=request_id, at=now, due=request.effective_at)
        self._show(request_id)
        if not due_later:
            self._submit(self.execute, request_id)
        return ActionResult(True)

    def reject(self, request_id: int, user_id: str, comment: str) -> ActionResult:
        refusal = self.decision_refusal(request_id, user_id)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            won = self._transition(
                session,
                request_id,
                [RequestStatus.PENDING_APPROVAL],
                RequestStatus.REJECTED,
                now,
                decided_by=user_id,
                decided_at=now,
                decision_comment=comment,
                completed_at=now,
            )
            if not won:
                return self._already_decided(session, request_id)
            session.add(
                Approval(
                    request_id=request_id,
                    approver_id=user_id,
                    decision="rejected",
                    comment=comment,
                    decided_at=now,
                )
            )
            audit.record(session, "rejected", actor=user_id, request_id=request_id, at=now, comment=comment)
            self._plan_notifications(session, request_id, [NotificationKind.DM_REQUESTER])
        self._show(request_id)
        self._submit(self.deliver_notifications, request_id)
        return ActionResult(True)

    def cancel(self, request_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return ActionResult(False, f"Request #{request_id} does not exist.")
            if request.requester_id != user_id:
                return ActionResult(False, "Only the person who asked for this request can cancel it.")
            won = self._transition(
                session,
                request_id,
                [RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL, RequestStatus.SCHEDULED],
                RequestStatus.CANCELLED,
                now,
                completed_at=now,
            )
            if not won:
                return ActionResult(
                    False,
                    f"Request #{request_id} is {_status_words(request.status)} and can no longer be cancelled.",
                )
            audit.record(session, "cancelled", actor=user_id, request_id=request_id, at=now)
        self._show(request_id)
        return ActionResult(True)

    def decision_refusal(self, request_id: int, user_id: str) -> ActionResult | None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return ActionResult(False, f"Request #{request_id} does not exist.")
            requester = request.requester_id
        if user_id == requester:
            return ActionResult(
                False,
                "You asked for this offboarding, so someone else must decide on it (separation of duties).",
            )
        if not self.may_approve(user_id):
            self._record_refusal(request_id, user_id, "not an approver")
            return ActionResult(False, "Only approvers can decide on offboarding requests. Nothing was changed.")
        return None

    def _record_refusal(self, request_id: int, user_id: str, why: str) -> None:
        with self.db.session() as session:
            audit.record(session, "action_refused", actor=user_id, request_id=request_id, why=why)

    def _already_decided(self, session: Session, request_id: int) -> ActionResult:
        request = session.get(OffboardRequest, request_id)
        assert request is not None
        session.refresh(request)
        if request.decided_by:
            verb = "rejected" if request.status == RequestStatus.REJECTED else "approved"
            return ActionResult(False, f"Request #{request_id} was already {verb} by <@{request.decided_by}>.")
        return ActionResult(False, f"Request #{request_id} is {_status_words(request.status)}; nothing to decide.")

    # -- execution ------------------------------------------------------------------------------
    def start_execution(self, request_id: int) -> None:
        self._submit(self.execute, request_id)

    def execute(self, request_id: int) -> None:
        """Run every automated step that is due, vendors in parallel, each vendor's steps in order."""
        snapshot = self.snapshot(request_id)
        if snapshot is None or snapshot.status not in (RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL):
            return
        vendor_names = [v for v in snapshot.vendor_names if snapshot.steps_for(v)]
        list(self._vendor_pool.map(lambda name: self._run_vendor_chain(request_id, name), vendor_names))
        self._settle(request_id)

    def _run_vendor_chain(self, request_id: int, vendor_name: str) -> None:
        """Steps run in order; the chain stops at a failure, at a step another worker holds, or at a
        manual step nobody has confirmed yet, so a removal never runs before its hand-over is done."""
        vendor = self.vendors[vendor_name]
        with self.db.session() as session:
            steps = list(
                session.exec(
                    select(Step)
                    .where(Step.request_id == request_id, Step.vendor == vendor_name)
                    .order_by(col(Step.seq))
                )
            )
        for step in steps:
            if step.status == StepStatus.DONE:
                continue
            if step.manual:  # a person must confirm this first (e.g. a hand-over before removal)
                return
            if step.status != StepStatus.PENDING or not self._run_step(step, vendor):
                return

    def _run_step(self, step: Step, vendor: Vendor) -> bool:
        assert step.id is not None
        started = self.clock()
        with self.db.session() as session:
            if not self._move_step(session, step.id, StepStatus.PENDING, StepStatus.RUNNING, started, last_error=""):
                return False
            audit.record(
                session,
                "step_started",
                request_id=step.request_id,
                at=started,
                vendor=step.vendor,
                step=step.kind,
            )
        self._show(step.request_id)
        planned = PlannedStep(step.kind, step.title, step.params, step.manual, step.instructions, step.key)
        try:
            outcome = vendor.execute(planned)
        except VendorError as exc:
            self._finish_step(step, StepStatus.FAILED, error=exc.message)
            return False
        except Exception as exc:  # a connector bug must not leave the step 'running' forever
            log.exception("step %s of request %s crashed", step.kind, step.request_id)
            self._finish_step(step, StepStatus.FAILED, error=f"unexpected error in offboard: {type(exc).__name__}")
            return False
        self._finish_step(step, StepStatus.DONE, outcome=outcome.summary, details=outcome.details)
        if step.kind == StepKind.VERIFY_REMOVED:
            self._record_membership_after(step, vendor)
        return True

    def _record_membership_after(self, step: Step, vendor: Vendor) -> None:
        """The "after" picture auditors ask for beside the assessment's "before": a fresh look at the
        person in this vendor once removal is verified (assessments never raise)."""
        after = vendor.assess(str(step.params.get("email") or ""))
        with self.db.session() as session:
            audit.record(session, "membership_after", request_id=step.request_id, at=self.clock(), **after.to_json())

    def _finish_step(
        self,
        step: Step,
        status: StepStatus,
        *,
        error: str = "",
        outcome: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock()
        with self.db.session() as session:
            values: dict[str, Any] = {
                "status": status,
                "finished_at": now,
                "last_error": error,
                "outcome": outcome,
            }
            if details is not None:
                values["details"] = details
            session.execute(update(Step).where(col(Step.id) == step.id).values(**values))
            action = "step_succeeded" if status == StepStatus.DONE else "step_failed"
            extra: dict[str, Any] = {"outcome": outcome, "details": details or {}} if outcome else {"error": error}
            audit.record(
                session,
                action,
                request_id=step.request_id,
                at=now,
                vendor=step.vendor,
                step=step.kind,
                **extra,
            )
        self._show(step.request_id)

    def _settle(self, request_id: int) -> None:
        """Work out where the request stands from its steps, and finish it when everything is done."""
        with self._settle_lock:
            now = self.clock()
            completed = False
            with self.db.session() as session:
                steps = list(
                    session.exec(select(Step).where(Step.request_id == request_id, Step.vendor != NOTIFY_VENDOR))
                )
                target = _status_from_steps(steps)
                active = [
                    RequestStatus.EXECUTING,
                    RequestStatus.AWAITING_MANUAL,
                    RequestStatus.NEEDS_ATTENTION,
                ]
                if target is None:
                    return
                done_at = now if target == RequestStatus.COMPLETED else None
                if self._transition(session, request_id, active, target, now, completed_at=done_at):
                    if target == RequestStatus.COMPLETED:
                        audit.record(session, "completed", request_id=request_id, at=now)
                        self._plan_notifications(session, request_id, self._completion_notices(session, request_id))
                        completed = True
                    else:
                        audit.record(session, "status_changed", request_id=request_id, at=now, status=str(target))
            self._show(request_id)
            if completed:
                self.deliver_notifications(request_id)

    def _completion_notices(self, session: Session, request_id: int) -> list[NotificationKind]:
        request = session.get(OffboardRequest, request_id)
        assert request is not None
        snapshot = self._snapshot(session, request)
        kinds = [NotificationKind.DM_REQUESTER]
        if snapshot.removals:
            kinds.append(NotificationKind.STAKEHOLDERS)
        if snapshot.handed_over and request.new_owner_slack_id:
            kinds.append(NotificationKind.DM_NEW_OWNER)
        return kinds

    # -- notifications --------------------------------------------------------------------------
    def _plan_notifications(self, session: Session, request_id: int, kinds: Iterable[NotificationKind]) -> None:
        existing = {
            s.kind
            for s in session.exec(select(Step).where(Step.request_id == request_id, Step.vendor == NOTIFY_VENDOR))
        }
        for seq, kind in enumerate(kinds):
            if kind in existing:
                continue
            session.add(
                Step(
                    request_id=request_id,
                    vendor=NOTIFY_VENDOR,
                    seq=seq,
                    kind=kind,
                    title=NOTIFICATION_TITLES[kind],
                )
            )

    def deliver_notifications(self, request_id: int) -> None:
        with self.db.session() as session:
            pending = list(
                session.exec(
                    select(Step)
                    .where(
                        Step.request_id == request_id,
                        Step.vendor == NOTIFY_VENDOR,
                        Step.status == StepStatus.PENDING,
                    )
                    .order_by(col(Step.seq))
                )
            )
        for step in pending:
            self._deliver(step)
        if pending:
            self._show(request_id)

    def _deliver(self, step: Step) -> None:
        now = self.clock()
        with self.db.session() as session:
            if not self._move_step(session, step.id, StepStatus.PENDING, StepStatus.RUNNING, now):
                return
        snapshot = self.snapshot(step.request_id)
        assert snapshot is not None
        try:
            summary = self.notifier.deliver(NotificationKind(step.kind), snapshot)
        except Exception as exc:
            log.warning("notification %s for request %s failed: %s", step.kind, step.request_id, exc)
            self._finish_notification(step, StepStatus.FAILED, error=f"Slack refused the message: {exc}")
            return
        self._finish_notification(step, StepStatus.DONE, outcome=summary)

    def _finish_notification(self, step: Step, status: StepStatus, *, error: str = "", outcome: str = "") -> None:
        now = self.clock()
        with self.db.session() as session:
            session.execute(
                update(Step)
                .where(col(Step.id) == step.id)
                .values(status=status, finished_at=now, last_error=error, outcome=outcome)
            )
            action = "notification_sent" if status == StepStatus.DONE else "notification_failed"
            audit.record(session, action, request_id=step.request_id, at=now, kind=step.kind, summary=outcome or error)

    # -- people acting on steps -----------------------------------------------------------------
    def confirm_manual_step(self, step_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            step = session.get(Step, step_id)
            if step is None or not step.manual:
                return ActionResult(False, "That checklist item does not exist.")
            request = session.get(OffboardRequest, step.request_id)
            assert request is not None
            refusal = self._refuse_step_action(request, user_id)
            if refusal:
                return refusal
            if request.status not in (
                RequestStatus.EXECUTING,
                RequestStatus.AWAITING_MANUAL,
                RequestStatus.NEEDS_ATTENTION,
            ):
                return ActionResult(
                    False,
                    f"Request #{request.id} is {_status_words(request.status)}; checklist items wait for approval.",
                )
            ticked = self._move_step(
                session,
                step_id,
                StepStatus.PENDING,
                StepStatus.DONE,
                done_by=user_id,
                finished_at=now,
                outcome="confirmed",
            )
            if not ticked:
                session.refresh(step)
                return ActionResult(False, f"<@{step.done_by}> already confirmed “{step.title}”.")
            audit.record(
                session,
                "manual_step_confirmed",
                actor=user_id,
                request_id=step.request_id,
                at=now,
                vendor=step.vendor,
                step=step.title,
                key=step.key,
                kind=step.kind,
                removal=is_removal(step),
            )
            request_id = step.request_id
        # The tick may free automated steps that waited for it; execute runs them, then settles.
        self._submit(self.execute, request_id)
        return ActionResult(True)

    def retry_step(self, step_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            step = session.get(Step, step_id)
            if step is None:
                return ActionResult(False, "That step does not exist.")
            request = session.get(OffboardRequest, step.request_id)
            assert request is not None
            refusal = self._refuse_step_action(request, user_id)
            if refusal:
                return refusal
            if not self._move_step(session, step_id, StepStatus.FAILED, StepStatus.PENDING):
                return ActionResult(False, f"“{step.title}” is not failed any more; nothing to retry.")
            audit.record(session, "retry_requested", actor=user_id, request_id=step.request_id, at=now, step=step.kind)
            request_id, is_notification = step.request_id, step.vendor == NOTIFY_VENDOR
            if not is_notification:
                self._transition(session, request_id, [RequestStatus.NEEDS_ATTENTION], RequestStatus.EXECUTING, now)
        self._show(request_id)
        self._submit(self.deliver_notifications if is_notification else self.execute, request_id)
        return ActionResult(True)

    def _refuse_step_action(self, request: OffboardRequest, user_id: str) -> ActionResult | None:
        if user_id == request.requester_id or self.may_approve(user_id):
            return None
        self._record_refusal(request.id or 0, user_id, "not an approver or the requester")
        return ActionResult(False, "Only approvers or the requester can act on this request. Nothing was changed.")

    # -- time and restarts ----------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> list[int]:
        """Start every scheduled request whose effective time has come. Each is claimed by a
        conditional update, so it starts once however many callers race."""
        now = now or self.clock()
        started: list[int] = []
        with self.db.session() as session:
            due = session.exec(
                select(OffboardRequest.id).where(
                    OffboardRequest.status == RequestStatus.SCHEDULED,
                    col(OffboardRequest.effective_at) <= now,
                )
            ).all()
        for request_id in due:
            assert request_id is not None
            with self.db.session() as session:
                if self._transition(
                    session,
                    request_id,
                    [RequestStatus.SCHEDULED],
                    RequestStatus.EXECUTING,
                    now,
                    started_at=now,
                ):
                    audit.record(session, "scheduled_start", request_id=request_id, at=now)
                    started.append(request_id)
        for request_id in started:
            self._show(request_id)
            self._submit(self.execute, request_id)
        return started

    def resume(self) -> list[int]:
        """After a restart: finish what was interrupted. A step left 'running' was cut off mid-call;
        its vendor action is idempotent, so it goes back to 'pending' and runs again."""
        now = self.clock()
        with self.db.session() as session:
            interrupted = list(session.exec(select(Step).where(Step.status == StepStatus.RUNNING)))
            for step in interrupted:
                step.status = StepStatus.PENDING
                session.add(step)
                audit.record(
                    session,
                    "step_interrupted",
                    request_id=step.request_id,
                    at=now,
                    vendor=step.vendor,
                    step=step.kind,
                )
            requests = list(
                session.exec(
                    select(OffboardRequest).where(
                        col(OffboardRequest.status).in_(
                            [
                                RequestStatus.ASSESSING,
                                RequestStatus.EXECUTING,
                                RequestStatus.COMPLETED,
                                RequestStatus.REJECTED,
                            ]
                        )
                    )
                )
            )
            pending_notices = {
                s.request_id
                for s in session.exec(
                    select(Step).where(Step.vendor == NOTIFY_VENDOR, Step.status == StepStatus.PENDING)
                )
            }
        resumed: list[int] = []
        for request in requests:
            assert request.id is not None
            if request.status == RequestStatus.ASSESSING:
                self._submit(self.assess, request.id)
            elif request.status == RequestStatus.EXECUTING:
                self._submit(self.execute, request.id)
            elif request.id in pending_notices:
                self._submit(self.deliver_notifications, request.id)
            else:
                continue
            resumed.append(request.id)
        return resumed

    # -- helpers --------------------------------------------------------------------------------
    def _show(self, request_id: int) -> None:
        """Render the card from the state as it is now. One render at a time per request, so an
        older render can never overwrite a newer one; a Slack failure never stops the workflow."""
        with self._card_locks_guard:
            lock = self._card_locks.setdefault(request_id, threading.Lock())
        with lock:
            snapshot = self.snapshot(request_id)
            if snapshot is None:
                return
            try:
                location = self.notifier.show_card(snapshot)
            except Exception as exc:
                log.warning("could not show the card of request %s: %s", request_id, exc)
                return
            if location:
                with self.db.session() as session:
                    session.execute(
                        update(OffboardRequest)
                        .where(col(OffboardRequest.id) == request_id, col(OffboardRequest.card_ts).is_(None))
                        .values(card_channel=location.channel, card_ts=location.ts)
                    )
                    audit.record(
                        session,
                        "card_posted",
                        request_id=request_id,
                        channel=location.channel,
                        ts=location.ts,
                    )

    def _transition(
        self,
        session: Session,
        request_id: int,
        expected: list[RequestStatus],
        target: RequestStatus,
        now: datetime,
        **values: Any,
    ) -> bool:
        if target in expected and len(expected) > 1:
            # Settling often lands where the request already is: that is no change, and no audit event.
            expected = [s for s in expected if s != target]
        result = session.execute(
            update(OffboardRequest)
            .where(col(OffboardRequest.id) == request_id, col(OffboardRequest.status).in_(expected))
            .values(status=target, updated_at=now, **values)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _move_step(
        self,
        session: Session,
        step_id: int | None,
        expected: StepStatus,
        target: StepStatus,
        started_at: datetime | None = None,
        **values: Any,
    ) -> bool:
        """Move a step from `expected` to `target`; False when someone else moved it first.
        Passing `started_at` marks the start of an attempt, which is counted."""
        if started_at is not None:
            values |= {"started_at": started_at, "attempts": Step.attempts + 1}
        result = session.execute(
            update(Step).where(col(Step.id) == step_id, col(Step.status) == expected).values(status=target, **values)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def _submit(self, fn: Callable[[int], Any], request_id: int) -> None:
        def run() -> None:
            try:
                fn(request_id)
            except Exception:
                log.exception("background %s for request %s failed", getattr(fn, "__name__", fn), request_id)

        self._background.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._background.shutdown(wait=wait)
        self._vendor_pool.shutdown(wait=wait)


def _status_from_steps(steps: list[Step]) -> RequestStatus | None:
    """None while some vendor's next step is automated (a worker is on it). A vendor whose next step
    is manual waits for a person, however many automated steps follow it."""
    if any(s.status == StepStatus.FAILED for s in steps):
        return RequestStatus.NEEDS_ATTENTION
    by_vendor: dict[str, list[Step]] = {}
    for step in sorted(steps, key=lambda s: (s.vendor, s.seq)):
        by_vendor.setdefault(step.vendor, []).append(step)
    next_steps = [next((s for s in chain if s.status != StepStatus.DONE), None) for chain in by_vendor.values()]
    if any(step is not None and not step.manual for step in next_steps):
        return None
    if any(step is not None for step in next_steps):
        return RequestStatus.AWAITING_MANUAL
    return RequestStatus.COMPLETED


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
}


def _status_words(status: str) -> str:
    return STATUS_WORDS.get(RequestStatus(status), status)


def is_removal(step: Step) -> bool:
    """A step that takes the person out of a vendor: the API's, or the manual one a person confirms
    (manual steps are keyed "<vendor>_<capability>", see `Vendor.manual_step`)."""
    if step.manual:
        return step.key.endswith(f"_{Capability.REMOVE_MEMBER}")
    return step.kind == StepKind.REMOVE_MEMBER


def assessment_is_member(assessment: Assessment | None) -> bool:
    return assessment is not None and assessment.status == AssessmentStatus.MEMBER
