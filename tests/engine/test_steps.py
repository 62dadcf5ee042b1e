"""The step runner both lifecycles share (bot/engine/steps.py), on a real database: one winner per move, a
dead worker's 'running' step put back, and a step's call always ending done or failed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from bot.engine import steps as step_runner
from storage.db import Database
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from vendors.base import PlannedStep, StepOutcome, VendorError
from vendors.http import WaitTooLongError

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(db: Database) -> Database:
    """A request with three steps: two pending, one left running."""
    with db.session() as session:
        session.add(OffboardRequest(subject_email="alice@corp.com", reason="resignation", requester_id="UREQ",
                                    status=RequestStatus.EXECUTING, created_at=NOW, updated_at=NOW))
        session.flush()
        for seq, status in enumerate([StepStatus.PENDING, StepStatus.PENDING, StepStatus.RUNNING]):
            session.add(Step(request_id=1, vendor="posthog", seq=seq, kind=f"kind_{seq}", title=f"step {seq}",
                             status=status))
    return db


def statuses(db: Database) -> list[str]:
    with db.session() as session:
        return [s.status for s in session.exec(select(Step).order_by(col(Step.seq)))]


def test_of_many_workers_moving_a_step_at_once_exactly_one_wins_and_counts_the_attempt(db: Database) -> None:
    barrier, won = threading.Barrier(6), []

    def attempt() -> None:
        barrier.wait()
        with db.session() as session:
            won.append(step_runner.move(session, Step, 1, StepStatus.PENDING, StepStatus.RUNNING, NOW))

    workers = [threading.Thread(target=attempt) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert won.count(True) == 1
    with db.session() as session:
        step = session.get(Step, 1)
        assert step is not None and step.status == StepStatus.RUNNING and step.attempts == 1


def test_a_step_left_running_is_put_back_unless_this_instance_is_carrying_it_out(db: Database) -> None:
    recorded: list[int] = []
    with db.session() as session:
        kept = step_runner.requeue_interrupted(session, Step, col(Step.request_id), 1, carried_out_here={3},
                                               recorded=lambda step: recorded.append(step.id))
    assert kept == [] and recorded == [] and statuses(db)[2] == StepStatus.RUNNING
    with db.session() as session:
        requeued = step_runner.requeue_interrupted(session, Step, col(Step.request_id), 1,
                                                   recorded=lambda step: recorded.append(step.id))
    assert [s.id for s in requeued] == [3] and recorded == [3] and statuses(db)[2] == StepStatus.PENDING


class Vendor:
    """Answers each step as it is told to."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.called: list[PlannedStep] = []

    def execute(self, planned: PlannedStep) -> StepOutcome:
        self.called.append(planned)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def a_step(db: Database) -> Step:
    with db.session() as session:
        step = session.get(Step, 1)
        assert step is not None
        return step


@pytest.mark.parametrize(("answer", "status", "error", "crashed"), [
    (StepOutcome("Removed alice", {"already_removed": False}), StepStatus.DONE, "", False),
    (VendorError("PostHog refused: 403"), StepStatus.FAILED, "PostHog refused: 403", False),
    (KeyError("members"), StepStatus.FAILED, "unexpected error in offboard: KeyError", True),
])
def test_a_call_ends_done_or_failed_whatever_the_connector_does(db: Database, answer: Any, status: str, error: str,
                                                                crashed: bool) -> None:
    vendor = Vendor(answer)
    result = step_runner.carry_out(a_step(db), vendor)  # type: ignore[arg-type]
    assert (result.status, result.error, result.crashed) == (status, error, crashed)
    assert [p.kind for p in vendor.called] == ["kind_0"]
    if status == StepStatus.DONE:
        assert result.done and result.outcome == "Removed alice" and result.details == {"already_removed": False}
    else:
        assert result.refusal is answer


def test_a_wait_longer_than_a_call_may_take_parks_rather_than_fails(db: Database) -> None:
    wait = WaitTooLongError("PostHog asks for a 120 s wait", retry_after=120.0)
    result = step_runner.carry_out(a_step(db), Vendor(wait))  # type: ignore[arg-type]
    assert result.status == StepStatus.PENDING and result.waited is wait and not result.done


def test_a_chain_runs_to_the_first_manual_or_unfinished_step() -> None:
    def row(status: str, manual: bool = False) -> Step:
        return Step(request_id=1, vendor="posthog", seq=0, kind="k", title="t", status=status, manual=manual)

    done, first, manual, after = row(StepStatus.DONE), row(StepStatus.PENDING), row(StepStatus.PENDING, True), \
        row(StepStatus.PENDING)
    assert list(step_runner.runnable([done, first, manual, after])) == [first]
    failed = row(StepStatus.FAILED)
    assert list(step_runner.runnable([failed, first])) == []
