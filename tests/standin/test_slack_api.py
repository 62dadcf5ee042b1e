"""The stand-in answers the real slack_sdk WebClient the way Slack does, and remembers what it saw."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn, SlackUser

CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Offboard alice@corp.com"}},
    {"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}, "value": "1"},
    ]},
]


def error_of(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def test_auth_test_answers_as_the_bot(client: WebClient) -> None:
    answer = client.auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("UBOT", "BBOT", "T1")


def test_post_then_update_changes_the_message_in_place(client: WebClient, slack: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="CAPPROVALS", text="Offboard alice", blocks=CARD)
    assert posted["channel"] == "CAPPROVALS" and posted["message"]["blocks"] == CARD
    second = client.chat_postMessage(channel="CAPPROVALS", text="another")
    assert float(second["ts"]) > float(posted["ts"])  # unique and increasing, like Slack's

    client.chat_update(channel="CAPPROVALS", ts=posted["ts"], text="Approved", blocks=CARD[:1])

    card = slack.message("CAPPROVALS", posted["ts"])
    assert card is not None and card["text"] == "Approved" and card["blocks"] == CARD[:1]
    assert [m["text"] for m in slack.messages("CAPPROVALS")] == ["Approved", "another"]
    update = slack.calls("chat.update")[0]
    assert update.params["blocks"] == CARD[:1] and update.token == DEFAULT_TOKEN and update.user == "UBOT"


def test_update_of_an_unknown_message_fails(client: WebClient) -> None:
    error = error_of(lambda: client.chat_update(channel="CAPPROVALS", ts="1.000100", text="x"))
    assert error.response["error"] == "message_not_found"


def test_thread_replies_are_kept_apart_from_the_channel(client: WebClient, slack: SlackStandIn) -> None:
    parent = client.chat_postMessage(channel="CAPPROVALS", text="card")
    client.chat_postMessage(channel="CAPPROVALS", text="log line", thread_ts=parent["ts"])
    assert [m["text"] for m in slack.messages("CAPPROVALS")] == ["card"]
    assert [m["text"] for m in slack.replies("CAPPROVALS", parent["ts"])] == ["log line"]


def test_posting_to_an_unknown_channel_or_without_text_fails(client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="#nope", text="x")).response["error"] == "channel_not_found"
    no_text = error_of(lambda: client.api_call("chat.postMessage", json={"channel": "C1"}))
    assert no_text.response["error"] == "no_text"


def test_too_many_blocks_are_refused_as_slack_would(client: WebClient) -> None:
    blocks = [{"type": "divider"} for _ in range(51)]
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert "fewer than 51 items" in error.response["errors"][0]


def test_a_long_button_label_is_refused(client: WebClient) -> None:
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}
    blocks = [{"type": "actions", "elements": [button]}]
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert "/blocks/0/elements/0/text/text" in error.response["errors"][0]


def test_conversations_open_gives_a_stable_dm_that_messages_land_in(client: WebClient, slack: SlackStandIn) -> None:
    first = client.conversations_open(users="UBOB")["channel"]["id"]
    assert first.startswith("D") and client.conversations_open(users="UBOB")["channel"]["id"] == first
    assert client.conversations_open(users="UALICE")["channel"]["id"] != first
    client.chat_postMessage(channel=first, text="hi bob")
    client.chat_postMessage(channel="UBOB", text="by user id")  # Slack posts this to the DM too
    assert [m["text"] for m in slack.messages(first)] == ["hi bob", "by user id"]
    assert error_of(lambda: client.conversations_open(users="UNOBODY")).response["error"] == "user_not_found"


def test_users_are_found_by_id_and_email(client: WebClient) -> None:
    alice = client.users_lookupByEmail(email="Alice@Corp.com")["user"]
    assert alice["id"] == "UALICE" and alice["profile"]["email"] == "alice@corp.com"
    info = client.users_info(user="UGONE")["user"]
    assert info["deleted"] is True and info["is_bot"] is False and info["real_name"] == "Gone Person"
    assert error_of(lambda: client.users_lookupByEmail(email="x@corp.com")).response["error"] == "users_not_found"
    assert error_of(lambda: client.users_info(user="UNOBODY")).response["error"] == "user_not_found"


def test_seed_users_and_groups_can_be_given() -> None:
    with SlackStandIn([SlackUser("UX", "x", "X Person", "x@corp.com")], {"SX": ["UX"]}) as slack:
        other = WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/")
        assert other.usergroups_users_list(usergroup="SX")["users"] == ["UX"]
        assert error_of(lambda: other.users_info(user="UREQ")).response["error"] == "user_not_found"


def test_usergroup_members(client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="SAPPROVERS")["users"] == ["UAPP1", "UAPP2"]
    error = error_of(lambda: client.usergroups_users_list(usergroup="SNOPE"))
    assert error.response["error"] == "no_such_subteam"


def test_a_wrong_token_is_refused_and_still_recorded(slack: SlackStandIn) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.url + "/api/")
    assert error_of(lambda: wrong.chat_postMessage(channel="C1", text="x")).response["error"] == "invalid_auth"
    call = slack.calls("chat.postMessage")[0]
    assert call.token == "xoxb-wrong" and call.user is None and not call.ok
    assert slack.messages("C1") == []


def test_the_token_may_come_as_a_form_field_with_json_fields_as_strings(slack: SlackStandIn) -> None:
    form = {"token": DEFAULT_TOKEN, "channel": "C1", "text": "x", "blocks": json.dumps(CARD)}
    answer = httpx.post(slack.url + "/api/chat.postMessage", data=form).json()
    assert answer["ok"] is True
    call = slack.calls("chat.postMessage")[0]
    assert call.params["blocks"] == CARD and "token" not in call.params and call.token == DEFAULT_TOKEN


def test_an_unknown_method_says_so(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.scheduleNothing")).response["error"] == "unknown_method"


def test_a_forced_429_surfaces_with_retry_after(client: WebClient, slack: SlackStandIn) -> None:
    slack.rate_limit("chat.postMessage", retry_after=7)
    error = error_of(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert error.response.headers["Retry-After"] in ("7", ["7"])
    client.chat_postMessage(channel="C1", text="x")  # once only
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 200]
    assert client.auth_test()["ok"]  # other methods were never limited


def test_a_retry_handler_gets_through_after_the_429(slack: SlackStandIn) -> None:
    client = WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/",
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    slack.rate_limit("chat.postMessage", retry_after=0)
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert len(slack.messages("C1")) == 1


def test_views_open_needs_a_fresh_trigger_and_a_valid_modal(client: WebClient, slack: SlackStandIn) -> None:
    modal = {"type": "modal", "callback_id": "req", "title": {"type": "plain_text", "text": "Offboard"},
             "blocks": []}
    assert error_of(lambda: client.views_open(trigger_id="", view=modal)).response["error"] == "invalid_trigger_id"
    opened = client.views_open(trigger_id="t1", view=modal)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "req"
    assert error_of(lambda: client.views_open(trigger_id="t1", view=modal)).response["error"] == "exchanged_trigger_id"
    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    assert error_of(lambda: client.views_open(trigger_id="t2", view=long_title)).response["error"] == (
        "invalid_arguments"
    )
    updated = client.views_update(view_id=opened["id"], view={**modal, "callback_id": "req2"})["view"]
    assert updated["id"] == opened["id"] and slack.view(opened["id"])["callback_id"] == "req2"  # type: ignore[index]
    assert error_of(lambda: client.views_update(view_id="VNOPE", view=modal)).response["error"] == "not_found"


def test_ephemerals_and_permalinks(client: WebClient, slack: SlackStandIn) -> None:
    assert client.chat_postEphemeral(channel="C1", user="UMAL", text="not for you")["message_ts"]
    assert [e["text"] for e in slack.ephemerals(user="UMAL")] == ["not for you"]
    posted = client.chat_postMessage(channel="C1", text="card")
    link = client.chat_getPermalink(channel="C1", message_ts=posted["ts"])["permalink"]
    assert link.startswith("https://corp.slack.com/archives/C1/p")


def test_a_csv_upload_keeps_the_content_and_shows_in_the_channel(client: WebClient, slack: SlackStandIn) -> None:
    csv = "step,status\nremove,done\n"
    answer = client.files_upload_v2(channel="CAPPROVALS", filename="evidence.csv", content=csv,
                                    title="Evidence", initial_comment="Evidence for #1")
    assert answer["file"]["name"] == "evidence.csv"
    (upload,) = slack.files()
    assert upload.content == csv.encode() and upload.channel == "CAPPROVALS" and upload.title == "Evidence"
    (message,) = slack.messages("CAPPROVALS")
    assert message["text"] == "Evidence for #1" and message["files"][0]["id"] == upload.id


def test_wait_for_polls_until_a_late_call_arrives(client: WebClient, slack: SlackStandIn) -> None:
    later = threading.Timer(0.2, lambda: client.chat_postMessage(channel="C1", text="late"))
    later.start()
    call = slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "late", timeout=3)
    assert call.params["channel"] == "C1"
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"no chat\.update call"):
        slack.wait_for("chat.update", timeout=0.1)
    assert time.monotonic() - started < 1


def test_response_urls_record_payloads_and_act_on_their_message(client: WebClient, slack: SlackStandIn) -> None:
    posted = client.chat_postMessage(channel="C1", text="card", blocks=CARD)
    url = slack.response_url("act-1", channel="C1", ts=posted["ts"], user="UAPP1")
    hook = WebhookClient(url)
    assert hook.send(text="only you see this").status_code == 200
    assert hook.send(text="Approved", replace_original=True, blocks=CARD[:1]).status_code == 200
    assert [r["text"] for r in slack.responses("act-1")] == ["only you see this", "Approved"]
    assert [e["text"] for e in slack.ephemerals(user="UAPP1")] == ["only you see this"]
    assert slack.message("C1", posted["ts"])["text"] == "Approved"  # type: ignore[index]
    for _ in range(3):
        hook.send(text="again")
    assert hook.send(text="sixth").status_code == 404  # Slack allows five uses


def test_reset_forgets_calls_messages_and_faults(client: WebClient, slack: SlackStandIn) -> None:
    client.chat_postMessage(channel="C1", text="x")
    slack.rate_limit("auth.test", times=None)
    slack.reset()
    assert slack.calls() == [] and slack.messages("C1") == []
    assert client.auth_test()["ok"]
