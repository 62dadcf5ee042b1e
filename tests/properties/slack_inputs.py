"""What the property tests send: typed command text, button payloads, and the check that a command
was answered in words a person can read."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.demo.localrun import APPROVALS_CHANNEL, COMMAND_CHANNEL, REQUESTER, LocalWorld
from tests.e2e.conftest import eventually

# Each example is a real HTTP request into the bot: fewer examples, no per-example deadline.
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


def command_text(words: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Anything typed: random text, the command's own words in any order, or a mix of both."""
    return st.one_of(
        st.text(max_size=200),
        st.lists(words, max_size=6).map(" ".join),
        st.lists(st.one_of(words, st.text(min_size=1, max_size=20)), max_size=5).map(" ".join),
    )


@st.composite
def block_actions(draw: st.DrawFn, action_ids: st.SearchStrategy[str], values: st.SearchStrategy[str],
                  users: st.SearchStrategy[dict[str, str]], extra_keys: bool = False) -> dict[str, Any]:
    """A block_actions payload with the given buttons, clicked by one of `users`, from a channel or not;
    with `extra_keys`, some of Slack's other fields carry arbitrary JSON."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "corp"},
        "user": draw(users),
        "api_app_id": "A1",
        "trigger_id": draw(st.text(min_size=1, max_size=12)),
        "actions": [{"type": "button", "action_id": draw(action_ids), "block_id": "b",
                     "value": draw(values), "action_ts": "1.0"}],
    }
    if draw(st.booleans()):
        payload["channel"] = {"id": APPROVALS_CHANNEL}
        payload["container"] = {"type": "message", "message_ts": "1.0", "channel_id": APPROVALS_CHANNEL}
    if extra_keys:
        for key in draw(st.lists(st.sampled_from(["extra", "state", "message", "response_url"]), max_size=2)):
            payload[key] = draw(JSONISH)
    return payload


def assert_answered(world: LocalWorld, command: str, text: str) -> None:
    """`command text` gets a 200, then a reply a person can read or a form opened with its trigger."""
    response = world.driver.slash_command(command, text, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200, response.text
    key, trigger = world.driver.last_response_key, world.driver.last_trigger_id
    eventually(lambda: _answered(world, key, trigger), timeout=10, what=f"an answer to {text!r}")
    for reply in world.slack.responses(key):
        assert (reply.get("text") or reply.get("blocks")), "an answer a person can read"


def _answered(world: LocalWorld, response_key: str, trigger_id: str) -> bool:
    if world.slack.responses(response_key):
        return True
    return any(c.params.get("trigger_id") == trigger_id for c in world.slack.calls("views.open"))
