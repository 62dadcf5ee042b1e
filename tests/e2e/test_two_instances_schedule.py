"""Two bot instances on one database tick at the same moment: every due item still happens once."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import time_machine
from sqlmodel import select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER
from bot.runtime.app import Bot
from bot.runtime.scheduled_work import SWEEP_JOB
from storage.models import ApprovalWatch, OffboardRequest, SweepRun, utcnow
from tests.e2e.conftest import card_text, open_request
from tests.e2e.scheduled_world import ADMIN_CHANNEL, request_row, second_bot, start_world, thread_texts, tick_at, work


def tick_together(bots: list[Bot], moment_offset: timedelta, base: datetime) -> None:
    barrier = threading.Barrier(len(bots))
    errors: list[BaseException] = []

    def run(bot: Bot) -> None:
        try:
            barrier.wait()
            assert bot.deps.scheduled is not None
            bot.deps.scheduled.tick(wait=True)
        except BaseException as exc:  # reported below, in the test thread
            errors.append(exc)

    with time_machine.travel(base + moment_offset, tick=False):
        threads = [threading.Thread(target=run, args=(bot,)) for bot in bots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors


def test_two_instances_send_one_reminder_open_one_request_and_run_one_sweep(database_url: str) -> None:
    world = start_world(database_url, reminder_hours=[4.0], grace_days=14)
    other = second_bot(world)
    try:
        request_id = open_request(world, "alice@corp.com")
        tick_at(world, request_row(world, request_id).created_at)
        with world.bot.db.session() as session:
            watch = session.get(ApprovalWatch, request_id)
            assert watch is not None
            since = watch.pending_since
        tick_together([world.bot, other], timedelta(hours=4, minutes=1), since)
        thread = thread_texts(world, APPROVALS_CHANNEL, request_row(world, request_id).card_ts)
        assert len([t for t in thread if "Reminder" in t]) == 1

        # A weekly sweep slot comes due for both at once (within eight days): one sweep, one card.
        for bot in (world.bot, other):
            assert bot.deps.scheduled is not None
            bot.deps.scheduled.run_periodic(SWEEP_JOB, utcnow())  # both record their baseline
        tick_together([world.bot, other], timedelta(days=8), utcnow())
        with world.bot.db.session() as session:
            assert len(list(session.exec(select(SweepRun)))) == 1
        assert len(world.slack.messages(ADMIN_CHANNEL)) == 1

        # Both reach dave's grace deadline together: one request.
        [dave] = [f for f in work(world).sweeps.findings(1) if f.email == "dave@corp.com"]
        assert dave.id is not None and work(world).sweeps.notify(dave.id, APPROVER).ok
        tick_together([world.bot, other], timedelta(days=30), utcnow())
        with world.bot.db.session() as session:
            daves = list(session.exec(select(OffboardRequest).where(OffboardRequest.subject_email == "dave@corp.com")))
        assert len(daves) == 1 and daves[0].reason == "inactive"
        assert "dave@corp.com" in card_text(world.slack.messages(ADMIN_CHANNEL)[0])
    finally:
        other.stop()
        world.stop()
