"""Approval reminders, digests, escalation and expiry, and the daily checklist reminders, end to end with
time travel: real signed Slack requests open the requests, the scheduler's job runs at chosen times."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, GROUP_APPROVER, REQUESTER, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import ApprovalWatch, AuditEvent, RequestStatus
from tests.e2e.conftest import (
    card_text,
    click,
    complete_checklist,
    confirm_values,
    eventually,
    open_request,
    wait_for_status,
)
from tests.e2e.scheduled_world import (
    ESCALATION_CHANNEL,
    FALLBACK,
    dm_messages,
    request_row,
    restart,
    start_world,
    thread_texts,
    tick_at,
    work,
)

REMINDER_SETTINGS = {"reminder_hours": [4.0, 8.0, 16.0], "escalate_after_hours": 24.0, "approval_expiry_days": 7.0,
                     "fallback_approver": FALLBACK, "escalation_channel": ESCALATION_CHANNEL}


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = start_world(database_url, **REMINDER_SETTINGS)
    yield local
    local.stop()


def pending_since(world: LocalWorld, request_id: int) -> datetime:
    tick_at(world, request_row(world, request_id).created_at)  # the watch starts when the bot first sees it
    with world.bot.db.session() as session:
        watch = session.get(ApprovalWatch, request_id)
        assert watch is not None
        return watch.pending_since


def reminders(world: LocalWorld, request_id: int) -> list[str]:
    card = request_row(world, request_id)
    return [t for t in thread_texts(world, APPROVALS_CHANNEL, card.card_ts) if "Reminder" in t]


def test_reminders_back_off_escalate_and_stop_when_decided_without_duplicates_across_a_restart(
    world: LocalWorld,
) -> None:
    request_id = open_request(world, "dave@corp.com")
    since = pending_since(world, request_id)

    tick_at(world, since + timedelta(hours=3, minutes=59))
    assert reminders(world, request_id) == []
    tick_at(world, since + timedelta(hours=4, minutes=1))
    [first] = reminders(world, request_id)
    assert "<@UAPP1>" in first and "<@UAPP2>" in first and "<@UREQ>" not in first and "4 hours" in first

    tick_at(world, since + timedelta(hours=4, minutes=2))  # the next tick: nothing new
    restart(world)  # a new bot on the same database
    tick_at(world, since + timedelta(hours=4, minutes=3))
    assert len(reminders(world, request_id)) == 1

    tick_at(world, since + timedelta(hours=12, minutes=1))  # 4 h + 8 h
    assert len(reminders(world, request_id)) == 2
    tick_at(world, since + timedelta(hours=20))
    assert len(reminders(world, request_id)) == 2

    tick_at(world, since + timedelta(hours=24, minutes=1))  # escalation
    thread = thread_texts(world, APPROVALS_CHANNEL, request_row(world, request_id).card_ts)
    assert any("escalated to <@UCAROL> and <#CESCALATE>" in t for t in thread)
    assert any("Escalated to you" in card_text(m) for m in dm_messages(world, FALLBACK))
    assert any("Escalated to you" in card_text(m) for m in world.slack.messages(ESCALATION_CHANNEL))
    tick_at(world, since + timedelta(hours=25))
    assert len(world.slack.messages(ESCALATION_CHANNEL)) == 1  # escalated once

    tick_at(world, since + timedelta(hours=28, minutes=1))  # 4 + 8 + 16 h
    assert len(reminders(world, request_id)) == 3

    # The fallback approver may decide what was escalated to them.
    click(world, blocks.APPROVE, FALLBACK)
    complete_checklist(world, request_id)
    assert request_row(world, request_id).decided_by == FALLBACK
    tick_at(world, since + timedelta(hours=44, minutes=1))
    tick_at(world, since + timedelta(days=8))
    assert len(reminders(world, request_id)) == 3  # stopped the moment it was decided
    assert request_row(world, request_id).status != RequestStatus.EXPIRED


def test_an_approver_with_several_requests_gets_one_digest_not_a_ping_per_request(world: LocalWorld) -> None:
    first = open_request(world, "dave@corp.com")
    second = open_request(world, "bob@corp.com")
    since = max(pending_since(world, first), pending_since(world, second))

    tick_at(world, since + timedelta(hours=4, minutes=1))
    for request_id in (first, second):
        [reminder] = reminders(world, request_id)
        assert "<@UAPP1>" not in reminder and "<@UAPP2>" not in reminder and "one digest by DM" in reminder
    for approver in (APPROVER, GROUP_APPROVER):
        [digest] = [card_text(m) for m in dm_messages(world, approver)]
        assert "2 offboarding requests are waiting for your approval" in digest
        assert f"#{first}" in digest and f"#{second}" in digest
    assert dm_messages(world, REQUESTER) == [] or all("waiting for your approval" not in card_text(m)
                                                      for m in dm_messages(world, REQUESTER))


def test_a_deactivated_approver_is_skipped_and_the_fallback_asked(world: LocalWorld) -> None:
    world.slack.set_group("SAPPROVERS", ["UGONE"])  # the group's only member left the company
    world.bot.deps.directory._group_loaded_at = None  # drop the cached group, as its TTL would
    request_id = open_request(world, "dave@corp.com")
    since = pending_since(world, request_id)
    tick_at(world, since + timedelta(hours=4, minutes=1))
    [reminder] = reminders(world, request_id)
    assert "<@UAPP1>" in reminder and "<@UCAROL>" in reminder and "<@UGONE>" not in reminder
    assert "Skipped (deactivated in Slack): Gone Person" in reminder


def test_a_request_nobody_decides_expires_after_seven_days_and_the_requester_is_told(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    since = pending_since(world, request_id)
    tick_at(world, since + timedelta(days=6, hours=23))
    assert request_row(world, request_id).status == RequestStatus.PENDING_APPROVAL
    tick_at(world, since + timedelta(days=7, minutes=1))
    wait_for_status(world, request_id, RequestStatus.EXPIRED)
    told = eventually(lambda: [m for m in dm_messages(world, REQUESTER) if "expired" in card_text(m)],
                      what="the requester told")
    assert "Nothing was removed" in card_text(told[0])
    card = world.slack.messages(APPROVALS_CHANNEL)[0]
    assert blocks.APPROVE not in card_text(card)
    assert world.posthog.member_by_email("dave@corp.com") is not None
    before = len(reminders(world, request_id))
    tick_at(world, since + timedelta(days=8))
    assert len(reminders(world, request_id)) == before
    with world.bot.db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "expired")).one().request_id == request_id


def test_open_checklist_items_get_a_daily_reminder_to_their_owner(database_url: str) -> None:
    world = start_world(database_url, **REMINDER_SETTINGS)
    try:
        request_id = open_request(world, "alice@corp.com")  # PostHog leaves manual follow-ups for an admin
        click(world, blocks.APPROVE, APPROVER)
        wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
        open_items = confirm_values(world.driver, world.slack.messages(APPROVALS_CHANNEL)[0])
        assert open_items
        started = request_row(world, request_id).started_at
        assert started is not None
        checklist = work(world).checklists
        checklist.run(started + timedelta(hours=1))  # too fresh to nag about
        assert dm_messages(world, APPROVER) == []

        sent = checklist.run(started + timedelta(days=1))
        assert list(sent) == [APPROVER]  # the approver who approved it owns the items by default
        [reminder] = [card_text(m) for m in dm_messages(world, APPROVER)]
        assert f"request #{request_id}" in reminder and "alice@corp.com" in reminder and "Daily reminder" in reminder
    finally:
        world.stop()


def test_the_checklist_reminder_runs_once_a_day_even_with_two_bots_and_a_restart(database_url: str) -> None:
    world = start_world(database_url, checklist_owners={"posthog": GROUP_APPROVER}, **REMINDER_SETTINGS)
    try:
        request_id = open_request(world, "alice@corp.com")
        click(world, blocks.APPROVE, APPROVER)
        wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
        started = request_row(world, request_id).started_at
        assert started is not None
        day = started.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)  # open 12 h+ by then
        tick_at(world, day + timedelta(days=1, hours=8))  # the job's first sight of the schedule: a baseline
        tick_at(world, day + timedelta(days=1, hours=9, minutes=1))  # 09:00 UTC came: it runs
        tick_at(world, day + timedelta(days=1, hours=9, minutes=2))
        restart(world)
        tick_at(world, day + timedelta(days=1, hours=10))
        assert len(dm_messages(world, GROUP_APPROVER)) == 1
        # Down for three days: the missed runs come back as one.
        tick_at(world, day + timedelta(days=4, hours=12))
        assert len(dm_messages(world, GROUP_APPROVER)) == 2
    finally:
        world.stop()
