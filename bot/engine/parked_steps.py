"""Steps parked by a vendor's rate limit: still pending, not to run before a time, then resumed by themselves.

A rate limit that asks for a longer wait than a call may block a worker (PostHog's hourly cap can ask for tens
of minutes) is not a failure: nothing is wrong and nobody needs to press Retry. The step stays pending with
the time it may run again in its `details` (`parked_until`, ISO 8601 UTC with a fixed width, so the database
compares it as text on SQLite and PostgreSQL alike); its chain waits there, and the scheduler's tick, on
whichever instance, clears the mark when the time has come and starts the request's execution again.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from storage.models import Step, StepStatus

PARKED_UNTIL = "parked_until"
PARKED_BY = "parked_by"  # whose limit, in words: "PostHog rate limit"
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_WAIT = 60.0  # seconds, when the vendor said nothing about how long


def resume_time(now: datetime, retry_after: float | None) -> datetime:
    """When a step parked now may run: after the vendor's wait, to the next whole second."""
    wait = DEFAULT_WAIT if retry_after is None else max(0.0, retry_after)
    return (now + timedelta(seconds=math.ceil(wait))).replace(microsecond=0)


def parked(details: dict[str, Any], until: datetime, by: str) -> dict[str, Any]:
    return {**details, PARKED_UNTIL: until.astimezone(UTC).strftime(_FORMAT), PARKED_BY: by}


def unparked(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k not in (PARKED_UNTIL, PARKED_BY)}


def parked_until(step: Step) -> datetime | None:
    value = (step.details or {}).get(PARKED_UNTIL)
    return datetime.strptime(value, _FORMAT).replace(tzinfo=UTC) if isinstance(value, str) else None


def waiting(step: Step, now: datetime) -> bool:
    """A parked step whose time has not come: its chain goes no further for now."""
    until = parked_until(step)
    return step.status == StepStatus.PENDING and until is not None and until > now


def card_note(step: Step) -> str | None:
    """"PostHog rate limit: resumes at 19:42 UTC" for a parked step, else None."""
    until = parked_until(step)
    if step.status != StepStatus.PENDING or until is None:
        return None
    shown = until if until.second == 0 else until.replace(second=0) + timedelta(minutes=1)  # not before it
    return f"{(step.details or {}).get(PARKED_BY) or 'Rate limit'}: resumes at {shown:%H:%M} UTC"


def _until() -> Any:
    return col(Step.details)[PARKED_UNTIL].as_string()


def due(session: Session, now: datetime) -> list[Step]:
    """Pending steps whose parking has run out."""
    return list(session.exec(select(Step).where(Step.status == StepStatus.PENDING, _until().is_not(None),
                                                _until() <= now.astimezone(UTC).strftime(_FORMAT))))


def unpark(session: Session, step: Step) -> bool:
    """Clear a due step's mark; False when another caller (an instance's tick, a new parking) got there first."""
    seen = (step.details or {}).get(PARKED_UNTIL)
    result = session.execute(update(Step).where(col(Step.id) == step.id, col(Step.status) == StepStatus.PENDING,
                                                _until() == seen).values(details=unparked(step.details)))
    return result.rowcount == 1  # type: ignore[attr-defined]
