"""Invitations' buttons and the reject form, and the wiring of `/onboard` into the app.
Each listener acks first, then asks `bot.onboarding.workflow`, and tells only the clicker when it refuses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.engine.decisions import Act
from bot.offboarding.slack.actions import target_id, tell, view_metadata
from bot.offboarding.slack.blocks import Message, error_message
from bot.offboarding.values import ActionResult
from bot.onboarding.slack import blocks as onboard_blocks
from bot.onboarding.slack import commands as onboard_commands
from bot.onboarding.workflow import Onboarding
from bot.runtime.deps import Deps
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from bot.slack.post import SlackPoster

log = logging.getLogger(__name__)

ClickHandler = Callable[[int, str], ActionResult]


def register(app: App, deps: Deps, onboarding: Onboarding) -> None:
    """`/onboard`, its forms and its buttons."""
    onboard_commands.register(app, deps, onboarding)
    card_clicks: dict[str, ClickHandler] = {
        onboard_blocks.APPROVE: onboarding.approve,
        onboard_blocks.WITHDRAW: onboarding.withdraw,
        onboard_blocks.RETRY: onboarding.retry,
        onboard_blocks.CONFIRM: onboarding.confirm_manual,
    }
    for action_id, handler in card_clicks.items():
        app.action(action_id)(_card_click(deps, handler))
    for action_id, handler in ((onboard_blocks.RESEND, onboarding.resend),
                               (onboard_blocks.CANCEL_INVITE, onboarding.cancel_invite)):
        app.action(action_id)(_pending_click(deps, onboarding, handler, action_id))

    @app.action(onboard_blocks.REJECT)
    def reject_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        batch_id = target_id(action)
        refusal = (onboarding.decision_refusal(batch_id, body["user"]["id"], Act.REJECT) if batch_id is not None
                   else ActionResult(False, "That button carries no invitation; nothing was changed."))
        if refusal or batch_id is None:
            tell(deps, body, refusal or ActionResult(False, "Nothing was changed."))
            return
        channel = (body.get("channel") or {}).get("id") or ""
        client.views_open(trigger_id=body["trigger_id"], view=onboard_blocks.reject_modal(batch_id, channel))

    @app.view(onboard_blocks.REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        comment = (view["state"]["values"].get("comment", {}).get("comment", {}).get("value") or "").strip()
        if not comment:
            ack(response_action="errors", errors={"comment": "Say why, so the inviter knows what to do next."})
            return
        meta = view_metadata(view)
        if not isinstance(meta.get("batch_id"), int):
            ack(response_action="errors", errors={"comment": "offboard could not tell which invitation this form "
                                                             "is for; nothing was changed. Close it and try again."})
            return
        ack()
        result = onboarding.reject(meta["batch_id"], body["user"]["id"], comment[:2000])
        if not result.ok:
            tell(deps, {"user": body["user"], "channel": {"id": meta.get("channel")}}, result)


def _card_click(deps: Deps, handler: ClickHandler) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        target = target_id(action)
        if target is None:
            tell(deps, body, ActionResult(False, "That button carries no invitation; nothing was changed."))
            return
        tell(deps, body, handler(target, body["user"]["id"]))

    return listener


def _pending_click(deps: Deps, onboarding: Onboarding, handler: ClickHandler, action_id: str) -> Callable[..., None]:
    """Resend and Cancel, from `/onboard pending` or a reminder: the answer says what happens, with the tool's
    click path when a person must do it (the card keeps it, with Mark done)."""
    verb = "Resending" if action_id == onboard_blocks.RESEND else "Cancelling"

    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        send_id = target_id(action)
        result = (handler(send_id, body["user"]["id"]) if send_id is not None
                  else ActionResult(False, "That button carries no invitation; nothing was changed."))
        if not result.ok or send_id is None:
            message = error_message(result.message)
        else:
            message = _started_message(onboarding, send_id, verb)
        _answer(deps, body, respond, message)

    return listener


def _answer(deps: Deps, body: dict[str, Any], respond: Respond, message: Message) -> None:
    """Only the clicker sees it: through the click's response_url, else in its channel, else by DM."""
    if body.get("response_url"):
        respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    SlackPoster(deps.notifier.client).tell(body["user"]["id"], message, channel)


def _started_message(onboarding: Onboarding, send_id: int, verb: str) -> Message:
    view = onboarding.send_view(send_id)
    email, label = escape(view.email), escape(view.send.label)
    card = mrkdwn.channel(view.card_channel) if view.card_channel else "the card"
    manual = [(s.title, s.instructions) for s in view.send.open_manual_steps]
    if manual:
        text = (f"{label} cannot do this through its API: {verb.lower()} {email}'s invitation is a step by hand "
                f"(below). Tick it with Mark done on the card in {card} once done.")
    else:
        text = f"{verb} {email}'s {label} invitation. The card in {card} shows the outcome."
    return onboard_blocks.action_result_message(text, manual)


