"""The guards through Slack against the sandboxes: never the organization's last owner (the card
says what to do), never the account offboard itself acts as (found by PostHog's assessment, or named
in OFFBOARD_BOT_ACCOUNTS), and an SSO/SCIM-provisioned account gets an identity-provider checklist item."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, GROUP_APPROVER, REQUESTER, RESPONDER, LocalWorld
from bot.offboarding.slack import blocks, change_blocks
from storage.models import Emergency, RequestStatus, StepStatus
from tests.e2e.change_support import (
    card_of,
    click_card,
    command,
    latest_request,
    steps_of,
    tick_all,
    wait_status,
)
from tests.e2e.conftest import action_ids, card_text, eventually, seen_text
from vendors.base import Role
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import KEY_OWNER_EMAIL


def start(database_url: str, **settings: object) -> LocalWorld:
    return LocalWorld.start(database_url, vendors=("posthog", "mixpanel"), settings=settings)


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = start(database_url)
    yield local
    local.stop()


def ask(world: LocalWorld, email: str) -> int:
    world.driver.slash_command("/offboard", email, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    world.driver.submit_view(view, {"reason": "termination"}, user_id=REQUESTER)
    request_id = eventually(lambda: latest_request(world), what="the request")
    wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    return request_id


def test_the_last_owner_is_never_removed_and_the_card_says_what_to_do(world: LocalWorld) -> None:
    world.posthog.make_sole_owner("carol@corp.com")
    request_id = ask(world, "carol@corp.com")
    assert "is the ONLY owner of" in card_text(card_of(world, request_id))
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    card = card_of(world, request_id)
    assert "only owner" in card_text(card) and "Make someone else an owner first" in card_text(card)
    assert blocks.RETRY in action_ids(card)
    seat = world.posthog.seat("carol@corp.com")
    assert seat is not None and seat.role == Role.OWNER and world.posthog.delete_count("carol@corp.com") == 0


def test_offboard_never_removes_the_account_its_own_posthog_key_belongs_to(world: LocalWorld) -> None:
    request_id = ask(world, KEY_OWNER_EMAIL)
    [step] = steps_of(world, request_id, "posthog")
    assert step.manual and step.key == "posthog_own_account"
    text = seen_text(world.driver, card_of(world, request_id))
    assert f"Refused: {KEY_OWNER_EMAIL} is the account offboard uses for PostHog" in text
    assert "owns the personal API key offboard uses" in text  # the assessment's warning, too
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert world.posthog.writes_about(KEY_OWNER_EMAIL) == 0
    assert world.posthog.seat(KEY_OWNER_EMAIL) is not None


def test_an_emergency_does_not_remove_the_bots_own_account_either(world: LocalWorld) -> None:
    mixpanel = world.sandboxes["mixpanel"]
    assert isinstance(mixpanel, MixpanelSandbox)
    mixpanel.seed_person("ops.second@corp.com", Role.OWNER)  # so Mixpanel may let it-ops go
    command(world, f"{KEY_OWNER_EMAIL} emergency", RESPONDER)
    request_id = eventually(lambda: latest_request(world), what="the emergency")
    eventually(lambda: [s for s in steps_of(world, request_id, "mixpanel")
                        if s.kind == "verify_removed" and s.status == StepStatus.DONE], what="Mixpanel's removal")
    assert world.posthog.writes_about(KEY_OWNER_EMAIL) == 0 and world.posthog.seat(KEY_OWNER_EMAIL) is not None
    with world.bot.db.session() as session:
        assert session.get(Emergency, request_id).removed_at is None  # the clock waits: PostHog is not done
    assert "Refused:" in seen_text(world.driver, card_of(world, request_id))


def test_accounts_named_as_offboards_own_are_refused_in_every_tool(database_url: str) -> None:
    world = start(database_url, bot_accounts=["carol@corp.com"])
    try:
        mixpanel = world.sandboxes["mixpanel"]
        assert isinstance(mixpanel, MixpanelSandbox)
        request_id = ask(world, "carol@corp.com")
        assert [s.key for s in steps_of(world, request_id)] == ["mixpanel_own_account", "posthog_own_account"]
        click_card(world, request_id, blocks.APPROVE, APPROVER)
        wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
        assert world.posthog.writes_about("carol@corp.com") == 0 and mixpanel.writes_about("carol@corp.com") == 0
    finally:
        world.stop()


def test_an_sso_provisioned_account_gets_an_identity_provider_checklist_item(database_url: str) -> None:
    world = start(database_url, idp_groups={"posthog": "PostHog users"}, idp_name="Okta")
    try:
        request_id = ask(world, "dave@corp.com")
        posthog = steps_of(world, request_id, "posthog")
        assert [s.key for s in posthog][-1] == "posthog_idp_group"
        assert not [s for s in steps_of(world, request_id, "mixpanel") if s.key.endswith("_idp_group")]
        assert "Update Okta: PostHog users" in seen_text(world.driver, card_of(world, request_id))
        click_card(world, request_id, blocks.APPROVE, APPROVER)
        # The removal does not wait for it; the request is not complete without it.
        wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
        assert world.posthog.member_by_email("dave@corp.com") is None
        tick_all(world, request_id, GROUP_APPROVER)
        wait_status(world, request_id, RequestStatus.COMPLETED)
        idp = next(s for s in steps_of(world, request_id, "posthog") if s.key == "posthog_idp_group")
        assert idp.done_by == GROUP_APPROVER

        # Restoring gives the IdP group back too.
        click_card(world, request_id, change_blocks.RESTORE, APPROVER)
        restore = eventually(lambda: (latest_request(world) or 0) > request_id and latest_request(world),
                             what="the restore")
        eventually(lambda: [s for s in steps_of(world, restore, "posthog") if s.key == "posthog_idp_group"],
                   what="the restore's IdP item")
        # The restore's card is posted while it is assessed, before it has its Details button.
        card = eventually(lambda: (c := card_of(world, restore)) and blocks.DETAILS in action_ids(c) and c,
                          what="the restore card's Details button")
        assert "Add them back to PostHog users in Okta" in seen_text(world.driver, card)
    finally:
        world.stop()
