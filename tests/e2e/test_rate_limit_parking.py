"""A vendor's rate limit that asks for a longer wait than a call may wait parks the step instead of failing
it: the request stays in progress, the card says when it resumes, and the scheduler's tick (on any instance)
resumes it once the time has come, with nobody pressing Retry. Driven through Slack against the PostHog
sandbox: its 429s are PostHog's (Retry-After and "Expected available in N seconds.")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, LocalWorld
from bot.offboarding.slack import batch_blocks, blocks
from storage.models import BatchStatus, RequestStatus, StepStatus
from tests.e2e.change_support import events, steps_of
from tests.e2e.conftest import action_ids, card_text, click, eventually, open_request, the_card, wait_for_status
from tests.e2e.test_bulk import PEOPLE, batch_row, click_batch, finish_batch, members, open_bulk, wait_batch
from tests.e2e.test_commands import command

REMOVE_PATH = r"/api/organizations/[^/]+/members/[0-9a-fA-F-]{36}/?$"


def parked_event(world: LocalWorld, request_id: int) -> dict[str, Any]:
    found = eventually(lambda: events(world, "step_parked", request_id), what="the step to be parked")
    return found[-1].details


def shown_time(until: datetime) -> str:
    rounded = until if until.second == 0 else until.replace(second=0) + timedelta(minutes=1)
    return f"{rounded:%H:%M}"


def test_a_long_retry_after_parks_the_step_and_the_tick_resumes_it_when_due(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    world.posthog.throttle(600, path_pattern=REMOVE_PATH)  # PostHog's hourly cap: "available in 600 seconds"
    before = datetime.now(UTC)
    click(world, blocks.APPROVE, APPROVER)

    parked = parked_event(world, request_id)
    until = datetime.fromisoformat(parked["until"])
    assert parked["retry_after"] == 600 and before + timedelta(seconds=590) < until < before + timedelta(seconds=700)
    note = f"PostHog rate limit: resumes at {shown_time(until)} UTC"
    card = eventually(lambda: note in card_text(the_card(world)) and the_card(world), what="the card to say so")
    # Parked is not failed: still being carried out, no Retry button, nothing failed, dave still a member.
    assert "failed" not in card_text(card) and blocks.RETRY not in action_ids(card)
    assert world.bot.workflow.snapshot(request_id).status == RequestStatus.EXECUTING  # type: ignore[union-attr]
    assert [s.status for s in steps_of(world, request_id, "posthog") if s.status == StepStatus.FAILED] == []
    assert world.posthog.member_by_email("dave@corp.com") is not None
    assert note in command(world, "status dave@corp.com")  # /offboard status says so too

    scheduled = world.bot.deps.scheduled
    assert scheduled is not None
    scheduled.tick(until - timedelta(minutes=1), wait=True)  # not yet: nothing resumes
    assert events(world, "step_resumed", request_id) == []
    assert world.posthog.member_by_email("dave@corp.com") is not None

    scheduled.tick(until + timedelta(seconds=1), wait=True)
    # Resumed and removed; what is left is the checklist only a person can do.
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert world.posthog.member_by_email("dave@corp.com") is None
    assert world.posthog.delete_count("dave@corp.com") == 1
    assert len(events(world, "step_resumed", request_id)) == 1
    assert events(world, "retry_requested", request_id) == []  # nobody had to press Retry
    assert note not in card_text(the_card(world))


def test_a_second_tick_or_instance_does_not_resume_a_step_twice(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    world.posthog.throttle(300, path_pattern=REMOVE_PATH)
    click(world, blocks.APPROVE, APPROVER)
    until = datetime.fromisoformat(parked_event(world, request_id)["until"])

    workflow = world.bot.workflow
    later = until + timedelta(seconds=5)
    first, second = workflow.resume_parked(later), workflow.resume_parked(later)
    assert (first, second) == ([request_id], [])
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)  # removed; the checklist is a person's
    assert len(events(world, "step_resumed", request_id)) == 1


@pytest.fixture
def bulk_world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",), settings={"two_approvers_over": 3})
    yield local
    local.stop()


def test_a_batch_that_meets_posthogs_hourly_cap_midway_parks_and_finishes_without_a_failure(
    bulk_world: LocalWorld,
) -> None:
    world = bulk_world
    open_bulk(world, " ".join(PEOPLE))
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    # The key's hour is nearly spent: a few calls more, then PostHog asks for most of an hour.
    world.posthog.reset_key_rate_limits([(4, 3600.0)])
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)
    ids = {email: request.id for email, request in members(world, batch.id).items()}

    def parked_untils() -> list[datetime]:
        parked = [e for request_id in ids.values() for e in events(world, "step_parked", request_id)]
        if len({e.request_id for e in parked}) < 2:  # the first few calls get through, the rest wait
            return []
        return [datetime.fromisoformat(e.details["until"]) for e in parked]

    untils = eventually(parked_untils, timeout=20, what="the steps over the cap to be parked")
    assert all(until > datetime.now(UTC) + timedelta(minutes=50) for until in untils)
    for request_id in ids.values():
        snapshot = world.bot.workflow.snapshot(request_id)
        assert snapshot is not None and snapshot.status != RequestStatus.NEEDS_ATTENTION
    assert batch_row(world).status == BatchStatus.APPROVED

    world.posthog.reset_key_rate_limits([])  # the hour has passed
    scheduled = world.bot.deps.scheduled
    assert scheduled is not None
    scheduled.tick(max(untils) + timedelta(seconds=1), wait=True)
    finish_batch(world, timeout=30)  # resumed and removed; then each person's checklist is ticked
    for email, request_id in ids.items():
        assert world.posthog.member_by_email(email) is None and world.posthog.delete_count(email) == 1
        assert events(world, "step_failed", request_id) == [] and events(world, "retry_requested", request_id) == []
