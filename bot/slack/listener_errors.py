"""The one answer to whatever a listener (or middleware) did not expect: logged once, and the person who
clicked, typed or submitted is told, rather than Slack getting a 500 or the person hearing nothing.

Bolt calls `answer_unexpected` with `response` set when nothing has answered Slack yet (the listener failed
before its ack): what it returns becomes the answer. When the delivery was answered already (every click
and command behind the front, bot.runtime.front_link), `response` is None and the person is told in Slack instead.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import App, BoltResponse

from bot.offboarding.slack import blocks
from bot.offboarding.slack.notify import SlackNotifier
from bot.slack import unrecorded

log = logging.getLogger(__name__)

UNEXPECTED = ("offboard could not finish that: it hit an unexpected error, which is logged for whoever runs it. "
              "Look at the card or request before trying again; if this keeps happening, tell them.")
FORM_UNREADABLE = ("offboard could not take this form: it hit an unexpected error, which is logged. "
                   "Close it and try again.")


def register(app: App, notifier: SlackNotifier) -> None:
    @app.error
    def answer_unexpected(error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
        if unrecorded.is_storage_failure(error):  # a write the database refused: nothing was recorded, say so
            log.error("a Slack %s could not be recorded: %s", what(body), error)
            return unrecorded.answer_unrecorded(body, notifier, answered=response is None)
        log.error("a Slack %s failed: %s: %s", what(body), type(error).__name__, error,
                  exc_info=(type(error), error, error.__traceback__))
        if response is not None:
            return answer(body)
        tell(notifier, body)
        return None


def what(body: Any) -> str:
    """Which delivery this was, without what anyone typed: e.g. `block_actions (approve)`."""
    if not isinstance(body, dict):
        return "delivery"
    if body.get("command"):
        return f"command ({body['command']})"
    kind = str(body.get("type") or "delivery")
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return f"{kind} ({actions[0].get('action_id')})"
    view = body.get("view")
    if isinstance(view, dict):
        return f"{kind} ({view.get('callback_id')})"
    return kind


def answer(body: Any) -> BoltResponse:
    """Slack's answer when nothing answered yet: a modal says so in place of the form, a command ephemerally."""
    if isinstance(body, dict) and body.get("type") == "view_submission":
        view = {"type": "modal", "title": {"type": "plain_text", "text": "offboard"},
                "close": {"type": "plain_text", "text": "Close"},
                "blocks": [{"type": "section", "text": {"type": "plain_text", "text": FORM_UNREADABLE}}]}
        document: dict[str, Any] = {"response_action": "update", "view": view}
    elif isinstance(body, dict) and body.get("command"):
        document = {"response_type": "ephemeral", "text": UNEXPECTED}
    else:
        return BoltResponse(status=200, body="")  # a click's answer shows nowhere: tell the person instead
    return BoltResponse(status=200, body=json.dumps(document), headers={"content-type": "application/json"})


def tell(notifier: SlackNotifier, body: Any) -> None:
    """Tell the person in the channel they acted in (only they see it), or by DM where there is none."""
    if not isinstance(body, dict):
        return
    user = body.get("user_id") or _field(body, "user", "id")
    channel = body.get("channel_id") or _field(body, "channel", "id") or _field(body, "container", "channel_id")
    if not isinstance(user, str):
        return
    try:
        if isinstance(channel, str) and channel:
            notifier.ephemeral(channel, user, UNEXPECTED)
        else:
            notifier.dm(user, blocks.error_message(UNEXPECTED))
    except Exception as exc:  # Slack itself failing: the log line above is what is left
        log.warning("could not tell %s about the failure: %s", user, exc)


def _field(body: dict[str, Any], outer: str, inner: str) -> Any:
    value = body.get(outer)
    return value.get(inner) if isinstance(value, dict) else None
