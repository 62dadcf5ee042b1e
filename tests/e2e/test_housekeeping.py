"""The bot's daily housekeeping: the retention purge runs from the scheduler, on the live database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from bot.demo.localrun import APPROVER, LocalWorld
from bot.offboarding.slack import blocks
from storage import audit
from storage.models import AuditEvent, OffboardRequest, utcnow
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
