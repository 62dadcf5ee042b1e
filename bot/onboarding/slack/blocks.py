"""Block Kit for invitations: the batch card, `/onboard pending`, the reminders, the forms.
Pure functions from onboarding state to Slack messages and modals."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.views import View

from bot.offboarding.slack.blocks import Message, ago, slack_date
from bot.onboarding.slack.views import FAILURE_HEADLINES, BatchView, FailureKind, PendingItem, PersonView, SendView
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import InviteBatchStatus, InviteState
from vendors.base import Role

# Callback and action ids: the contract between these messages and bot/onboarding/slack/actions.py.
ONBOARD_MODAL = "onboard_request"
CSV_MODAL = "onboard_csv"
REJECT_MODAL = "onboard_reject"
APPROVE = "onboard_approve"
REJECT = "onboard_reject_click"
WITHDRAW = "onboard_withdraw"
RETRY = "onboard_retry"
CONFIRM = "onboard_confirm_manual"
RESEND = "onboard_resend"
CANCEL_INVITE = "onboard_cancel_invite"
ALLOW_PERSONAL = "allow_personal"
CSV_FILE = "csv_file"

MAX_BLOCKS = 50
MAX_TEXT = 2900
MAX_PENDING_SHOWN = 20
ROLE_LABELS = {Role.OWNER: "Owner", Role.ADMIN: "Admin", Role.MEMBER: "Member", Role.READ_ONLY: "Read-only"}
BATCH_STATUS = {
    InviteBatchStatus.PENDING_APPROVAL: ":hourglass_flowing_sand: Waiting for approval",
    InviteBatchStatus.SENDING: ":outbox_tray: Sent, no approval needed",
    InviteBatchStatus.REJECTED: ":no_entry: Rejected",
    InviteBatchStatus.CANCELLED: ":heavy_minus_sign: Withdrawn",
}
APPROVED_STATUS = ":white_check_mark: Approved"
# Of a single send: what the card says after the tool's name.
STATE_LINES = {
    InviteState.WAITING: ":hourglass_flowing_sand: waits for approval",
    InviteState.QUEUED: ":arrows_counterclockwise: sending…",
    InviteState.SENDING: ":arrows_counterclockwise: sending…",
    InviteState.RESENDING: ":arrows_counterclockwise: resending…",
    InviteState.CANCELLING: ":arrows_counterclockwise: cancelling…",
    InviteState.MANUAL: ":raised_hand: to be sent by hand, then ticked on the card",
    InviteState.INVITED: ":envelope: invited",
    InviteState.ALREADY_INVITED: ":envelope: already had a pending invitation",
    InviteState.ALREADY_MEMBER: ":bust_in_silhouette: already a member",
    InviteState.CREATED: ":white_check_mark: account created",
    InviteState.ACCEPTED: ":white_check_mark: joined",
    InviteState.FAILED: ":x: failed",
    InviteState.CANCELLED: ":heavy_minus_sign: invitation cancelled",
    InviteState.REJECTED: ":no_entry: not sent (rejected)",
    InviteState.WITHDRAWN: ":heavy_minus_sign: not sent (withdrawn)",
}
CLOSED_STATES = (InviteState.REJECTED, InviteState.WITHDRAWN, InviteState.WAITING)


def _md(text: str) -> MarkdownTextObject:
    """mrkdwn already escaped (bot.slack.mrkdwn), inside Slack's length limit."""
    return MarkdownTextObject(text=mrkdwn.clip(text, MAX_TEXT))


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(blocks: list[Block], more: str) -> list[dict]:
    """Inside Slack's 50 blocks, keeping the last actions block and saying what was left out."""
    rendered = [b.to_dict() for b in blocks]
    if len(rendered) <= MAX_BLOCKS:
        return rendered
    actions = [b for b in rendered if b["type"] == "actions"][-1:]
    kept = [b for b in rendered if b not in actions][: MAX_BLOCKS - 1 - len(actions)]
    left_out = len(rendered) - len(kept) - len(actions)
    note = ContextBlock(elements=[_md(f"_{left_out} more blocks not shown: {more}_")]).to_dict()
    return [*kept, note, *actions]


def role_words(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        return role


# -- the batch card --------------------------------------------------------------------------------------------
def batch_card(view: BatchView, now: datetime) -> Message:
    batch = view.batch
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(_title(view), 150))),
                           SectionBlock(fields=_fields(view))]
    if batch.message:
        blocks.append(SectionBlock(text=_md(f"*Message to them:* {escape(batch.message)}")))
    if batch.approval_why and batch.status == InviteBatchStatus.PENDING_APPROVAL:
        why = mrkdwn.recorded(batch.approval_why)
        blocks.append(ContextBlock(elements=[_md(f":lock: {why} The inviter cannot approve it.")]))
    blocks.append(DividerBlock())
    open_batch = batch.status != InviteBatchStatus.CANCELLED
    for person in view.people:
        blocks.extend(_person_blocks(person, now, actionable=open_batch))
    decision = _decision_line(view)
    if decision:
        blocks.append(ContextBlock(elements=[_md(decision)]))
    if batch.status == InviteBatchStatus.PENDING_APPROVAL:
        blocks.append(_decision_buttons(view))
    text = f"{escape(_title(view))}: {batch_status(view).split(' ', 1)[1].lower()}"
    return Message(text=text, blocks=_fit(blocks, "see `/onboard pending` for what is pending"))


def batch_status(view: BatchView) -> str:
    batch = view.batch
    if batch.status == InviteBatchStatus.SENDING and batch.decided_by:
        return APPROVED_STATUS
    return BATCH_STATUS[InviteBatchStatus(batch.status)]


def _title(view: BatchView) -> str:
    """Plain text (the header): escape it for mrkdwn."""
    if len(view.people) == 1:
        invitation = view.people[0].invitation
        return f"Invitation #{view.id}: {invitation.email} as {role_words(invitation.role)}"
    source = f" ({view.batch.source_name})" if view.batch.source_name else ""
    return f"Invitations #{view.id}: {len(view.people)} people{source}"


def _fields(view: BatchView) -> list[MarkdownTextObject]:
    batch = view.batch
    tools = sorted({escape(s.label) for p in view.people for s in p.sends})
    fields = [_md(f"*Invited by*\n{mrkdwn.user(batch.inviter_id)}"),
              _md(f"*Status*\n{batch_status(view)}"),
              _md(f"*Tools*\n{', '.join(tools) or '_none_'}")]
    ends = {p.invitation.access_ends_on for p in view.people}
    if ends != {None}:
        when = ", ".join(sorted(d.isoformat() for d in ends if d)) if len(ends) <= 3 else "per person, below"
        fields.append(_md(f"*Access ends*\n{when}"))
    if batch.personal_override_by:
        fields.append(_md(f"*Personal addresses*\nallowed by {mrkdwn.user(batch.personal_override_by)}"))
    if batch.source in ("csv", "cli"):
        fields.append(_md(f"*From*\n{escape(batch.source_name or 'a CSV file')}"))
    return fields


def _person_blocks(person: PersonView, now: datetime, *, actionable: bool) -> list[Block]:
    invitation = person.invitation
    head = f"*{escape(invitation.email)}* as *{escape(role_words(invitation.role))}*"
    if invitation.access_ends_on:
        head += f" · access ends {invitation.access_ends_on.isoformat()}"
    if invitation.personal_domain:
        head += " · :warning: personal address"
    lines = [head, *(send_line(s, invitation.projects.get(s.send.vendor, []), now) for s in person.sends)]
    blocks: list[Block] = [SectionBlock(text=_md("\n".join(lines)))]
    for send in person.sends:
        blocks.extend(_send_action_blocks(send, actionable=actionable))
    return blocks


def send_line(view: SendView, projects: Sequence[str], now: datetime) -> str:
    """One send in mrkdwn: the tool's words (role, summary, projects) escaped here."""
    send = view.send
    state = InviteState(send.status)
    label = escape(view.label)
    line = f"• *{label}*: {STATE_LINES[state]}"
    if state == InviteState.ALREADY_MEMBER:
        line += f" (as {escape(send.role_seen)})" if send.role_seen else f" ({label}'s API does not show their role)"
        line += ", no invitation sent"
    elif state == InviteState.FAILED:
        line += f": {failure_headline(send.failure_kind)}"
    elif state == InviteState.ACCEPTED and send.accepted_at:
        line += f" {slack_date(send.accepted_at, '{date_short_pretty}')}"
    elif state == InviteState.CANCELLED:
        line += f" by {mrkdwn.user(send.cancelled_by)}" if send.cancelled_by and send.cancelled_by != "offboard" else ""
    if projects and state not in (InviteState.FAILED, InviteState.ALREADY_MEMBER):
        line += f" · projects {', '.join(escape(p) for p in projects)}"
    if send.summary and state in (InviteState.INVITED, InviteState.ALREADY_INVITED, InviteState.CREATED,
                                  InviteState.ALREADY_MEMBER, InviteState.CANCELLED):
        line += f"\n    _{mrkdwn.recorded(send.summary)}_"
    return line + _pending_notes(view, now)


def _pending_notes(view: SendView, now: datetime) -> str:
    send = view.send
    if send.status not in (InviteState.INVITED, InviteState.ALREADY_INVITED):
        return ""
    notes = []
    if view.expires_at is not None:
        if view.expires_at <= now:
            notes.append(f":warning: expired {slack_date(view.expires_at)}: resend it from `/onboard pending`")
        elif send.expiry_flagged_at is not None:
            notes.append(f":warning: expires {slack_date(view.expires_at)}")
        else:
            notes.append(f"expires {slack_date(view.expires_at)}")
    if not view.acceptance_seen:
        notes.append(f"{escape(view.label)}'s API cannot show whether they accepted")
    return ("\n    " + " · ".join(notes)) if notes else ""


def failure_headline(kind: str) -> str:
    try:
        return FAILURE_HEADLINES[FailureKind(kind)]
    except ValueError:
        return FAILURE_HEADLINES[FailureKind.OTHER]


def _send_action_blocks(view: SendView, *, actionable: bool) -> list[Block]:
    send = view.send
    blocks: list[Block] = []
    if send.status == InviteState.FAILED:
        label = escape(view.label)
        text = f":x: *{label}: {failure_headline(send.failure_kind)}.* {label} said: {escape(send.error)}"
        button = ButtonElement(text="Retry", action_id=RETRY, value=str(send.id)) if actionable else None
        blocks.append(SectionBlock(text=_md(text), accessory=button))
    if send.status in CLOSED_STATES:
        return blocks
    for step in view.open_manual_steps:
        text = (f":white_large_square: *{escape(view.label)}, by hand: {escape(step.title)}*\n"
                f"{escape(step.instructions)}")
        button = (ButtonElement(text="Mark done", action_id=CONFIRM, value=str(step.id), style="primary")
                  if actionable else None)
        blocks.append(SectionBlock(text=_md(text), accessory=button))
    return blocks


def _decision_line(view: BatchView) -> str:
    batch = view.batch
    if batch.status == InviteBatchStatus.CANCELLED:
        who = mrkdwn.recorded(batch.decision_comment or "Withdrawn")
        return f":heavy_minus_sign: {who} {slack_date(batch.updated_at)}"
    if not batch.decided_by or not batch.decided_at:
        return ""
    when = slack_date(batch.decided_at)
    if batch.status == InviteBatchStatus.REJECTED:
        return f":no_entry: Rejected by {mrkdwn.user(batch.decided_by)} {when}: {escape(batch.decision_comment)}"
    return f":white_check_mark: Approved by {mrkdwn.user(batch.decided_by)} {when}"


def _decision_buttons(view: BatchView) -> ActionsBlock:
    value = str(view.id)
    waiting = view.waiting
    who = waiting[0].invitation.email if len(waiting) == 1 else f"{len(waiting)} people"
    roles = sorted({role_words(p.invitation.role) for p in waiting})
    confirm = ConfirmObject(title="Send these invitations?",
                            text=escape(f"Invite {who} as {', '.join(roles)}."), confirm="Approve", deny="Back")
    return ActionsBlock(block_id="onboard_decision", elements=[
        ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=confirm),
        ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
        ButtonElement(text="Withdraw", action_id=WITHDRAW, value=value),
    ])


def batch_outcome(view: BatchView, now: datetime) -> Message:
    """The inviter's DM once the batch is settled (or rejected)."""
    batch = view.batch
    lines = [f"*{escape(_title(view))}*"]
    decision = _decision_line(view)
    if decision:
        lines.append(decision)
    for person in view.people[:30]:
        lines.append(f"*{escape(person.invitation.email)}* as {escape(role_words(person.invitation.role))}")
        lines += [send_line(s, person.invitation.projects.get(s.send.vendor, []), now) for s in person.sends]
    if len(view.people) > 30:
        lines.append(f"_…and {len(view.people) - 30} more people: see the card._")
    if batch.card_channel:
        lines.append(f"The card is in {mrkdwn.channel(batch.card_channel)}: retries and steps to do by hand are there.")
    return Message(text=f"{escape(_title(view))}: the outcome",
                   blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict()])


# -- pending invitations -----------------------------------------------------------------------------------------
def pending_message(items: Sequence[PendingItem], now: datetime, *, intro: str = "", everyone: bool = True) -> Message:
    """`intro` is the bot's own mrkdwn."""
    if not items:
        text = intro or ("No invitation is pending." if everyone else "None of your invitations is pending.")
        return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])
    title = f"Pending invitations ({len(items)})"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title))]
    if intro:
        blocks.append(SectionBlock(text=_md(intro)))
    for item in items[:MAX_PENDING_SHOWN]:
        blocks.append(SectionBlock(text=_md(pending_line(item, now))))
        blocks.append(ActionsBlock(block_id=f"pending_{item.send_id}", elements=_pending_buttons(item)))
    if len(items) > MAX_PENDING_SHOWN:
        blocks.append(ContextBlock(elements=[_md(f"_{len(items) - MAX_PENDING_SHOWN} more not shown; the oldest "
                                                 "come first._")]))
    return Message(text=title, blocks=_fit(blocks, "the oldest come first"))


def pending_line(item: PendingItem, now: datetime) -> str:
    label = escape(item.label)
    line = (f"*{escape(item.email)}* → *{label}* as {escape(role_words(item.role))} · sent {ago(item.sent_at, now)} by "
            f"{mrkdwn.user(item.inviter_id)} (#{item.batch_id})")
    if item.status == InviteState.ALREADY_INVITED:
        line += " · an invitation offboard found already pending"
    if item.resends:
        line += f" · resent {item.resends} time{'' if item.resends == 1 else 's'}"
    if item.expires_at is not None:
        line += (f" · :warning: expired {slack_date(item.expires_at)}" if item.expires_at <= now
                 else f" · expires {slack_date(item.expires_at)}")
    if not item.acceptance_seen:
        line += f" · {label}'s API cannot show whether they accepted: check there before resending"
    return line


def _pending_buttons(item: PendingItem) -> list[ButtonElement]:
    value = str(item.send_id)
    removes = "" if item.acceptance_seen else (f" {item.label} shows invitees and members alike: if they have "
                                               "joined meanwhile, this removes them.")
    confirm = ConfirmObject(title="Cancel the invitation?", text=mrkdwn.clip(escape(
        f"Cancel {item.email}'s {item.label} invitation.{removes}"), 300), confirm="Cancel it", deny="Back")
    return [ButtonElement(text="Resend", action_id=RESEND, value=value),
            ButtonElement(text="Cancel", action_id=CANCEL_INVITE, value=value, style="danger", confirm=confirm)]


def reminder_message(items: Sequence[PendingItem], now: datetime, days: int) -> Message:
    intro = (f"These invitations you sent are still pending after {days} days. Resend them if the person lost "
             "the email, or cancel them if they are no longer needed.")
    message = pending_message(items, now, intro=intro)
    return Message(text=f"{len(items)} of your invitations are still pending after {days} days", blocks=message.blocks)


def expiry_message(items: Sequence[PendingItem], now: datetime) -> Message:
    intro = ("These invitations you sent are about to expire (or have expired) without being accepted. Resend "
             "them to give the person a fresh link.")
    message = pending_message(items, now, intro=intro)
    return Message(text=f"{len(items)} of your invitations are about to expire", blocks=message.blocks)


def action_result_message(text: str, steps: Iterable[tuple[str, str]] = ()) -> Message:
    """An answer to a Resend/Cancel click: what happens (mrkdwn, escaped by its writer), and any step a person
    must do by hand (plain titles and instructions, escaped here)."""
    blocks: list[Block] = [SectionBlock(text=_md(text))]
    for title, instructions in steps:
        blocks.append(SectionBlock(text=_md(f"*By hand: {escape(title)}*\n{escape(instructions)}")))
    return Message(text=text, blocks=_fit(blocks, "see the card"))


# -- the access end date -----------------------------------------------------------------------------------------
def access_end_inviter_message(email: str, tools: Sequence[str], ends_on: date) -> Message:
    text = (f":calendar: {escape(email)}'s access to {escape(', '.join(tools))} ends tomorrow "
            f"({ends_on.isoformat()}), as you set when inviting them. offboard will then ask for their removal "
            "(reason: contract end), through approval as any other. If they still need access, an approver can "
            "reject that request.")
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


def access_end_person_message(tools: Sequence[str], ends_on: date, inviter_id: str) -> Message:
    text = (f":calendar: Your access to {escape(', '.join(tools))} ends tomorrow ({ends_on.isoformat()}). Save what "
            f"you need to keep, and hand your work over. Questions: {mrkdwn.user(inviter_id)}.")
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


def access_ended_message(email: str, ends_on: date, request_id: int, approvals_channel: str) -> Message:
    text = (f":calendar: {escape(email)}'s access end date is today ({ends_on.isoformat()}): offboarding request "
            f"#{request_id} (contract end) is waiting for approval in {mrkdwn.channel(approvals_channel)}.")
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


# -- the forms ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OnboardPrefill:
    emails: tuple[str, ...] = ()
    role: Role | None = None
    vendors: tuple[str, ...] = ()  # every configured tool
    chosen_vendors: tuple[str, ...] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    project_vendors: tuple[str, ...] = ()  # tools where projects can be given
    projects: dict[str, tuple[str, ...]] = field(default_factory=dict)
    end_date: date | None = None
    message: str = ""
    allow_personal: bool = False
    channel_id: str = ""


def onboard_modal(prefill: OnboardPrefill) -> View:
    roles = [Option(value=r.value, label=ROLE_LABELS[r]) for r in Role]
    blocks: list[Block] = [
        InputBlock(block_id="emails", label="Work email(s), one per line",
                   element=PlainTextInputElement(action_id="emails", multiline=True,
                                                 initial_value="\n".join(prefill.emails) or None,
                                                 placeholder="jane@corp.com")),
        InputBlock(block_id="role", label="Role", hint="Admin and owner invitations need an approver's click.",
                   element=StaticSelectElement(action_id="role", options=roles, initial_option=next(
                       (o for o in roles if prefill.role and o.value == prefill.role.value), None))),
    ]
    if len(prefill.vendors) > 1:
        options = [Option(value=v, label=prefill.labels.get(v, v)) for v in prefill.vendors]
        chosen = prefill.chosen_vendors or prefill.vendors
        blocks.append(InputBlock(block_id="vendors", label="Tools", element=StaticMultiSelectElement(
            action_id="vendors", options=options, initial_options=[o for o in options if o.value in chosen])))
    for vendor in prefill.project_vendors:
        label = prefill.labels.get(vendor, vendor)
        blocks.append(InputBlock(
            block_id=f"projects_{vendor}", label=f"{label} project ids (comma-separated)", optional=True,
            element=PlainTextInputElement(action_id=f"projects_{vendor}",
                                          initial_value=", ".join(prefill.projects.get(vendor, ())) or None)))
    blocks += _message_and_options(prefill.message, prefill.allow_personal)
    blocks.insert(-1, InputBlock(
        block_id="end_date", label="Access ends on (contractors, interns)", optional=True,
        hint="The day before, they and you are reminded; on the day offboard asks for their removal.",
        element=DatePickerElement(action_id="end_date",
                                  initial_date=prefill.end_date.isoformat() if prefill.end_date else None)))
    return View(type="modal", callback_id=ONBOARD_MODAL, title="Invite people", submit="Invite", close="Cancel",
                private_metadata=json.dumps({"channel_id": prefill.channel_id}), blocks=blocks)


def csv_modal(channel_id: str) -> View:
    blocks: list[Block] = [
        SectionBlock(text=_md("One person per line, with the header `email,role,vendors,projects,end_date`. Only "
                              "email and role are required. Tools separated by `;` (empty: every tool), projects "
                              "as `posthog:1001,1002;mixpanel:101`, the end date as YYYY-MM-DD.")),
        InputBlock(block_id=CSV_FILE, label="CSV file",
                   element=FileInputElement(action_id=CSV_FILE, filetypes=["csv"], max_files=1)),
        *_message_and_options("", False),
    ]
    return View(type="modal", callback_id=CSV_MODAL, title="Invite from a CSV", submit="Invite", close="Cancel",
                private_metadata=json.dumps({"channel_id": channel_id}), blocks=blocks)


def _message_and_options(message: str, allow_personal: bool) -> list[Block]:
    option = Option(value=ALLOW_PERSONAL, label="Allow personal email addresses (onboarding admins only)")
    return [
        InputBlock(block_id="message", label="Personal message (where the tool sends one)", optional=True,
                   element=PlainTextInputElement(action_id="message", multiline=True, initial_value=message or None,
                                                 max_length=2000)),
        InputBlock(block_id="options", label="Policy", optional=True, element=CheckboxesElement(
            action_id="options", options=[option], initial_options=[option] if allow_personal else None)),
    ]


def reject_modal(batch_id: int, channel: str) -> View:
    return View(type="modal", callback_id=REJECT_MODAL, title="Reject invitations", submit="Reject", close="Back",
                private_metadata=json.dumps({"batch_id": batch_id, "channel": channel}),
                blocks=[InputBlock(block_id="comment", label=f"Why is invitation #{batch_id} rejected? The inviter "
                                   "will see this.", element=PlainTextInputElement(action_id="comment",
                                                                                  multiline=True))])


# -- replies -----------------------------------------------------------------------------------------------------
HELP_TEXT = "\n".join((
    "*/onboard* invites people to the analytics tools, with the role and projects you choose.",
    "",
    "• `/onboard jane@corp.com read-only`: invite at once (roles: owner, admin, member, read-only). Add "
    "`vendors=posthog,amplitude`, `projects=posthog:1001,1002`, `until=2025-12-31` (access end date), "
    "`message=Welcome aboard!` (the rest of the line).",
    "• `/onboard jane@corp.com` or `/onboard`: the form, with every choice.",
    "• `/onboard csv`: invite many from a CSV file (`email,role,vendors,projects,end_date`); "
    "`offboard invite --csv FILE --by U123` does the same from a shell.",
    "• `/onboard pending`: invitations not accepted yet, with Resend and Cancel.",
    "",
    "Member and read-only invitations by an onboarding admin go straight out; admin and owner invitations "
    "(and anyone else's) wait for an approver's click, never the inviter's. Personal addresses (gmail.com, …) are "
    "refused unless an onboarding admin allows them (`allow-personal`). You are reminded of invitations still "
    "pending after a week; with an access end date, the person and you are reminded the day before, and on the "
    "day offboard asks for their removal (reason: contract end).",
))


def help_message() -> Message:
    return Message(text="How to use /onboard", blocks=[SectionBlock(text=_md(HELP_TEXT)).to_dict()])


def info_message(text: str) -> Message:
    """`text` is mrkdwn: whoever writes it escapes what people and vendors typed in it (bot.slack.mrkdwn)."""
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


def problems_message(problems: Sequence[str], intro: str = "Nothing was sent:") -> Message:
    """Problems are plain text (they quote what was typed, a file's cells, a vendor's words): escaped here;
    the intro is the bot's own mrkdwn."""
    problems = [escape(p) for p in problems]
    shown = list(problems[:15])
    if len(problems) > 15:
        shown.append(f"…and {len(problems) - 15} more.")
    text = ":warning: " + intro + "\n" + "\n".join(f"• {p}" for p in shown)
    return Message(text=f"{intro} {problems[0] if problems else ''}", blocks=[SectionBlock(text=_md(text)).to_dict()])
