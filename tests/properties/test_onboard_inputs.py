"""Property-based (issue 8): whatever text follows /onboard, and whatever an invitation button carries, the bot
answers (never a 500) and says something a person can read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import onboard_blocks
from bot.localrun import APPROVALS_CHANNEL, COMMAND_CHANNEL, REQUESTER, LocalWorld
from bot.onboard_parsing import OnboardAsk, OnboardCsv, OnboardHelp, OnboardInvalid, OnboardPending, parse_onboard
from tests.e2e.conftest import eventually

WORDS = st.sampled_from([
    "jane@corp.com", "JANE@CORP.COM", "a@b", "jane@gmail.com", "<@UALICE|alice>", "<@UNOBODY>", "@jane", "member",
    "read-only", "admin", "owner", "boss", "pending", "csv", "help", "vendors=posthog", "vendors=nope", "vendors=",
    "projects=posthog:1001", "projects=1001", "projects=", "until=2099-01-01", "until=tomorrow", "allow-personal",
    "message=hi there", "message=", "x=y", "=", ",", "a@b.c,d@e.f", "\u202e", "\x00", "🙂",
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
    parsed = parse_onboard(text, ("posthog", "amplitude"))
    assert isinstance(parsed, OnboardHelp | OnboardPending | OnboardCsv | OnboardInvalid | OnboardAsk)
    if isinstance(parsed, OnboardInvalid):
        assert parsed.message.strip(), "a refusal must say why"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    local = LocalWorld.start(Path(tmp_path_factory.mktemp("onboard-properties")) / "offboard.db", vendors=("posthog",))
    yield local
    local.stop()


def answered(world: LocalWorld, response_key: str, trigger_id: str) -> bool:
    if world.slack.responses(response_key):
        return True
    return any(c.params.get("trigger_id") == trigger_id for c in world.slack.calls("views.open"))


@given(text=COMMAND_TEXT)
@PROPERTY_SETTINGS
def test_any_onboard_text_gets_an_answer_and_never_a_500(world: LocalWorld, text: str) -> None:
    # As someone who is not an onboarding admin: whatever parses as complete waits for approval, nothing is sent.
    response = world.driver.slash_command("/onboard", text, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200, response.text
    key, trigger = world.driver.last_response_key, world.driver.last_trigger_id
    eventually(lambda: answered(world, key, trigger), timeout=10, what=f"an answer to {text!r}")
    for reply in world.slack.responses(key):
        assert (reply.get("text") or reply.get("blocks")), "an answer a person can read"
    assert world.posthog.writes_about("jane@corp.com") == 0


ACTION_IDS = st.sampled_from([onboard_blocks.APPROVE, onboard_blocks.REJECT, onboard_blocks.WITHDRAW,
                              onboard_blocks.RETRY, onboard_blocks.CONFIRM, onboard_blocks.RESEND,
                              onboard_blocks.CANCEL_INVITE])
VALUES = st.one_of(st.sampled_from(["1", "999999", "0", "-1", "", "x"]), st.text(max_size=20))


@st.composite
def block_actions(draw: st.DrawFn) -> dict:
    payload: dict = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "corp"},
        "user": draw(st.sampled_from([{"id": REQUESTER}, {"id": "UAPP1"}, {"id": "UMAL"}])),
        "api_app_id": "A1",
        "trigger_id": draw(st.text(min_size=1, max_size=12)),
        "actions": [{"type": "button", "action_id": draw(ACTION_IDS), "block_id": "b",
                     "value": draw(VALUES), "action_ts": "1.0"}],
    }
    if draw(st.booleans()):
        payload["channel"] = {"id": APPROVALS_CHANNEL}
        payload["container"] = {"type": "message", "message_ts": "1.0", "channel_id": APPROVALS_CHANNEL}
    return payload


@given(payload=block_actions())
@PROPERTY_SETTINGS
def test_any_invitation_button_payload_is_answered_without_a_crash(world: LocalWorld, payload: dict) -> None:
    response = world.driver.send(urlencode({"payload": json.dumps(payload)}))
    assert response.status_code < 500, response.text
