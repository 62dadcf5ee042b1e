"""Block Kit rendering of audit evidence for Slack: pure functions from bot.audit.evidence to messages.

Built with `slack_sdk.models.blocks`, whose `to_dict()` checks Slack's field limits; the 50-blocks
limit is kept by showing at most `MAX_REQUESTS` requests of a few blocks each.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.audit.evidence import Evidence, VendorAfter, VendorBefore
from bot.offboarding.slack.blocks import Message, asset_summary, slack_date
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape

MAX_REQUESTS = 5  # 5 requests of at most 8 blocks + a header stays under Slack's 50
MAX_TEXT = 2900  # Slack allows 3000 characters per text; leave room for the truncation mark
MAX_LINES = 12  # per list (assets, ticks, notifications, timeline) before "and N more"
_SLACK_ID = re.compile(r"[UW][A-Z0-9]+")

AUDIT_USAGE = (
    "*Audit evidence* (audit admins only)\n"
    "• `/offboard audit alice@corp.com` (or `@alice`): the evidence of her offboardings: timeline, approvals, "
    "before and after per tool, assets moved, manual checks, notifications, and how long each part took.\n"
    "• `/offboard audit export` (optionally `since=2024-01-01`): the removal log as a CSV file, sent to you in a DM.\n"
    "• `/offboard audit report from=2026-01-01 to=2026-03-31`: the audit report for that period (both days "
    "included) as one HTML file, sent to you in a DM: every leaver, the summary with charts, the chain checked "
    "against its witnessed heads, and the access reviews."
)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def md(text: str) -> MarkdownTextObject:
    """mrkdwn already escaped (bot.slack.mrkdwn), inside Slack's length limit."""
    return MarkdownTextObject(text=mrkdwn.clip(text, MAX_TEXT))


def who(actor: str) -> str:
    """A Slack mention for a person, the bot's name for itself, anything else as recorded (escaped)."""
    return mrkdwn.user(actor) if _SLACK_ID.fullmatch(actor) else escape(actor)


def span(delta: timedelta | None) -> str:
    if delta is None:
        return "n/a"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _when(moment: datetime | None) -> str:
    return slack_date(moment) if moment else "n/a"


def evidence_message(target: str, evidences: Sequence[Evidence], labels: Mapping[str, str] | None = None) -> Message:
    labels = labels or {}
    if not evidences:
        text = (f"No offboarding evidence for {escape(target)}: no request names them (or its data was purged after "
                "retention).")
        return Message(text=text, blocks=[SectionBlock(text=md(text)).to_dict()])
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=clip(f"Audit evidence for {target}", 150)))]
    for evidence in evidences[:MAX_REQUESTS]:
        blocks += _request_blocks(evidence, labels)
    if len(evidences) > MAX_REQUESTS:
        more = len(evidences) - MAX_REQUESTS
        blocks.append(ContextBlock(elements=[md(f"_{more} older request(s) not shown: `offboard audit show "
                                                f"<request number>` shows any of them._")]))
    return Message(text=f"Audit evidence for {escape(target)}", blocks=[b.to_dict() for b in blocks])


def _request_blocks(evidence: Evidence, labels: Mapping[str, str]) -> list[Block]:
    name = f" ({escape(evidence.subject_name)})" if evidence.subject_name else ""
    purged = " · _personal data purged after retention_" if evidence.purged else ""
    title = (f"*Request #{evidence.request_id}*: {escape(evidence.subject)}{name} · {escape(evidence.reason_label)} · "
             f"{escape(evidence.status.replace('_', ' '))}{purged}")
    fields = [
        md(f"*Asked by*\n{who(evidence.requested_by)} {_when(evidence.requested_at)}"),
        md(f"*Ticket*\n{escape(evidence.ticket or 'none')}"),
        md(f"*Decision*\n{_decisions(evidence)}"),
        md(f"*New owner of assets*\n{escape(evidence.new_owner or 'none named')}"),
        md(f"*Request → approval*\n{span(evidence.request_to_approval)}"),
        md(f"*Approval → verified removal*\n{span(evidence.approval_to_removal)}"),
    ]
    blocks: list[Block] = [SectionBlock(text=md(title), fields=fields)]
    blocks.append(SectionBlock(text=md("*Before → after, per tool*\n" + _vendor_lines(evidence, labels))))
    if evidence.assets_moved:
        lines = [escape(f"• {labels.get(m.vendor, m.vendor)} {m.kind} “{m.name}” ({m.project}): {m.action}, "
                        f"from {m.from_email} to {m.to_email}") for m in evidence.assets_moved]
        blocks.append(SectionBlock(text=md("*Assets moved*\n" + _capped(lines))))
    if evidence.manual_ticks:
        lines = [f"• {escape(labels.get(t.vendor, t.vendor))}: “{escape(t.step)}” by {who(t.by)} {_when(t.at)}"
                 for t in evidence.manual_ticks]
        blocks.append(SectionBlock(text=md("*Done by hand*\n" + _capped(lines))))
    if evidence.notifications:
        lines = [f"• {'sent' if n.delivered else 'FAILED'} {escape(n.kind.replace('_', ' '))}: "
                 f"{mrkdwn.recorded(n.summary)} {_when(n.at)}"
                 for n in evidence.notifications]
        blocks.append(SectionBlock(text=md("*Notifications*\n" + _capped(lines))))
    timeline = [f"{t.seq}. {t.at.strftime('%Y-%m-%d %H:%M:%S')} UTC {who(t.actor)}: {escape(t.text)}"
                for t in evidence.timeline]
    blocks.append(ContextBlock(elements=[md("*Timeline* (audit entries)\n" + _capped(timeline, tail=True))]))
    blocks.append(DividerBlock())
    return blocks


def _decisions(evidence: Evidence) -> str:
    if not evidence.decisions:
        return "not decided yet"
    return "\n".join(
        f"{escape(d.decision.capitalize())} by {who(d.by)} {_when(d.at)}"
        + (f": “{escape(d.comment)}”" if d.comment else "")
        for d in evidence.decisions
    )


def _vendor_lines(evidence: Evidence, labels: Mapping[str, str]) -> str:
    befores = {b.vendor: b for b in evidence.before}
    lines = []
    for after in evidence.after:
        label = escape(labels.get(after.vendor, after.vendor))
        lines.append(f"• *{label}*: {_before_text(befores.get(after.vendor))} → {_after_text(after)}")
    return "\n".join(lines) or "no tools"


def _before_text(before: VendorBefore | None) -> str:
    if before is None:
        return "not assessed"
    if before.status == "not_member":
        return "not a member"
    if before.status != "member":
        return f"could not be checked ({escape(before.problem)})"
    assets = asset_summary(Counter(dict(before.assets))) or "no assets"
    projects = f", projects {', '.join(before.projects)}" if before.projects else ""
    return escape(f"{before.vendor_role or before.role}{projects}, last login {before.last_login}, {assets}")


def _after_text(after: VendorAfter) -> str:
    match after.state:
        case "verified":
            return f"verified gone through the API {_when(after.at)}"
        case "confirmed_by_hand":
            return f"confirmed by hand by {', '.join(who(p) for p in after.by)} {_when(after.at)}"
        case "not_a_member":
            return "nothing to remove"
        case "failed":
            return f"failed: {escape(after.detail)}"
        case _:
            return "not verified yet"


def _capped(lines: list[str], *, tail: bool = False) -> str:
    """At most MAX_LINES lines (the last ones for a timeline), inside Slack's text limit."""
    if len(lines) > MAX_LINES:
        hidden = len(lines) - MAX_LINES
        note = f"… {hidden} more (`offboard audit show` lists them all)"
        lines = [note, *lines[-MAX_LINES:]] if tail else [*lines[:MAX_LINES], note]
    return mrkdwn.clip("\n".join(lines), MAX_TEXT)


def refusal_message() -> Message:
    text = ("Only audit admins can see audit evidence. Your request was refused and recorded in the audit log. "
            "Ask an approver if you need a record.")
    return Message(text=text, blocks=[SectionBlock(text=md(f":no_entry: {text}")).to_dict()])


def usage_message(problem: str = "") -> Message:
    """`problem` is mrkdwn written by the bot (bot.offboarding.parsing), escaped where it quotes what was typed."""
    text = (f"{problem}\n\n" if problem else "") + AUDIT_USAGE
    return Message(text=problem or "How to use /offboard audit", blocks=[SectionBlock(text=md(text)).to_dict()])


def export_sent_message(rows: int, since: datetime | None) -> Message:
    period = f" since {since.strftime('%Y-%m-%d')}" if since else ""
    text = (f"I sent you the removal log{period} ({rows} removal{'s' if rows != 1 else ''}) as a CSV file in our "
            "DM. The export is recorded in the audit log.")
    return Message(text=text, blocks=[SectionBlock(text=md(f":page_facing_up: {text}")).to_dict()])


def export_comment(rows: int, since: datetime | None) -> str:
    period = f" since {since.strftime('%Y-%m-%d')}" if since else ""
    return f"Offboarding removal log{period}: {rows} removal{'s' if rows != 1 else ''} (times in UTC)."


def report_sent_message(leavers: int, first: datetime, last: datetime, audit_channel: str | None,
                        unreadable: str | None = None) -> Message:
    """The reply once the report is in the admin's DM: what its chain was checked against. `audit_channel` is
    the configured channel holding the signed heads (None: the bot does not witness its chain); `unreadable`
    is Slack's error when that channel could not be read, vendor text and so escaped."""
    if audit_channel is None:
        note = ("The chain is not checked against witnessed heads: set OFFBOARD_AUDIT_CHANNEL and "
                "OFFBOARD_WITNESS_KEY_FILE.")
    elif unreadable is not None:
        note = (f"I could not read the witnessed heads in <#{audit_channel}> ({escape(unreadable)}), so the chain "
                "is checked on its own.")
    else:
        note = f"The chain is checked against <#{audit_channel}>."
    text = (f"I sent you the audit report for {first:%Y-%m-%d} to {last:%Y-%m-%d} ({leavers} "
            f"leaver{'s' if leavers != 1 else ''}) as an HTML file in our DM. {note} "
            "The report is recorded in the audit log.")
    return Message(text=text, blocks=[SectionBlock(text=md(f":page_facing_up: {text}")).to_dict()])


def report_comment(leavers: int, first: datetime, last: datetime) -> str:
    return (f"Offboarding audit report {first:%Y-%m-%d} to {last:%Y-%m-%d}: {leavers} "
            f"leaver{'s' if leavers != 1 else ''} (times in UTC; open it in any browser, offline).")
