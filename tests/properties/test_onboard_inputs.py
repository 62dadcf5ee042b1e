"""Property-based: whatever text follows /onboard, and whatever an invitation button carries, the bot
answers (never a 500) and says something a person can read."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.demo.localrun import REQUESTER, LocalWorld
from bot.onboarding.parsing import OnboardAsk, OnboardCsv, OnboardHelp, OnboardInvalid, OnboardPending, parse_onboard
from bot.onboarding.slack import blocks as onboard_blocks
from tests.properties.slack_inputs import PROPERTY_SETTINGS, assert_answered, block_actions, command_text

WORDS = st.sampled_from([
    "jane@corp.com", "JANE@CORP.COM", "a@b", "jane@gmail.com", "<@UALICE|alice>", "<@UNOBODY>", "@jane", "member",
    "read-only", "admin", "owner", "boss", "pending", "csv", "help", "vendors=posthog", "vendors=nope", "vendors=",
    "projects=posthog:1001", "projects=1001", "projects=", "until=2099-01-01", "until=tomorrow", "allow-personal",
    "message=hi there", "message=", "x=y", "=", ",", "a@b.c,d@e.f", "\u202e", "\x00", "🙂",
])
COMMAND_TEXT = command_text(WORDS)


@given(text=COMMAND_TEXT)
@settings(max_examples=500, deadline=None)
def test_parsing_any_text_gives_a_known_answer(text: str) -> None:
    parsed = parse_onboard(text, ("posthog", "amplitude"))
    assert isinstance(parsed, OnboardHelp | OnboardPending | OnboardCsv | OnboardInvalid | OnboardAsk)
    if isinstance(parsed, OnboardInvalid):
        assert parsed.message.strip(), "a refusal must say why"


@given(text=COMMAND_TEXT)
@PROPERTY_SETTINGS
def test_any_onboard_text_gets_an_answer_and_never_a_500(world: LocalWorld, text: str) -> None:
    # As someone who is not an onboarding admin: whatever parses as complete waits for approval, nothing is sent.
    assert_answered(world, "/onboard", text)
    assert world.posthog.writes_about("jane@corp.com") == 0


ACTION_IDS = st.sampled_from([onboard_blocks.APPROVE, onboard_blocks.REJECT, onboard_blocks.WITHDRAW,
                              onboard_blocks.RETRY, onboard_blocks.CONFIRM, onboard_blocks.RESEND,
                              onboard_blocks.CANCEL_INVITE])
VALUES = st.one_of(st.sampled_from(["1", "999999", "0", "-1", "", "x"]), st.text(max_size=20))
USERS = st.sampled_from([{"id": REQUESTER}, {"id": "UAPP1"}, {"id": "UMAL"}])


@given(payload=block_actions(ACTION_IDS, VALUES, USERS))
@PROPERTY_SETTINGS
def test_any_invitation_button_payload_is_answered_without_a_crash(world: LocalWorld, payload: dict) -> None:
    response = world.driver.send(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code < 500, response.text
