"""Removals approved ahead of their time: they run at that time through the real scheduler, survive a restart,
run once when the bot comes back after missing the time, post when they start and finish, and can be
cancelled until then (by an approver too)."""

from __future__ import annotations

from datetime import datetime, timedelta

import time_machine

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, GROUP_APPROVER, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import RequestStatus, ScheduledNotice, utcnow
from tests.e2e.conftest import card_text, click, complete_checklist, eventually, open_request, wait_for_status
from tests.e2e.scheduled_world import request_row, restart, start_world, thread_texts, tick_at


def schedule_dave(world: LocalWorld) -> tuple[int, datetime]:
    day = (utcnow() + timedelta(days=2)).date().isoformat()
    request_id = open_request(world, "dave@corp.com", effective_date=day, effective_time="09:00")
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.SCHEDULED)
    due = request_row(world, request_id).effective_at
    assert due is not None
    return request_id, due


def posts(world: LocalWorld, request_id: int) -> list[str]:
    return thread_texts(world, APPROVALS_CHANNEL, request_row(world, request_id).card_ts)


def test_a_scheduled_removal_survives_a_restart_and_runs_at_its_time_through_the_scheduler(database_url: str) -> None:
    world = start_world(database_url, background=True)
    try:
        request_id, due = schedule_dave(world)
        restart(world)  # the scheduler and its in-memory jobs are gone; the request is in the database

        with time_machine.travel(due - timedelta(minutes=5), tick=False):
            scheduler = world.bot._scheduler
            assert scheduler is not None
            scheduler.wakeup()
            eventually(lambda: scheduler.get_job("scheduled_work_tick").next_run_time > utcnow(), what="a tick")
            assert request_row(world, request_id).status == RequestStatus.SCHEDULED  # not yet
        with time_machine.travel(due + timedelta(minutes=1), tick=False):
            scheduler.wakeup()
            complete_checklist(world, request_id)
        with time_machine.travel(due + timedelta(minutes=3), tick=False):  # the next tick posts the finish
            scheduler.wakeup()
            eventually(lambda: any("finished" in t for t in posts(world, request_id)), what="the finish post")
        assert world.posthog.member_by_email("dave@corp.com") is None
        assert world.posthog.delete_count("dave@corp.com") == 1
        started = [t for t in posts(world, request_id) if "started" in t]
        assert len(started) == 1 and "as scheduled" in started[0]

        restart(world)  # and again: nothing runs or posts twice
        tick_at(world, due + timedelta(minutes=3))
        assert world.posthog.delete_count("dave@corp.com") == 1
        assert len([t for t in posts(world, request_id) if "started" in t or "finished" in t]) == 2
    finally:
        world.stop()


def test_a_time_missed_while_the_bot_was_down_runs_as_soon_as_it_is_back(database_url: str) -> None:
    world = start_world(database_url, background=True)
    try:
        request_id, due = schedule_dave(world)
        world.stop_bot()
        with time_machine.travel(due + timedelta(hours=6), tick=False):
            restart(world, background=True, stopped=True)  # start-up resumes and catches up at once
            complete_checklist(world, request_id)
        tick_at(world, due + timedelta(hours=6, minutes=1))
        eventually(lambda: any("finished" in t for t in posts(world, request_id)), what="the finish post")
        [started] = [t for t in posts(world, request_id) if "started" in t]
        assert "late" in started and "while offboard was not running" in started
        assert world.posthog.delete_count("dave@corp.com") == 1
        with world.bot.db.session() as session:
            assert session.get(ScheduledNotice, request_id) is not None
    finally:
        world.stop()


def test_an_approver_can_cancel_a_scheduled_removal_until_it_runs(database_url: str) -> None:
    world = start_world(database_url)
    try:
        request_id, due = schedule_dave(world)
        click(world, blocks.CANCEL, GROUP_APPROVER)  # an approver, not the requester
        wait_for_status(world, request_id, RequestStatus.CANCELLED)
        assert "Cancelled by <@UAPP2>" in card_text(world.slack.messages(APPROVALS_CHANNEL)[0])
        tick_at(world, due + timedelta(minutes=1))
        assert request_row(world, request_id).status == RequestStatus.CANCELLED
        assert world.posthog.member_by_email("dave@corp.com") is not None
        assert world.posthog.delete_count("dave@corp.com") == 0
    finally:
        world.stop()
