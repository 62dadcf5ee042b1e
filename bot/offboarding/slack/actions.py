"""The card's buttons and the reject modal. Each listener acks first, then asks the workflow, and
tells only the clicker (ephemerally) when the workflow refuses."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine import decisions
from bot.engine.decisions import Act
from bot.offboarding.slack import blocks, details_view
from bot.offboarding.values import ActionResult, RequestSnapshot
from bot.runtime.deps import Deps
from bot.slack import app_home
from storage.models import RequestMode

log = logging.getLogger(__name__)

ClickHandler = Callable[[int, str], ActionResult]


def register(app: App, deps: Deps) -> None:
    workflow = deps.workflow
    simple_clicks: dict[str, ClickHandler] = {
        blocks.APPROVE: workflow.approve,
        blocks.CANCEL: workflow.cancel,
        blocks.RETRY: workflow.retry_step,
    }
    for action_id, handler in simple_clicks.items():
        app.action(action_id)(click_listener(deps, handler))

    @app.action(blocks.DETAILS)
    def details_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        open_details(deps, body, action, client)

    @app.action(blocks.CONFIRM)
    def mark_done_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        mark_done(deps, body, action, client)

    @app.action(blocks.REASSESS)
    def reassess_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        request_text, _, vendor = str(action.get("value", "")).partition(":")
        request_id = parse_id(request_text)
        if request_id is None or not vendor:
            tell(deps, body, ActionResult(False, "That button carries no request; nothing was changed."))
            return
        tell(deps, body, workflow.reassess(request_id, vendor, body["user"]["id"]))

    @app.action(blocks.REJECT)
    def reject_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        open_reject_modal(deps, body, action, client)

    @app.view(blocks.REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        handle_reject_submission(deps, ack, body, view)


def click_listener(deps: Deps, handler: ClickHandler) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        target = target_id(action)
        if target is None:
            tell(deps, body, ActionResult(False, "That button carries no request; nothing was changed."))
            return
        tell(deps, body, handler(target, body["user"]["id"]))
        if (body.get("view") or {}).get("type") == "home":  # clicked in App Home: show it as it is now
            app_home.publish(deps, client, body["user"]["id"])

    return listener


# Our ids are database integers (64-bit at most): a longer number is no button of ours, and would overflow
# the query that looked it up.
MAX_ID_DIGITS = 18


def parse_id(text: str) -> int | None:
    """The id a button carries, or None for anything else (str.isdigit alone also takes "²" and "٣")."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS else None


def target_id(action: dict[str, Any]) -> int | None:
    return parse_id(str(action.get("value", "")))


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """The private_metadata our modals carry (a JSON object), or {} when it is anything else."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


UNREADABLE_FORM = "offboard could not tell which request this form is for; nothing was changed. Close it and try again."


def tell(deps: Deps, body: dict[str, Any], result: ActionResult) -> None:
    if result.ok:
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = body["user"]["id"]
    if channel:
        deps.notifier.ephemeral(channel, user, result.message)
    else:
        deps.notifier.dm(user, blocks.error_message(result.message))


def open_reject_modal(deps: Deps, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
    request_id = target_id(action)
    if request_id is None:
        tell(deps, body, ActionResult(False, "That button carries no request; nothing was changed."))
        return
    refusal = deps.workflow.decision_refusal(request_id, body["user"]["id"], Act.REJECT)
    if refusal:
        tell(deps, body, refusal)
        return
    snapshot = deps.workflow.snapshot(request_id)
    assert snapshot is not None
    request = snapshot.request
    view = blocks.reject_modal(request_id, request.card_channel or "", request.card_ts or "")
    client.views_open(trigger_id=body["trigger_id"], view=view)


def open_details(deps: Deps, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
    """The Details view, for whoever sees the card it was clicked on or has a part in the request."""
    request_id = target_id(action)
    snapshot = deps.workflow.snapshot(request_id) if request_id is not None else None
    viewer = body["user"]["id"]
    if snapshot is None or not _may_see(deps, snapshot, viewer, body):
        tell(deps, body, ActionResult(False, "offboard has no such request for you to see."))
        return
    card_channel = snapshot.request.card_channel or ""
    client.views_open(trigger_id=body["trigger_id"],
                      view=details_view.details_view(snapshot, deps.clock(), card_channel=card_channel))


def _may_see(deps: Deps, snapshot: RequestSnapshot, viewer: str, body: dict[str, Any]) -> bool:
    request = snapshot.request
    on_its_card = bool(request.card_ts) and (body.get("container") or {}).get("message_ts") == request.card_ts
    if on_its_card and viewer != request.subject_slack_id:
        return True  # the card itself shows the channel as much
    case = decisions.request_case(request)
    if snapshot.change.mode == RequestMode.EMERGENCY:
        case = replace(case, kind=decisions.Kind.EMERGENCY)
    roles = decisions.Roles(deps.workflow.may_approve, deps.workflow.may_respond, lambda u: u in deps.audit_admins)
    return decisions.may_view(viewer, case, roles)


def mark_done(deps: Deps, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
    """Mark done, from the Details view (which then shows the tick) or from an older card that still had it."""
    step_id = target_id(action)
    view = body.get("view") or {}
    # A refusal in a modal is said where the card is (the modal has no channel of its own).
    told = {"user": body["user"], "channel": {"id": view_metadata(view).get("channel")}} if view else body
    if step_id is None:
        tell(deps, told, ActionResult(False, "That button carries no request; nothing was changed."))
        return
    result = deps.workflow.confirm_manual_step(step_id, body["user"]["id"])
    tell(deps, told, result)
    request_id = view_metadata(view).get("request_id")
    if not view.get("id") or not isinstance(request_id, int):
        return
    snapshot = deps.workflow.snapshot(request_id)
    if snapshot is None:
        return
    refreshed = details_view.details_view(snapshot, deps.clock(),
                                          card_channel=str(view_metadata(view).get("channel") or ""))
    try:
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=refreshed)
    except SlackApiError as exc:  # closed, or changed since: the tick is recorded and the card shows it
        log.info("the Details view of request #%s was not refreshed: %s", request_id, exc.response.get("error"))


def handle_reject_submission(deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    comment = (view["state"]["values"].get("comment", {}).get("comment", {}).get("value") or "").strip()
    if not comment:
        ack(response_action="errors", errors={"comment": "Say why, so the requester knows what to do next."})
        return
    meta = view_metadata(view)
    request_id = meta.get("request_id")
    if not isinstance(request_id, int):
        ack(response_action="errors", errors={"comment": UNREADABLE_FORM})
        return
    ack()
    result = deps.workflow.reject(request_id, body["user"]["id"], comment[:2000])
    if not result.ok:
        fake_body = {"user": body["user"], "channel": {"id": meta.get("channel")}}
        tell(deps, fake_body, result)
