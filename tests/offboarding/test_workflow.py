"""The workflow's state machine on a real SQLite file, with a scripted vendor standing in for a
connector (the connectors themselves are tested against their sandboxes) and a notifier that
records what people would be shown."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, Future
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.offboarding.values import CardLocation, NotificationKind, Reason, RequestDraft, RequestSnapshot
from bot.offboarding.workflow import Workflow
from storage.db import Database
from storage.models import AuditEvent, RequestStatus, Step, StepStatus
from vendors.base import (
    Assessment,
    AssessmentStatus,
    Capability,
    Member,
    PlannedStep,
    Role,
    StepOutcome,
    UnavailableError,
    UnsupportedError,
)

APPROVERS = {"UAPP1", "UAPP2"}


class InlineExecutor(Executor):
    """Runs background work at once, so each test reads as a straight line."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class ScriptedVendor:
    name = "acme"
    label = "Acme Analytics"
    capabilities = frozenset({Capability.FIND_MEMBER, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL})

    def __init__(
        self,
        *,
        member: bool = True,
        manual_steps: int = 0,
        failures: dict[str, int] | None = None,
        manual_first: bool = False,
        down_for: int = 0,
    ):
        self.down_for = down_for  # how many assessments fail before the vendor answers
        self.member = member
        self.manual_steps = manual_steps
        self.manual_first = manual_first
        self.failures = dict(failures or {})
        self.executed: list[str] = []
        self._lock = threading.Lock()

    def assess(self, email: str) -> Assessment:
        if self.down_for > 0:
            self.down_for -= 1
            return Assessment(self.name, AssessmentStatus.UNKNOWN, error="Acme answered 503", email=email)
        if not self.member:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER)
        member = Member(email=email, member_id="m-1", name="Alice", role=Role.ADMIN, vendor_role="admin")
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member)

    def iter_members(self) -> Iterator[Member]:
        raise UnsupportedError("not needed here")

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return PlannedStep("manual", f"By hand: {capability}", manual=True, key=f"acme_{capability}",
                           instructions=f"In Acme, do {capability} for {email}")

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        if assessment.status == AssessmentStatus.UNKNOWN:
            return [self.manual_step(Capability.FIND_MEMBER, assessment.email, {}),
                    PlannedStep("remove_member", "Remove from organization", {"email": assessment.email})]
        steps = [
            PlannedStep("handover_assets", "Hand over assets", {"to": new_owner_email}),
            PlannedStep("remove_member", "Remove from organization", {"email": assessment.member.email}),
            PlannedStep("verify_removed", "Verify removal", {}),
        ]
        manual = [
            PlannedStep("manual", f"Manual thing {i}", manual=True, instructions="Click here", key=f"m{i}")
            for i in range(self.manual_steps)
        ]
        return manual + steps if self.manual_first else steps + manual

    def execute(self, step: PlannedStep) -> StepOutcome:
        with self._lock:
            if self.failures.get(step.kind, 0) > 0:
                self.failures[step.kind] -= 1
                raise UnavailableError("Acme answered 503 three times")
            self.executed.append(step.kind)
        details = {"assets": [{"kind": "dashboard", "asset_id": "1", "name": "KPIs"}]}
        return StepOutcome(summary=f"{step.kind} ok", details=details if step.kind == "handover_assets" else {})


class RecordingNotifier:
    def __init__(self) -> None:
        self.cards: list[tuple[int, str]] = []  # (request id, status shown)
        self.delivered: list[NotificationKind] = []
        self.posted = 0

    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        self.cards.append((snapshot.id, snapshot.request.status))
        if snapshot.request.card_ts is None:
            self.posted += 1
            return CardLocation("CAPPROVALS", f"17000000{self.posted:02d}.000100")
        return None

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        self.delivered.append(kind)
        return "sent"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now



def make(db: Database, vendor: ScriptedVendor, clock: Clock | None = None) -> tuple[Workflow, RecordingNotifier]:
    notifier = RecordingNotifier()
    workflow = Workflow(
        db, {vendor.name: vendor}, notifier, lambda user: user in APPROVERS, clock=clock or Clock(),
        background=InlineExecutor(),
    )
    return workflow, notifier


def new_request(workflow: Workflow, **overrides: Any) -> int:
    fields: dict[str, Any] = dict(
        subject_email="Alice@corp.com", reason=Reason.RESIGNATION, requester_id="UREQ",
        new_owner_slack_id="UBOB", new_owner_email="bob@corp.com",
    )
    fields.update(overrides)
    request_id = workflow.create_request(RequestDraft(**fields))
    workflow.assess(request_id)
    return request_id


def status(workflow: Workflow, request_id: int) -> RequestStatus:
    snapshot = workflow.snapshot(request_id)
    assert snapshot is not None
    return snapshot.status


def actions(db: Database, request_id: int) -> list[str]:
    with db.session() as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id))
        return [event.action for event in rows]


def test_assessment_plans_steps_and_waits_for_approval(db: Database) -> None:
    workflow, notifier = make(db, ScriptedVendor())
    request_id = new_request(workflow)
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.PENDING_APPROVAL
    assert snapshot.request.subject_email == "alice@corp.com"
    assert [s.kind for s in snapshot.steps] == ["handover_assets", "remove_member", "verify_removed"]
    assert snapshot.assessments["acme"].member.role == Role.ADMIN
    assert notifier.posted == 1 and snapshot.request.card_ts == "1700000001.000100"
    assert actions(db, request_id)[:4] == ["request_created", "card_posted", "vendor_assessed", "plan_made"]


def test_approval_runs_every_step_then_completes_and_notifies(db: Database) -> None:
    vendor = ScriptedVendor()
    workflow, notifier = make(db, vendor)
    request_id = new_request(workflow)
    assert workflow.approve(request_id, "UAPP1").ok
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.COMPLETED
    assert snapshot.request.decided_by == "UAPP1" and snapshot.request.completed_at is not None
    assert notifier.delivered == [
        NotificationKind.DM_REQUESTER, NotificationKind.STAKEHOLDERS, NotificationKind.DM_NEW_OWNER,
    ]
    assert [a.approver_id for a in snapshot.approvals] == ["UAPP1"]
    assert "completed" in actions(db, request_id)
    assert actions(db, request_id).count("notification_sent") == 3
    # The "after" picture for the auditors: a fresh look once removal was verified.
    recorded = actions(db, request_id)
    assert recorded.index("membership_after") > recorded.index("step_succeeded")


def test_the_requester_cannot_approve_their_own_request(db: Database) -> None:
    workflow, _ = make(db, ScriptedVendor())
    request_id = new_request(workflow, requester_id="UAPP1")
    result = workflow.approve(request_id, "UAPP1")
    assert not result.ok and "separation of duties" in result.message
    assert status(workflow, request_id) == RequestStatus.PENDING_APPROVAL


def test_a_non_approver_is_refused_and_the_attempt_is_recorded(db: Database) -> None:
    vendor = ScriptedVendor()
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    result = workflow.approve(request_id, "UMAL")
    assert not result.ok and "Only approvers" in result.message
    assert status(workflow, request_id) == RequestStatus.PENDING_APPROVAL
    assert vendor.executed == []
    assert "action_refused" in actions(db, request_id)


def test_two_approvers_at_once_execute_exactly_once(db: Database) -> None:
    vendor = ScriptedVendor()
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    barrier = threading.Barrier(6)
    results = []

    def click(user: str) -> None:
        barrier.wait()
        results.append(workflow.approve(request_id, user))

    threads = [threading.Thread(target=click, args=(u,)) for u in ["UAPP1", "UAPP2"] * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.ok for r in results) == 1
    assert all("already approved" in r.message for r in results if not r.ok)
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert len(workflow.snapshot(request_id).approvals) == 1


def test_rejection_tells_the_requester_and_blocks_approval(db: Database) -> None:
    vendor = ScriptedVendor()
    workflow, notifier = make(db, vendor)
    request_id = new_request(workflow)
    assert workflow.reject(request_id, "UAPP2", "Alice is staying after all").ok
    late = workflow.approve(request_id, "UAPP1")
    assert not late.ok and "already rejected by <@UAPP2>" in late.message
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.REJECTED
    assert snapshot.request.decision_comment == "Alice is staying after all"
    assert notifier.delivered == [NotificationKind.DM_REQUESTER]
    assert vendor.executed == []


def test_a_failed_step_stops_its_chain_and_retry_resumes_it(db: Database) -> None:
    vendor = ScriptedVendor(failures={"remove_member": 1})
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    workflow.approve(request_id, "UAPP1")
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.NEEDS_ATTENTION
    failed = next(s for s in snapshot.steps if s.status == StepStatus.FAILED)
    assert failed.kind == "remove_member" and "503" in failed.last_error
    assert vendor.executed == ["handover_assets"]  # verification never ran on a failed removal

    assert not workflow.retry_step(failed.id, "UMAL").ok
    assert workflow.retry_step(failed.id, "UREQ").ok
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.COMPLETED
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert next(s for s in snapshot.steps if s.kind == "remove_member").attempts == 2
    assert not workflow.retry_step(failed.id, "UREQ").ok  # nothing left to retry


def test_manual_steps_hold_completion_until_ticked(db: Database) -> None:
    workflow, notifier = make(db, ScriptedVendor(manual_steps=2))
    request_id = new_request(workflow)
    manual = [s for s in workflow.snapshot(request_id).steps if s.manual]
    assert not workflow.confirm_manual_step(manual[0].id, "UAPP1").ok  # not approved yet
    workflow.approve(request_id, "UAPP1")
    assert status(workflow, request_id) == RequestStatus.AWAITING_MANUAL
    assert workflow.confirm_manual_step(manual[0].id, "UAPP2").ok
    again = workflow.confirm_manual_step(manual[0].id, "UAPP1")
    assert not again.ok and "<@UAPP2> already confirmed" in again.message
    assert status(workflow, request_id) == RequestStatus.AWAITING_MANUAL
    assert notifier.delivered == []
    assert workflow.confirm_manual_step(manual[1].id, "UREQ").ok
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.COMPLETED
    assert {s.done_by for s in snapshot.steps if s.manual} == {"UAPP2", "UREQ"}
    assert NotificationKind.STAKEHOLDERS in notifier.delivered


def test_a_person_found_nowhere_completes_as_a_no_op(db: Database) -> None:
    vendor = ScriptedVendor(member=False)
    workflow, notifier = make(db, vendor)
    request_id = new_request(workflow)
    assert workflow.snapshot(request_id).steps == []
    workflow.approve(request_id, "UAPP1")
    assert status(workflow, request_id) == RequestStatus.COMPLETED
    assert vendor.executed == []
    assert notifier.delivered == [NotificationKind.DM_REQUESTER]  # nobody lost access: no announcement


def test_cancel_is_for_the_requester_while_pending(db: Database) -> None:
    workflow, _ = make(db, ScriptedVendor())
    request_id = new_request(workflow)
    assert not workflow.cancel(request_id, "UAPP1").ok
    assert workflow.cancel(request_id, "UREQ").ok
    assert status(workflow, request_id) == RequestStatus.CANCELLED
    assert not workflow.approve(request_id, "UAPP1").ok
    other = new_request(workflow)
    workflow.approve(other, "UAPP1")
    refused = workflow.cancel(other, "UREQ")
    assert not refused.ok and "can no longer be cancelled" in refused.message


def test_resume_reruns_a_step_cut_off_mid_call_and_finishes(db: Database) -> None:
    vendor = ScriptedVendor()
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    # Simulate a crash: approved, the hand-over done, the removal marked running when the process died.
    workflow.start_execution = lambda rid: None  # type: ignore[method-assign]
    workflow._submit = lambda fn, rid: None  # type: ignore[method-assign]
    workflow.approve(request_id, "UAPP1")
    with db.session() as session:
        steps = {s.kind: s for s in session.exec(select(Step).where(Step.request_id == request_id))}
        steps["handover_assets"].status = StepStatus.DONE
        steps["remove_member"].status = StepStatus.RUNNING
        session.add_all(steps.values())

    restarted, _ = make(db, vendor)
    assert restarted.resume() == [request_id]
    assert vendor.executed == ["remove_member", "verify_removed"]  # the done hand-over is not repeated
    assert status(restarted, request_id) == RequestStatus.COMPLETED
    assert "step_interrupted" in actions(db, request_id)


def test_a_future_effective_time_waits_and_runs_once(db: Database) -> None:
    clock = Clock()
    vendor = ScriptedVendor()
    workflow, _ = make(db, vendor, clock)
    request_id = new_request(workflow, effective_at=clock.now + timedelta(days=2))
    workflow.approve(request_id, "UAPP1")
    assert status(workflow, request_id) == RequestStatus.SCHEDULED
    assert workflow.run_due() == [] and vendor.executed == []
    clock.now += timedelta(days=2, minutes=1)
    assert workflow.run_due() == [request_id]
    assert workflow.run_due() == []
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert status(workflow, request_id) == RequestStatus.COMPLETED


def test_a_manual_step_before_the_removal_holds_it_until_ticked(db: Database) -> None:
    # Amplitude deletes what a removed user owned, so its hand-over is confirmed before removal runs.
    vendor = ScriptedVendor(manual_steps=1, manual_first=True)
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    workflow.approve(request_id, "UAPP1")
    assert vendor.executed == []
    assert status(workflow, request_id) == RequestStatus.AWAITING_MANUAL
    manual = next(s for s in workflow.snapshot(request_id).steps if s.manual)
    assert workflow.confirm_manual_step(manual.id, "UAPP2").ok
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert status(workflow, request_id) == RequestStatus.COMPLETED


def test_a_vendor_that_was_down_can_be_checked_again_before_approval(db: Database) -> None:
    vendor = ScriptedVendor(down_for=1)
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    before = workflow.snapshot(request_id)
    assert before.assessments["acme"].status == AssessmentStatus.UNKNOWN and "acme" in before.checkable
    assert [s.kind for s in before.steps] == ["manual", "remove_member"]
    assert workflow.reassess(request_id, "acme", "UREQ").ok
    after = workflow.snapshot(request_id)
    assert after.assessments["acme"].status == AssessmentStatus.MEMBER
    assert [s.kind for s in after.steps] == ["handover_assets", "remove_member", "verify_removed"]
    assert after.status == RequestStatus.PENDING_APPROVAL
    assert actions(db, request_id)[-3:] == ["reassessment_requested", "vendor_assessed", "plan_made"]


def test_checking_again_after_the_decision_changes_nothing(db: Database) -> None:
    vendor = ScriptedVendor(down_for=1)
    workflow, _ = make(db, vendor)
    request_id = new_request(workflow)
    assert workflow.approve(request_id, "UAPP1").ok
    steps_before = [(s.id, s.kind, s.status) for s in workflow.snapshot(request_id).steps]
    result = workflow.reassess(request_id, "acme", "UAPP2")
    assert not result.ok and "no longer change" in result.message
    assert [(s.id, s.kind, s.status) for s in workflow.snapshot(request_id).steps] == steps_before
    refused = workflow.reassess(request_id, "nope", "UAPP2")
    assert not refused.ok and "does not involve nope" in refused.message


def test_a_removal_confirmed_by_hand_counts_as_a_removal_for_the_notices(db: Database) -> None:
    vendor = ScriptedVendor(down_for=1)
    workflow, notifier = make(db, vendor)
    request_id = new_request(workflow)
    # While Acme is unknown the plan asks a person to find and check; mark the removal manual too.
    with db.session() as session:
        for step in session.exec(select(Step).where(Step.request_id == request_id)):
            step.manual, step.kind, step.key = True, "manual", f"acme_{step.key or Capability.REMOVE_MEMBER}"
            session.add(step)
    assert workflow.approve(request_id, "UAPP1").ok
    for step in workflow.snapshot(request_id).manual_steps_open:
        assert workflow.confirm_manual_step(step.id, "UAPP2").ok
    snapshot = workflow.snapshot(request_id)
    assert snapshot.status == RequestStatus.COMPLETED and vendor.executed == []
    assert [s.key for s in snapshot.removals] == ["acme_remove_member"]
    assert NotificationKind.STAKEHOLDERS in notifier.delivered
