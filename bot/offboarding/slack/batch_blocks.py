"""Bulk offboarding's batch messages: the bulk form, the batch card (summary, per-person progress, the decision),
its detail file, and the batch's one notification."""

from __future__ import annotations

import io
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

from bot import spreadsheet
from bot.offboarding.modes import MODE_LABELS
from bot.offboarding.slack import change_blocks
from bot.offboarding.slack.blocks import (
    NOTE_LIMIT,
    STATUS_EMOJI,
    Message,
    _clip,
    asset_summary,
    removal_summary,
    slack_date,
)
from bot.offboarding.values import STATUS_WORDS, BatchSnapshot, Reason, RequestSnapshot
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import BatchStatus, RequestMode, RequestStatus, StepStatus
from vendors.base import AssessmentStatus

BULK_MODAL = "offboard_bulk"
BATCH_REJECT_MODAL = "offboard_batch_reject"
APPROVE_BATCH = "approve_batch"
REJECT_BATCH = "reject_batch"
CANCEL_BATCH = "cancel_batch"
LINES_PER_SECTION = 30
MAX_TEXT = 2900

BATCH_WORDS = {
    BatchStatus.ASSESSING: ":mag: Checking every tool for each person…",
    BatchStatus.PENDING_APPROVAL: ":hourglass_flowing_sand: Waiting for approval",
    BatchStatus.APPROVED: ":gear: Approved: being carried out",
    BatchStatus.DONE: ":white_check_mark: Done",
    BatchStatus.REJECTED: ":no_entry: Rejected",
    BatchStatus.CANCELLED: ":heavy_minus_sign: Cancelled",
}


def _md(text: str) -> MarkdownTextObject:
    """mrkdwn already escaped (bot.slack.mrkdwn), inside Slack's length limit."""
    return MarkdownTextObject(text=mrkdwn.clip(text, MAX_TEXT))


@dataclass(frozen=True)
class BulkPrefill:
    people: tuple[str, ...] = ()
    reason: Reason | None = None
    note: str = ""
    channel_id: str = ""
    vendors: tuple[str, ...] = ()
    chosen_vendors: tuple[str, ...] | None = None
    vendor_labels: dict[str, str] = field(default_factory=dict)


# -- the bulk form ----------------------------------------------------------------------------------------------
def bulk_modal(prefill: BulkPrefill) -> View:
    reasons = [Option(value=r.value, label=r.label) for r in Reason if r != Reason.SECURITY_INCIDENT]
    initial = next((o for o in reasons if prefill.reason and o.value == prefill.reason), None)
    blocks: list[Block] = [
        InputBlock(block_id="people", label="People: one email per line, or CSV lines", optional=True,
                   element=PlainTextInputElement(action_id="people", multiline=True,
                                                 initial_value="\n".join(prefill.people) or None,
                                                 placeholder="alice@corp.com, resignation, HR-12, bob@corp.com"),
                   hint="CSV columns: email, reason, ticket, new owner (email). Only the email is required."),
        InputBlock(block_id="csv", label="…or a CSV file with the same columns", optional=True,
                   element=FileInputElement(action_id="csv", filetypes=["csv", "txt"], max_files=1)),
        InputBlock(block_id="reason", label="Reason (for rows that give none)",
                   element=StaticSelectElement(action_id="reason", options=reasons, initial_option=initial),
                   hint="A security incident is removed at once, one person at a time: /offboard @bob emergency."),
        *change_blocks.mode_inputs(),
        InputBlock(block_id="ticket", label="Ticket reference (for rows that give none)", optional=True,
                   element=PlainTextInputElement(action_id="ticket", placeholder="HR-1234")),
        InputBlock(block_id="note", label="Note for the approvers", optional=True,
                   element=PlainTextInputElement(action_id="note", multiline=True,
                                                 initial_value=_clip(prefill.note, NOTE_LIMIT) or None)),
    ]
    if len(prefill.vendors) > 1:
        options = [Option(value=v, label=prefill.vendor_labels.get(v, v)) for v in prefill.vendors]
        chosen = prefill.chosen_vendors or prefill.vendors
        blocks.insert(5, InputBlock(block_id="vendors", label="Tools", element=StaticMultiSelectElement(
            action_id="vendors", options=options, initial_options=[o for o in options if o.value in chosen])))
    return View(type="modal", callback_id=BULK_MODAL, title="Offboard several people", submit="Request approval",
                close="Cancel", private_metadata=json.dumps({"channel_id": prefill.channel_id}), blocks=blocks)


def batch_reject_modal(batch_id: int) -> View:
    return View(type="modal", callback_id=BATCH_REJECT_MODAL, title="Reject batch", submit="Reject", close="Back",
                private_metadata=json.dumps({"batch_id": batch_id}),
                blocks=[InputBlock(block_id="comment", label=f"Why is batch #{batch_id} rejected? The requester "
                                                             "will see this.",
                                   element=PlainTextInputElement(action_id="comment", multiline=True))])


# -- the batch card -------------------------------------------------------------------------------------------
def batch_card(batch: BatchSnapshot, now: datetime) -> Message:
    row = batch.batch
    mode = RequestMode(row.mode) if row.mode in {m.value for m in RequestMode} else RequestMode.FULL
    title = f"Batch #{batch.id}: {MODE_LABELS[mode].lower()} of {row.size} people"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title[:150]))]
    approvals = ", ".join(mrkdwn.user(a.approver_id) for a in batch.approvals) or "_none yet_"
    blocks.append(SectionBlock(fields=[
        _md(f"*Requested by*\n{mrkdwn.user(row.requester_id)}"),
        _md(f"*Reason*\n{escape(_reason_label(row.reason))} (unless a row says otherwise)"),
        _md(f"*Ticket*\n{escape(row.ticket) if row.ticket else '_per row, or none_'}"),
        _md(f"*From*\n{escape(row.source) if row.source != 'list' else 'a list of emails'}"),
        _md(f"*Status*\n{BATCH_WORDS[batch.status]}"),
        _md(f"*Approvals* ({len(batch.approvals)} of {row.approvals_needed} needed)\n{approvals}"),
    ]))
    if row.note:
        blocks.append(SectionBlock(text=_md("*Note:* " + escape(row.note))))
    if row.approvals_needed > 1:
        blocks.append(ContextBlock(elements=[_md(
            "A batch this large needs two different approvers, and neither may be the requester.")]))
    blocks.append(SectionBlock(text=_md(summary_text(batch))))
    blocks.append(DividerBlock())
    lines = [person_line(member) for member in batch.members]
    for start in range(0, len(lines), LINES_PER_SECTION):
        blocks.append(SectionBlock(text=_md("\n".join(lines[start:start + LINES_PER_SECTION]))))
    blocks.append(ContextBlock(elements=[_md("Each person's card (what happens in each tool, checklists, Retry) "
                                             "is in this thread, with the detail file.")]))
    decision = decision_line(batch)
    if decision:
        blocks.append(ContextBlock(elements=[_md(decision)]))
    if batch.status == BatchStatus.PENDING_APPROVAL:
        blocks.append(_buttons(batch))
    elif batch.status == BatchStatus.ASSESSING:
        blocks.append(ActionsBlock(block_id="batch_decision", elements=[_cancel(batch.id)]))
    text = f"Batch #{batch.id} ({row.size} people): {BATCH_WORDS[batch.status].split(' ', 1)[1]}"
    return Message(text=text, blocks=[b.to_dict() for b in blocks])


def summary_text(batch: BatchSnapshot) -> str:
    """What the approvers approve, in mrkdwn: per tool how many are members, unknown, not there; and the work."""
    members, unknown, automated, manual, warnings = Counter[str](), Counter[str](), 0, 0, 0
    nothing = 0
    for member in batch.members:
        if not any(s.vendor != "slack" for s in member.steps) and member.assessments:
            nothing += 1
        for vendor, assessment in member.assessments.items():
            if assessment.status == AssessmentStatus.MEMBER:
                members[vendor] += 1
            elif assessment.status == AssessmentStatus.UNKNOWN:
                unknown[vendor] += 1
            warnings += len(assessment.warnings)
        automated += sum(1 for s in member.steps if not s.manual and s.vendor != "slack")
        manual += sum(1 for s in member.steps if s.manual)
    tools = []
    for vendor in batch.vendor_labels:
        if members[vendor] or unknown[vendor]:
            part = f"{escape(batch.vendor_labels[vendor])}: {members[vendor]} member(s)"
            if unknown[vendor]:
                part += f", {unknown[vendor]} to check by hand"
            tools.append(part)
    lines = ["*Summary:* " + ("; ".join(tools) or "nobody found in any tool yet")]
    lines.append(f"{automated} automated step(s), {manual} manual step(s), {warnings} warning(s) to read in the "
                 "detail file")
    if nothing:
        lines.append(f"{nothing} person(s) have nothing to remove")
    return "\n".join(lines)


def person_line(member: RequestSnapshot) -> str:
    request = member.request
    status = member.status
    parts = []
    for vendor in member.vendor_names:
        steps = [s for s in member.steps_for(vendor)]
        if not steps:
            continue
        label = escape(member.vendor_labels.get(vendor, vendor))
        if any(s.status == StepStatus.FAILED for s in steps):
            parts.append(f"{label} :x:")
        elif all(s.status == StepStatus.DONE for s in steps):
            parts.append(f"{label} ✓")
        else:
            done = sum(1 for s in steps if s.status == StepStatus.DONE)
            parts.append(f"{label} {done}/{len(steps)}")
    detail = " · ".join(parts) if parts else ("nothing to do" if member.assessments else "")
    return f"{STATUS_EMOJI[status]} {escape(request.subject_email)}: {STATUS_WORDS[status]}" + (f" ({detail})" if detail
                                                                                          else "")


def decision_line(batch: BatchSnapshot) -> str:
    row = batch.batch
    if batch.status == BatchStatus.REJECTED and row.decided_at:
        return (f":no_entry: Rejected by {mrkdwn.user(row.decided_by)} {slack_date(row.decided_at)}: "
                f"{escape(row.decision_comment)}")
    if batch.status == BatchStatus.CANCELLED:
        return f"Cancelled by {mrkdwn.user(row.requester_id)}"
    if row.decided_by and row.decided_at:
        who = " and ".join(mrkdwn.user(a.approver_id) for a in batch.approvals)
        line = f":white_check_mark: Approved by {who} {slack_date(row.decided_at)}"
        if row.completed_at:
            line += f" · finished {slack_date(row.completed_at)}"
        return line
    return ""


def _buttons(batch: BatchSnapshot) -> ActionsBlock:
    value = str(batch.id)
    confirm = ConfirmObject(title="Approve the batch?",
                            text=f"{MODE_LABELS[_mode(batch)]} for {batch.batch.size} people, as the detail file "
                                 "lists? A removal cannot be undone.",
                            confirm="Approve", deny="Back")
    return ActionsBlock(block_id="batch_decision", elements=[
        ButtonElement(text="Approve batch", action_id=APPROVE_BATCH, value=value, style="primary", confirm=confirm),
        ButtonElement(text="Reject batch", action_id=REJECT_BATCH, value=value, style="danger"),
        _cancel(batch.id),
    ])


def _cancel(batch_id: int) -> ButtonElement:
    return ButtonElement(text="Cancel batch", action_id=CANCEL_BATCH, value=str(batch_id))


def _mode(batch: BatchSnapshot) -> RequestMode:
    return RequestMode(batch.batch.mode) if batch.batch.mode in {m.value for m in RequestMode} else RequestMode.FULL


def _reason_label(reason: str) -> str:
    return Reason(reason).label if reason in {r.value for r in Reason} else reason


# -- the detail file --------------------------------------------------------------------------------------------
DETAIL_COLUMNS = ("request", "email", "name", "reason", "ticket", "new owner", "tool", "found", "role", "projects",
                  "assets", "automated steps", "manual steps", "warnings")


def detail_csv(batch: BatchSnapshot) -> str:
    """One row per person and tool: what each tool said and what will happen there."""
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(DETAIL_COLUMNS)
    for member in batch.members:
        request = member.request
        for vendor in member.vendor_names:
            assessment = member.assessments.get(vendor)
            person = assessment.member if assessment else None
            steps = member.steps_for(vendor)
            writer.writerow([
                member.id, request.subject_email, request.subject_name, _reason_label(request.reason), request.ticket,
                request.new_owner_email or "", member.vendor_labels.get(vendor, vendor),
                _found(assessment.status if assessment else None, assessment.error if assessment else None),
                f"{person.role.value} ({person.vendor_role})" if person else "",
                "; ".join(f"{p.project_name} ({p.level})" for p in person.projects) if person else "",
                asset_summary(Counter(a.kind for a in assessment.assets)) if assessment else "",
                "; ".join(s.title for s in steps if not s.manual),
                "; ".join(s.title for s in steps if s.manual),
                " | ".join(assessment.warnings) if assessment else "",
            ])
    return out.getvalue()


def _found(status: AssessmentStatus | None, error: str | None) -> str:
    if status is None:
        return "not checked"
    if status == AssessmentStatus.UNKNOWN:
        return f"unknown ({error})" if error else "unknown"
    return "member" if status == AssessmentStatus.MEMBER else "not a member"


def details_comment(batch: BatchSnapshot) -> str:
    return (f"Batch #{batch.id}: what each tool said about each of the {batch.batch.size} people, and what will "
            "happen there.")


# -- the one notification ----------------------------------------------------------------------------------------
def batch_notice(batch: BatchSnapshot, contact: str) -> Message:
    row = batch.batch
    removed = [m for m in batch.members if m.removals]
    ticket = f", ticket {escape(row.ticket)}" if row.ticket else ""
    lines = [f":lock: *{len(removed)} people no longer have access* (batch #{batch.id}, "
             f"{escape(_reason_label(row.reason))}{ticket}):"]
    lines += [f"• {escape(m.request.subject_email)}: {removal_summary(m)}" for m in removed[:60]]
    if len(removed) > 60:
        lines.append(f"…and {len(removed) - 60} more (the batch card lists everyone).")
    approvers = " and ".join(mrkdwn.user(a.approver_id) for a in batch.approvals)
    lines.append(f"*Approved by:* {approvers}")
    lines.append(f"*Questions:* {contact or mrkdwn.user(row.requester_id)}")
    text = f"{len(removed)} people no longer have access (batch #{batch.id})"
    return Message(text=text, blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict()])


def requester_batch_outcome(batch: BatchSnapshot) -> Message:
    row = batch.batch
    if batch.status == BatchStatus.REJECTED:
        text = (f":no_entry: Your batch #{batch.id} ({row.size} people) was rejected by {mrkdwn.user(row.decided_by)}: "
                f"{escape(row.decision_comment)}")
        return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])
    outcomes = Counter(RequestStatus(m.request.status) for m in batch.members)
    counts = ", ".join(f"{n} {STATUS_WORDS[s]}" for s, n in outcomes.items())
    lines = [f":white_check_mark: Your batch #{batch.id} ({row.size} people) is finished: {counts}."]
    lines += [f"• {escape(m.request.subject_email)}: " + (removal_summary(m) if m.removals else STATUS_WORDS[m.status])
              for m in batch.members[:60]]
    text = lines[0]
    return Message(text=text, blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict()])
