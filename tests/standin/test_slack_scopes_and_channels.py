"""The stand-in tells the real WebClient the token's scopes as Slack does (the `x-oauth-scopes` header) and
answers `conversations.info` with the bot's membership, refusing it without the scope Slack requires."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.demo.standin.slack_api import DEFAULT_SCOPES, SCOPES_HEADER, SlackStandIn

ROOT = Path(__file__).resolve().parents[2]


def error_of(call: object) -> dict:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return dict(raised.value.response.data)  # type: ignore[arg-type]


def test_the_stand_in_is_installed_with_the_scopes_the_manifest_declares() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert sorted(DEFAULT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])


def test_every_answer_lists_the_granted_scopes_in_the_header(client: WebClient, slack: SlackStandIn) -> None:
    answer = client.auth_test()
    assert answer.headers[SCOPES_HEADER].split(",") == list(DEFAULT_SCOPES)
    slack.set_scopes(["chat:write", "commands"])
    assert client.users_info(user="UBOB").headers[SCOPES_HEADER] == "chat:write,commands"


def test_a_refused_token_gets_no_scopes(slack: SlackStandIn) -> None:
    stranger = WebClient(token="xoxb-wrong", base_url=slack.url + "/api/")
    with pytest.raises(SlackApiError) as raised:
        stranger.auth_test()
    assert raised.value.response["error"] == "invalid_auth"
    assert SCOPES_HEADER not in {k.lower() for k in raised.value.response.headers}


def test_conversations_info_says_whether_the_bot_is_in_the_channel(client: WebClient, slack: SlackStandIn) -> None:
    slack.set_channel("CNOTIFY", name="offboarding-news", member=False)
    shown = client.conversations_info(channel="CNOTIFY")["channel"]
    assert (shown["id"], shown["name"], shown["is_member"], shown["is_private"]) == (
        "CNOTIFY", "offboarding-news", False, False)
    assert client.conversations_info(channel="CAPPROVALS")["channel"]["is_member"] is True  # never configured
    assert error_of(lambda: client.conversations_info(channel="#approvals"))["error"] == "channel_not_found"


def test_a_bot_outside_a_channel_cannot_post_there(client: WebClient, slack: SlackStandIn) -> None:
    slack.set_channel("CNOTIFY", member=False)
    assert error_of(lambda: client.chat_postMessage(channel="CNOTIFY", text="hi"))["error"] == "not_in_channel"
    slack.set_channel("GSECRET", member=False)
    assert error_of(lambda: client.chat_postMessage(channel="GSECRET", text="hi"))["error"] == "channel_not_found"
    assert slack.messages("CNOTIFY") == [] and slack.messages("GSECRET") == []


def test_private_channels_need_groups_read_and_hide_when_the_bot_is_not_in_them(
    client: WebClient, slack: SlackStandIn
) -> None:
    slack.set_channel("GSECURITY", member=True)
    assert client.conversations_info(channel="GSECURITY")["channel"]["is_private"] is True
    slack.set_channel("GSECURITY", member=False)
    assert error_of(lambda: client.conversations_info(channel="GSECURITY"))["error"] == "channel_not_found"
    slack.set_scopes([s for s in DEFAULT_SCOPES if s != "groups:read"])
    refused = error_of(lambda: client.conversations_info(channel="GSECURITY"))
    assert refused["error"] == "missing_scope" and refused["needed"] == "groups:read"
    assert client.conversations_info(channel="CAPPROVALS")["ok"]  # public channels need channels:read only


def test_without_channels_read_membership_cannot_be_seen(client: WebClient, slack: SlackStandIn) -> None:
    slack.set_scopes([s for s in DEFAULT_SCOPES if s != "channels:read"])
    refused = error_of(lambda: client.conversations_info(channel="CAPPROVALS"))
    assert refused["error"] == "missing_scope" and refused["needed"] == "channels:read"
    assert "channels:read" not in refused["provided"].split(",")
