"""When the database cannot take a write (the disk is full, it went away), whatever a person just did was not
recorded: they are told so, and to try again, rather than see a 500 or nothing at all. A click (or a command)
gets an ephemeral answer, as its HTTP answer may already have gone (the ack front answers clicks at once); a
modal submission not answered yet keeps the modal open with the words on its first field. Bolt's one error
handler (bot.slack.listener_errors) asks here first."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltResponse
from sqlalchemy.exc import OperationalError

from bot.offboarding.slack.blocks import error_message
from bot.offboarding.slack.notify import SlackNotifier

log = logging.getLogger(__name__)

NOTHING_RECORDED = ("Nothing was recorded: offboard could not write to its database just now (it may be out of "
                    "disk space). Please try again in a few minutes.")


def is_storage_failure(error: BaseException) -> bool:
    return isinstance(error, OperationalError)


def answer_unrecorded(body: Any, notifier: SlackNotifier, *, answered: bool) -> BoltResponse | None:
    """Tell the person that nothing was recorded: in the modal when a submission is not answered yet (its
    answer is returned), ephemerally (or by DM) otherwise, answering 200 when Slack still waits for an answer:
    they were told, and a retry by Slack would only tell them again."""
    body = body if isinstance(body, dict) else {}
    if body.get("type") == "view_submission" and not answered:
        block = _first_input(body.get("view") or {})
        if block:
            return BoltResponse(status=200, body={"response_action": "errors", "errors": {block: NOTHING_RECORDED}})
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = ((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
               or body.get("channel_id"))
    if user:
        try:
            if channel:
                notifier.ephemeral(channel, user, NOTHING_RECORDED)
            else:
                notifier.dm(user, error_message(NOTHING_RECORDED))
        except Exception as exc:  # Slack failing too: the log line is what is left
            log.warning("could not tell %s that nothing was recorded: %s", user, exc)
    return None if answered else BoltResponse(status=200, body="")


def _first_input(view: dict[str, Any]) -> str | None:
    return next((b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input" and b.get("block_id")),
                None)
