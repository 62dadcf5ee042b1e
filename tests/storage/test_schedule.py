"""Periodic jobs' schedules and their claims (storage/schedule.py), on a real SQLite file."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import JobRun
from storage.schedule import BASELINE, claim_slot, due_slot, latest_slot, next_slot, parse_schedule


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]



@pytest.mark.parametrize(("line", "after", "expected"), [
    ("0 9 * * 1", at(2025, 1, 1), at(2025, 1, 6, 9)),  # cron's 1 is Monday (APScheduler 3's would be Tuesday)
    ("0 9 * * 0", at(2025, 1, 1), at(2025, 1, 5, 9)),  # 0 is Sunday
    ("0 9 * * 7", at(2025, 1, 1), at(2025, 1, 5, 9)),  # so is 7
    ("0 9 * * mon", at(2025, 1, 1), at(2025, 1, 6, 9)),
    ("30 8 * * 1-5", at(2025, 1, 4), at(2025, 1, 6, 8, 30)),  # Saturday → Monday
    ("0 9 1 1,4,7,10 *", at(2025, 1, 1, 10), at(2025, 4, 1, 9)),  # quarterly
])
def test_crontab_lines_mean_what_cron_means(line: str, after: datetime, expected: datetime) -> None:
    trigger = parse_schedule(line)
    assert trigger is not None
    assert next_slot(trigger, after) == expected


def test_off_and_bad_schedules() -> None:
    assert parse_schedule("off") is None and parse_schedule("") is None
    for bad in ("0 9 * *", "0 25 * * *", "0 9 * * 8"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_latest_slot_is_the_last_one_that_has_come() -> None:
    daily = parse_schedule("0 9 * * *")
    assert daily is not None
    assert latest_slot(daily, at(2025, 1, 1, 9), at(2025, 1, 1, 20)) is None
    assert latest_slot(daily, at(2025, 1, 1, 9), at(2025, 1, 5, 8)) == at(2025, 1, 4, 9)


def test_a_job_first_records_a_baseline_then_runs_each_slot_once_and_catches_up_once(db: Database) -> None:
    daily = parse_schedule("0 9 * * *")
    assert daily is not None
    assert due_slot(db, "job", daily, at(2025, 1, 1, 12)) is None  # first sight: baseline only
    assert due_slot(db, "job", daily, at(2025, 1, 2, 8)) is None
    slot = due_slot(db, "job", daily, at(2025, 1, 2, 9, 5))
    assert slot == at(2025, 1, 2, 9)
    assert claim_slot(db, "job", slot, at(2025, 1, 2, 9, 5))
    assert not claim_slot(db, "job", slot, at(2025, 1, 2, 9, 6))  # a second instance loses
    assert due_slot(db, "job", daily, at(2025, 1, 2, 23)) is None
    # Down for a week: one run, for the latest slot.
    assert due_slot(db, "job", daily, at(2025, 1, 9, 12)) == at(2025, 1, 9, 9)
    with db.session() as session:
        outcomes = [r.outcome for r in session.exec(select(JobRun).order_by(JobRun.slot))]
    assert outcomes == [BASELINE, ""]


def test_only_one_of_many_racing_claims_wins(db: Database) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(claim_slot(db, "job", at(2025, 1, 2, 9), at(2025, 1, 2, 9, 1)))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1
