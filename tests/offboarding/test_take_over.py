"""Taking a request over from a worker that is gone: whichever path gets the lease first (a click, a restart,
the periodic check) puts back the steps that worker left running, so a removal cut off by a crash is done, and
a request left with work and nobody on it is found by the periodic check. A step this instance is still
carrying out is never put back, so no step runs twice at once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from bot.offboarding.workflow import Workflow
from storage.db import Database
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from tests.offboarding.test_workflow import (
    APPROVERS,
    Clock,
    InlineExecutor,
    RecordingNotifier,
    ScriptedVendor,
    actions,
    make,
    new_request,
    status,
)
from vendors.base import PlannedStep, StepOutcome

WAIT = 10.0


def cut_off_during_the_hand_over(db: Database, vendor: ScriptedVendor, clock: Clock, *,
                                 holder: str | None) -> tuple[int, int | None]:
    """Approved on an instance that died while the hand-over ran: the step stays 'running', and the request
    is held by `holder` (its lease run out) or by nobody. Returns the request and its manual step."""
    dead, _ = make(db, vendor, clock)
    request_id = new_request(dead)
    dead._submit = lambda fn, rid: False  # type: ignore[method-assign]  # it dies before executing anything
    dead.approve(request_id, "UAPP1")
    with db.session() as session:
        session.execute(update(Step).where(col(Step.request_id) == request_id, col(Step.kind) == "handover_assets")
                        .values(status=StepStatus.RUNNING))
        session.execute(update(OffboardRequest).where(col(OffboardRequest.id) == request_id).values(
            runner=holder, runner_until=clock.now - timedelta(seconds=1) if holder else None))
        manual = session.exec(select(Step.id).where(Step.request_id == request_id, col(Step.manual))).first()
    return request_id, manual


def test_a_click_after_the_dead_instance_s_lease_ran_out_finishes_the_cut_off_step(db: Database) -> None:
    vendor, clock = ScriptedVendor(manual_steps=1), Clock()
    request_id, manual_step = cut_off_during_the_hand_over(db, vendor, clock, holder="dead-host:1:0")
    live, _ = make(db, vendor, clock)  # another instance, up all along; its periodic check has not run yet

    assert manual_step is not None
    assert live.confirm_manual_step(manual_step, "UAPP2").ok  # the click takes the request over
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]  # the leaver is removed
    assert status(live, request_id) == RequestStatus.COMPLETED
    assert actions(db, request_id).count("step_interrupted") == 1
    with db.session() as session:
        assert session.get(OffboardRequest, request_id).runner is None


def test_the_periodic_check_takes_up_a_request_left_running_with_nobody_on_it(db: Database) -> None:
    vendor, clock = ScriptedVendor(), Clock()
    request_id, _ = cut_off_during_the_hand_over(db, vendor, clock, holder=None)
    live, _ = make(db, vendor, clock)

    assert live.reclaim() == [request_id]
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert status(live, request_id) == RequestStatus.COMPLETED
    assert live.reclaim() == []  # nothing left for the next check


class BlockingVendor(ScriptedVendor):
    """Holds the removal until released, so a take-over can be tried while it is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()
        self.release = threading.Event()

    def execute(self, step: PlannedStep) -> StepOutcome:
        if step.kind == "remove_member":
            self.inside.set()
            assert self.release.wait(WAIT)
        return super().execute(step)


def test_a_take_over_never_puts_back_a_step_this_instance_is_still_running(db: Database) -> None:
    vendor, clock = BlockingVendor(), Clock()
    workflow = Workflow(db, {vendor.name: vendor}, RecordingNotifier(), lambda u: u in APPROVERS, clock=clock,
                        background=InlineExecutor())
    request_id = new_request(workflow)
    approving = threading.Thread(target=workflow.approve, args=(request_id, "UAPP1"))
    approving.start()
    assert vendor.inside.wait(WAIT)
    # Its own lease looks run out (heartbeats missed while the database was slow): the periodic check takes
    # the request, but must leave the removal under way alone.
    with db.session() as session:
        session.execute(update(OffboardRequest).where(col(OffboardRequest.id) == request_id)
                        .values(runner_until=clock.now - timedelta(seconds=1)))
    workflow.reclaim()
    vendor.release.set()
    approving.join(WAIT)
    assert vendor.executed.count("remove_member") == 1
    assert "step_interrupted" not in actions(db, request_id)
    assert status(workflow, request_id) == RequestStatus.COMPLETED


def test_a_tick_whose_instance_died_before_acting_on_it_is_acted_on_by_the_periodic_check(db: Database) -> None:
    vendor, clock = ScriptedVendor(manual_steps=1, manual_first=True), Clock()
    acked, _ = make(db, vendor, clock)
    request_id = new_request(acked)
    assert acked.approve(request_id, "UAPP1").ok
    assert status(acked, request_id) == RequestStatus.AWAITING_MANUAL  # the checklist first, then the removal
    with db.session() as session:
        manual = session.exec(select(Step.id).where(Step.request_id == request_id, col(Step.manual))).one()
    assert manual is not None
    acked.start_execution = lambda rid: None  # type: ignore[method-assign]  # it dies right after the tick
    assert acked.confirm_manual_step(manual, "UAPP2").ok
    assert vendor.executed == []

    live, _ = make(db, vendor, clock)
    assert live.reclaim() == [request_id]
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    assert status(live, request_id) == RequestStatus.COMPLETED
    assert live.reclaim() == []


def test_a_pass_whose_settling_the_database_refused_is_tried_again_by_the_periodic_check(db: Database) -> None:
    vendor, clock = ScriptedVendor(manual_steps=1, manual_first=True), Clock()
    workflow, _ = make(db, vendor, clock)
    request_id = new_request(workflow)
    assert workflow.approve(request_id, "UAPP1").ok
    with db.session() as session:
        manual = session.exec(select(Step.id).where(Step.request_id == request_id, col(Step.manual))).one()
    settle = workflow._settle
    refused: list[int] = []

    def full_disk_once(rid: int) -> None:
        if not refused:
            refused.append(rid)
            raise OperationalError("UPDATE offboard_request", {}, Exception("database or disk is full"))
        settle(rid)

    workflow._settle = full_disk_once  # type: ignore[method-assign]
    assert manual is not None and workflow.confirm_manual_step(manual, "UAPP2").ok
    assert refused == [request_id]
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]  # the steps ran and are stored
    assert status(workflow, request_id) == RequestStatus.AWAITING_MANUAL  # where the refused settle left it

    assert workflow.reclaim() == [request_id]  # space is back: the next check settles it
    assert status(workflow, request_id) == RequestStatus.COMPLETED
    workflow.shutdown()  # the logged failure's traceback keeps the workflow, and so its vendor pool, alive
