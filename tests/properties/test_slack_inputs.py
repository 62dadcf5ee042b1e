"""Property-based: whatever text a person types after /offboard, and whatever an interaction payload
holds, the bot answers (never a 500, never a crash) and says something a person can read."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.demo.localrun import REQUESTER, LocalWorld
from bot.offboarding.parsing import AuditAsk, Help, Invalid, Start, Status, parse_command
from bot.offboarding.slack import blocks
from tests.properties.slack_inputs import PROPERTY_SETTINGS, assert_answered, block_actions, command_text

WORDS = st.sampled_from([
    "alice@corp.com", "ALICE@CORP.COM", "bob@corp.com", "<@UALICE|alice>", "<@UNOBODY>", "@alice", "status",
    "help", "audit", "export", "since=2024-01-01", "since=yesterday", "vendors=posthog", "vendors=nope",
    "vendors=", "resignation", "emergency", "security", "incident", "termination", "not-an-email", "a@b",
    "@", "<>", "<@>", "mailto:alice@corp.com", "<mailto:alice@corp.com|alice@corp.com>", "--help", "?",
    "\u202e", "\x00", "'; drop table step; --", "🙂",
])
COMMAND_TEXT = command_text(WORDS)


@given(text=COMMAND_TEXT)
@settings(max_examples=500, deadline=None)
def test_parsing_any_text_gives_a_known_answer(text: str) -> None:
    parsed = parse_command(text, ("posthog", "amplitude"))
    assert isinstance(parsed, Help | Invalid | Status | Start | AuditAsk)
    if isinstance(parsed, Invalid):
        assert parsed.message.strip(), "a refusal must say why"


@given(text=COMMAND_TEXT)
@PROPERTY_SETTINGS
def test_any_slash_command_text_gets_an_answer_and_never_a_500(world: LocalWorld, text: str) -> None:
    assert_answered(world, "/offboard", text)


ACTION_IDS = st.sampled_from([blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.RETRY, blocks.CONFIRM,
                              blocks.REASSESS, "unknown_action", ""])
VALUES = st.one_of(st.sampled_from(["1", "999999", "0", "-1", "1:posthog", "x:y", "", "1:nope"]),
                   st.text(max_size=20))
USERS = st.sampled_from([{"id": REQUESTER}, {"id": "UAPP1"}, {"id": "UMAL"}, {"id": ""}])


@given(payload=block_actions(ACTION_IDS, VALUES, USERS, extra_keys=True))
@PROPERTY_SETTINGS
def test_any_button_payload_is_answered_without_a_crash(world: LocalWorld, payload: dict) -> None:
    response = world.driver.send(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code < 500, response.text
    assert httpx.get(world.http.url.replace("/slack/events", "/healthz")).status_code == 200
