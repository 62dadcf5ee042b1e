"""A contractor Mixpanel's SCIM cannot see, offboarded through Slack.

Mixpanel's SCIM sees only emails on the organization's verified domains: the contractor at agency.com
is a member of the Mixpanel sandbox's organization, yet SCIM lists nobody of that name. The card must
say Mixpanel is unknown, give the manual check-and-delete step, and the request must wait for a person
to mark it done: no API step may end "done" (or "not a member") about someone the API cannot see."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, GROUP_APPROVER, NOTIFY_CHANNEL, LocalWorld
from bot.offboarding.slack import blocks
from bot.reviews.slack import sweep_blocks
from storage.models import RequestStatus, StepStatus, utcnow
from tests.e2e.change_support import steps_of
from tests.e2e.conftest import (
    card_text,
    click,
    confirm_values,
    details_of,
    eventually,
    mark_done,
    open_request,
    the_card,
    wait_for_status,
)
from tests.e2e.scheduled_world import ADMIN_CHANNEL, start_world, work
from vendors.sandbox.mixpanel import CONTRACTOR, MixpanelSandbox


def shown(message: dict[str, Any]) -> str:
    """The card's text as Slack shows it: unescaped, arrows and all."""
    return json.dumps(message.get("blocks") or [], ensure_ascii=False).replace("&amp;", "&")


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog", "mixpanel"))
    yield local
    local.stop()


def test_a_contractor_scim_cannot_see_is_unknown_and_waits_for_a_person(world: LocalWorld) -> None:
    mixpanel = world.sandboxes["mixpanel"]
    assert isinstance(mixpanel, MixpanelSandbox)
    assert mixpanel.seat(CONTRACTOR) is not None  # a member of the organization, invisible to SCIM

    request_id = open_request(world, CONTRACTOR)
    text = shown(the_card(world)) + shown(details_of(world.driver, the_card(world)))
    assert "*Mixpanel*: :grey_question: unknown" in text and "*Mixpanel*: not a member" not in text
    assert "verified domains (corp.com)" in text
    assert "Manual: Check Mixpanel by hand and delete them" in text
    assert "Organization Settings → Users & Teams" in text and "tick the checkbox next to their name" in text
    assert [s.kind for s in steps_of(world, request_id, "mixpanel") if not s.manual] == []

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    steps = steps_of(world, request_id, "mixpanel")
    removal = next(s for s in steps if s.key == "mixpanel_remove_member")
    others = [str(s.id) for s in steps if s.manual and s.id != removal.id]
    assert others and str(removal.id) in confirm_values(world.driver, the_card(world))

    # Everything else ticked: still waiting, for the step only a person can do.
    for value in others:
        mark_done(world.driver, the_card(world), GROUP_APPROVER, value)
        eventually(lambda ticked=value: ticked not in confirm_values(world.driver, the_card(world)),
                   what="the tick to show")
    assert world.bot.workflow.snapshot(request_id).status == RequestStatus.AWAITING_MANUAL  # type: ignore[union-attr]
    assert confirm_values(world.driver, the_card(world)) == [str(removal.id)]
    assert mixpanel.writes_about(CONTRACTOR) == 0  # nothing was sent about them: SCIM cannot act on them

    mark_done(world.driver, the_card(world), GROUP_APPROVER, str(removal.id))
    wait_for_status(world, request_id, RequestStatus.COMPLETED)
    done = next(s for s in steps_of(world, request_id, "mixpanel") if s.id == removal.id)
    assert done.status == StepStatus.DONE and done.done_by == GROUP_APPROVER
    notice = card_text(eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the notification")[0])
    assert f"Mixpanel: removed by hand, confirmed by <@{GROUP_APPROVER}>" in notice


def test_the_sweep_says_who_scim_cannot_see_and_judges_them_from_the_export(database_url: str) -> None:
    world = start_world(database_url, vendors=("posthog", "mixpanel"))
    try:
        world.posthog.reset(seed=False)
        mixpanel = world.sandboxes["mixpanel"]
        assert isinstance(mixpanel, MixpanelSandbox)
        mixpanel.reset(seed=False)
        mixpanel.add_user("amy@corp.com", "Amy", "Corp")
        mixpanel.add_outside_member(CONTRACTOR, "Pat", "Contractor")
        sweep_id = work(world).sweeps.run("schedule")
        card = sweep_card(world)
        assert "Mixpanel could not be judged" in shown(card)
        assert "verified domains (corp.com)" in shown(card) and "invisible to it" in shown(card)

        world.driver.click(card, sweep_blocks.UPLOAD, user_id=APPROVER, value=f"{sweep_id}:mixpanel",
                           channel_id=ADMIN_CHANNEL)
        view = eventually(lambda: world.slack.views(), what="the upload modal")[0]
        long_ago = utcnow() - timedelta(days=200)
        csv_text = ("Name,Email,Role,Last Login\n"
                    f"Amy,amy@corp.com,Member,{long_ago:%Y-%m-%d}\n"
                    f"Pat,{CONTRACTOR},Member,{long_ago:%Y-%m-%d}\n")
        shared = world.slack.share_file(APPROVER, "mixpanel-users.csv", csv_text.encode())
        response = world.driver.submit_view(view, {"vendor": "mixpanel", "export_file": [shared]}, user_id=APPROVER)
        assert response.status_code == 200 and response.text in ("", "{}")
        eventually(lambda: "judged from the members export" in shown(sweep_card(world)), what="the card")
        found = {f.email: f for f in work(world).sweeps.findings(sweep_id)}
        # The contractor SCIM cannot list is judged from the export, the only place that shows them.
        assert set(found) == {"amy@corp.com", CONTRACTOR}
        assert found[CONTRACTOR].vendors["mixpanel"]["source"] == "export"
        assert "invisible to it" in shown(sweep_card(world))
    finally:
        world.stop()


def sweep_card(world: LocalWorld) -> dict[str, Any]:
    [card] = world.slack.messages(ADMIN_CHANNEL)
    return card
