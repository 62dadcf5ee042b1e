"""The form's partial modes through Slack against the sandboxes: remove from chosen projects
only (the person stays in the organization), and downgrade to read-only. Each is planned, approved,
executed and verified by a fresh lookup, and the card shows before → after per project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, GROUP_APPROVER, NOTIFY_CHANNEL, REQUESTER, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import RequestStatus, StepStatus
from tests.e2e.change_support import (
    card_of,
    click_card,
    latest_request,
    steps_of,
    tick_all,
    wait_status,
)
from tests.e2e.conftest import action_ids, card_text, eventually, seen_text
from vendors.base import Role
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import FINANCE_ID, PRODUCTION_ID, STAGING_ID


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


@pytest.fixture
def two_tools(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog", "mixpanel"))
    yield local
    local.stop()


def ask(world: LocalWorld, email: str, **form: Any) -> int:
    before = latest_request(world)
    world.driver.slash_command("/offboard", email, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    submitted = world.driver.submit_view(view, {"reason": "role_change", **form}, user_id=REQUESTER)
    assert submitted.text in ("", "{}"), submitted.text
    request_id = eventually(lambda: latest_request(world) != before and latest_request(world), what="the request")
    wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    return request_id


def dms(world: LocalWorld, user: str) -> list[str]:
    return [card_text(m) for m in world.slack.messages(world.slack.dm_channel(user))]


def test_the_form_asks_for_projects_when_removing_from_chosen_projects(world: LocalWorld) -> None:
    world.driver.slash_command("/offboard", "grace@corp.com", user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    assert [b["block_id"] for b in view["blocks"]][:4] == ["subject", "reason", "mode", "projects"]
    refused = world.driver.submit_view(view, {"reason": "role_change", "mode": "projects"}, user_id=REQUESTER)
    assert "Name the projects" in refused.json()["errors"]["projects"]
    assert latest_request(world) is None


def test_remove_grace_from_finance_only_is_approved_done_and_checked(world: LocalWorld) -> None:
    before = world.posthog.seat("grace@corp.com")
    assert before is not None and before.project_ids == {str(PRODUCTION_ID), str(STAGING_ID), str(FINANCE_ID)}

    request_id = ask(world, "grace@corp.com", mode="projects", projects="finance")
    card = card_of(world, request_id)
    text = card_text(card)
    assert "Project removal #" in text and "remove from finance only" in text
    assert "Before \\u2192 after* _(planned)_" in text and "Finance: member \\u2192 none" in text
    assert "Production: member \\u2192 member" in text
    confirm = next(e["confirm"]["text"]["text"] for b in card["blocks"] if b["type"] == "actions"
                   for e in b["elements"] if e["action_id"] == blocks.APPROVE)
    assert "chosen projects" in confirm and "stay in the organization" in confirm

    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    after = world.posthog.seat("grace@corp.com")
    assert after is not None and after.role == Role.MEMBER
    assert after.project_ids == {str(PRODUCTION_ID), str(STAGING_ID)}  # still in the organization
    assert world.posthog.writes_about("grace@corp.com") == 1  # one access-control PUT, nothing else
    assert world.posthog.delete_count("grace@corp.com") == 0

    text = card_text(card_of(world, request_id))
    assert "(checked through the API)" in text and "Finance: member \\u2192 none" in text
    verify = next(s for s in steps_of(world, request_id) if s.kind == "verify_change")
    assert verify.status == StepStatus.DONE and FINANCE_ID not in map(int, verify.details["after"]["projects"])
    outcome = eventually(lambda: dms(world, REQUESTER), what="the requester's DM")
    assert any("Project removal" not in t and "is complete" in t and "Finance: member \\u2192 none" in t
               for t in outcome)
    assert not world.slack.messages(NOTIFY_CHANNEL)  # nothing to announce: nobody lost their account


def test_a_project_removal_across_two_tools_explains_a_refusal_and_finishes_after_retry(two_tools: LocalWorld) -> None:
    world = two_tools
    mixpanel = world.sandboxes["mixpanel"]
    assert isinstance(mixpanel, MixpanelSandbox)
    request_id = ask(world, "alice@corp.com", mode="projects", projects="Finance")
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    # PostHog refuses for an organization admin (who opens every project). Mixpanel's SCIM shows no project
    # access, so taking one project away there is a person's step, and nothing is sent about her.
    wait_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    assert "103" in mixpanel.seat("alice@corp.com").project_ids and mixpanel.writes_about("alice@corp.com") == 0
    card = card_of(world, request_id)
    assert "lets admins and owners open every project" in card_text(card)
    seen = seen_text(world.driver, card)
    assert "Manual: Remove them from Finance" in seen and "Project Users" in seen
    assert world.posthog.seat("alice@corp.com").role == Role.ADMIN

    # An admin lowers her to member in PostHog (as the card says), then Retry finishes the job there.
    world.posthog.seed_person("alice@corp.com", Role.MEMBER, [str(PRODUCTION_ID), str(STAGING_ID), str(FINANCE_ID)])
    retry = next(b["accessory"]["value"] for b in card["blocks"]
                 if b.get("accessory", {}).get("action_id") == blocks.RETRY)
    click_card(world, request_id, blocks.RETRY, REQUESTER, value=retry)
    wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)  # Mixpanel waits for its person
    assert world.posthog.seat("alice@corp.com").project_ids == {str(PRODUCTION_ID), str(STAGING_ID)}
    finance = mixpanel.group("Finance Viewers")
    assert finance is not None
    finance.members.remove(str(mixpanel.user_id_of("alice@corp.com")))  # what the person does in Mixpanel
    tick_all(world, request_id, GROUP_APPROVER)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    assert "103" not in mixpanel.seat("alice@corp.com").project_ids
    assert card_text(card_of(world, request_id)).count("(checked through the API)") == 1  # PostHog's


def test_downgrade_to_read_only_is_a_manual_step_where_the_vendor_has_none_and_is_checked(world: LocalWorld) -> None:
    request_id = ask(world, "alice@corp.com", mode="read_only")
    text = card_text(card_of(world, request_id))
    assert "Downgrade to read-only #" in text and "Role: admin \\u2192 member" in text  # PostHog's nearest
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert "nearest PostHog has to read-only" in seen_text(world.driver, card_of(world, request_id))

    # Ticking it without doing it: the fresh lookup says so, and nothing is reported done.
    tick_all(world, request_id, GROUP_APPROVER)
    wait_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    card = card_of(world, request_id)
    assert "is still admin" in card_text(card) and blocks.RETRY in action_ids(card)

    # Done for real in PostHog's UI (the sandbox's state), then Retry checks again.
    world.posthog.seed_person("alice@corp.com", Role.MEMBER, [str(PRODUCTION_ID), str(STAGING_ID)])
    retry = next(b["accessory"]["value"] for b in card["blocks"]
                 if b.get("accessory", {}).get("action_id") == blocks.RETRY)
    click_card(world, request_id, blocks.RETRY, REQUESTER, value=retry)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    text = card_text(card_of(world, request_id))
    assert "Role: admin \\u2192 member" in text and "(checked through the API)" in text
    assert world.posthog.delete_count("alice@corp.com") == 0 and world.posthog.seat("alice@corp.com") is not None
    assert world.posthog.writes_about("alice@corp.com") == 0  # the bot changed nothing itself: a person did


def test_a_project_the_person_does_not_have_changes_nothing(world: LocalWorld) -> None:
    request_id = ask(world, "dave@corp.com", mode="projects", projects="Marketing")
    assert "None of their projects here is Marketing" in card_text(card_of(world, request_id))
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    assert world.posthog.writes_about("dave@corp.com") == 0
