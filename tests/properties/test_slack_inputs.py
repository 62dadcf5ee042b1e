"""Property-based: whatever text a person types after /offboard, and whatever an interaction payload
holds, the bot answers (never a 500, never a crash) and says something a person can read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import blocks
from bot.localrun import APPROVALS_CHANNEL, COMMAND_CHANNEL, REQUESTER, LocalWorld
from bot.parsing import AuditAsk, Help, Invalid, Start, Status, parse_command
from tests.e2e.conftest import eventually

WORDS = st.sampled_from([
    "alice@corp.com", "ALICE@CORP.COM", "bob@corp.com", "<@UALICE|alice>", "<@UNOBODY>", "@alice", "status",
    "help", "audit", "export", "since=2024-01-01", "since=yesterday", "vendors=posthog", "vendors=nope",
    "vendors=", "resignation", "emergency", "security", "incident", "termination", "not-an-email", "a@b",
    "@", "<>", "<@>", "mailto:alice@corp.com", "<mailto:alice@corp.com|alice@corp.com>", "--help", "?",
    "\u202e", "\x00", "'; drop table step; --", "🙂",
])
COMMAND_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(WORDS, max_size=6).map(" ".join),
    st.lists(st.one_of(WORDS, st.text(min_size=1, max_size=20)), max_size=5).map(" ".join),
)
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(text=COMMAND_TEXT)
@settings(max_examples=500, deadline=None)
def test_parsing_any_text_gives_a_known_answer(text: str) -> None:
    parsed = parse_command(text, ("posthog", "amplitude"))
    assert isinstance(parsed, Help | Invalid | Status | Start | AuditAsk)
    if isinstance(parsed, Invalid):
        assert parsed.message.strip(), "a refusal must say why"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    local = LocalWorld.start(Path(tmp_path_factory.mktemp("properties")) / "offboard.db", vendors=("posthog",))
    yield local
    local.stop()


def answered(world: LocalWorld, response_key: str, trigger_id: str) -> bool:
    """A reply to the command's response_url, or a form opened with its trigger."""
    if world.slack.responses(response_key):
        return True
    return any(c.params.get("trigger_id") == trigger_id for c in world.slack.calls("views.open"))


@given(text=COMMAND_TEXT)
@PROPERTY_SETTINGS
def test_any_slash_command_text_gets_an_answer_and_never_a_500(world: LocalWorld, text: str) -> None:
    response = world.driver.slash_command("/offboard", text, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200, response.text
    key, trigger = world.driver.last_response_key, world.driver.last_trigger_id
    eventually(lambda: answered(world, key, trigger), timeout=10, what=f"an answer to {text!r}")
    for reply in world.slack.responses(key):
        assert (reply.get("text") or reply.get("blocks")), "an answer a person can read"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
ACTION_IDS = st.sampled_from([blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.RETRY, blocks.CONFIRM,
                              blocks.REASSESS, "unknown_action", ""])
VALUES = st.one_of(st.sampled_from(["1", "999999", "0", "-1", "1:posthog", "x:y", "", "1:nope"]),
                   st.text(max_size=20))


@st.composite
def block_actions(draw: st.DrawFn) -> dict:
    payload: dict = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "corp"},
        "user": draw(st.sampled_from([{"id": REQUESTER}, {"id": "UAPP1"}, {"id": "UMAL"}, {"id": ""}])),
        "api_app_id": "A1",
        "trigger_id": draw(st.text(min_size=1, max_size=12)),
        "actions": [{"type": "button", "action_id": draw(ACTION_IDS), "block_id": "b",
                     "value": draw(VALUES), "action_ts": "1.0"}],
    }
    if draw(st.booleans()):
        payload["channel"] = {"id": APPROVALS_CHANNEL}
        payload["container"] = {"type": "message", "message_ts": "1.0", "channel_id": APPROVALS_CHANNEL}
    for key in draw(st.lists(st.sampled_from(["extra", "state", "message", "response_url"]), max_size=2)):
        payload[key] = draw(JSONISH)
    return payload


@given(payload=block_actions())
@PROPERTY_SETTINGS
def test_any_button_payload_is_answered_without_a_crash(world: LocalWorld, payload: dict) -> None:
    response = world.driver.send(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code < 500, response.text
    assert httpx.get(world.http.url.replace("/slack/events", "/healthz")).status_code == 200
