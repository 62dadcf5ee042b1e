"""How the workflow keeps bulk work cheap without losing anything: card renders coalesce (one at a time per
request, and the last change always reaches the card), step progress reaches the card at most once per
interval, asks to execute a request coalesce into one more pass, and a clean shutdown lets the work that
running work starts finish."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from bot.offboarding.values import CardLocation, Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from storage.db import Database
from storage.models import OffboardRequest, RequestStatus
from tests.offboarding.test_workflow import (
    APPROVERS,
    Clock,
    InlineExecutor,
    RecordingNotifier,
    ScriptedVendor,
    new_request,
    status,
)
from vendors.base import PlannedStep, StepOutcome

WAIT = 10.0  # seconds; generous, so a slow machine fails no test, while a lost wake-up still fails it



class GatedNotifier(RecordingNotifier):
    """Holds the first card update until released, and records how many renders ran at once."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._inside = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def show_card(self, snapshot: Any) -> CardLocation | None:
        with self._lock:
            self._inside += 1
            self.most_at_once = max(self.most_at_once, self._inside)
        try:
            self.entered.set()
            assert self.release.wait(WAIT)
            return super().show_card(snapshot)
        finally:
            with self._lock:
                self._inside -= 1


def set_status(db: Database, request_id: int, target: RequestStatus) -> None:
    with db.session() as session:
        session.execute(update(OffboardRequest).where(col(OffboardRequest.id) == request_id).values(status=target))


def test_renders_coalesce_and_the_last_change_reaches_the_card(db: Database) -> None:
    notifier = GatedNotifier()
    workflow = Workflow(db, {"acme": ScriptedVendor()}, notifier, lambda u: u in APPROVERS, clock=Clock(),
                        background=InlineExecutor())
    request_id = new_request(workflow)
    before = len(notifier.cards)
    notifier.release.clear()
    notifier.entered.clear()
    first = threading.Thread(target=workflow._show, args=(request_id,))
    first.start()
    assert notifier.entered.wait(WAIT), "the first render never reached Slack"
    for target in (RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL, RequestStatus.COMPLETED):
        set_status(db, request_id, target)
        started = time.monotonic()
        workflow._show(request_id)  # returns at once: the render under way goes round again
        assert time.monotonic() - started < 1.0
    notifier.release.set()
    first.join(WAIT)
    assert not first.is_alive()
    renders = notifier.cards[before:]
    assert len(renders) == 2, "three changes during one render cost one more render, not three"
    assert renders[-1] == (request_id, RequestStatus.COMPLETED), "the last change must reach the card"
    assert notifier.most_at_once == 1


def test_a_failed_render_does_not_silence_the_card(db: Database) -> None:
    class Flaky(RecordingNotifier):
        fail = False

        def show_card(self, snapshot: Any) -> CardLocation | None:
            if self.fail:
                raise RuntimeError("the database went away mid-render")
            return super().show_card(snapshot)

    notifier = Flaky()
    workflow = Workflow(db, {"acme": ScriptedVendor()}, notifier, lambda u: u in APPROVERS, clock=Clock(),
                        background=InlineExecutor())
    request_id = new_request(workflow)
    notifier.fail = True
    workflow._show(request_id)  # Slack failures are logged, never raised
    notifier.fail = False
    set_status(db, request_id, RequestStatus.CANCELLED)
    workflow._show(request_id)
    assert notifier.cards[-1] == (request_id, RequestStatus.CANCELLED)
    workflow.shutdown()


def renders_of_one_removal(db: Database, progress_interval: float) -> tuple[int, list[tuple[int, str]]]:
    notifier = RecordingNotifier()
    vendor = ScriptedVendor()
    workflow = Workflow(db, {"acme": vendor}, notifier, lambda u: u in APPROVERS, clock=Clock(),
                        background=InlineExecutor(), progress_interval=progress_interval)
    request_id = new_request(workflow)
    before = len(notifier.cards)
    assert workflow.approve(request_id, "UAPP1").ok
    assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
    return request_id, [card for card in notifier.cards[before:] if card[0] == request_id]


def test_step_progress_is_held_back_within_the_interval_and_the_end_is_shown(db: Database) -> None:
    request_id, every_step = renders_of_one_removal(db, progress_interval=0.0)
    other_id, held_back = renders_of_one_removal(db, progress_interval=3600.0)
    # Three steps, each started and finished: six progress renders when nothing is held back.
    assert len(every_step) - len(held_back) >= 6
    assert every_step[-1] == (request_id, RequestStatus.COMPLETED)
    assert held_back[-1] == (other_id, RequestStatus.COMPLETED)


class BlockingVendor(ScriptedVendor):
    """The first step waits until released, so a test can ask for more while a pass is under way."""

    def __init__(self) -> None:
        super().__init__(manual_steps=0)
        self.started = threading.Event()
        self.release = threading.Event()

    def execute(self, step: PlannedStep) -> StepOutcome:
        self.started.set()
        assert self.release.wait(WAIT)
        return super().execute(step)


def wait_for(predicate: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_asks_to_execute_during_a_run_cost_one_more_run_and_none_is_lost(db: Database) -> None:
    vendor = BlockingVendor()
    workflow = Workflow(db, {"acme": vendor}, RecordingNotifier(), lambda u: u in APPROVERS, clock=Clock(),
                        background=ThreadPoolExecutor(max_workers=4))
    runs: list[int] = []  # passes over the request once assessed (what an ask costs)
    real_pass = workflow._pass

    def counted(request_id: int) -> None:
        runs.append(request_id)
        real_pass(request_id)

    try:
        request_id = workflow.create_request(new_draft())
        workflow.assess(request_id)
        workflow._pass = counted  # type: ignore[method-assign]
        assert workflow.approve(request_id, "UAPP1").ok
        assert vendor.started.wait(WAIT)
        for _ in range(5):  # e.g. five checklist ticks while the first pass runs
            # What a tick's start_execution runs in the background, run here: so all five have asked before the
            # vendor answers, however slowly a loaded machine schedules the background threads.
            workflow.execute(request_id)
        vendor.release.set()
        wait_for(lambda: status(workflow, request_id) == RequestStatus.COMPLETED)
        workflow.shutdown(wait=True)
        assert runs == [request_id, request_id], "five asks during a run cost exactly one more run"
        assert vendor.executed == ["handover_assets", "remove_member", "verify_removed"]
        workflow.start_execution(request_id)  # an ask after shutdown is left for resume(), not raised
    finally:
        vendor.release.set()
        workflow.shutdown(wait=True)


def new_draft() -> RequestDraft:
    return RequestDraft(subject_email="alice@corp.com", reason=Reason.RESIGNATION, requester_id="UREQ",
                        new_owner_slack_id="UBOB", new_owner_email="bob@corp.com")


def test_shutdown_lets_work_started_by_running_work_finish(db: Database) -> None:
    workflow = Workflow(db, {"acme": ScriptedVendor()}, RecordingNotifier(), lambda u: u in APPROVERS,
                        clock=Clock(), background=ThreadPoolExecutor(max_workers=2))
    ran: list[str] = []
    gate = threading.Event()

    def follow_up(_request_id: int) -> None:
        ran.append("follow-up")

    def first(request_id: int) -> None:
        assert gate.wait(WAIT)
        ran.append("first")
        workflow._submit(follow_up, request_id)  # as a completed removal submits its batch's progress

    workflow._submit(first, 1)
    stopper = threading.Thread(target=workflow.shutdown)
    stopper.start()
    time.sleep(0.05)  # shutdown is now waiting for the work under way
    gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert ran == ["first", "follow-up"]
