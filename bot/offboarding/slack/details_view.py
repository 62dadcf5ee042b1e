"""The Details view of a request: everything the card leaves out so an approver reads it in one screen
(each step's outcome, the assets by name, every manual step's click path) and the checklist's Mark done
buttons. A modal opened with the click's trigger_id, so nothing is owed to Slack when it cannot open."""

from __future__ import annotations

import json
from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, SectionBlock
from slack_sdk.models.views import View

from bot.offboarding.slack import blocks, change_blocks
from bot.offboarding.slack.blocks import STATUS_EMOJI, _clip, _md, assessment_text, manual_step_block, step_line
from bot.offboarding.values import STATUS_WORDS, RequestSnapshot
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import RequestStatus

CALLBACK = "request_details"
MAX_VIEW_BLOCKS = 100  # Slack's limit for a modal
ASSETS_SHOWN = 15  # per tool; the rest are counted


def details_view(snapshot: RequestSnapshot, now: datetime, *, card_channel: str = "") -> View:
    """`card_channel`: where the card is, so a refusal of a click in this view is said there."""
    request = snapshot.request
    heading = (f"*{escape(change_blocks.card_title(snapshot))}* — {escape(request.subject_email)}\n"
               f"{STATUS_EMOJI[snapshot.status]} {STATUS_WORDS[snapshot.status].capitalize()}")
    content: list[Block] = [SectionBlock(text=_md(heading))]
    for vendor in snapshot.vendor_names:
        content.append(DividerBlock())
        content.extend(_vendor_details(snapshot, vendor, now))
    open_steps = snapshot.manual_steps_open
    if open_steps and not _tickable(snapshot):
        content.append(ContextBlock(elements=[_md(
            "_Mark done is offered here once the request is approved._" if snapshot.status in (
                RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL) else "_This request is closed._")]))
    return View(
        type="modal",
        callback_id=CALLBACK,
        title=_clip(f"Request #{snapshot.id}", 24),
        close="Close",
        private_metadata=json.dumps({"request_id": snapshot.id, "channel": card_channel}),
        blocks=_fit(content),
    )


def _tickable(snapshot: RequestSnapshot) -> bool:
    decided = snapshot.status not in (RequestStatus.ASSESSING, RequestStatus.PENDING_APPROVAL)
    return decided and blocks.still_open(snapshot)


def _vendor_details(snapshot: RequestSnapshot, vendor: str, now: datetime) -> list[Block]:
    label = snapshot.vendor_labels.get(vendor, vendor)
    assessment = snapshot.assessments.get(vendor)
    steps = snapshot.steps_for(vendor)
    automated = [s for s in steps if not s.manual]
    lines = [assessment_text(label, assessment, snapshot.request.new_owner_slack_id, now, automated=bool(automated))]
    lines += [step_line(s) for s in automated]
    shown: list[Block] = [SectionBlock(text=_md("\n".join(lines)))]
    assets = list(assessment.assets) if assessment else []
    if assets:
        names = []
        for asset in assets[:ASSETS_SHOWN]:
            # The asset's name is the leaver's to choose: only its URL (built by the connector) makes a link.
            kind = escape(blocks.ASSET_WORDS.get(asset.kind, (asset.kind,))[0])
            where = f" in {escape(asset.project_name)}" if asset.project_name else ""
            names.append(f"• {kind}: {mrkdwn.link(asset.url, asset.name)}{where}")
        if len(assets) > ASSETS_SHOWN:
            names.append(f"…and {len(assets) - ASSETS_SHOWN} more.")
        shown.append(ContextBlock(elements=[_md("\n".join(names))]))
    tickable = _tickable(snapshot)
    shown += [manual_step_block(s, actionable=tickable) for s in steps if s.manual]
    return shown


def _fit(content: list[Block]) -> list[dict]:
    """Inside a modal's 100 blocks, saying what was left out."""
    rendered = [b.to_dict() for b in content]
    if len(rendered) <= MAX_VIEW_BLOCKS:
        return rendered
    kept = rendered[: MAX_VIEW_BLOCKS - 1]
    note = ContextBlock(elements=[_md(f"_{len(rendered) - len(kept)} more items: use `/offboard status`._")])
    return [*kept, note.to_dict()]
