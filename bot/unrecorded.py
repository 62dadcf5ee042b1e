"""When the database cannot take a write (the disk is full, it went away), whatever a person just did was not
recorded: they are told so, and to try again, rather than see a 500 or nothing at all. A click (or a command)
gets an ephemeral answer, as its HTTP answer may already have gone (the ack front answers clicks at once); a
modal submission gets its error in the modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError

from bot.blocks import error_message

log = logging.getLogger(__name__)

NOTHING_RECORDED = ("Nothing was recorded: offboard could not write to its database just now (it may be out of "
                    "disk space). Please try again in a few minutes.")


def is_storage_failure(error: BaseException) -> bool:
    return isinstance(error, OperationalError)


def register(app: App) -> None:
    """Bolt's one error handler, for listeners and middleware (the delivery claim writes first) alike."""

    @app.error
    def storage_failed(error: Exception, body: dict[str, Any], request: BoltRequest) -> BoltResponse | None:
        if not is_storage_failure(error):
            log.error("a Slack listener failed", exc_info=error)
            return None
        log.error("a Slack delivery could not be recorded: %s", error)
        acked = request.context.ack is not None and request.context.ack.response is not None
        return tell_unrecorded(body or {}, request.context.client, answered=acked)


def tell_unrecorded(body: dict[str, Any], client: WebClient | None, *, answered: bool = False) -> BoltResponse:
    """Tell the person that nothing was recorded: in the modal when a submission is not answered yet (its
    answer is returned), ephemerally (or by DM) otherwise, answering 200: they were told, and a retry by Slack
    would only tell them again."""
    if body.get("type") == "view_submission" and not answered:
        block = _first_input(body.get("view") or {})
        if block:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {block: NOTHING_RECORDED}})
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") \
        or body.get("channel_id")
    told = BoltResponse(status=200, body="")
    if client is None or not user:
        return told
    message = error_message(NOTHING_RECORDED)
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=message.text, blocks=message.blocks)
        else:
            dm = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=dm, text=message.text, blocks=message.blocks)
    except SlackApiError as exc:
        log.warning("could not tell %s that nothing was recorded: %s", user, exc.response.get("error"))
    return told


def _first_input(view: dict[str, Any]) -> str | None:
    return next((b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input" and b.get("block_id")),
                None)
