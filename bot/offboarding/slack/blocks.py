"""Block Kit rendering: pure functions from workflow state to Slack messages and modals.

Built with `slack_sdk.models.blocks`, whose `to_dict()` checks Slack's field limits; the one limit it
does not check (50 blocks per message) is enforced by `_fit`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
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
    TimePickerElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.engine import parked_steps
from bot.offboarding.slack import change_blocks
from bot.offboarding.values import STATUS_WORDS, NotificationKind, Reason, RequestSnapshot
from bot.slack import mrkdwn
from bot.slack.messages import MAX_BLOCKS as MAX_BLOCKS
from bot.slack.messages import MAX_TEXT as MAX_TEXT
from bot.slack.messages import Message as Message
from bot.slack.messages import error_message as error_message
from bot.slack.mrkdwn import escape
from bot.triggers import deadline
from storage.audit import BOT_ACTOR
from storage.models import OffboardRequest, RequestMode, RequestStatus, Step, StepStatus
from vendors.base import Assessment, AssessmentStatus

# Callback and action ids: the contract between these messages and bot/offboarding/slack/actions.py.
REQUEST_MODAL = "offboard_request"
REJECT_MODAL = "offboard_reject"
APPROVE = "approve_request"
REJECT = "reject_request"
CANCEL = "cancel_request"
RETRY = "retry_step"
CONFIRM = "confirm_manual_step"
REASSESS = "reassess_vendor"
# Opens the Details view (bot/offboarding/slack/details_view.py): click paths, assets, Mark done.
DETAILS = "request_details"

# What the form keeps of a note (bot/offboarding/slack/forms.py): words typed after the person are prefilled.
NOTE_LIMIT = 2000

STATUS_EMOJI = {
    RequestStatus.ASSESSING: ":mag:",
    RequestStatus.PENDING_APPROVAL: ":hourglass_flowing_sand:",
    RequestStatus.SCHEDULED: ":calendar:",
    RequestStatus.EXECUTING: ":gear:",
    RequestStatus.AWAITING_MANUAL: ":clipboard:",
    RequestStatus.NEEDS_ATTENTION: ":warning:",
    RequestStatus.COMPLETED: ":white_check_mark:",
    RequestStatus.REJECTED: ":no_entry:",
    RequestStatus.CANCELLED: ":heavy_minus_sign:",
    RequestStatus.EXPIRED: ":hourglass:",
}
STEP_EMOJI = {
    StepStatus.PENDING: ":white_circle:",
    StepStatus.RUNNING: ":arrows_counterclockwise:",
    StepStatus.DONE: ":white_check_mark:",
    StepStatus.FAILED: ":x:",
}
ASSET_WORDS = {
    "dashboard": ("dashboard", "dashboards"),
    "insight": ("insight", "insights"),
    "feature_flag": ("feature flag", "feature flags"),
    "cohort": ("cohort", "cohorts"),
    "experiment": ("experiment", "experiments"),
    "notebook": ("notebook", "notebooks"),
}


@dataclass(frozen=True)
class ModalPrefill:
    subject: str = ""
    reason: Reason | None = None
    note: str = ""
    channel_id: str = ""
    subject_slack_id: str | None = None
    subject_name: str = ""
    vendors: tuple[str, ...] = ()  # every configured vendor
    chosen_vendors: tuple[str, ...] | None = None  # None: all of them
    vendor_labels: dict[str, str] = field(default_factory=dict)
    offer_modes: bool = False  # also offer "remove from chosen projects only" and "downgrade to read-only"


# -- small helpers ------------------------------------------------------------------------------
def _md(text: str) -> MarkdownTextObject:
    """A mrkdwn text object of text already escaped (bot.slack.mrkdwn), inside Slack's length limit."""
    return MarkdownTextObject(text=mrkdwn.clip(text, MAX_TEXT))


def _clip(text: str, limit: int = MAX_TEXT) -> str:
    """Plain text (headers, labels) inside a length limit."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    return mrkdwn.date(moment, fmt)


def ago(moment: datetime, now: datetime) -> str:
    days = (now - moment).days
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def asset_summary(kinds: Counter[str]) -> str:
    """Plain words ("2 dashboards, 1 cohort"): escape them for mrkdwn."""
    parts = []
    for kind, count in sorted(kinds.items()):
        singular, plural = ASSET_WORDS.get(kind, (kind, kind + "s"))
        parts.append(f"{count} {singular if count == 1 else plural}")
    return ", ".join(parts)


def person(snapshot: RequestSnapshot) -> str:
    request = snapshot.request
    mention = f" ({mrkdwn.user(request.subject_slack_id)})" if request.subject_slack_id else ""
    return f"{escape(request.subject_email)}{mention}"


def _reason_label(reason: str) -> str:
    try:
        return Reason(reason).label
    except ValueError:
        return reason


def _fit(blocks: list[Block]) -> list[dict]:
    """Keep a message inside Slack's 50-block limit, saying what was left out."""
    rendered = [b.to_dict() for b in blocks]
    if len(rendered) <= MAX_BLOCKS:
        return rendered
    kept = rendered[: MAX_BLOCKS - 2]
    actions = [b for b in rendered if b["type"] == "actions"][-1:]
    left_out = len(rendered) - len(kept) - len(actions)
    note = ContextBlock(elements=[_md(f"_{left_out} more items: use `/offboard status` to see them all._")])
    return [*kept[: MAX_BLOCKS - 1 - len(actions)], note.to_dict(), *actions]


# -- the request modal --------------------------------------------------------------------------
def request_modal(prefill: ModalPrefill) -> View:
    reason_options = [Option(value=r.value, label=r.label) for r in Reason]
    initial_reason = next((o for o in reason_options if prefill.reason and o.value == prefill.reason), None)
    blocks: list[Block] = [
        InputBlock(
            block_id="subject",
            label="Person to offboard (work email)",
            element=PlainTextInputElement(
                action_id="subject", initial_value=prefill.subject or None, placeholder="alice@corp.com"
            ),
        ),
        InputBlock(
            block_id="reason",
            label="Reason",
            element=StaticSelectElement(
                action_id="reason", options=reason_options, initial_option=initial_reason
            ),
        ),
        InputBlock(
            block_id="ticket",
            label="Ticket reference",
            optional=True,
            element=PlainTextInputElement(action_id="ticket", placeholder="HR-1234"),
        ),
        InputBlock(
            block_id="new_owner",
            label="New owner of their dashboards, flags and other assets",
            optional=True,
            element=UserSelectElement(action_id="new_owner", placeholder="Choose a person"),
        ),
        InputBlock(
            block_id="effective_date",
            label="Remove access on (leave empty for now)",
            optional=True,
            element=DatePickerElement(action_id="effective_date"),
        ),
        InputBlock(
            block_id="effective_time",
            label="At (UTC)",
            optional=True,
            element=TimePickerElement(action_id="effective_time", initial_time="18:00"),
        ),
        InputBlock(
            block_id="note",
            label="Note for the approvers",
            optional=True,
            element=PlainTextInputElement(action_id="note", multiline=True,
                                          initial_value=_clip(prefill.note, NOTE_LIMIT) or None),
        ),
    ]
    if len(prefill.vendors) > 1:
        options = [Option(value=v, label=prefill.vendor_labels.get(v, v)) for v in prefill.vendors]
        chosen = prefill.chosen_vendors or prefill.vendors
        blocks.insert(
            2,
            InputBlock(
                block_id="vendors",
                label="Tools to remove them from",
                element=StaticMultiSelectElement(
                    action_id="vendors", options=options, initial_options=[o for o in options if o.value in chosen]
                ),
            ),
        )
    if prefill.offer_modes:  # full removal, chosen projects only, or read-only
        blocks[2:2] = change_blocks.mode_inputs()
    metadata = {
        "channel_id": prefill.channel_id,
        "subject_email": prefill.subject,
        "subject_slack_id": prefill.subject_slack_id,
        "subject_name": prefill.subject_name[:200],
        "vendors": list(prefill.chosen_vendors) if prefill.chosen_vendors else None,
    }
    return View(
        type="modal",
        callback_id=REQUEST_MODAL,
        title="Offboard a person",
        submit="Request approval",
        close="Cancel",
        private_metadata=json.dumps(metadata),
        blocks=blocks,
    )


def reject_modal(request_id: int, card_channel: str, card_ts: str) -> View:
    return View(
        type="modal",
        callback_id=REJECT_MODAL,
        title="Reject request",
        submit="Reject",
        close="Back",
        private_metadata=json.dumps({"request_id": request_id, "channel": card_channel, "ts": card_ts}),
        blocks=[
            InputBlock(
                block_id="comment",
                label=f"Why is request #{request_id} rejected? The requester will see this.",
                element=PlainTextInputElement(action_id="comment", multiline=True),
            )
        ],
    )


# -- the approval card ------------------------------------------------------------------------
def approval_card(snapshot: RequestSnapshot, now: datetime) -> Message:
    request = snapshot.request
    status = snapshot.status
    title = change_blocks.card_title(snapshot)  # by mode (full, partial, emergency, restore)
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(title, 150)))]
    blocks.append(SectionBlock(fields=_card_fields(snapshot, now)))
    if request.note:
        blocks.append(SectionBlock(text=_md("*Note:* " + escape(request.note))))
    blocks.extend(change_blocks.summary_blocks(snapshot, now))  # emergency, partial change, restore
    blocks.append(DividerBlock())
    if status == RequestStatus.ASSESSING:
        blocks.append(SectionBlock(text=_md(":mag: Checking every tool for this person…")))
    for vendor in snapshot.vendor_names:
        blocks.extend(_vendor_blocks(snapshot, vendor, now))
    blocks.extend(_notification_blocks(snapshot))
    decision = _decision_line(snapshot)
    if decision:
        blocks.append(ContextBlock(elements=[_md(decision)]))
    in_batch = request.batch_id is not None  # a batch is decided on the batch card
    if status == RequestStatus.PENDING_APPROVAL and not in_batch:
        blocks.append(decision_buttons(snapshot))
    elif status == RequestStatus.SCHEDULED and not in_batch:
        blocks.append(ActionsBlock(block_id="decision", elements=[_cancel_button(snapshot.id)]))
    extra = change_blocks.action_buttons(snapshot, now)  # Acknowledge (emergency), Restore
    if extra:
        blocks.append(ActionsBlock(block_id="changes", elements=extra))
    if snapshot.status != RequestStatus.ASSESSING:
        blocks.append(ActionsBlock(block_id="details", elements=[details_button(snapshot)]))
    text = change_blocks.card_text(snapshot, STATUS_WORDS[status])
    return Message(text=text, blocks=_fit(blocks))


def _card_fields(snapshot: RequestSnapshot, now: datetime) -> list[MarkdownTextObject]:
    request = snapshot.request
    effective = "now, on approval" if request.effective_at is None else slack_date(request.effective_at)
    if request.mode in (RequestMode.EMERGENCY, RequestMode.RESTORE):  # no approval to wait for
        effective = "at once"
    new_owner = mrkdwn.user(request.new_owner_slack_id) if request.new_owner_slack_id else "_none chosen_"
    # the removal deadline and its clock (bot.triggers), stopped when the access is gone
    due = deadline.card_line(request, now, slack_date, deadline.removed_at(snapshot.steps))
    return [
        _md(f"*Person*\n{person(snapshot)}"),
        _md(f"*Reason*\n{escape(_reason_label(request.reason))}"),
        _md(f"*Ticket*\n{escape(request.ticket) if request.ticket else '_none_'}"),
        _md(f"*Requested by*\n{mrkdwn.user(request.requester_id)}"),
        _md(f"*New owner of assets*\n{new_owner}"),
        _md(f"*Effective*\n{effective}"),
        *([_md(f"*Removal due*\n{due}")] if due else []),
        _md(f"*Status*\n{STATUS_EMOJI[snapshot.status]} {STATUS_WORDS[snapshot.status].capitalize()}"),
    ]


def _vendor_blocks(snapshot: RequestSnapshot, vendor: str, now: datetime) -> list[Block]:
    """One tool on the card: what it has (role, projects, assets), its warnings, and one line of what will
    happen or how far it got. Step outcomes, click paths and Mark done live in the Details view."""
    label = snapshot.vendor_labels.get(vendor, vendor)
    assessment = snapshot.assessments.get(vendor)
    steps = snapshot.steps_for(vendor)
    automated = [s for s in steps if not s.manual]
    lines = [assessment_text(label, assessment, snapshot.request.new_owner_slack_id, now, automated=bool(automated))]
    progress = progress_line(snapshot, steps)
    if progress:
        lines.append(progress)
    lines.extend(change_blocks.before_after_lines(snapshot, vendor))  # partial changes: before → after per project
    blocks: list[Block] = [SectionBlock(text=_md("\n".join(lines)), accessory=_check_again_button(snapshot, vendor))]
    for step in automated:
        if step.status == StepStatus.FAILED:
            blocks.append(
                SectionBlock(
                    text=_md(f":x: *{escape(step.title)} failed:* {escape(step.last_error)}"),
                    accessory=ButtonElement(text="Retry", action_id=RETRY, value=str(step.id)),
                )
            )
    return blocks


def progress_line(snapshot: RequestSnapshot, steps: list[Step]) -> str:
    """One line per tool: before the decision what will happen, after it where each step stands."""
    automated = [s for s in steps if not s.manual]
    manual = [s for s in steps if s.manual]
    decided = snapshot.status not in (RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL)
    parts = []
    if automated and not decided:
        parts.append("Will: " + ", ".join(escape(s.title) for s in automated))
    elif automated:
        parts.append(" · ".join(step_line(s, outcome=False) for s in automated))
    if manual:
        done = sum(1 for s in manual if s.status == StepStatus.DONE)
        by_hand = f"{len(manual)} step{'s' if len(manual) != 1 else ''} by hand"
        if decided:
            parts.append(f":clipboard: {by_hand}, {done} done")
        else:
            parts.append(f"and {by_hand}" if parts else f"Will: {by_hand}")
    return ("; " if not decided else " · ").join(parts)


def _check_again_button(snapshot: RequestSnapshot, vendor: str) -> ButtonElement | None:
    """Offered while a decision is pending for a vendor that could not be checked but can be."""
    assessment = snapshot.assessments.get(vendor)
    if (snapshot.status != RequestStatus.PENDING_APPROVAL or vendor not in snapshot.checkable
            or assessment is None or assessment.status != AssessmentStatus.UNKNOWN):
        return None
    return ButtonElement(text="Check again", action_id=REASSESS, value=f"{snapshot.id}:{vendor}")


def still_open(snapshot: RequestSnapshot) -> bool:
    return snapshot.status not in (RequestStatus.REJECTED, RequestStatus.CANCELLED, RequestStatus.COMPLETED,
                                   RequestStatus.EXPIRED)


def assessment_text(
    label: str, assessment: Assessment | None, new_owner_id: str | None, now: datetime, *, automated: bool = True
) -> str:
    """One tool's assessment in mrkdwn; every name and error in it (the label too) is escaped here."""
    label = escape(label)
    if assessment is None:
        return f"*{label}*: not checked yet"
    if assessment.status == AssessmentStatus.UNKNOWN:
        then = (
            "Removal will look the person up again when it runs."
            if automated
            else "Its steps are done by hand and confirmed under Details."
        )
        return f"*{label}*: :grey_question: unknown — could not check ({escape(assessment.error)}). {then}"
    if assessment.status == AssessmentStatus.NOT_MEMBER or assessment.member is None:
        return f"*{label}*: not a member, nothing to remove"
    member = assessment.member
    if member.last_login:
        login = f"last login {ago(member.last_login, now)}"
    else:
        login = "never logged in" if member.last_login_known else "last login not given by its API"
    role = f"*{member.role.value}*"
    if member.vendor_role and member.vendor_role != member.role.value:
        # "admin (level 8)" already says admin: show it once, in the vendor's own words.
        same_word = member.vendor_role.lower().startswith(member.role.value)
        vendor_role = escape(member.vendor_role)
        role = f"*{vendor_role}*" if same_word else f"{role} ({vendor_role})"
    lines = [f"*{label}*: member, {role}, {login}"]
    if member.projects:
        projects = ", ".join(f"{escape(p.project_name)} ({escape(p.level)})" for p in member.projects)
        lines.append(f"Projects: {projects}")
    if assessment.assets:
        target = mrkdwn.user(new_owner_id) if new_owner_id else "_no new owner chosen_"
        lines.append(f"Owns {escape(asset_summary(Counter(a.kind for a in assessment.assets)))} → {target}")
    lines.extend(f":warning: {escape(w)}" for w in assessment.warnings)
    return "\n".join(lines)


def step_line(step: Step, *, outcome: bool = True) -> str:
    line = f"{STEP_EMOJI[StepStatus(step.status)]} {escape(step.title)}"
    if outcome and step.status == StepStatus.DONE and step.outcome:
        line += f": {escape(step.outcome)}"
    parked = parked_steps.card_note(step)
    if parked:  # waiting for a vendor's rate limit: it resumes by itself
        line += f" — _{escape(parked)}_"
    if step.attempts > 1:
        line += f" _(attempt {step.attempts})_"
    return line


def manual_step_block(step: Step, *, actionable: bool) -> SectionBlock:
    if step.status == StepStatus.DONE:
        when = slack_date(step.finished_at) if step.finished_at else ""
        return SectionBlock(
            text=_md(f":white_check_mark: ~{escape(step.title)}~ confirmed by {mrkdwn.user(step.done_by)} {when}")
        )
    text = f":white_large_square: *Manual: {escape(step.title)}*\n{escape(step.instructions)}"
    if not actionable:
        return SectionBlock(text=_md(text))
    button = ButtonElement(text="Mark done", action_id=CONFIRM, value=str(step.id), style="primary")
    return SectionBlock(text=_md(text), accessory=button)


def _notification_blocks(snapshot: RequestSnapshot) -> list[Block]:
    notices = [s for s in snapshot.steps if s.vendor == "slack"]
    if not notices:
        return []
    lines = [
        f"{STEP_EMOJI[StepStatus(s.status)]} {escape(s.title)}" for s in notices if s.status != StepStatus.FAILED
    ]
    blocks: list[Block] = []
    if lines:
        blocks.append(ContextBlock(elements=[_md("\n".join(lines))]))
    for step in (s for s in notices if s.status == StepStatus.FAILED):
        blocks.append(
            SectionBlock(
                text=_md(f":x: *{escape(step.title)} failed:* {escape(step.last_error)}"),
                accessory=ButtonElement(text="Retry", action_id=RETRY, value=str(step.id)),
            )
        )
    return blocks


def _decision_line(snapshot: RequestSnapshot) -> str:
    request = snapshot.request
    if request.status == RequestStatus.CANCELLED:
        # Approvers cancel too: the comment then names them (a phrase the bot recorded, see mrkdwn.recorded).
        who = (mrkdwn.recorded(request.decision_comment) if request.decision_comment
               else f"Cancelled by {mrkdwn.user(request.requester_id)}")
        return f"{who} {slack_date(request.completed_at or request.updated_at)}"
    if request.status == RequestStatus.EXPIRED:
        return f":hourglass: {escape(request.decision_comment or 'Expired without a decision')}"
    if not request.decided_by or not request.decided_at:
        return ""
    if request.status == RequestStatus.REJECTED:
        when = slack_date(request.decided_at)
        return f":no_entry: Rejected by {mrkdwn.user(request.decided_by)} {when}: {escape(request.decision_comment)}"
    line = f":white_check_mark: Approved by {approver_words(request)} {slack_date(request.decided_at)}"
    if request.status == RequestStatus.COMPLETED and request.completed_at:
        line += f" · completed {slack_date(request.completed_at)}"
    return line


def decision_buttons(snapshot: RequestSnapshot) -> ActionsBlock:
    value = str(snapshot.id)
    removing = sum(
        1
        for a in snapshot.assessments.values()
        if a.status in (AssessmentStatus.MEMBER, AssessmentStatus.UNKNOWN)
    )
    confirm = ConfirmObject(
        title="Approve offboarding?",
        text=change_blocks.approve_confirm_text(snapshot, removing),  # by mode (full removal or partial change)
        confirm="Approve",
        deny="Back",
    )
    return ActionsBlock(
        block_id="decision",
        elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=confirm),
            ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
            _cancel_button(snapshot.id),
        ],
    )


def details_button(snapshot: RequestSnapshot) -> ButtonElement:
    """Opens the Details view; while manual steps are open it is where Mark done is, so it says so."""
    text = "Details and checklist" if any(s.manual for s in snapshot.steps) else "Details"
    return ButtonElement(text=text, action_id=DETAILS, value=str(snapshot.id))


def _cancel_button(request_id: int) -> ButtonElement:
    return ButtonElement(text="Cancel request", action_id=CANCEL, value=str(request_id))


# -- replies to commands ------------------------------------------------------------------------
HELP_LINES = (
    "*offboard* removes a person's access to the analytics tools, with approval and a record.",
    "",
    "• `/offboard alice@corp.com` or `/offboard @alice`: start an offboarding. A form asks for the reason,"
    " ticket, new owner of their assets and when. You may add a reason: `/offboard @alice resignation`,"
    " and limit the tools: `vendors=posthog`.",
    "• The form also offers: remove from chosen projects only, or downgrade to read-only.",
    "• `/offboard a@corp.com b@corp.com …` or `/offboard bulk`: several people (or a CSV file) in one batch, with"
    " one approval card.",
    "• `/offboard @alice emergency`: security incident, remove at once everywhere, no approval (responders only).",
    "• `/offboard status alice@corp.com`: where her requests stand.",
    "• `/offboard audit alice@corp.com` / `/offboard audit export`: audit evidence, and the removal log as"
    " a CSV file (audit admins only).",
    "• `/offboard sweep`: find accounts nobody has logged in to for a while (also runs weekly);"
    " `/offboard review`: an access review of every tool with a CSV of all members (also runs quarterly).",
    "• `/onboard jane@corp.com read-only`: invite someone instead, with a role and an access end date"
    " (`/onboard help`).",
    "• `/offboard help`: this message.",
    "",
    "Reasons: {reasons}.",
    "An approver who did not ask for the request approves it on the card; the bot then hands over assets,"
    " removes the person, checks they are gone, and lists what must be done by hand.",
)
HELP_TEXT = "\n".join(HELP_LINES)


def help_message() -> Message:
    text = HELP_TEXT.format(reasons=", ".join(f"`{r.value}`" for r in Reason))
    return Message(text="How to use /offboard", blocks=[SectionBlock(text=_md(text)).to_dict()])


def status_message(email: str, snapshots: list[RequestSnapshot], now: datetime) -> Message:
    if not snapshots:
        text = f"No offboarding request for {escape(email)} yet. Start one with `/offboard {escape(email)}`."
        return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"Offboarding requests for {email}", 150)))
    ]
    for snapshot in snapshots:
        request = snapshot.request
        lines = [
            f"*#{snapshot.id}* {STATUS_EMOJI[snapshot.status]} {STATUS_WORDS[snapshot.status]} · "
            f"{escape(_reason_label(request.reason))} · asked by {mrkdwn.user(request.requester_id)} "
            f"{slack_date(request.created_at)}"
        ]
        for vendor in snapshot.vendor_names:
            steps = [s for s in snapshot.steps_for(vendor) if not s.manual]
            done = sum(1 for s in steps if s.status == StepStatus.DONE)
            failed = [s for s in steps if s.status == StepStatus.FAILED]
            label = escape(snapshot.vendor_labels.get(vendor, vendor))
            state = f"{done}/{len(steps)} steps done" if steps else "nothing to do"
            if failed:
                state += f", failed: {escape(failed[0].title)} ({escape(failed[0].last_error)})"
            parked = next(filter(None, (parked_steps.card_note(s) for s in steps)), None)
            if parked:
                state += f", {escape(parked)}"
            lines.append(f"• {label}: {state}")
        if snapshot.manual_steps_open:
            lines.append(f"• {len(snapshot.manual_steps_open)} manual step(s) still to confirm in the card's Details")
        decision = _decision_line(snapshot)
        if decision:
            lines.append(decision)
        blocks.append(SectionBlock(text=_md("\n".join(lines))))
    return Message(text=f"Offboarding requests for {escape(email)}", blocks=_fit(blocks))


# -- notifications -----------------------------------------------------------------------------
def stakeholder_notification(snapshot: RequestSnapshot, contact: str) -> Message:
    request = snapshot.request
    removed_from = [escape(snapshot.vendor_labels.get(s.vendor, s.vendor)) for s in snapshot.removals]
    when = slack_date(request.completed_at) if request.completed_at else "just now"
    lines = [
        f":lock: *{escape(request.subject_name or request.subject_email)}* ({person(snapshot)}) no longer has "
        f"access to {removal_summary(snapshot)}, as of {when}.",
        f"*Why:* {escape(_reason_label(request.reason))}"
        + (f" (ticket {escape(request.ticket)})" if request.ticket else ""),
        f"*Approved by:* {approver_words(request)}",
    ]
    moved = snapshot.handed_over
    if moved:
        owner = mrkdwn.user(request.new_owner_slack_id) if request.new_owner_slack_id else "the team"
        lines.append(f"*Assets handed over to {owner}:* {escape(asset_summary(Counter(a['kind'] for a in moved)))}")
    lines.append("*Per tool:*")
    lines += [f"• {vendor_outcome(snapshot, vendor)}" for vendor in snapshot.vendor_names]
    # The contact is the operator's own mrkdwn (OFFBOARD_CONTACT), not typed by requesters: shown as set.
    lines.append(f"*Questions:* {contact or mrkdwn.user(request.requester_id)}")
    text = f"{escape(request.subject_email)} no longer has access to {', '.join(removed_from)}"
    return Message(text=text, blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict()])


def removal_summary(snapshot: RequestSnapshot) -> str:
    """Where the person was removed and how: "PostHog and Amplitude (through their APIs, verified) and
    Kissmetrics (by hand, confirmed by @ann)". Never claims an API removal that a person did."""
    by_api = [s for s in snapshot.removals if not s.manual]
    by_hand = [s for s in snapshot.removals if s.manual]
    parts = []
    if by_api:
        labels = _and([escape(snapshot.vendor_labels.get(s.vendor, s.vendor)) for s in by_api])
        parts.append(f"{labels} (through {'their APIs' if len(by_api) > 1 else 'its API'}, verified)")
    for step in by_hand:
        who = mrkdwn.user(step.done_by) if step.done_by else "a person"
        parts.append(f"{escape(snapshot.vendor_labels.get(step.vendor, step.vendor))} (by hand, confirmed by {who})")
    return _and(parts)


def vendor_outcome(snapshot: RequestSnapshot, vendor: str) -> str:
    """One tool's line in the notice: what happened there and how it is known."""
    label = escape(snapshot.vendor_labels.get(vendor, vendor))
    assessment = snapshot.assessments.get(vendor)
    removal = next((s for s in snapshot.removals if s.vendor == vendor), None)
    if removal is None:
        if assessment is not None and assessment.status == AssessmentStatus.NOT_MEMBER:
            return f"{label}: was not a member"
        return f"{label}: not removed"
    if removal.manual:
        who = mrkdwn.user(removal.done_by) if removal.done_by else "a person"
        words = f"{label}: removed by hand, confirmed by {who}"
    else:
        words = f"{label}: removed through its API and verified"
    if assessment and assessment.member:
        words += f" (was {assessment.member.role.value})"
    moved = [a for a in snapshot.handed_over if a["vendor"] == vendor]
    if moved:
        words += f"; {escape(asset_summary(Counter(a['kind'] for a in moved)))} handed over"
    ticked = [s for s in snapshot.steps if s.vendor == vendor and s.manual and s is not removal
              and s.status == StepStatus.DONE]
    if ticked:
        words += f"; {len(ticked)} checklist item{'s' if len(ticked) > 1 else ''} done by hand"
    return words


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def new_owner_message(snapshot: RequestSnapshot) -> Message:
    request = snapshot.request
    moved = snapshot.handed_over
    lines = [
        f":package: {escape(request.subject_name or request.subject_email)} has left the analytics tools, "
        f"and you are now the owner of what they made (offboarding request #{snapshot.id}):"
    ]
    for asset in moved[:40]:
        # The asset's name is the leaver's to choose: only its URL (built by the connector) makes a link.
        label = escape(snapshot.vendor_labels.get(asset["vendor"], asset["vendor"]))
        name = mrkdwn.link(asset.get("url"), str(asset.get("name") or ""))
        kind = escape(ASSET_WORDS.get(asset["kind"], (asset["kind"],))[0])
        project = f" in {escape(asset['project_name'])}" if asset.get("project_name") else ""
        lines.append(f"• {label} {kind}: {name}{project}")
    if len(moved) > 40:
        lines.append(f"…and {len(moved) - 40} more.")
    text = f"You now own {len(moved)} analytics assets from {escape(request.subject_email)}"
    return Message(text=text, blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict()])


def approver_words(request: OffboardRequest) -> str:
    """Who approved: a person, or offboard itself on a standing policy such as auto-removal."""
    if request.decided_by == BOT_ACTOR:
        return f"offboard automatically ({escape(request.decision_comment or 'team policy')})"
    if request.mode == RequestMode.EMERGENCY:  # an emergency removal has no approver
        return f"nobody: emergency removal by {mrkdwn.user(request.requester_id)} (security incident)"
    return mrkdwn.user(request.decided_by)


def requester_outcome(snapshot: RequestSnapshot) -> Message:
    request = snapshot.request
    changed = change_blocks.requester_outcome_text(snapshot)  # a partial change or a restore
    if changed:
        return Message(text=changed.split("\n")[0], blocks=[SectionBlock(text=_md(changed)).to_dict()])
    if request.status == RequestStatus.EXPIRED:  # nobody decided in time (approval expiry)
        email = escape(request.subject_email)
        text = (f":hourglass: Your offboarding request #{snapshot.id} for {email} expired: "
                f"{escape(request.decision_comment or 'nobody decided on it in time')}. Nothing was removed. If it is "
                f"still needed, ask again with `/offboard {email}`.")
        return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])
    if request.status == RequestStatus.REJECTED:
        text = (
            f":no_entry: Your offboarding request #{snapshot.id} for {escape(request.subject_email)} was rejected by "
            f"{mrkdwn.user(request.decided_by)}: {escape(request.decision_comment)}"
        )
    else:
        if snapshot.removals:
            text = (
                f":white_check_mark: Offboarding request #{snapshot.id} is complete: {escape(request.subject_email)} "
                f"was removed from {removal_summary(snapshot)}. Approved by {approver_words(request)}."
            )
        else:
            text = (
                f":white_check_mark: Offboarding request #{snapshot.id} is complete: {escape(request.subject_email)} "
                "was not a member of any configured tool, so nothing needed removing."
            )
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


NOTIFICATION_RENDERERS = {
    NotificationKind.DM_REQUESTER: requester_outcome,
    NotificationKind.DM_NEW_OWNER: new_owner_message,
}
