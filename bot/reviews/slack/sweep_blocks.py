"""Block Kit for the inactive-user sweep: the review card (paged, never over Slack's limits), the DM to an
inactive person, the members-export upload modal, and the CSV of every finding."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot import spreadsheet
from bot.offboarding.slack.blocks import MAX_BLOCKS, Message, _clip, _md, ago, slack_date
from bot.reviews.inactivity import LEFT_OUT_WORDS, LeftOut
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import FindingStatus, SweepFinding, SweepRun

NOTIFY = "sweep_notify"
OFFBOARD = "sweep_offboard"
KEEP = "sweep_keep"
NOTIFY_ALL = "sweep_notify_all"
PAGE = "sweep_page"
PAGE_NEXT = "sweep_page_next"  # a second id: two buttons of one actions block may not share one
UPLOAD = "sweep_upload_export"
STILL_NEED = "sweep_still_need_access"
UPLOAD_MODAL = "sweep_export_modal"
UPLOAD_VENDOR = "vendor"
UPLOAD_FILE = "export_file"

PAGE_SIZE = 12  # two blocks each: with the header, summary, vendors and buttons, well under 50 blocks
CSV_COLUMNS = ("email", "name", "tool", "role", "tool_role", "last_login_utc", "joined_utc", "judged_from", "status")


def review_card(run: SweepRun, findings: Sequence[SweepFinding], now: datetime, *, exempt_days: int,
                page_size: int = PAGE_SIZE) -> Message:
    """The sweep's card at its current page. Buttons carry the finding (or sweep) id."""
    assert run.id is not None
    pages = max(1, -(-len(findings) // page_size))
    page = min(max(run.page, 0), pages - 1)
    shown = findings[page * page_size:(page + 1) * page_size]
    title = f"Inactive accounts: {_people(len(findings))}" if findings else "Inactive accounts: nobody found"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=_clip(title, 150))),
                           SectionBlock(text=_md(_summary(run))), *_vendor_notes(run)]
    if findings:
        blocks.append(DividerBlock())
    for finding in shown:
        blocks += _finding_blocks(finding, run.vendors, now, exempt_days)
    blocks += _footer(run, findings, page, pages)
    rendered = [b.to_dict() for b in blocks]
    assert len(rendered) <= MAX_BLOCKS, f"sweep card has {len(rendered)} blocks"
    text = f"Inactive-user sweep #{run.id}: {title.split(': ', 1)[1]}"
    return Message(text=text, blocks=rendered)


def _people(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} people"


def _summary(run: SweepRun) -> str:
    judged = {v: d for v, d in run.vendors.items() if not d.get("unjudged")}
    when = slack_date(run.started_at)
    if not judged:
        return f"Sweep #{run.id} of {when}: no tool could be judged (see below)."
    limits = ", ".join(f"{escape(d['label'])} ({d['days']} days without a login)" for d in judged.values())
    members = sum(int(d.get("members") or 0) for d in judged.values())
    lines = [f"Sweep #{run.id} of {when}: {members} seats checked in {limits}."]
    left_out: dict[str, int] = {}
    for data in judged.values():
        for why, count in (data.get("left_out") or {}).items():
            left_out[why] = left_out.get(why, 0) + int(count)
    if left_out:
        lines.append("Left out: " + ", ".join(_left_out_words(why, n) for why, n in sorted(left_out.items())) + ".")
    return "\n".join(lines)


def _left_out_words(why: str, count: int) -> str:
    try:
        one, several = LEFT_OUT_WORDS[LeftOut(why)]
    except ValueError:
        one, several = why, why
    return f"{count} {escape(one if count == 1 else several)}"


def _vendor_notes(run: SweepRun) -> list[Block]:
    notes: list[Block] = []
    for vendor, data in run.vendors.items():
        export = data.get("export")
        blind = f"\n:eyes: {escape(data['blind_spot'])}" if data.get("blind_spot") else ""
        if data.get("unjudged"):
            text = f":grey_question: *{escape(data['label'])} could not be judged:* {escape(data['unjudged'])}{blind}"
            button = None
            if data.get("hint"):
                text += f"\n{escape(data['hint'])} Then upload it here."
                button = ButtonElement(text="Upload members export", action_id=UPLOAD, value=f"{run.id}:{vendor}")
            notes.append(SectionBlock(block_id=f"vendor_{vendor}", text=_md(text), accessory=button))
        elif export:
            missing = int((data.get("left_out") or {}).get(LeftOut.NOT_IN_EXPORT.value, 0))
            extra = f"; {missing} current member(s) are not in it and were not judged" if missing else ""
            by = str(export.get("by") or "")
            who = f"uploaded by {mrkdwn.user(by)}" if by.startswith(("U", "W")) else "passed to `offboard sweep`"
            notes.append(ContextBlock(elements=[_md(
                f"{escape(data['label'])} judged from the members export {escape(export.get('filename', ''))} {who} "
                f"{slack_date(datetime.fromisoformat(export['at']))} ({export.get('rows')} rows{extra}).{blind}")]))
        elif blind:
            notes.append(ContextBlock(elements=[_md(blind.strip())]))
    return notes


def _finding_blocks(finding: SweepFinding, vendors: Mapping[str, Any], now: datetime, exempt_days: int) -> list[Block]:
    assert finding.id is not None
    name = f"*{escape(finding.name)}* · {escape(finding.email)}" if finding.name else f"*{escape(finding.email)}*"
    lines = [name] + [f"• {_seat_line(vendors.get(v, {}).get('label', v), seat, now)}"
                      for v, seat in finding.vendors.items()]
    status = _status_line(finding, exempt_days)
    if status:
        lines.append(status)
    blocks: list[Block] = [SectionBlock(block_id=f"finding_{finding.id}", text=_md("\n".join(lines)))]
    buttons = _finding_buttons(finding, exempt_days)
    if buttons:
        blocks.append(ActionsBlock(block_id=f"finding_actions_{finding.id}", elements=buttons))
    return blocks


def _seat_line(label: str, seat: Mapping[str, Any], now: datetime) -> str:
    role = seat.get("vendor_role") or seat.get("role") or "member"
    if seat.get("last_login"):
        login = datetime.fromisoformat(seat["last_login"])
        when = f"last login {ago(login, now)} ({login.strftime('%Y-%m-%d')})"
    else:
        joined = f", joined {escape(seat['joined_at'][:10])}" if seat.get("joined_at") else ""
        when = f"never logged in{joined}"
    source = " _(from the members export)_" if seat.get("source") == "export" else ""
    return f"{escape(label)}: {escape(role)}, {when}{source}"


def _status_line(finding: SweepFinding, exempt_days: int) -> str:
    when = slack_date(finding.acted_at) if finding.acted_at else ""
    until = slack_date(finding.acted_at + timedelta(days=exempt_days)) if finding.acted_at else "a while"
    match finding.status:
        case FindingStatus.NOTIFIED:
            deadline = slack_date(finding.grace_until) if finding.grace_until else "the deadline"
            return (f":envelope: Notified by {mrkdwn.user(finding.acted_by)} {when}; access goes on {deadline} unless "
                    "they answer.")
        case FindingStatus.KEPT:
            return (f":white_check_mark: Kept by {mrkdwn.user(finding.acted_by)} {when}; left out of sweeps "
                    f"until {until}.")
        case FindingStatus.STILL_NEEDED:
            return (f":raised_hand: Said they still need access {when}; the removal is cancelled and they are left "
                    f"out of sweeps until {until}.")
        case FindingStatus.OFFBOARDING:
            number = f"#{finding.request_id}" if finding.request_id else "(being opened)"
            ended = finding.grace_until and finding.claimed_at and finding.claimed_at >= finding.grace_until
            how = "after the grace period with no answer" if ended else f"by {mrkdwn.user(finding.acted_by)}"
            return f":outbox_tray: Offboarding request {number} opened {how}."
    return ""


def _finding_buttons(finding: SweepFinding, exempt_days: int) -> list[ButtonElement]:
    value = str(finding.id)
    keep = ButtonElement(text=f"Keep (exempt {exempt_days} days)", action_id=KEEP, value=value)
    offboard = ButtonElement(text="Offboard", action_id=OFFBOARD, value=value, style="danger", confirm=ConfirmObject(
        title="Offboard now?", text=f"Open an offboarding request (reason: inactive) for {escape(finding.email)}? "
                                    "It goes to approval like any other.", confirm="Offboard", deny="Back"))
    if finding.status == FindingStatus.FOUND:
        return [ButtonElement(text="Notify", action_id=NOTIFY, value=value, style="primary"), offboard, keep]
    if finding.status == FindingStatus.NOTIFIED:
        return [offboard, keep]
    return []


def _footer(run: SweepRun, findings: Sequence[SweepFinding], page: int, pages: int) -> list[Block]:
    blocks: list[Block] = []
    if pages > 1:
        pager = []
        if page > 0:
            pager.append(ButtonElement(text="Previous page", action_id=PAGE, value=f"{run.id}:{page - 1}"))
        if page < pages - 1:
            pager.append(ButtonElement(text="Next page", action_id=PAGE_NEXT, value=f"{run.id}:{page + 1}"))
        blocks.append(ContextBlock(elements=[_md(f"Page {page + 1} of {pages}. Every finding is also in the CSV "
                                                 "file in this card's thread.")]))
        blocks.append(ActionsBlock(block_id="pages", elements=pager))
    waiting = sum(1 for f in findings if f.status == FindingStatus.FOUND)
    if waiting:
        confirm = ConfirmObject(title="Notify everyone?",
                                text=f"DM the {_people(waiting)} not handled yet that their access will be removed "
                                     "unless they answer?", confirm="Notify all", deny="Back")
        blocks.append(ActionsBlock(block_id="notify_all", elements=[
            ButtonElement(text=f"Notify all ({waiting})", action_id=NOTIFY_ALL, value=str(run.id), confirm=confirm)]))
    return blocks


def findings_csv(findings: Sequence[SweepFinding], vendors: Mapping[str, Any]) -> str:
    return spreadsheet.render(CSV_COLUMNS, (
        [finding.email, finding.name, vendors.get(vendor, {}).get("label", vendor), seat.get("role"),
         seat.get("vendor_role"), seat.get("last_login") or "never", seat.get("joined_at") or "", seat.get("source"),
         finding.status]
        for finding in findings for vendor, seat in finding.vendors.items()))


def notice_dm(finding: SweepFinding, vendors: Mapping[str, Any], now: datetime) -> Message:
    """To the inactive person: what goes when, and the one button that keeps it."""
    assert finding.id is not None and finding.grace_until is not None
    labels = [escape(vendors.get(v, {}).get("label", v)) for v in finding.vendors]
    tools = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    greeting = f"Hi {escape(finding.name.split()[0])}" if finding.name.strip() else "Hi"
    lines = [f":wave: {greeting}, you have not used {tools} for a while:"]
    lines += [f"• {_seat_line(vendors.get(v, {}).get('label', v), seat, now)}" for v, seat in finding.vendors.items()]
    lines.append(f"To keep our analytics tools safe, your access to {tools} will be removed on "
                 f"{slack_date(finding.grace_until)}. If you still need it, click *I still need access* and it stays.")
    button = ButtonElement(text="I still need access", action_id=STILL_NEED, value=str(finding.id), style="primary")
    return Message(text=f"Your access to {tools} will be removed on {finding.grace_until:%Y-%m-%d} unless you still "
                        "need it",
                   blocks=[SectionBlock(text=_md("\n".join(lines))).to_dict(),
                           ActionsBlock(block_id="still_need", elements=[button]).to_dict()])


def dm_answered(text: str) -> Message:
    """`text` is mrkdwn written by the bot (escaped where it holds what people typed)."""
    return Message(text=text, blocks=[SectionBlock(text=_md(text)).to_dict()])


def upload_modal(sweep_id: int, choices: Sequence[tuple[str, str]], chosen: str | None) -> dict[str, Any]:
    """A modal with the vendor and a file input (a CSV). `slack_sdk` has no file_input element, so the
    view is built as a dict."""
    options = [Option(value=name, label=label) for name, label in choices]
    initial = next((o for o in options if o.value == chosen), None)
    vendor = InputBlock(block_id=UPLOAD_VENDOR, label="Tool", element=StaticSelectElement(
        action_id=UPLOAD_VENDOR, options=options, initial_option=initial)).to_dict()
    upload = {"type": "input", "block_id": UPLOAD_FILE, "label": {"type": "plain_text", "text": "Members export (CSV)"},
              "element": {"type": "file_input", "action_id": UPLOAD_FILE, "filetypes": ["csv"], "max_files": 1}}
    hint = SectionBlock(text=_md("The file needs an email column and a last-login column; the other columns are "
                                 "ignored. It is read once to judge this sweep and not kept.")).to_dict()
    return {"type": "modal", "callback_id": UPLOAD_MODAL, "title": {"type": "plain_text", "text": "Members export"},
            "submit": {"type": "plain_text", "text": "Judge"}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps({"sweep_id": sweep_id}), "blocks": [hint, vendor, upload]}
