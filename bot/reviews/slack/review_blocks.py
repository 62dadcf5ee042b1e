"""Block Kit for the access review report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)

from bot.offboarding.slack.blocks import MAX_BLOCKS, Message, _clip, _md, slack_date
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import AccessReview

ATTEST = "access_review_attest"
NAMES_SHOWN = 15


def review_report(review: AccessReview) -> Message:
    assert review.id is not None
    asked = "quarterly" if not review.trigger.startswith("U") else f"asked by {mrkdwn.user(review.trigger)}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"Access review {review.period}", 150))),
        ContextBlock(elements=[_md(f"Review #{review.id}, {asked}, {slack_date(review.started_at)}. Every member of "
                                   "every tool is in the CSV in this thread: check each one, remove who should not "
                                   "be there (`/offboard alice@corp.com`), then attest.")]),
    ]
    vendors = list(review.summary.items())[: MAX_BLOCKS - 3]  # header, context and the attest row always fit
    blocks += [SectionBlock(block_id=f"vendor_{name}", text=_md(_vendor_text(data))) for name, data in vendors]
    if review.attested_by and review.attested_at:
        blocks.append(ContextBlock(elements=[_md(f":white_check_mark: Attested by {mrkdwn.user(review.attested_by)} "
                                                 f"{slack_date(review.attested_at)}.")]))
    else:
        confirm = ConfirmObject(title="Attest this review?", text="You confirm you checked every member listed in the "
                                "CSV and that what remains is needed.", confirm="Attest", deny="Back")
        blocks.append(ActionsBlock(block_id="attest", elements=[
            ButtonElement(text="Attest review", action_id=ATTEST, value=str(review.id), style="primary",
                          confirm=confirm)]))
    rendered = [b.to_dict() for b in blocks]
    members = sum(int(d.get("members") or 0) for d in review.summary.values())
    return Message(text=f"Access review {review.period}: {members} members across {len(review.summary)} tools",
                   blocks=rendered)


def _vendor_text(data: Mapping[str, Any]) -> str:
    """One tool's part of the report, in mrkdwn: its problem (a vendor's error) and the emails escaped."""
    label = escape(data.get("label", data.get("vendor")))
    if not data.get("listed"):
        return f":grey_question: *{label}*: {escape(data.get('problem'))}"
    lines = [f"*{label}*: {data['members']} members"]
    if data.get("roles_known", True):
        lines.append(f"Owners ({len(data['owners'])}): {_names(data['owners'])}")
        lines.append(f"Admins ({len(data['admins'])}): {_names(data['admins'])}")
    else:
        lines.append("Owners and admins: not shown by its API; check the roles in its admin UI")
    if data.get("inactive") is None:
        lines.append(f"Inactive {data['days']}+ days: not known (its API does not give last login; the sweep can "
                     "judge it from a members export)")
    else:
        never = f", {data['never_logged_in']} of them never logged in" if data.get("never_logged_in") else ""
        lines.append(f"Inactive {data['days']}+ days: {data['inactive']}{never}")
    pending = data.get("pending")
    lines.append(f"Pending invitations: {pending if pending is not None else escape(data.get('invites_note'))}")
    if data.get("blind_spot"):
        lines.append(f":eyes: Not in this list: {escape(data['blind_spot'])}")
    return "\n".join(lines)


def _names(emails: Sequence[str]) -> str:
    if not emails:
        return "none"
    shown = ", ".join(escape(e) for e in emails[:NAMES_SHOWN])
    return shown + (f" and {len(emails) - NAMES_SHOWN} more (see the CSV)" if len(emails) > NAMES_SHOWN else "")
