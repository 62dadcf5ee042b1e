"""The step runner both lifecycles share (offboarding's `Step` rows, onboarding's `InviteStep` rows, which have
the same columns): compare-and-set moves, putting back what a dead worker left running, and carrying out one
vendor step so that its outcome is always one of done or failed, never left running by a crash.

Every move is a conditional UPDATE on the step's status, so of two workers (threads or instances) that try the
same move, exactly one wins; the loser sees False and leaves the step alone. A step is 'running' only between
a won PENDING → RUNNING move and the write of its outcome; a worker that dies in between leaves it 'running',
and whoever next holds its owner's lease (storage/leases.py) puts it back to 'pending' (`requeue_interrupted`):
holding the lease means no other worker is on it, and connector actions look before they act, so running the
step again never acts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import StepStatus
from vendors.base import PlannedStep, StepOutcome, Vendor, VendorError
from vendors.http import WaitTooLongError

log = logging.getLogger(__name__)

StepRow = Any  # storage.models.Step or storage.models.InviteStep: the same columns


def move(session: Session, model: type, step_id: int | None, expected: StepStatus, target: StepStatus,
         started_at: datetime | None = None, **values: Any) -> bool:
    """Move a step from `expected` to `target`; False when someone else moved it first. Passing `started_at`
    marks the start of an attempt, which is counted."""
    if started_at is not None:
        values |= {"started_at": started_at, "attempts": model.attempts + 1}  # type: ignore[attr-defined]
    result = session.execute(update(model).where(col(model.id) == step_id,  # type: ignore[attr-defined]
                                                 col(model.status) == expected)  # type: ignore[attr-defined]
                             .values(status=target, **values))
    return result.rowcount == 1  # type: ignore[attr-defined]


def requeue_interrupted(session: Session, model: type, owner: Any, owner_id: int, *,
                        carried_out_here: Collection[int] = (),
                        recorded: Callable[[StepRow], object] = lambda step: None) -> list[StepRow]:
    """Put back to 'pending' the steps of `owner_id` (`owner`: the owner column, e.g. Step.request_id) left
    'running' by a worker that is gone; never one this instance is still carrying out. `recorded(step)` adds
    the audit event of each, in this transaction."""
    running = session.exec(select(model).where(owner == owner_id,
                                               col(model.status) == StepStatus.RUNNING))  # type: ignore[attr-defined]
    requeued = []
    for step in running:
        if step.id in carried_out_here:
            continue
        if move(session, model, step.id, StepStatus.RUNNING, StepStatus.PENDING):
            recorded(step)
            requeued.append(step)
    return requeued


@dataclass(frozen=True)
class Result:
    """How carrying out a step went: done with the vendor's outcome, failed with its error, or parked."""

    status: StepStatus
    outcome: str = ""
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    waited: WaitTooLongError | None = None  # the vendor's allowance asks for a wait longer than a step may
    refusal: Exception | None = None  # what failed it: the vendor's error, or a connector's bug
    crashed: bool = False  # a bug, not the vendor's answer

    @property
    def done(self) -> bool:
        return self.status == StepStatus.DONE


def planned_of(step: StepRow) -> PlannedStep:
    return PlannedStep(step.kind, step.title, step.params, step.manual, step.instructions, step.key)


def carry_out(step: StepRow, vendor: Vendor, *, call: Callable[[PlannedStep], StepOutcome] | None = None,
              what: str = "step") -> Result:
    """Call the vendor for `step` (or `call`, for a kind of step the caller carries out itself) and say how it
    went. A connector bug is a failure like a vendor's refusal: nothing may leave the step 'running'."""
    planned = planned_of(step)
    try:
        outcome = (call or vendor.execute)(planned)
    except WaitTooLongError as exc:  # not a failure: it waits for the vendor's allowance, then goes on
        return Result(StepStatus.PENDING, error=exc.message, waited=exc)
    except VendorError as exc:
        return Result(StepStatus.FAILED, error=exc.message, refusal=exc)
    except Exception as exc:
        log.exception("%s %s crashed", what, step.kind)
        return Result(StepStatus.FAILED, error=f"unexpected error in offboard: {type(exc).__name__}", refusal=exc,
                      crashed=True)
    return Result(StepStatus.DONE, outcome=outcome.summary, details=dict(outcome.details))


def runnable(steps: Iterable[StepRow]) -> Iterable[StepRow]:
    """A chain's steps in order up to the first that stops it: a manual step nobody has ticked yet, or one
    that is not pending (failed, or another worker's); the done ones are passed over."""
    for step in steps:
        if step.status == StepStatus.DONE:
            continue
        if step.manual or step.status != StepStatus.PENDING:
            return
        yield step
