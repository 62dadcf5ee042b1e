"""`/offboard` and the request modal it opens. Every listener acks first and works after."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.audit import evidence
from bot.audit.slack import blocks as audit_blocks
from bot.audit.slack import report as audit_report_slack
from bot.engine import decisions
from bot.offboarding import changes, emergency, scheduled_actions
from bot.offboarding.parsing import (
    AuditAsk,
    AuditExport,
    AuditReportAsk,
    AuditShow,
    AuditUsage,
    Bulk,
    EmergencyStart,
    Help,
    Invalid,
    ReviewNow,
    Start,
    Status,
    SweepNow,
    Target,
    parse_command,
)
from bot.offboarding.slack import blocks
from bot.offboarding.slack.change_forms import read_mode_choice
from bot.offboarding.slack.forms import read_request_form
from bot.offboarding.values import Reason, RequestDraft, RequestSnapshot
from bot.runtime.deps import Deps
from bot.slack import mrkdwn
from bot.slack.post import SlackPoster
from storage.models import RequestMode

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    @app.command("/offboard")
    def offboard_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        handle_offboard(deps, command, respond, client)

    @app.view(blocks.REQUEST_MODAL)
    def request_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        handle_request_submission(deps, ack, body, view, client)


def _reply(respond: Respond, message: blocks.Message) -> None:
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


def handle_offboard(deps: Deps, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
    parsed = parse_command(command.get("text") or "", deps.vendor_names)
    try:
        match parsed:
            case Help():
                _reply(respond, blocks.help_message())
            case Invalid(message):
                _reply(respond, blocks.error_message(message))
            case Status(target):
                _status(deps, target, command["user_id"], respond)
            case EmergencyStart() | Bulk():  # emergency removal, bulk offboarding
                changes.handle_command(deps, parsed, command, respond, client, _resolve)
            case Start():
                _start(deps, parsed, command, respond, client)
            case AuditShow() | AuditExport() | AuditReportAsk() | AuditUsage():
                _audit(deps, parsed, command, respond, client)
            case SweepNow() | ReviewNow():  # scheduled work, run now
                scheduled_actions.handle_command(deps, parsed, command, respond)
    except SlackApiError as exc:
        log.warning("Slack call failed while handling /offboard: %s", exc.response.get("error"))
        _reply(respond, blocks.error_message(f"Slack did not answer ({exc.response.get('error')}). Try again."))


def _resolve(deps: Deps, target: Target) -> tuple[str, str | None, str] | str:
    """(email, slack id, name) of the person, or a message saying why they cannot be found."""
    if target.slack_id:
        found = deps.directory.by_id(target.slack_id)
        if found is None:
            return f"I cannot find the Slack user {mrkdwn.user(target.slack_id)}."
        if found.is_bot:
            return f"{mrkdwn.user(found.user_id)} is a bot, not a person."
        if not found.email:
            return f"{mrkdwn.user(found.user_id)} has no email in their Slack profile. Use their email address instead."
        return found.email, found.user_id, found.name
    assert target.email
    # Leavers are often deactivated in Slack already, so an email Slack does not know is still fine.
    found = deps.directory.by_email(target.email)
    return target.email, (found.user_id if found else None), (found.name if found else "")


def _status(deps: Deps, target: Target, viewer: str, respond: Respond) -> None:
    """A person's requests, to those with a part in them only; everyone else, the person leaving included, gets
    the same neutral answer whether or not there is a request. Every look is recorded."""
    resolved = _resolve(deps, target)
    if isinstance(resolved, str):
        _reply(respond, blocks.error_message(resolved))
        return
    email, slack_id = resolved[0], resolved[1]
    roles = decisions.Roles(deps.workflow.may_approve, deps.workflow.may_respond, lambda u: u in deps.audit_admins)
    found = deps.workflow.requests_for(email)
    shown = [s for s in found if decisions.may_view(viewer, _view_case(s, slack_id), roles)]
    withheld = [s.id for s in found if s not in shown]
    sees_all = decisions.sees_every_request(viewer, roles) and viewer != slack_id
    refused = not shown and not sees_all
    decisions.record_look(deps.workflow.db, viewer, email, shown=[s.id for s in shown], withheld=withheld,
                          refused=refused, at=deps.clock())
    if refused:
        _reply(respond, blocks.Message(text=NOT_YOURS_TO_SEE, blocks=[]))
        return
    _reply(respond, blocks.status_message(email, shown, deps.clock()))


# The same words whether or not a request exists, so the answer tells nothing about one.
NOT_YOURS_TO_SEE = ("You can see only offboarding requests you have a part in: ones you asked for, or decide on as "
                    "an approver. Ask an approver or your IT team if you need to know more.")


def _view_case(snapshot: RequestSnapshot, leaver: str | None) -> decisions.Case:
    case = replace(decisions.request_case(snapshot.request), leaver=snapshot.request.subject_slack_id or leaver)
    return replace(case, kind=decisions.Kind.EMERGENCY) if snapshot.change.mode == RequestMode.EMERGENCY else case


def _start(deps: Deps, parsed: Start, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
    resolved = _resolve(deps, parsed.target)
    if isinstance(resolved, str):
        _reply(respond, blocks.error_message(resolved))
        return
    email, slack_id, name = resolved
    already = deps.workflow.open_request_for(email)
    if already is not None:
        _reply(respond, blocks.error_message(mrkdwn.escape(_already_open_text(email, already))))
        return
    prefill = blocks.ModalPrefill(
        subject=email,
        reason=parsed.reason,
        note=parsed.note,
        channel_id=command.get("channel_id", ""),
        subject_slack_id=slack_id,
        subject_name=name,
        vendors=deps.vendor_names,
        chosen_vendors=parsed.vendors,
        vendor_labels={name: v.label for name, v in deps.workflow.vendors.items()},
        offer_modes=True,  # also chosen projects only, and read-only
    )
    client.views_open(trigger_id=command["trigger_id"], view=blocks.request_modal(prefill))


# -- audit evidence (admins only) ---------------------------------------------------------------
def may_see_audit(deps: Deps, user_id: str) -> bool:
    """Audit admins (OFFBOARD_AUDIT_ADMINS), or, when none are configured, whoever may approve."""
    if deps.audit_admins:
        return user_id in deps.audit_admins
    return deps.workflow.may_approve(user_id)


def _audit(deps: Deps, parsed: AuditAsk, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
    user = command["user_id"]
    if not may_see_audit(deps, user):
        with deps.workflow.db.session() as session:
            evidence.record_access(session, evidence.REFUSED, user, via="slack",
                                   asked=f"/offboard {command.get('text') or ''}".strip())
        _reply(respond, audit_blocks.refusal_message())
        return
    match parsed:
        case AuditUsage(message):
            _reply(respond, audit_blocks.usage_message(message))
        case AuditShow(target):
            _audit_show(deps, user, target, respond)
        case AuditExport(since):
            _audit_export(deps, user, since, respond, client)
        case AuditReportAsk():
            audit_report_slack.send(deps, user, parsed, respond, client)


def _audit_show(deps: Deps, user: str, target: Target, respond: Respond) -> None:
    resolved = _resolve(deps, target)
    if isinstance(resolved, str):
        _reply(respond, blocks.error_message(resolved))
        return
    email = resolved[0]
    with deps.workflow.db.session() as session:
        found = evidence.evidence_for(session, email)
        for item in found[: audit_blocks.MAX_REQUESTS]:
            evidence.record_access(session, evidence.VIEWED, user, via="slack", request_id=item.request_id)
    labels = {name: v.label for name, v in deps.workflow.vendors.items()}
    _reply(respond, audit_blocks.evidence_message(email, found, labels))


def _audit_export(deps: Deps, user: str, since: datetime | None, respond: Respond, client: WebClient) -> None:
    with deps.workflow.db.session() as session:
        rows = evidence.removal_rows(session, since)
    content = evidence.render_csv(rows)
    day = deps.clock().strftime("%Y-%m-%d")
    channel = SlackPoster(client).dm_channel(user)
    client.files_upload_v2(
        channel=channel,
        filename=f"offboard-removals-{day}.csv",
        content=content,
        title=f"Offboarding removal log {day}",
        initial_comment=audit_blocks.export_comment(len(rows), since),
    )
    with deps.workflow.db.session() as session:
        evidence.record_access(session, evidence.EXPORTED, user, via="slack", format="csv", rows=len(rows),
                               since=since, request_ids=[r.request_id for r in rows])
    _reply(respond, audit_blocks.export_sent_message(len(rows), since))


def _already_open_text(email: str, request_id: int) -> str:
    """Plain text (a form error shows it as is); escape it for a message."""
    return (
        f"{email} already has an open offboarding request (#{request_id}). "
        f"See `/offboard status {email}`, or cancel that one first."
    )


def handle_request_submission(
    deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
) -> None:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = view.get("state", {}).get("values", {})
    form = read_request_form(values, deps.clock(), subject_slack_id=meta.get("subject_slack_id"))
    if isinstance(form, dict):
        ack(response_action="errors", errors=form)
        return
    choice = read_mode_choice(values)  # full removal, chosen projects only, read-only; or an emergency
    if isinstance(choice, dict):
        ack(response_action="errors", errors=choice)
        return
    if form.reason == Reason.SECURITY_INCIDENT and choice.mode == RequestMode.FULL:
        emergency.handle_form_submission(deps, ack, body, form, meta)
        return
    already = deps.workflow.open_request_for(form.subject_email)
    if already is not None:
        ack(response_action="errors", errors={"subject": _already_open_text(form.subject_email, already)})
        return
    ack()

    requester = body["user"]["id"]
    subject_id, subject_name = meta.get("subject_slack_id"), meta.get("subject_name", "")
    if form.subject_email != meta.get("subject_email"):  # the email was edited in the form
        found = deps.directory.by_email(form.subject_email)
        subject_id, subject_name = (found.user_id, found.name) if found else (None, "")
    new_owner_email = None
    if form.new_owner_slack_id:
        new_owner = deps.directory.by_id(form.new_owner_slack_id)
        new_owner_email = new_owner.email if new_owner else None
    request_id = deps.workflow.create_request(
        RequestDraft(
            subject_email=form.subject_email,
            reason=form.reason,
            requester_id=requester,
            subject_slack_id=subject_id,
            subject_name=subject_name,
            ticket=form.ticket,
            note=form.note,
            new_owner_slack_id=form.new_owner_slack_id,
            new_owner_email=new_owner_email,
            effective_at=form.effective_at,
            vendors=form.vendors or (tuple(meta["vendors"]) if meta.get("vendors") else None),
            source_channel=meta.get("channel_id"),
            mode=choice.mode,
            mode_params=choice.params,
        )
    )
    deps.workflow.start_assessment(request_id)
    _acknowledge_request(deps, requester, meta.get("channel_id"), request_id, form.subject_email)


def _acknowledge_request(deps: Deps, requester: str, channel: str | None, request_id: int, email: str) -> None:
    text = (
        f"Offboarding request #{request_id} for {mrkdwn.escape(email)} is created. The approval card is in "
        f"{mrkdwn.channel(deps.notifier.approvals_channel)}; I will message you the outcome."
    )
    SlackPoster(deps.notifier.client).tell(requester, blocks.Message(text=text, blocks=[]), channel)
