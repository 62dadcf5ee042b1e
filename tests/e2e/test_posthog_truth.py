"""Through Slack, what PostHog's API cannot do or see is never reported done: a project whose access a role
gives is handed to a person (take them out of the role), and a guest leaver is neither "not a member" nor
"removed" until a lookup that includes guests agrees. Signed requests, the PostHog sandbox, a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, GROUP_APPROVER, REQUESTER, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import RequestStatus, StepStatus
from tests.e2e.change_support import card_of, click_card, latest_request, steps_of, tick_all, wait_status
from tests.e2e.conftest import card_text, confirm_values, eventually, open_request, seen_text
from vendors.sandbox.posthog import FINANCE_ID

GRACE = "grace@corp.com"
GUEST = "visitor@agency.example"


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


def ask_projects_only(world: LocalWorld, email: str, projects: str) -> int:
    before = latest_request(world)
    world.driver.slash_command("/offboard", email, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    form: dict[str, Any] = {"reason": "role_change", "mode": "projects", "projects": projects}
    submitted = world.driver.submit_view(view, form, user_id=REQUESTER)
    assert submitted.text in ("", "{}"), submitted.text
    request_id = eventually(lambda: latest_request(world) != before and latest_request(world), what="the request")
    wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    return request_id


def retry(world: LocalWorld, request_id: int) -> None:
    card = card_of(world, request_id)
    value = next(b["accessory"]["value"] for b in card["blocks"]
                 if b.get("accessory", {}).get("action_id") == blocks.RETRY)
    click_card(world, request_id, blocks.RETRY, REQUESTER, value=value)


def test_a_project_a_role_gives_ends_only_when_a_person_takes_them_out_of_the_role(world: LocalWorld) -> None:
    world.posthog.add_role("Finance readers", members=[GRACE])
    world.posthog.set_role_access("Finance readers", FINANCE_ID, "member")

    request_id = ask_projects_only(world, GRACE, "Finance")
    text = seen_text(world.driver, card_of(world, request_id))
    assert "Take grace@corp.com out of role Finance readers (it gives them Finance)" in text  # before approval

    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    text = seen_text(world.driver, card_of(world, request_id))
    assert "Removed grace@corp.com from Finance" not in text
    assert "role Finance readers still gives them member" in text
    assert world.posthog.access_level_of(GRACE, FINANCE_ID) == "member"  # what PostHog enforces

    # Ticking the step without doing it: the fresh lookup by PostHog's rule says she still has Finance.
    tick_all(world, request_id, GROUP_APPROVER)
    wait_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    assert "can still open Finance (member)" in card_text(card_of(world, request_id))

    world.posthog.remove_from_role("Finance readers", GRACE)  # done for real, in PostHog's UI
    retry(world, request_id)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    assert world.posthog.access_level_of(GRACE, FINANCE_ID) == "none"
    assert world.posthog.member_by_email(GRACE) is not None  # still in the organization
    verify = next(s for s in steps_of(world, request_id) if s.kind == "verify_change")
    assert verify.status == StepStatus.DONE and str(FINANCE_ID) not in verify.details["after"]["projects"]


def test_a_guest_leaver_is_a_member_and_is_checked_gone_with_guests_included(world: LocalWorld) -> None:
    world.posthog.add_member(GUEST, first_name="Vic", is_guest=True)

    request_id = open_request(world, GUEST)
    text = card_text(card_of(world, request_id))
    assert "not a member" not in text.lower()
    text = seen_text(world.driver, card_of(world, request_id))
    assert "Remove guest visitor@agency.example from PostHog" in text

    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert world.posthog.member_by_email(GUEST) is not None and world.posthog.delete_count(GUEST) == 0

    # Every manual step ticked while the guest is still there: the guest-inclusive lookup finds them.
    tick_all(world, request_id, GROUP_APPROVER)
    wait_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    assert "still a guest of Corp" in card_text(card_of(world, request_id))
    assert not confirm_values(world.driver, card_of(world, request_id))

    world.posthog.remove_by_hand(GUEST)
    asked = len(world.posthog.member_list_queries)
    retry(world, request_id)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    verify = next(s for s in steps_of(world, request_id) if s.kind == "verify_removed")
    assert verify.status == StepStatus.DONE and verify.details["guests_included"] is True
    lookups = world.posthog.member_list_queries[asked:]
    assert lookups and all(q.get("include_guests") == ["true"] for q in lookups)
