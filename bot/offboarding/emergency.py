"""The Slack side of emergency removal: `/offboard @bob emergency [note]` (or the form with reason
"security incident" and full removal), the Acknowledge button, and the periodic reminders.
Listeners ack first and work after; refusals are told only to the person who asked."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.offboarding.parsing import EmergencyStart, Target
from bot.offboarding.slack import blocks, change_blocks
from bot.offboarding.slack.actions import click_listener
from bot.offboarding.slack.forms import RequestForm
from bot.offboarding.values import Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.runtime.deps import Deps
from bot.slack import mrkdwn

log = logging.getLogger(__name__)

Resolver = Callable[[Deps, Target], tuple[str, str | None, str] | str]


def register(app: App, deps: Deps) -> None:
    app.action(change_blocks.ACKNOWLEDGE)(click_listener(deps, deps.workflow.acknowledge_emergency))


def start_from_command(deps: Deps, parsed: EmergencyStart, command: dict[str, Any], respond: Respond,
                       resolve: Resolver) -> None:
    received_at = deps.clock()
    user = command["user_id"]
    resolved = resolve(deps, parsed.target)
    if isinstance(resolved, str):
        _reply(respond, blocks.error_message(resolved))
        return
    email, slack_id, name = resolved
    draft = RequestDraft(subject_email=email, reason=Reason.SECURITY_INCIDENT, requester_id=user,
                         subject_slack_id=slack_id, subject_name=name, note=parsed.note[:2000],
                         source_channel=command.get("channel_id"))
    started = deps.workflow.start_emergency(draft, user, received_at=received_at)
    if started.request_id is None:
        _reply(respond, blocks.error_message(started.message))
        return
    _reply(respond, _started_message(deps, started.request_id, email))


def handle_form_submission(deps: Deps, ack: Ack, body: dict[str, Any], form: RequestForm,
                           meta: dict[str, Any]) -> None:
    """The request form with reason "security incident" and full removal: an emergency. Refused in the
    form itself (and recorded) for anyone who is not a responder."""
    received_at = deps.clock()
    user = body["user"]["id"]
    if form.effective_at is not None:
        ack(response_action="errors", errors={"effective_date": "An emergency removal happens now: clear the date, "
                                                                "or choose another reason to schedule it."})
        return
    draft = RequestDraft(subject_email=form.subject_email, reason=Reason.SECURITY_INCIDENT, requester_id=user,
                         ticket=form.ticket, note=form.note, new_owner_slack_id=form.new_owner_slack_id,
                         source_channel=meta.get("channel_id"))
    if not deps.workflow.may_respond(user):
        refused = deps.workflow.start_emergency(draft, user, received_at=received_at)  # records the attempt
        ack(response_action="errors", errors={"reason": refused.message})
        return
    ack()
    subject_id, subject_name = meta.get("subject_slack_id"), meta.get("subject_name", "")
    if form.subject_email != meta.get("subject_email"):  # the email was edited in the form
        found = deps.directory.by_email(form.subject_email)
        subject_id, subject_name = (found.user_id, found.name) if found else (None, "")
    new_owner = deps.directory.by_id(form.new_owner_slack_id) if form.new_owner_slack_id else None
    draft = replace(draft, subject_slack_id=subject_id, subject_name=subject_name,
                    new_owner_email=new_owner.email if new_owner else None)
    started = deps.workflow.start_emergency(draft, user, received_at=received_at)
    message = (_started_message(deps, started.request_id, form.subject_email) if started.request_id is not None
               else blocks.error_message(started.message))
    deps.notifier.dm(user, message)


def _started_message(deps: Deps, request_id: int, email: str) -> blocks.Message:
    channel = deps.workflow.change_notifier.security_channel if deps.workflow.change_notifier else ""
    where = f" in {mrkdwn.channel(channel)}" if channel else ""
    text = (f":rotating_light: Emergency removal #{request_id} of {mrkdwn.escape(email)} started: removing from every "
            f"tool now, without approval. Follow it{where}; a second person must acknowledge it there.")
    return blocks.Message(text=text, blocks=[])


def _reply(respond: Respond, message: blocks.Message) -> None:
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


# -- periodic work -------------------------------------------------------------------------------------------------
def run_due_changes(workflow: Workflow) -> None:
    """Emergency reminders and closing dispute windows (bot/runtime/scheduler.py fires it). What is due lives
    in the database and is claimed row by row, so two bots never act twice."""
    try:
        workflow.remind_unacknowledged_emergencies()
        workflow.close_restore_windows()
    except Exception:
        log.exception("the emergency reminders or the dispute windows could not be checked")
