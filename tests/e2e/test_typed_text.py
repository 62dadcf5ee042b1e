"""What people and vendors typed reaches Slack as text, through the real bot: a ticket `<!channel> HR-9` does
not ping the notification channel, a Slack real name or a note cannot mention anyone, and a dashboard name the
leaver chose cannot become a link in the new owner's DM."""

from __future__ import annotations

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, GROUP_APPROVER, NOTIFY_CHANNEL, LocalWorld
from bot.demo.standin.render import render_message
from bot.demo.standin.slack_api import SlackUser
from bot.offboarding.slack import blocks
from storage.models import RequestStatus
from tests.e2e.conftest import (
    card_text,
    click,
    confirm_values,
    eventually,
    mark_done,
    open_request,
    the_card,
    wait_for_status,
)
from tests.properties.builder_inputs import mrkdwn_texts

PHISHING = "Q4> <https://evil.example|Re-authenticate PostHog>"


def mrkdwn_of(message: dict) -> str:
    """What Slack parses for markup (plain_text, such as the card's header with the name, it does not)."""
    return "\n".join(mrkdwn_texts(message))


def test_a_ticket_note_name_and_dashboard_name_are_posted_as_text(world: LocalWorld) -> None:
    world.slack.add_user(SlackUser("UALICE", "alice", "Alice <!here>", "alice@corp.com"))
    dashboard = world.posthog.assets_of("alice@corp.com", "dashboard")[0]
    world.posthog.asset(dashboard.id).name = PHISHING

    request_id = open_request(world, "alice@corp.com", ticket="<!channel> HR-9", note="ask <@UAPP1> & <!everyone>",
                              new_owner="UBOB")
    card = mrkdwn_of(the_card(world))
    assert "&lt;!channel&gt; HR-9" in card and "ask &lt;@UAPP1&gt; &amp; &lt;!everyone&gt;" in card
    for markup in ("<!channel>", "<!everyone>", "<!here>", "<@UAPP1>"):
        assert markup not in card, markup

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    for value in confirm_values(world.driver, the_card(world)):
        mark_done(world.driver, the_card(world), GROUP_APPROVER, value)
    wait_for_status(world, request_id, RequestStatus.COMPLETED)

    notice = eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the stakeholder notification")[0]
    posted = mrkdwn_of(notice)
    assert "&lt;!channel&gt; HR-9" in posted
    assert "<!channel>" not in posted and "<!here>" not in posted
    # The stand-in shows it as typed, once: not as a ping, and not as "&lt;".
    assert "<!channel> HR-9" in render_message(notice)

    dm = world.slack.dm_channel("UBOB")
    owner_dm = eventually(lambda: [m for m in world.slack.messages(dm) if "now the owner" in card_text(m)],
                          what="the new owner's DM")[0]
    text = mrkdwn_of(owner_dm)
    assert "<https://evil.example" not in text
    assert "Q4&gt; &lt;https://evil.example|Re-authenticate PostHog&gt;" in text
    assert "|Q4&gt; &lt;https://evil.example" in text  # the link the bot made, to PostHog, labelled with it
    assert world.slack.messages(APPROVALS_CHANNEL) == [the_card(world)]
