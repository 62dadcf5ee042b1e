"""The bot's daily housekeeping: the retention purge runs from the scheduler, on the live database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import select

from bot.demo.localrun import APPROVER, LocalWorld
from bot.offboarding.slack import blocks
from bot.runtime.scheduler import HOUSEKEEPING_JOB
from storage import audit
from storage.models import AuditEvent, JobRun, OffboardRequest, utcnow
from tests.e2e.conftest import click, complete_checklist, open_request


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


def test_the_daily_job_is_scheduled_and_purges_only_what_is_past_retention(world: LocalWorld) -> None:
    job = world.bot._scheduler.get_job("daily_housekeeping")
    assert job is not None and job.next_run_time.hour == 3

    request_id = open_request(world, "dave@corp.com")
    click(world, blocks.APPROVE, APPROVER)
    complete_checklist(world, request_id)

    world.bot.purge_past_retention()  # resignation: kept 7 years, so nothing yet
    with world.bot.db.session() as session:
        assert session.get(OffboardRequest, request_id).subject_email == "dave@corp.com"
        assert not session.exec(select(AuditEvent).where(AuditEvent.action == audit.PURGE_ACTION)).all()

    with time_machine.travel(utcnow() + timedelta(days=7 * 366), tick=False):
        world.bot.purge_past_retention()
    with world.bot.db.session() as session:
        assert session.get(OffboardRequest, request_id).subject_email != "dave@corp.com"
        [purged] = session.exec(select(AuditEvent).where(AuditEvent.action == audit.PURGE_ACTION)).all()
        assert purged.details["request_ids"] == [request_id]
        assert audit.verify_chain(session).ok


def test_the_daily_housekeeping_runs_once_a_day_in_all_instances(world: LocalWorld) -> None:
    """Its slots are claimed in the database like every scheduled job's, so of several instances sharing it,
    and of a catch-up after downtime, only one runs each day's purge."""
    scheduled = world.bot.deps.scheduled
    assert scheduled is not None and HOUSEKEEPING_JOB in scheduled.jobs
    ran: list[datetime] = []
    scheduled.jobs[HOUSEKEEPING_JOB] = (scheduled.jobs[HOUSEKEEPING_JOB][0], lambda: ran.append(utcnow()))
    first_seen = utcnow()
    assert not scheduled.run_periodic(HOUSEKEEPING_JOB, first_seen)  # a job's first sight sets its baseline
    three_am = (first_seen + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    after = three_am + timedelta(minutes=5)
    with ThreadPoolExecutor(4) as instances:  # four instances' ticks at once
        won = list(instances.map(lambda _: scheduled.run_periodic(HOUSEKEEPING_JOB, after), range(4)))
    assert won.count(True) == 1 and len(ran) == 1
    assert not scheduled.run_periodic(HOUSEKEEPING_JOB, after + timedelta(hours=1))  # nor later that day
    with world.bot.db.session() as session:
        slots = session.exec(select(JobRun.slot).where(JobRun.job == HOUSEKEEPING_JOB,
                                                       JobRun.outcome != "baseline")).all()
    assert [s.replace(tzinfo=UTC) if s.tzinfo is None else s for s in slots] == [three_am]
