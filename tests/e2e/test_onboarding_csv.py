"""Bulk invitations end to end: a CSV uploaded in Slack (`/onboard csv`) or passed to
`offboard invite --csv`, as one batch with one approval where one is needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, BOT_TOKEN, COMMAND_CHANNEL, GROUP_APPROVER, LocalWorld
from bot.onboarding.slack import blocks as onboard_blocks
from storage.models import InviteState
from tests.e2e.conftest import action_ids, eventually
from tests.e2e.onboard_world import audit_events, card, click, latest_batch, sends, settled, start, text_of
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.posthog import ADMIN, MEMBER, SANDBOX_API_KEY

TEAM_CSV = (
    "email,role,vendors,projects,end_date\n"
    "ana@corp.com,member,posthog,posthog:1001,\n"
    "ben@corp.com,read-only,amplitude,,2099-01-31\n"
    "cleo@corp.com,admin,posthog,,\n"
)


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    yield from start(database_url, ("posthog", "amplitude"))


def upload(world: LocalWorld, content: str, user: str = APPROVER, **form: object) -> None:
    world.driver.slash_command("/onboard", "csv", user_id=user, channel_id=COMMAND_CHANNEL)
    view = world.slack.wait_for("views.open").params["view"]
    shared = world.slack.share_file(user, "team.csv", content.encode())
    response = world.driver.submit_view(view, {onboard_blocks.CSV_FILE: [shared], **form}, user_id=user)
    assert response.status_code == 200 and response.text in ("", "{}")


def told(world: LocalWorld, user: str) -> list[str]:
    return [text_of(e) for e in world.slack.ephemerals(user=user, channel=COMMAND_CHANNEL)]


def test_an_uploaded_csv_is_one_batch_with_one_approval_for_what_needs_it(world: LocalWorld) -> None:
    upload(world, TEAM_CSV, message="Welcome to the analytics team")
    batch = latest_batch(world)
    answer = eventually(lambda: told(world, APPROVER), what="the answer to the upload")
    assert "2 invitations going out now" in answer[0] and "1 waiting" in answer[0]
    result = settled(world, batch)
    assert result[("ana@corp.com", "posthog")].status == InviteState.INVITED
    assert result[("ben@corp.com", "amplitude")].status == InviteState.INVITED
    assert result[("cleo@corp.com", "posthog")].status == InviteState.WAITING
    (ana,) = world.posthog.invites_for("ana@corp.com")
    assert ana.level == MEMBER and ana.message == "Welcome to the analytics team"
    assert world.posthog.invites_for("cleo@corp.com") == []

    cards = [m for m in world.slack.messages(APPROVALS_CHANNEL) if "Invitations #" in text_of(m)]
    assert len(cards) == 1  # one card for the whole file
    shown = card(world, batch)
    assert "3 people (team.csv)" in text_of(shown) and action_ids(shown).count(onboard_blocks.APPROVE) == 1
    click(world, shown, onboard_blocks.APPROVE, GROUP_APPROVER)
    eventually(lambda: sends(world, batch)[("cleo@corp.com", "posthog")].status == InviteState.INVITED,
               what="the approved admin invitation")
    (cleo,) = world.posthog.invites_for("cleo@corp.com")
    assert cleo.level == ADMIN
    assert len(audit_events(world, "invitation_requested")) == 3
    assert len(audit_events(world, "invitation_approved")) == 1


def test_a_csv_with_mistakes_is_refused_line_by_line_and_sends_nothing(world: LocalWorld) -> None:
    upload(world, "email,role,vendors\nana@corp.com,member,posthog\nnot-an-email,member,\nbo@corp.com,boss,\n")
    answer = eventually(lambda: told(world, APPROVER), what="the refusal")
    assert "Line 3: `not-an-email` is not an email address" in answer[0]
    assert "Line 4: `boss` is not a role" in answer[0]
    assert world.posthog.writes_about("ana@corp.com") == 0
    assert [m for m in world.slack.messages(APPROVALS_CHANNEL) if "Invitation" in text_of(m)] == []


def test_offboard_invite_csv_from_a_shell_sends_and_leaves_one_card_for_approval(
        world: LocalWorld, tmp_path: Path) -> None:
    amplitude = world.sandboxes["amplitude"]
    assert isinstance(amplitude, AmplitudeSandbox)
    env = tmp_path / "offboard.env"
    env.write_text("\n".join([
        f"SLACK_BOT_TOKEN={BOT_TOKEN}", "SLACK_SIGNING_SECRET=x", f"SLACK_API_URL={world.slack.url}/api/",
        f"DATABASE_URL={world.database_url}", f"OFFBOARD_APPROVALS_CHANNEL={APPROVALS_CHANNEL}",
        f"OFFBOARD_APPROVERS={APPROVER}", "OFFBOARD_APPROVER_GROUP=SAPPROVERS",
        f"POSTHOG_API_KEY={SANDBOX_API_KEY}", f"POSTHOG_HOST={world.posthog.url}",
        f"AMPLITUDE_SCIM_KEY={SANDBOX_SCIM_KEY}", f"AMPLITUDE_REGION={amplitude.url}/scim/1",
    ]))
    people = tmp_path / "team.csv"
    people.write_text(TEAM_CSV)
    result = CliRunner().invoke(cli, ["invite", "--csv", str(people), "--by", APPROVER, "--env-file", str(env)])
    assert result.exit_code == 0, result.output
    assert "2 sent now, 1 waiting for an approver" in result.output
    assert "ana@corp.com as member" in result.output and "PostHog: invited" in result.output
    assert len(world.posthog.invites_for("ana@corp.com")) == 1 and amplitude.user("ben@corp.com") is not None
    batch = latest_batch(world)
    shown = card(world, batch)
    assert onboard_blocks.APPROVE in action_ids(shown)
    click(world, shown, onboard_blocks.APPROVE, GROUP_APPROVER)  # the running bot takes the click
    eventually(lambda: len(world.posthog.invites_for("cleo@corp.com")) == 1, what="the approved invitation")

    refused = CliRunner().invoke(cli, ["invite", "--csv", str(people), "--by", APPROVER, "--env-file", str(env)])
    assert refused.exit_code == 2 and "already has an open invitation" in refused.output
    assert world.posthog.writes_about("ana@corp.com") == 1
