"""When periodic jobs are due, and claiming each due run exactly once.

APScheduler only fires the checks (it keeps no state: APScheduler 3's job stores must not be shared between
bot instances). What is due is computed from our own `job_run` table: a job's next run is the first slot of
its schedule after the last slot it ran (or after its baseline, the moment the bot first saw it), and a run
is claimed by inserting the (job, slot) row, which only one instance can do. After downtime the latest
missed slot is the one claimed, so a job runs once, not once per missed tick.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import JobRun

BASELINE = "baseline"
OFF_WORDS = ("off", "never", "disabled", "none", "")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBER = re.compile(r"\d+")


def parse_schedule(expression: str) -> CronTrigger | None:
    """A standard five-field crontab line in UTC ("0 9 * * mon"), or None for "off".

    APScheduler 3 reads a numeric day of week with 0 = Monday, unlike cron (0 = Sunday); numbers are
    turned into day names first, so "0 9 * * 1" means Monday as any crontab reader expects."""
    text = " ".join(expression.split())
    if text.lower() in OFF_WORDS:
        return None
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"{expression!r} is not a crontab line (minute hour day month weekday), e.g. '0 9 * * mon'")
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekday_names(weekday),
                           timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{expression!r} is not a valid schedule: {exc}") from None


def _weekday_names(field: str) -> str:
    if field.startswith("*"):
        return field

    def name(match: re.Match[str]) -> str:
        number = int(match.group())
        if number > 7:
            raise ValueError(f"weekday {number} does not exist (0 to 7, Sunday is 0 or 7)")
        return _WEEKDAYS[number]

    # Only the values, never a step ("mon-fri/2" keeps its 2).
    parts = []
    for part in field.split(","):
        value, slash, step = part.partition("/")
        parts.append(_NUMBER.sub(name, value) + slash + step)
    return ",".join(parts)


def next_slot(trigger: CronTrigger, after: datetime) -> datetime:
    """The schedule's first time strictly after `after`."""
    found = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    assert found is not None  # a cron schedule always has a next time
    return found


def latest_slot(trigger: CronTrigger, after: datetime, now: datetime) -> datetime | None:
    """The last slot in (after, now], or None when none has come yet."""
    slot = next_slot(trigger, after)
    if slot > now:
        return None
    while True:
        following = next_slot(trigger, slot)
        if following > now:
            return slot
        slot = following


def last_slot(session: Session, job: str) -> datetime | None:
    return session.exec(select(func.max(JobRun.slot)).where(JobRun.job == job)).one()


def due_slot(db: Database, job: str, trigger: CronTrigger, now: datetime) -> datetime | None:
    """The slot of `job` to run now, if one is due. The first time the bot sees a job it records a
    baseline instead: the job's first run is its first slot after that."""
    with db.session() as session:
        previous = last_slot(session, job)
    if previous is None:
        insert_once(db, JobRun(job=job, slot=now, claimed_at=now, finished_at=now, outcome=BASELINE))
        return None
    return latest_slot(trigger, previous, now)


def claim_slot(db: Database, job: str, slot: datetime, now: datetime) -> bool:
    """True for the one caller that gets to run `job` for `slot`."""
    return insert_once(db, JobRun(job=job, slot=slot, claimed_at=now))


def finish_slot(db: Database, job: str, slot: datetime, now: datetime, outcome: str) -> None:
    with db.session() as session:
        session.execute(
            update(JobRun).where(col(JobRun.job) == job, col(JobRun.slot) == slot)
            .values(finished_at=now, outcome=outcome[:500])
        )


def insert_once(db: Database, row: object) -> bool:
    """Insert `row`; False when its primary key is already taken (someone else claimed it)."""
    try:
        with db.session() as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


def next_run(db: Database, job: str, trigger: CronTrigger | None, now: datetime) -> datetime | None:
    """When `job` runs next (for the help and the logs); None when it is off."""
    if trigger is None:
        return None
    with db.session() as session:
        previous = last_slot(session, job)
    return next_slot(trigger, previous or now)
