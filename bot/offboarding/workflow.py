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
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.engine import decisions, parked_steps
from bot.engine import steps as step_runner
from bot.offboarding import modes
from bot.offboarding.values import (
    ACTIVE_STATUSES,
    NOTIFICATION_TITLES,
    NOTIFY_VENDOR,
    STATUS_WORDS,
    ActionResult,
    ApproverCheck,
    BatchDraft,
    BatchPerson,
    BatchSnapshot,
    ChangeNotifier,
    NotificationKind,
    Notifier,
    Reason,
    RequestDraft,
    RequestSnapshot,
    StartResult,
    is_removal,
)
from bot.runtime.log_format import logged_step
from storage import audit, owed_cards
from storage.changes import add_business_days, load_facts
from storage.db import Database
from storage.leases import Leases
from storage.models import (
    OPEN_STATUSES,
    Approval,
    Batch,
    BatchApproval,
    BatchStatus,
    Emergency,
    OffboardRequest,
    RequestMode,
    RequestStatus,
    RestoreWindow,
    Step,
    StepStatus,
    VendorAssessment,
    utcnow,
)
from storage.owed_cards import OwedCards
from vendors.base import (
    CREDENTIALS_PARAM,
    Assessment,
    Capability,
    PlannedStep,
    StepKind,
    Vendor,
    assessment_from_json,
)
from vendors.http import WaitTooLongError

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 16  # requests assessed or carried out at once
VENDORS_PER_WORKER = 4  # vendor-pool threads per worker: a request's vendors run side by side
SETTLE_STRIPES = 64
PROGRESS_INTERVAL = 1.0  # seconds: a card shows step-by-step progress at most this often
CARD_TIMES_KEPT = 10_000  # cards whose last render time is remembered; older ones just render at once
SHUTDOWN_GRACE = 60.0  # seconds shutdown waits for work under way (and the work it starts) to finish


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
        workers: int = DEFAULT_WORKERS,
        progress_interval: float = PROGRESS_INTERVAL,
        vendor_workers: int | None = None,
        changes: modes.ChangeConfig | None = None,
        may_respond: ApproverCheck | None = None,
        change_notifier: ChangeNotifier | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.db = db
        # Several instances: one worker per request at a time across every instance sharing the database (see _work).
        self.leases = leases or Leases(db, clock=clock)
        self.vendors = dict(vendors)
        self.notifier = notifier
        self.may_approve = may_approve
        self.clock = clock
        # A worker mostly waits on vendors (or on their rate limits), so there are many: with few, a bulk run's
        # requests queue behind each other while the vendors sit idle. Each request fans out to its vendors on
        # the vendor pool, so that is sized for every busy worker's vendors at once.
        self._background = background or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workflow")
        self._vendor_pool = ThreadPoolExecutor(max_workers=vendor_workers or workers * VENDORS_PER_WORKER,
                                               thread_name_prefix="vendor")
        # Settling is per request: one request's settle (and the notifications it sends) must not hold up
        # another's. Striped, so the locks do not grow with the number of requests ever seen.
        self._settle_locks = [threading.Lock() for _ in range(SETTLE_STRIPES)]
        self._cards_guard = threading.Lock()
        self._cards_dirty: set[int] = set()  # progress held back from the card (see _show_progress)
        self._cards_shown_at: dict[int, float] = {}  # monotonic time of each card's last render
        # What each card should show is owed until Slack accepts it (storage/owed_cards.py); a claim lasts a
        # lease, so a card a dead instance was posting is taken up as soon as its requests are.
        claim = self.leases.duration.total_seconds()
        self.cards = OwedCards(db, "request", instance=self.leases.instance, claim_seconds=claim, clock=clock)
        self.batch_cards = OwedCards(db, "batch", instance=self.leases.instance, claim_seconds=claim, clock=clock)
        self.notices = OwedCards(db, "notice", instance=self.leases.instance, claim_seconds=claim, clock=clock)
        self._steps_running: set[int] = set()  # steps this instance is carrying out right now
        self._steps_guard = threading.Lock()
        self.progress_interval = progress_interval
        self._tasks = threading.Condition()
        self._tasks_open = 0  # submitted and not finished, so shutdown can let follow-ups run
        # Emergency responders, the settings of the partial modes, batches and restores, and where
        # their own messages go (the security channel, the batch card).
        self.changes = changes or modes.ChangeConfig()
        self.may_respond: ApproverCheck = may_respond or (lambda _user: False)
        self.change_notifier = change_notifier

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
        return RequestSnapshot(request, assessments, steps, approvals, labels, checkable, load_facts(session, request))

    # -- creating and assessing -----------------------------------------------------------------
    def create_request(self, draft: RequestDraft) -> int:
        unknown = [v for v in draft.vendors or () if v not in self.vendors]
        if unknown:
            raise ValueError(f"unknown vendor(s): {', '.join(unknown)}")
        now = self.clock()
        with self.db.session() as session:
            return self._insert_request(session, draft, now)

    def _insert_request(self, session: Session, draft: RequestDraft, now: datetime) -> int:
        vendors = list(draft.vendors) if draft.vendors else list(self.vendors)
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
            mode=draft.mode,
            mode_params=dict(draft.mode_params),
            batch_id=draft.batch_id,
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
            **_mode_details(draft),
        )
        return request.id

    def start_assessment(self, request_id: int) -> None:
        self._submit(self.assess, request_id)

    def assess(self, request_id: int) -> None:
        """Ask every vendor about the person at once, store what they said, plan the steps (one worker at a
        time, across instances: see _work)."""
        self._work(request_id)

    def _assess_pass(self, request_id: int) -> None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            found = ((request.subject_email, request.vendors, modes.mode_of(request.mode), request.batch_id)
                     if request is not None and request.status == RequestStatus.ASSESSING else None)
        if found is None:
            self._show(request_id)
            return
        email, vendor_names, mode, batch_id = found
        # The vendors are asked first and the card appears (saying it is checking) while they answer: posting
        # it is a Slack call of its own, which an emergency's removal should not wait for.
        asked = [self._vendor_pool.submit(self.vendors[name].assess, email) for name in vendor_names]
        self._show(request_id)
        assessments = {name: answer.result() for name, answer in zip(vendor_names, asked, strict=True)}
        plans = {name: self._plan(request_id, name, a) for name, a in assessments.items()}
        now = self.clock()
        runs_now = mode in modes.UNAPPROVED_MODES  # an emergency or a restore needs no (more) approval
        with self.db.session() as session:
            for name, assessment in assessments.items():
                self._store_assessment(session, request_id, assessment, now)
                self._store_plan(session, request_id, name, plans[name])
            target = RequestStatus.EXECUTING if runs_now else RequestStatus.PENDING_APPROVAL
            moved = self._transition(session, request_id, [RequestStatus.ASSESSING], target, now,
                                     **({"started_at": now} if runs_now else {}))
            if moved and runs_now:
                audit.record(session, f"{mode}_started", request_id=request_id, at=now)
            elif moved:
                audit.record(session, "awaiting_approval", request_id=request_id, at=now)
        if moved and runs_now:
            self._show_soon(request_id)  # the removal starts (once this pass ends) without waiting for Slack
            self.start_execution(request_id)
        else:
            self._show(request_id)
        if batch_id is not None:
            self._batch_progress(batch_id)

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
            email = request.subject_email
        connector = self.vendors[vendor]
        assessment = connector.assess(email)
        plan = self._plan(request_id, vendor, assessment)  # by the request's mode
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
            self.start_execution(request_id)
        return ActionResult(True)

    def reject(self, request_id: int, user_id: str, comment: str) -> ActionResult:
        refusal = self.decision_refusal(request_id, user_id, decisions.Act.REJECT)
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
        self._submit(self._work, request_id)
        return ActionResult(True)

    def cancel(self, request_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return ActionResult(False, f"Request #{request_id} does not exist.")
            case = decisions.request_case(request)
        refused = self._decide(user_id, decisions.Act.CANCEL, case)
        if refused:
            return refused
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            assert request is not None
            cancellable = [RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL, RequestStatus.SCHEDULED]
            won = self._transition(
                session,
                request_id,
                cancellable if request.requester_id == user_id else [RequestStatus.SCHEDULED],
                RequestStatus.CANCELLED,
                now,
                completed_at=now,
                decision_comment=f"Cancelled by <@{user_id}>",
            )
            if not won:
                return ActionResult(
                    False,
                    f"Request #{request_id} is {_status_words(request.status)} and can no longer be cancelled.",
                )
            audit.record(session, "cancelled", actor=user_id, request_id=request_id, at=now)
        self._show(request_id)
        return ActionResult(True)

    def decision_refusal(self, request_id: int, user_id: str,
                         act: decisions.Act = decisions.Act.APPROVE) -> ActionResult | None:
        """Why `user_id` may not approve or reject this request (recorded), or None (see bot.engine.decisions)."""
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            if request is None:
                return ActionResult(False, f"Request #{request_id} does not exist.")
            case = decisions.request_case(request)
        return self._decide(user_id, act, case)

    @property
    def roles(self) -> decisions.Roles:
        return decisions.Roles(self.may_approve, self.may_respond)

    def _decide(self, user_id: str, act: decisions.Act, case: decisions.Case) -> ActionResult | None:
        refused = decisions.decide(self.db, user_id, act, case, self.roles, at=self.clock())
        return None if refused is None else ActionResult(False, refused.message)

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
        """Run what is due in the background. Asks coalesce through the request's lease: while a pass is under
        way (here or in another instance), another ask (five checklist ticks in a row) only makes it go round
        once more when it ends, so every ask is followed by a full pass and none is repeated for nothing."""
        self._submit(self.execute, request_id)

    def execute(self, request_id: int) -> None:
        """Run every automated step that is due, vendors in parallel, each vendor's steps in order (one worker
        at a time, across instances: see _work)."""
        self._work(request_id)

    def _work(self, request_id: int) -> None:
        """Whatever the request needs now, done under its lease (storage/leases.py): so two bot instances
        sharing the database never assess or execute one request at once. Finding it taken, a worker leaves
        the holder one more pass and goes. Whoever gets the lease, by whichever path (a click, a restart, the
        periodic check), first puts back what a worker before it left running: holding the lease means no
        other worker is on the request, so such a step was cut off."""
        self.leases.work(request_id, lambda: self._pass(request_id),
                         first=lambda: self._requeue_interrupted(request_id))

    def _pass(self, request_id: int) -> None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            status = request.status if request else None
        if status == RequestStatus.ASSESSING:
            self._assess_pass(request_id)
        elif status in ACTIVE_STATUSES:
            self._execute_pass(request_id)
        elif status is not None:  # closed: only its notices can be left to send
            self.deliver_notifications(request_id)

    def _requeue_interrupted(self, request_id: int) -> None:
        """A step left 'running' with no worker was cut off mid-call (a crash, a write that failed); its vendor
        action is idempotent (runners check before acting), so it goes back to 'pending' and runs again. A
        step this instance is still carrying out is never put back, so no step runs twice at once."""
        now = self.clock()
        with self._steps_guard:
            mine = set(self._steps_running)
        with self.db.session() as session:
            step_runner.requeue_interrupted(
                session, Step, col(Step.request_id), request_id, carried_out_here=mine,
                recorded=lambda step: audit.record(session, "step_interrupted", request_id=request_id, at=now,
                                                   vendor=step.vendor, step=step.kind))

    def _execute_pass(self, request_id: int) -> None:
        with self.db.session() as session:  # only what decides the run: the card's snapshot is not needed here
            request = session.get(OffboardRequest, request_id)
            # Needing attention still runs what is pending: another tool's chain may go on (a failure stops
            # only its own chain), and a Retry pressed while the last pass settled is not lost.
            if request is None or request.status not in ACTIVE_STATUSES:
                return
            planned = set(session.exec(select(Step.vendor).where(Step.request_id == request_id).distinct()))
            vendor_names = [v for v in request.vendors if v in planned]
            emergency = modes.mode_of(request.mode) == RequestMode.EMERGENCY
        try:
            list(self._vendor_pool.map(lambda name: self._run_vendor_chain(request_id, name), vendor_names))
            self._settle(request_id)
            if emergency:
                self._clock_emergency(request_id)  # time to verified removal, for the emergency's record
        finally:
            self._show_if_stale(request_id)  # progress the steps held back from the card (see _show_progress)

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
        for step in step_runner.runnable(steps):  # up to a manual step a person must confirm first, or a failure
            if parked_steps.waiting(step, self.clock()):  # a rate limit's wait: the scheduler's tick resumes it
                return
            if not self._run_tracked(step, vendor):
                return

    def _run_tracked(self, step: Step, vendor: Vendor) -> bool:
        """Run a step, known meanwhile as this instance's own (see _requeue_interrupted). When how it went
        cannot be stored (the database failing, the disk full), the error goes up, the step stays 'running'
        and the pass lets its lease go, so the next taker (the periodic check, within a lease and a tick)
        puts it back and runs it again."""
        with self._carrying_out(step):
            return self._run_step(step, vendor)

    @contextmanager
    def _carrying_out(self, step: Step) -> Iterator[None]:
        assert step.id is not None
        with self._steps_guard:
            self._steps_running.add(step.id)
        try:
            yield
        finally:
            with self._steps_guard:
                self._steps_running.discard(step.id)

    @logged_step  # its log lines carry the request id, tool and step
    def _run_step(self, step: Step, vendor: Vendor) -> bool:
        assert step.id is not None
        started = self.clock()
        with self.db.session() as session:
            if not self._move_step(session, step.id, StepStatus.PENDING, StepStatus.RUNNING, started, last_error="",
                                   details=parked_steps.unparked(step.details)):
                return False
            audit.record(
                session,
                "step_started",
                request_id=step.request_id,
                at=started,
                vendor=step.vendor,
                step=step.kind,
            )
        self._show_progress(step.request_id)
        # A few step kinds are the workflow's own (a fresh look after a partial change).
        own = ((lambda planned: modes.verify_change(vendor, planned.params)) if step.kind == modes.VERIFY_CHANGE
               else None)
        result = step_runner.carry_out(step, vendor, call=own, what=f"request {step.request_id}'s step")
        if result.waited is not None:  # not a failure: it waits for the vendor's allowance, then goes on
            self._park_step(step, vendor, result.waited)
            return False
        if not result.done:
            self._finish_step(step, StepStatus.FAILED, error=result.error)
            return False
        self._finish_step(step, StepStatus.DONE, outcome=result.outcome, details=result.details)
        if step.kind == StepKind.VERIFY_REMOVED:
            self._record_membership_after(step, vendor)
        return True

    def _park_step(self, step: Step, vendor: Vendor, exc: WaitTooLongError) -> None:
        """Back to pending until the vendor's wait is over (bot/engine/parked_steps.py); the card says until when."""
        now = self.clock()
        until = parked_steps.resume_time(now, exc.retry_after)
        with self.db.session() as session:
            details = parked_steps.parked(parked_steps.unparked(step.details), until, f"{vendor.label} rate limit")
            self._move_step(session, step.id, StepStatus.RUNNING, StepStatus.PENDING, details=details)
            audit.record(session, "step_parked", request_id=step.request_id, at=now, vendor=step.vendor,
                         step=step.kind, until=until.isoformat(), retry_after=exc.retry_after, reason=exc.message)
        self._show_progress(step.request_id)

    def resume_parked(self, now: datetime | None = None) -> list[int]:
        """From the scheduler's tick, on any instance: parked steps whose time has come lose their mark (one
        caller wins each) and their requests run again."""
        now = now or self.clock()
        resumed: set[int] = set()
        with self.db.session() as session:
            for step in parked_steps.due(session, now):
                if parked_steps.unpark(session, step):
                    audit.record(session, "step_resumed", request_id=step.request_id, at=now, vendor=step.vendor,
                                 step=step.kind)
                    resumed.add(step.request_id)
        for request_id in sorted(resumed):
            self.start_execution(request_id)
        return sorted(resumed)

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
        self._show_progress(step.request_id)

    def _settle(self, request_id: int) -> None:
        """Work out where the request stands from its steps, and finish it when everything is done."""
        with self._settle_locks[request_id % SETTLE_STRIPES]:
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
                        self._open_restore_window(session, request_id, now)  # restore within the dispute window
                        completed = True
                    else:
                        audit.record(session, "status_changed", request_id=request_id, at=now, status=str(target))
            self._show(request_id)
            if completed:
                self.deliver_notifications(request_id)
                self._submit(self._batch_progress_of, request_id)  # a batch tells once, at its end

    def _completion_notices(self, session: Session, request_id: int) -> list[NotificationKind]:
        request = session.get(OffboardRequest, request_id)
        assert request is not None
        snapshot = self._snapshot(session, request)
        kinds = [NotificationKind.DM_REQUESTER]
        if snapshot.removals:
            kinds.append(NotificationKind.STAKEHOLDERS)
        if snapshot.handed_over and request.new_owner_slack_id:
            kinds.append(NotificationKind.DM_NEW_OWNER)
        return _notices_for_mode(request, kinds)  # by the request's mode

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
            with self._carrying_out(step):
                self._deliver(step)
        if pending:
            self._show(request_id)

    def _deliver(self, step: Step) -> None:
        """Send a notice, owed (like a card) until Slack takes it: when Slack is down or throttling, the step
        shows failed with Retry, and deliver_owed_notices sends it again after a back-off by itself. A
        refusal that sending again cannot change (no such channel, a deactivated person) waits for Retry."""
        assert step.id is not None
        try:
            self.notices.want(step.id)
        except Exception:  # the database failing: the step is pending still, and resume or a check sends it
            log.exception("could not record notification %s of request %s as owed", step.kind, step.request_id)
            return
        self.notices.deliver(step.id, lambda: self._send_notice(step))

    def _send_notice(self, step: Step) -> None:
        now = self.clock()
        with self.db.session() as session:
            if not self._move_step(session, step.id, StepStatus.PENDING, StepStatus.RUNNING, now):
                return  # sent already, or someone else is sending it
        snapshot = self.snapshot(step.request_id)
        assert snapshot is not None
        try:
            summary = self.notifier.deliver(NotificationKind(step.kind), snapshot)
        except Exception as exc:
            log.warning("notification %s for request %s failed: %s", step.kind, step.request_id, exc)
            self._finish_notification(step, StepStatus.FAILED, error=f"Slack refused the message: {exc}")
            if _passing(exc):
                raise  # owed still: tried again after a back-off
            return
        self._finish_notification(step, StepStatus.DONE, outcome=summary)

    def deliver_owed_notices(self) -> list[int]:
        """Periodically: the notices Slack did not take for a passing reason (down, throttling), once their
        back-off is over, sent again; a notice sent meanwhile (a Retry click) is only marked delivered."""
        due = self.notices.due()
        for step_id in due:
            with self.db.session() as session:
                step = session.get(Step, step_id)
                again = step is not None and self._move_step(session, step_id, StepStatus.FAILED, StepStatus.PENDING)
                if again and step is not None:
                    audit.record(session, "notification_retried", request_id=step.request_id, kind=step.kind)
            if step is not None and step.status != StepStatus.DONE:
                self._submit(self._work, step.request_id)
            else:
                self.notices.deliver(step_id, lambda: None)  # nothing left to send
        return due

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
            request = _locked_request(session, step.request_id)
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
            self.leases.ask(session, request_id)  # recorded with the tick: a crash before the pass loses nothing
        # The tick may free automated steps that waited for it; execute runs them, then settles.
        self.start_execution(request_id)
        return ActionResult(True)

    def retry_step(self, step_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            step = session.get(Step, step_id)
            if step is None:
                return ActionResult(False, "That step does not exist.")
            request = _locked_request(session, step.request_id)
            assert request is not None
            refusal = self._refuse_step_action(request, user_id)
            if refusal:
                return refusal
            if not self._move_step(session, step_id, StepStatus.FAILED, StepStatus.PENDING):
                return ActionResult(False, f"“{step.title}” is not failed any more; nothing to retry.")
            audit.record(session, "retry_requested", actor=user_id, request_id=step.request_id, at=now, step=step.kind)
            request_id, is_notification = step.request_id, step.vendor == NOTIFY_VENDOR
            self.leases.ask(session, request_id)  # recorded with the retry: a crash before the pass loses nothing
            if not is_notification:
                self._transition(session, request_id, [RequestStatus.NEEDS_ATTENTION], RequestStatus.EXECUTING, now)
        self._show(request_id)
        if is_notification:
            self._submit(self._work, request_id)
        else:
            self.start_execution(request_id)
        return ActionResult(True)

    def _refuse_step_action(self, request: OffboardRequest, user_id: str) -> ActionResult | None:
        return self._decide(user_id, decisions.Act.WORK, decisions.request_case(request))

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
            self.start_execution(request_id)
        return started

    def resume(self) -> list[int]:
        """At start: take over every request no live instance is working on that has work left: assessing,
        executing, a step cut off mid-call, a pass asked for and never taken, or notices to send. Those another
        instance holds are left to it; if it dies, reclaim() takes them once its lease runs out."""
        with self.db.session() as session:
            working = set(session.exec(select(OffboardRequest.id).where(
                col(OffboardRequest.status).in_([RequestStatus.ASSESSING, RequestStatus.EXECUTING]))))
            cut_off = set(session.exec(select(Step.request_id).where(Step.status == StepStatus.RUNNING)))
            asked = set(session.exec(select(OffboardRequest.id).where(col(OffboardRequest.runner).is_(None),
                                                                      col(OffboardRequest.rerun).is_(True))))
            notices = set(session.exec(select(Step.request_id).where(Step.vendor == NOTIFY_VENDOR,
                                                                      Step.status == StepStatus.PENDING)))
        resumed = sorted(r for r in working | cut_off | notices | asked if r is not None)
        for request_id in resumed:
            self._submit(self._take_over, request_id)
        self._resume_changes()  # emergencies, batches and restores cut off by a stop
        return resumed

    def reclaim(self) -> list[int]:
        """Periodically: take over the requests whose worker stopped renewing its lease (its instance died),
        and those left with work and no worker at all: a pass asked for (a tick, a Retry) that nobody took (the
        instance that acked the click died first), a step still 'running' after its pass let go (storing its
        outcome failed, e.g. a full disk), or assessing or executing with nobody on it for a lease."""
        abandoned = self.leases.take_over_abandoned(lambda request_id: self._submit(self._take_over, request_id))
        unattended = [r for r in self._unattended() if r not in abandoned]
        for request_id in unattended:
            log.warning("taking over request %s: it has work left and no instance working on it", request_id)
            self._submit(self._take_over, request_id)
        return sorted(abandoned + unattended)

    def _unattended(self) -> list[int]:
        quiet_since = self.clock() - self.leases.duration
        with self.db.session() as session:
            cut_off = select(Step.request_id).where(Step.status == StepStatus.RUNNING)
            ids = session.exec(select(OffboardRequest.id).where(
                col(OffboardRequest.runner).is_(None),
                col(OffboardRequest.rerun).is_(True)
                | col(OffboardRequest.id).in_(cut_off)
                | (col(OffboardRequest.status).in_([RequestStatus.ASSESSING, RequestStatus.EXECUTING])
                   & (col(OffboardRequest.updated_at) < quiet_since)))).all()
        return sorted(int(i) for i in ids if i is not None)

    def _take_over(self, request_id: int) -> None:
        self._work(request_id)

    def deliver_owed_cards(self) -> list[int]:
        """Periodically: every card Slack has not accepted yet (a post or an update that failed, an instance
        that died while showing it), tried again once its back-off is over: the request cards, the batch
        cards, and the notices Slack did not take."""
        requests = self.cards.due()
        for request_id in requests:
            self._submit(self._deliver_card, request_id)
        if self.change_notifier is not None:
            for batch_id in self.batch_cards.due():
                self._submit(self._deliver_batch_card, batch_id)
        self.deliver_owed_notices()
        return requests

    # -- helpers --------------------------------------------------------------------------------
    def _show(self, request_id: int) -> None:
        """Bring the card up to date with the state as it is now: record it as owed (storage/owed_cards.py),
        then deliver it. Renders coalesce through the owed row's claim: while one thread or instance renders a
        request's card, others only raise the version wanted, and the renderer goes round again until the
        card is current. So there is one render at a time per request (an older render never overwrites a
        newer one), a render always follows the last change, and a burst of changes (four vendors' steps)
        costs a few renders rather than one each. A Slack failure never stops the workflow: the card stays
        owed, and deliver_owed_cards tries again."""
        self._rendering_now(request_id)
        self.cards.show(request_id, lambda: self._render_card(request_id))

    def _show_soon(self, request_id: int) -> None:
        """As `_show`, but the render and the Slack call happen on a background worker: for a card that work
        about to start must not wait for (an emergency's removal). The card is recorded as owed here and its
        render time set, so the steps' progress is held back behind this render rather than rendering first."""
        self._rendering_now(request_id)
        if self.cards.owe(request_id):
            self._submit(self._deliver_card, request_id)

    def _rendering_now(self, request_id: int) -> None:
        """The card is about to show everything: no progress is held back from it any more (_show_progress)."""
        with self._cards_guard:
            self._cards_dirty.discard(request_id)
            self._cards_shown_at.pop(request_id, None)  # re-inserted last: the dict is oldest first
            self._cards_shown_at[request_id] = time.monotonic()
            self._forget_card_times()

    def _deliver_card(self, request_id: int) -> None:
        self.cards.try_delivering(request_id, lambda: self._render_card(request_id))

    def _show_progress(self, request_id: int) -> None:
        """A step started or finished. Such changes come by the dozen per person, and Slack allows a workspace
        about 50 card updates a minute, so they reach the card at most once per `progress_interval`; the pass
        that ran the steps shows whatever was held back when it ends (_show_if_stale), and decisions and
        outcomes (_show) are shown at once. Progress held back is not recorded as owed (a write per step): if
        this instance dies first, the pass that takes the request over shows the card as it is by then."""
        with self._cards_guard:
            recent = time.monotonic() - self._cards_shown_at.get(request_id, -math.inf) < self.progress_interval
            if recent:
                self._cards_dirty.add(request_id)
                return
        self._show(request_id)

    def _forget_card_times(self) -> None:
        """Keep the render times bounded (called under the cards guard). The least recently rendered go
        first; a card that lost its time only shows its next progress at once."""
        while len(self._cards_shown_at) > CARD_TIMES_KEPT:
            del self._cards_shown_at[next(iter(self._cards_shown_at))]

    def _show_if_stale(self, request_id: int) -> None:
        with self._cards_guard:
            stale = request_id in self._cards_dirty
        if stale:
            self._show(request_id)

    def _render_card(self, request_id: int) -> tuple[str, str] | None:
        """Post or update the card (Slack's failure goes up: the card stays owed); where a post landed is
        stored at once, on its own, so a later failure cannot make the next attempt post it again."""
        snapshot = self.snapshot(request_id)
        if snapshot is None:
            return None
        location = self._card_notifier(snapshot).show_card(snapshot)
        if location:
            owed_cards.store_post(self.db, OffboardRequest, request_id, location)
            with self.db.session() as session:
                audit.record(session, "card_posted", request_id=request_id, **location.audited())
        if snapshot.request.batch_id is not None:
            self._show_batch(snapshot.request.batch_id)  # the batch card shows each member's progress
        return (location.channel, location.ts) if location else None

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
        """Move a step from `expected` to `target`; False when someone else moved it first (bot/engine/steps.py).
        Passing `started_at` marks the start of an attempt, which is counted."""
        return step_runner.move(session, Step, step_id, expected, target, started_at, **values)

    def _submit(self, fn: Callable[[int], Any], request_id: int) -> bool:
        def run() -> None:
            try:
                fn(request_id)
            except Exception:
                log.exception("background %s for request %s failed", getattr(fn, "__name__", fn), request_id)
            finally:
                with self._tasks:
                    self._tasks_open -= 1
                    self._tasks.notify_all()

        with self._tasks:
            self._tasks_open += 1
        try:
            self._background.submit(run)
        except RuntimeError:  # shut down already: the database still says what is left, and resume() picks it up
            with self._tasks:
                self._tasks_open -= 1
                self._tasks.notify_all()
            log.warning("not running %s for request %s: shutting down; it resumes at the next start",
                        getattr(fn, "__name__", fn), request_id)
            return False
        return True

    def wait_for_background(self, timeout: float) -> bool:
        """Wait until the background work submitted so far, and what it submits in turn, has finished;
        False if some is still going after `timeout` seconds."""
        with self._tasks:
            return self._tasks.wait_for(lambda: self._tasks_open == 0, timeout=timeout)

    def shutdown(self, wait: bool = True, grace: float = SHUTDOWN_GRACE) -> None:
        """Stop. With `wait`, work under way finishes first, including what it starts on its way (a
        completed removal's notifications), so a clean stop leaves nothing for the next start to resume."""
        if wait:
            self.wait_for_background(grace)
        self._background.shutdown(wait=wait)
        self._vendor_pool.shutdown(wait=wait)
        self.leases.close()
        for owed in (self.cards, self.batch_cards, self.notices):
            owed.close()

    # -- scheduled work -------------------------------------------------------------------------
    def expire(self, request_id: int, why: str) -> bool:
        """Close a request nobody decided on in time. The requester is told by DM (a notification step, so
        a Slack failure shows on the card with Retry). False when it was decided or closed meanwhile."""
        now = self.clock()
        with self.db.session() as session:
            if not self._transition(session, request_id, [RequestStatus.PENDING_APPROVAL], RequestStatus.EXPIRED,
                                    now, completed_at=now, decision_comment=why):
                return False
            audit.record(session, "expired", request_id=request_id, at=now, why=why)
            self._plan_notifications(session, request_id, [NotificationKind.DM_REQUESTER])
        self._show(request_id)
        self._submit(self._work, request_id)
        return True

    def approve_automatically(self, request_id: int, why: str) -> ActionResult:
        """Approve on the team's standing policy (e.g. OFFBOARD_INACTIVE_AUTO_REMOVE) rather than a person's
        click: recorded as approved by offboard itself, with the policy as the comment."""
        now = self.clock()
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            # As for a person's approval: a removal due later (an HR termination time) waits for its time.
            due_later = request is not None and request.effective_at is not None and request.effective_at > now
            target = RequestStatus.SCHEDULED if due_later else RequestStatus.EXECUTING
            won = self._transition(session, request_id, [RequestStatus.PENDING_APPROVAL], target,
                                   now, decided_by=audit.BOT_ACTOR, decided_at=now, decision_comment=why,
                                   started_at=None if due_later else now)
            if not won:
                return self._already_decided(session, request_id)
            session.add(Approval(request_id=request_id, approver_id=audit.BOT_ACTOR, decision="approved", comment=why,
                                 decided_at=now))
            audit.record(session, "approved", request_id=request_id, at=now, why=why, via="policy")
            if due_later:
                assert request is not None
                audit.record(session, "scheduled", request_id=request_id, at=now, due=request.effective_at)
        self._show(request_id)
        if not due_later:
            self.start_execution(request_id)
        return ActionResult(True)

    # -- modes, emergency removal, batches, restore ----------------------------------------------------------------
    # Everything below serves those. The pure parts (plans, guards, checks) live in bot/offboarding/modes.py; the Slack
    # side in bot/offboarding/emergency.py, bot/offboarding/batch.py, bot/offboarding/restore.py and their *_blocks.py.
    def _plan(self, request_id: int, vendor_name: str, assessment: Assessment) -> list[PlannedStep]:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            assert request is not None
            mode, params = modes.mode_of(request.mode), dict(request.mode_params)
            email, new_owner = request.subject_email, request.new_owner_email
        return modes.plan_for(mode, self.vendors[vendor_name], assessment, email=email, new_owner_email=new_owner,
                              mode_params=params, config=self.changes)

    def _card_notifier(self, snapshot: RequestSnapshot) -> Notifier | ChangeNotifier:
        """Emergency cards go to the security channel, batch members' into their batch card's thread."""
        special = snapshot.change.mode == RequestMode.EMERGENCY or snapshot.request.batch_id is not None
        return self.change_notifier if special and self.change_notifier is not None else self.notifier

    # -- emergency ---------------------------------------------------------------------------------------------
    def start_emergency(self, draft: RequestDraft, responder: str, received_at: datetime | None = None) -> StartResult:
        """Remove now, everywhere, without approval (a security incident). Only responders may; anyone else
        is refused and the attempt recorded. Open requests for the person that have not started are
        superseded; the clock runs from `received_at` (when the command arrived) to verified removal."""
        now = self.clock()
        email = draft.subject_email.lower()
        if not self.may_respond(responder):
            with self.db.session() as session:
                audit.record(session, "emergency_refused", actor=responder, at=now, subject=email,
                             why="not an emergency responder")
            return StartResult(None, "Only the configured emergency responders may remove someone at once, without "
                                     "approval. The attempt is recorded. Ask a responder, or choose another reason "
                                     "so the request goes to the approvers.")
        with self.db.session() as session:
            running = session.exec(select(OffboardRequest.id).where(
                OffboardRequest.subject_email == email, OffboardRequest.mode == RequestMode.EMERGENCY,
                col(OffboardRequest.status).in_(OPEN_STATUSES))).first()
            if running is not None:
                return StartResult(None, f"An emergency removal of {email} is already under way (#{running}).")
            request_id = self._insert_request(session, replace(
                draft, subject_email=email, reason=Reason.SECURITY_INCIDENT, requester_id=responder,
                effective_at=None, mode=RequestMode.EMERGENCY, batch_id=None), now)
            session.add(Emergency(request_id=request_id, responder_id=responder, started_at=received_at or now))
            superseded = self._supersede(session, email, request_id, now)
            audit.record(session, "emergency_declared", actor=responder, request_id=request_id, at=now,
                         superseded=superseded)
        for old in superseded:
            self._show(old)
        self.start_assessment(request_id)
        return StartResult(request_id)

    def _supersede(self, session: Session, email: str, emergency_id: int, now: datetime) -> list[int]:
        """Requests for the same person still waiting (to be assessed, approved or their time) are
        cancelled: the emergency does their work now. Requests already removing are left to finish."""
        waiting = [RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL, RequestStatus.SCHEDULED]
        ids = session.exec(select(OffboardRequest.id).where(
            OffboardRequest.subject_email == email, col(OffboardRequest.id) != emergency_id,
            col(OffboardRequest.status).in_(waiting))).all()
        superseded = []
        for request_id in ids:
            assert request_id is not None
            if self._transition(session, request_id, waiting, RequestStatus.CANCELLED, now, completed_at=now,
                                decision_comment=f"Superseded by emergency removal #{emergency_id}"):
                audit.record(session, "cancelled", request_id=request_id, at=now, superseded_by=emergency_id)
                superseded.append(request_id)
        return superseded

    def _clock_emergency(self, request_id: int) -> None:
        """Once every step that takes the person out (and proves it) is done in every vendor, record how
        long it took from the command. Once: a conditional update claims it."""
        snapshot = self.snapshot(request_id)
        emergency = snapshot.change.emergency if snapshot else None
        if snapshot is None or emergency is None or emergency.removed_at is not None:
            return
        critical = [s for s in snapshot.steps if s.vendor != NOTIFY_VENDOR
                    and modes.is_removal_critical(s.kind, s.key, s.manual)]
        if any(s.status != StepStatus.DONE for s in critical):
            return
        now = self.clock()
        seconds = max((now - emergency.started_at).total_seconds(), 0.0)
        with self.db.session() as session:
            won = session.execute(
                update(Emergency).where(col(Emergency.request_id) == request_id, col(Emergency.removed_at).is_(None))
                .values(removed_at=now, seconds_to_removal=seconds)
            ).rowcount == 1  # type: ignore[attr-defined]
            if won:
                audit.record(session, "emergency_removal_verified", request_id=request_id, at=now,
                             seconds=round(seconds, 3), vendors=sorted({s.vendor for s in critical}))
        if won:
            self._show(request_id)

    def acknowledge_emergency(self, request_id: int, user_id: str) -> ActionResult:
        """A second person (a responder or an approver, not the one who started it) confirms they saw it."""
        now = self.clock()
        with self.db.session() as session:
            emergency = session.get(Emergency, request_id)
            request = session.get(OffboardRequest, request_id)
            if emergency is None or request is None:
                return ActionResult(False, f"Request #{request_id} is not an emergency removal.")
            case = decisions.Case(decisions.Kind.EMERGENCY, request_id, emergency.responder_id,
                                  leaver=request.subject_slack_id)
            acknowledged_by = emergency.acknowledged_by
        refused = self._decide(user_id, decisions.Act.ACKNOWLEDGE, case)
        if refused:
            return refused
        if acknowledged_by:
            return ActionResult(False, f"<@{acknowledged_by}> already acknowledged it.")
        with self.db.session() as session:
            won = session.execute(
                update(Emergency).where(col(Emergency.request_id) == request_id,
                                        col(Emergency.acknowledged_by).is_(None))
                .values(acknowledged_by=user_id, acknowledged_at=now)
            ).rowcount == 1  # type: ignore[attr-defined]
            if won:
                audit.record(session, "emergency_acknowledged", actor=user_id, request_id=request_id, at=now)
        if not won:
            return ActionResult(False, "Someone acknowledged it a moment ago.")
        self._show(request_id)
        return ActionResult(True)

    def remind_unacknowledged_emergencies(self, now: datetime | None = None) -> list[int]:
        """Remind about every emergency nobody acknowledged within the reminder interval since it started
        (or since the last reminder). Each reminder is claimed by a conditional update, so it goes out
        once however many bot processes run this."""
        now = now or self.clock()
        every = self.changes.emergency_reminder
        with self.db.session() as session:
            open_ones = list(session.exec(select(Emergency).where(col(Emergency.acknowledged_at).is_(None))))
        reminded: list[tuple[int, int]] = []
        for emergency in open_ones:
            if (emergency.last_reminded_at or emergency.started_at) + every > now:
                continue
            number = emergency.reminders_sent + 1
            with self.db.session() as session:
                claimed = session.execute(
                    update(Emergency).where(col(Emergency.request_id) == emergency.request_id,
                                            col(Emergency.reminders_sent) == emergency.reminders_sent,
                                            col(Emergency.acknowledged_at).is_(None))
                    .values(reminders_sent=number, last_reminded_at=now)
                ).rowcount == 1  # type: ignore[attr-defined]
                if claimed:
                    audit.record(session, "emergency_reminder_sent", request_id=emergency.request_id, at=now,
                                 number=number)
            if claimed:
                reminded.append((emergency.request_id, number))
        for request_id, number in reminded:
            snapshot = self.snapshot(request_id)
            if snapshot is not None and self.change_notifier is not None:
                try:
                    self.change_notifier.remind_emergency(snapshot, number)
                except Exception as exc:  # the next interval reminds again
                    log.warning("could not remind about emergency %s: %s", request_id, exc)
            self._show(request_id)  # the card counts the reminders
        return [request_id for request_id, _ in reminded]

    # -- restore -----------------------------------------------------------------------------------------------
    def _open_restore_window(self, session: Session, request_id: int, now: datetime) -> None:
        """A completed removal may be undone (re-invited) until the dispute window closes."""
        request = session.get(OffboardRequest, request_id)
        if request is None or modes.mode_of(request.mode) not in modes.REMOVAL_MODES:
            return
        steps = session.exec(select(Step).where(Step.request_id == request_id, Step.status == StepStatus.DONE))
        if not any(is_removal(s) for s in steps) or session.get(RestoreWindow, request_id) is not None:
            return
        closes = add_business_days(now, self.changes.dispute_window_business_days)
        session.add(RestoreWindow(request_id=request_id, closes_at=closes))
        audit.record(session, "dispute_window_opened", request_id=request_id, at=now, closes_at=closes)

    def restore(self, request_id: int, user_id: str) -> ActionResult:
        """Re-invite the person with the role and projects the removal took, where it took them, as a new
        request approved by this click (approvers only, within the dispute window)."""
        now = self.clock()
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            window = session.get(RestoreWindow, request_id)
            if request is None or window is None:
                return ActionResult(False, "That request removed nobody, so there is nothing to restore.")
            case = decisions.request_case(request)
        refused = self._decide(user_id, decisions.Act.RESTORE, case)
        if refused:
            return refused
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            window = session.get(RestoreWindow, request_id)
            refusal = self._restore_refusal(request, window, user_id, now)
            if refusal is not None:
                if request is not None and window is not None and now >= window.closes_at:
                    audit.record(session, "restore_refused", actor=user_id, request_id=request_id, at=now,
                                 why="dispute window closed")
                return refusal
            assert request is not None
            snapshot = self._snapshot(session, request)
            taken = {s.vendor: modes.snapshot_entry(snapshot.assessments[s.vendor])
                     for s in snapshot.removals if s.vendor in snapshot.assessments and s.vendor in self.vendors}
            claimed = session.execute(
                update(RestoreWindow).where(col(RestoreWindow.request_id) == request_id,
                                            col(RestoreWindow.restored_by).is_(None))
                .values(restored_by=user_id, restored_at=now)
            ).rowcount == 1  # type: ignore[attr-defined]
            if not claimed:
                return ActionResult(False, f"Someone is restoring {request.subject_email} already.")
            restore_id = self._insert_request(session, RequestDraft(
                subject_email=request.subject_email, reason=_reason(request.reason), requester_id=user_id,
                subject_slack_id=request.subject_slack_id, subject_name=request.subject_name, ticket=request.ticket,
                note=f"Restores the access removed by request #{request_id}.", vendors=tuple(taken),
                source_channel=request.card_channel, mode=RequestMode.RESTORE,
                mode_params={"restores": request_id, "snapshot": taken}), now)
            session.execute(update(RestoreWindow).where(col(RestoreWindow.request_id) == request_id)
                            .values(restore_request_id=restore_id))
            session.execute(update(OffboardRequest).where(col(OffboardRequest.id) == restore_id)
                            .values(decided_by=user_id, decided_at=now))  # this click is the approval
            session.add(Approval(request_id=restore_id, approver_id=user_id, decision="approved", decided_at=now))
            audit.record(session, "restore_requested", actor=user_id, request_id=request_id, at=now,
                         restore_request=restore_id, vendors=sorted(taken))
        self._show(request_id)
        self.start_assessment(restore_id)
        return ActionResult(True)

    def _restore_refusal(self, request: OffboardRequest | None, window: RestoreWindow | None, user_id: str,
                         now: datetime) -> ActionResult | None:
        if request is None or window is None:
            return ActionResult(False, "That request removed nobody, so there is nothing to restore.")
        if window.restore_request_id is not None:
            return ActionResult(False, f"{request.subject_email} is already being restored (request "
                                       f"#{window.restore_request_id}, by <@{window.restored_by}>).")
        if now >= window.closes_at:
            return ActionResult(False, f"The dispute window for request #{request.id} closed on "
                                       f"{window.closes_at:%Y-%m-%d %H:%M} UTC. To give {request.subject_email} "
                                       "access again, invite them as a new person.")
        return None

    def close_restore_windows(self, now: datetime | None = None) -> list[int]:
        """Re-show the cards whose dispute window has closed, without their Restore button. Once each."""
        now = now or self.clock()
        with self.db.session() as session:
            due = session.exec(select(RestoreWindow.request_id).where(
                col(RestoreWindow.closes_at) <= now, col(RestoreWindow.closed_shown).is_(False),
                col(RestoreWindow.restore_request_id).is_(None))).all()
        closed = []
        for request_id in due:
            with self.db.session() as session:
                won = session.execute(
                    update(RestoreWindow).where(col(RestoreWindow.request_id) == request_id,
                                                col(RestoreWindow.closed_shown).is_(False))
                    .values(closed_shown=True)
                ).rowcount == 1  # type: ignore[attr-defined]
                if won:
                    audit.record(session, "dispute_window_closed", request_id=request_id, at=now)
            if won:
                closed.append(request_id)
                self._show(request_id)
        return closed

    # -- batches -----------------------------------------------------------------------------------------------
    def create_batch(self, draft: BatchDraft) -> int:
        """One batch and a request per person, in one transaction; the batch card is posted before the
        people are assessed, so each person's card can go into its thread."""
        if not draft.people:
            raise ValueError("a batch needs at least one person")
        now = self.clock()
        needed = 2 if len(draft.people) > self.changes.two_approvers_over else 1
        with self.db.session() as session:
            batch = Batch(requester_id=draft.requester_id, mode=draft.mode, reason=draft.reason, ticket=draft.ticket,
                          note=draft.note, source=draft.source, source_channel=draft.source_channel,
                          size=len(draft.people), approvals_needed=needed, created_at=now, updated_at=now)
            session.add(batch)
            session.flush()
            assert batch.id is not None
            batch_id = batch.id
            member_ids = [self._insert_request(session, _member_draft(draft, person, batch_id), now)
                          for person in draft.people]
            audit.record(session, "batch_created", actor=draft.requester_id, at=now, batch=batch_id,
                         size=len(member_ids), approvals_needed=needed, request_ids=member_ids, source=draft.source,
                         mode=str(draft.mode))
        self._show_batch(batch_id)
        for request_id in member_ids:
            self.start_assessment(request_id)
        return batch_id

    def batch_snapshot(self, batch_id: int) -> BatchSnapshot | None:
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return None
            members = [self._snapshot(session, r) for r in session.exec(
                select(OffboardRequest).where(OffboardRequest.batch_id == batch_id).order_by(col(OffboardRequest.id)))]
            approvals = list(session.exec(select(BatchApproval).where(BatchApproval.batch_id == batch_id)
                                          .order_by(col(BatchApproval.id))))
        return BatchSnapshot(batch, members, approvals, {name: v.label for name, v in self.vendors.items()})

    def approve_batch(self, batch_id: int, user_id: str) -> ActionResult:
        """Record one approver's approval; when enough distinct approvers (never the requester) agree, every
        person's request is approved at once. Two approvers clicking together approve once."""
        refusal = self.batch_decision_refusal(batch_id, user_id)
        if refusal is not None:
            return refusal
        now = self.clock()
        try:
            with self.db.session() as session:
                batch = session.get(Batch, batch_id)
                assert batch is not None
                if batch.status != BatchStatus.PENDING_APPROVAL:
                    return _batch_closed(batch)
                session.add(BatchApproval(batch_id=batch_id, approver_id=user_id, decided_at=now))
                session.flush()
                approvals = list(session.exec(select(BatchApproval).where(BatchApproval.batch_id == batch_id)
                                              .order_by(col(BatchApproval.id))))
                audit.record(session, "batch_approval_recorded", actor=user_id, at=now, batch=batch_id,
                             approvals=len(approvals), needed=batch.approvals_needed)
                complete = len(approvals) >= batch.approvals_needed
                if complete and not self._approve_members(session, batch_id, user_id, approvals, now):
                    raise _DecidedMeanwhile  # another approver completed it first: roll this one back
        except IntegrityError:
            return ActionResult(False, f"You already approved batch #{batch_id}; a batch this large needs another, "
                                       "different approver." if self._needs_two(batch_id) else
                                f"You already approved batch #{batch_id}.")
        except _DecidedMeanwhile:
            with self.db.session() as session:
                decided = session.get(Batch, batch_id)
                assert decided is not None
                return _batch_closed(decided)
        self._show_batch(batch_id)
        if complete:
            self._start_members(batch_id)
        return ActionResult(True)

    def _needs_two(self, batch_id: int) -> bool:
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            return batch is not None and batch.status == BatchStatus.PENDING_APPROVAL and batch.approvals_needed > 1

    def _approve_members(self, session: Session, batch_id: int, user_id: str, approvals: list[BatchApproval],
                         now: datetime) -> bool:
        won = session.execute(
            update(Batch).where(col(Batch.id) == batch_id, col(Batch.status) == BatchStatus.PENDING_APPROVAL)
            .values(status=BatchStatus.APPROVED, decided_by=user_id, decided_at=now, updated_at=now)
        ).rowcount == 1  # type: ignore[attr-defined]
        if not won:
            return False
        approvers = [a.approver_id for a in approvals]
        members = session.exec(select(OffboardRequest).where(
            OffboardRequest.batch_id == batch_id, OffboardRequest.status == RequestStatus.PENDING_APPROVAL)).all()
        for member in members:
            assert member.id is not None
            due_later = member.effective_at is not None and member.effective_at > now
            target = RequestStatus.SCHEDULED if due_later else RequestStatus.EXECUTING
            if not self._transition(session, member.id, [RequestStatus.PENDING_APPROVAL], target, now,
                                    decided_by=user_id, decided_at=now, started_at=None if due_later else now):
                continue
            for approval in approvals:
                session.add(Approval(request_id=member.id, approver_id=approval.approver_id, decision="approved",
                                     decided_at=approval.decided_at))
            audit.record(session, "approved", actor=user_id, request_id=member.id, at=now, batch=batch_id,
                         approvers=approvers)
            if due_later:
                audit.record(session, "scheduled", request_id=member.id, at=now, due=member.effective_at)
        audit.record(session, "batch_approved", actor=user_id, at=now, batch=batch_id, approvers=approvers)
        return True

    def _start_members(self, batch_id: int) -> None:
        with self.db.session() as session:
            members = session.exec(select(OffboardRequest.id, OffboardRequest.status)
                                   .where(OffboardRequest.batch_id == batch_id)).all()
        for request_id, status in members:
            self._show(request_id)
            if status == RequestStatus.EXECUTING:
                self.start_execution(request_id)

    def reject_batch(self, batch_id: int, user_id: str, comment: str) -> ActionResult:
        refusal = self.batch_decision_refusal(batch_id, user_id, decisions.Act.REJECT)
        if refusal is not None:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            won = session.execute(
                update(Batch).where(col(Batch.id) == batch_id, col(Batch.status) == BatchStatus.PENDING_APPROVAL)
                .values(status=BatchStatus.REJECTED, decided_by=user_id, decided_at=now, decision_comment=comment,
                        updated_at=now, completed_at=now)
            ).rowcount == 1  # type: ignore[attr-defined]
            if not won:
                batch = session.get(Batch, batch_id)
                assert batch is not None
                return _batch_closed(batch)
            for request_id in self._member_ids(session, batch_id):
                if self._transition(session, request_id, [RequestStatus.PENDING_APPROVAL], RequestStatus.REJECTED,
                                    now, decided_by=user_id, decided_at=now, decision_comment=comment,
                                    completed_at=now):
                    session.add(Approval(request_id=request_id, approver_id=user_id, decision="rejected",
                                         comment=comment, decided_at=now))
                    audit.record(session, "rejected", actor=user_id, request_id=request_id, at=now, comment=comment,
                                 batch=batch_id)
            audit.record(session, "batch_rejected", actor=user_id, at=now, batch=batch_id, comment=comment)
        self._after_batch_decision(batch_id)
        return ActionResult(True)

    def cancel_batch(self, batch_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return ActionResult(False, f"Batch #{batch_id} does not exist.")
            requester = batch.requester_id
        refused = self._decide(user_id, decisions.Act.CANCEL, decisions.Case(decisions.Kind.BATCH, batch_id, requester))
        if refused:
            return refused
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            assert batch is not None
            won = session.execute(
                update(Batch).where(col(Batch.id) == batch_id, col(Batch.status).in_(
                    [BatchStatus.ASSESSING, BatchStatus.PENDING_APPROVAL]))
                .values(status=BatchStatus.CANCELLED, updated_at=now, completed_at=now)
            ).rowcount == 1  # type: ignore[attr-defined]
            if not won:
                return _batch_closed(batch)
            waiting = [RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL]
            for request_id in self._member_ids(session, batch_id):
                if self._transition(session, request_id, waiting, RequestStatus.CANCELLED, now, completed_at=now,
                                    decision_comment=f"Cancelled with batch #{batch_id} by <@{user_id}>"):
                    audit.record(session, "cancelled", actor=user_id, request_id=request_id, at=now, batch=batch_id)
            audit.record(session, "batch_cancelled", actor=user_id, at=now, batch=batch_id)
        self._after_batch_decision(batch_id)
        return ActionResult(True)

    def _after_batch_decision(self, batch_id: int) -> None:
        with self.db.session() as session:
            member_ids = self._member_ids(session, batch_id)
        for request_id in member_ids:
            self._show(request_id)
        self._batch_progress(batch_id)

    def _member_ids(self, session: Session, batch_id: int) -> list[int]:
        return [i for i in session.exec(select(OffboardRequest.id).where(OffboardRequest.batch_id == batch_id))
                if i is not None]

    def batch_decision_refusal(self, batch_id: int, user_id: str,
                               act: decisions.Act = decisions.Act.APPROVE) -> ActionResult | None:
        """Why `user_id` may not approve or reject this batch (recorded), or None (see bot.engine.decisions)."""
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return ActionResult(False, f"Batch #{batch_id} does not exist.")
            requester = batch.requester_id
        return self._decide(user_id, act, decisions.Case(decisions.Kind.BATCH, batch_id, requester))

    def _batch_progress_of(self, request_id: int) -> None:
        with self.db.session() as session:
            request = session.get(OffboardRequest, request_id)
            batch_id = request.batch_id if request else None
        if batch_id is not None:
            self._batch_progress(batch_id)

    def _batch_progress(self, batch_id: int) -> None:
        """Move the batch on from its members' states: all assessed → waiting for approval (and the detail
        file goes up); all finished → done, and the one notification goes out. Each move is a conditional
        update, so it happens once."""
        now = self.clock()
        with self.db.session() as session:
            batch = session.get(Batch, batch_id)
            if batch is None:
                return
            statuses = [RequestStatus(s) for s in session.exec(
                select(OffboardRequest.status).where(OffboardRequest.batch_id == batch_id))]
            assessed = batch.status == BatchStatus.ASSESSING and RequestStatus.ASSESSING not in statuses
            finished = batch.status == BatchStatus.APPROVED and not set(statuses) & set(OPEN_STATUSES)
            if assessed and self._move_batch(session, batch_id, BatchStatus.ASSESSING, BatchStatus.PENDING_APPROVAL,
                                             now):
                audit.record(session, "batch_awaiting_approval", at=now, batch=batch_id)
            if finished and self._move_batch(session, batch_id, BatchStatus.APPROVED, BatchStatus.DONE, now,
                                             completed_at=now):
                audit.record(session, "batch_completed", at=now, batch=batch_id,
                             outcomes={str(s): statuses.count(s) for s in set(statuses)})
        self._share_batch_details(batch_id)
        self._deliver_batch(batch_id)
        self._show_batch(batch_id)

    def _move_batch(self, session: Session, batch_id: int, expected: BatchStatus, target: BatchStatus,
                    now: datetime, **values: Any) -> bool:
        return session.execute(
            update(Batch).where(col(Batch.id) == batch_id, col(Batch.status) == expected)
            .values(status=target, updated_at=now, **values)
        ).rowcount == 1  # type: ignore[attr-defined]

    def _claim_batch_flag(self, batch_id: int, flag: str, statuses: list[BatchStatus]) -> bool:
        """Set a once-only flag of the batch (details shared, notification sent); False if already set."""
        with self.db.session() as session:
            column = getattr(Batch, flag)
            return session.execute(
                update(Batch).where(col(Batch.id) == batch_id, col(column).is_(False), col(Batch.status).in_(statuses))
                .values({flag: True})
            ).rowcount == 1  # type: ignore[attr-defined]

    def _release_batch_flag(self, batch_id: int, flag: str) -> None:
        with self.db.session() as session:
            session.execute(update(Batch).where(col(Batch.id) == batch_id).values({flag: False}))

    def _share_batch_details(self, batch_id: int) -> None:
        """The detail file goes up once, when the batch is ready for approval."""
        if self.change_notifier is None or not self._claim_batch_flag(
                batch_id, "details_shared", [BatchStatus.PENDING_APPROVAL]):
            return
        snapshot = self.batch_snapshot(batch_id)
        assert snapshot is not None
        try:
            self.change_notifier.share_batch_details(snapshot)
        except Exception as exc:
            log.warning("could not attach the detail file of batch %s: %s", batch_id, exc)
            self._release_batch_flag(batch_id, "details_shared")
            return
        with self.db.session() as session:
            audit.record(session, "batch_details_shared", batch=batch_id, people=len(snapshot.members))

    def _deliver_batch(self, batch_id: int) -> None:
        """The batch's one notification: when every person is done (or the batch was rejected)."""
        if self.change_notifier is None or not self._claim_batch_flag(
                batch_id, "notified", [BatchStatus.DONE, BatchStatus.REJECTED]):
            return
        snapshot = self.batch_snapshot(batch_id)
        assert snapshot is not None
        try:
            summary = self.change_notifier.deliver_batch(snapshot)
        except Exception as exc:
            log.warning("could not send the notification of batch %s: %s", batch_id, exc)
            self._release_batch_flag(batch_id, "notified")
            with self.db.session() as session:
                audit.record(session, "notification_failed", batch=batch_id, summary=str(exc))
            return
        with self.db.session() as session:
            audit.record(session, "notification_sent", batch=batch_id, summary=summary)

    def _show_batch(self, batch_id: int) -> None:
        """Bring the batch card up to date. Members change often and at once, so renders coalesce through the
        owed row's claim, as a request card's do (see _show); a failure leaves the card owed."""
        if self.change_notifier is None:
            return
        self.batch_cards.show(batch_id, lambda: self._render_batch(batch_id))

    def _deliver_batch_card(self, batch_id: int) -> None:
        self.batch_cards.try_delivering(batch_id, lambda: self._render_batch(batch_id))

    def _render_batch(self, batch_id: int) -> tuple[str, str] | None:
        snapshot = self.batch_snapshot(batch_id)
        if snapshot is None or self.change_notifier is None:
            return None
        location = self.change_notifier.show_batch(snapshot)
        if not location:
            return None
        owed_cards.store_post(self.db, Batch, batch_id, location)
        with self.db.session() as session:
            audit.record(session, "batch_card_posted", batch=batch_id, **location.audited())
        return location.channel, location.ts

    def _resume_changes(self) -> None:
        """After a restart: batches whose move, detail file or notification was cut off, and emergencies
        whose removal finished without its time being recorded."""
        with self.db.session() as session:
            ids = session.exec(select(Batch.id).where(col(Batch.status).in_(
                [BatchStatus.ASSESSING, BatchStatus.PENDING_APPROVAL, BatchStatus.APPROVED, BatchStatus.DONE,
                 BatchStatus.REJECTED]), col(Batch.notified).is_(False))).all()
            unclocked = session.exec(select(Emergency.request_id).where(col(Emergency.removed_at).is_(None))).all()
        for batch_id in ids:
            if batch_id is not None:
                self._submit(self._batch_progress, batch_id)
        for request_id in unclocked:
            self._submit(self._clock_emergency, request_id)


class _DecidedMeanwhile(Exception):
    """Rolls an approval back: the batch was decided by someone else between reading it and approving."""


def _member_draft(draft: BatchDraft, person: BatchPerson, batch_id: int) -> RequestDraft:
    return RequestDraft(
        subject_email=person.email, reason=person.reason or draft.reason, requester_id=draft.requester_id,
        subject_slack_id=person.subject_slack_id, subject_name=person.subject_name,
        ticket=person.ticket or draft.ticket, note=draft.note, new_owner_slack_id=person.new_owner_slack_id,
        new_owner_email=person.new_owner_email, effective_at=draft.effective_at, vendors=draft.vendors,
        source_channel=draft.source_channel, mode=draft.mode, mode_params=draft.mode_params, batch_id=batch_id,
    )


def _batch_closed(batch: Batch) -> ActionResult:
    if batch.decided_by and batch.status in (BatchStatus.APPROVED, BatchStatus.DONE, BatchStatus.REJECTED):
        verb = "rejected" if batch.status == BatchStatus.REJECTED else "approved"
        return ActionResult(False, f"Batch #{batch.id} was already {verb} by <@{batch.decided_by}>.")
    return ActionResult(False, f"Batch #{batch.id} is {batch.status.replace('_', ' ')}; nothing to decide.")


def _mode_details(draft: RequestDraft) -> dict[str, Any]:
    """What the audit entry of a new request adds for emergencies, partial changes, batches and restores
    (nothing for a plain removal)."""
    details: dict[str, Any] = {}
    if draft.mode != RequestMode.FULL:
        details["mode"] = str(draft.mode)
        details["mode_params"] = {k: v for k, v in draft.mode_params.items() if k != "snapshot"}
    if draft.batch_id is not None:
        details["batch"] = draft.batch_id
    return details


def _notices_for_mode(request: OffboardRequest, kinds: list[NotificationKind]) -> list[NotificationKind]:
    """A batch tells its requester and the stakeholders once, for everyone (the batch's notification); a
    change short of removal, or a restore, is no removal to announce."""
    if request.batch_id is not None:
        return [k for k in kinds if k == NotificationKind.DM_NEW_OWNER]
    if modes.mode_of(request.mode) in (*modes.PARTIAL_MODES, RequestMode.RESTORE):
        return [k for k in kinds if k != NotificationKind.STAKEHOLDERS]
    return kinds


def _reason(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        return Reason.SECURITY_INCIDENT if value == "emergency" else Reason.TERMINATION


def _passing(exc: Exception) -> bool:
    """Whether sending again may go through: Slack down or throttling (an HTTP error or none at all), not a
    refusal it answered in full (HTTP 200, `ok: false`: no such channel, a deactivated person)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status != 200


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




def _locked_request(session: Session, request_id: int) -> OffboardRequest | None:
    """The request, its row locked for this transaction (PostgreSQL; SQLite locks the whole file on the first
    write). A transaction that changes a step and then its request takes the request first, in the order a
    pass takes them, since opposite orders in two transactions deadlock."""
    return session.get(OffboardRequest, request_id, with_for_update=True)


def _status_words(status: str) -> str:
    return STATUS_WORDS.get(RequestStatus(status), status)
