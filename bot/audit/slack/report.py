"""`/offboard audit report from=… to=…` for audit admins: the report as an HTML file in their DM
(files.upload v2, as the removal log export), checked against the heads witnessed in the audit channel."""

from __future__ import annotations

import logging

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.audit.report_run import last_day, make_report
from bot.audit.slack import blocks as audit_blocks
from bot.cli.witness import Witnessed
from bot.offboarding.parsing import AuditReportAsk
from bot.runtime.deps import Deps
from bot.slack.post import SlackPoster
from storage import witness

log = logging.getLogger(__name__)


def send(deps: Deps, user: str, asked: AuditReportAsk, respond: Respond, client: WebClient) -> None:
    witnessed, channel, unreadable = _witnessed(deps, client)
    labels = {name: v.label for name, v in deps.workflow.vendors.items()}
    with deps.workflow.db.session() as session:
        made = make_report(session, asked.start, asked.end, now=deps.clock(), actor=user, via="slack",
                           witnessed=witnessed, seat_cost=deps.seat_cost, labels=labels)
    leavers, last = len(made.report.leavers), last_day(made.report)
    dm = SlackPoster(client).dm_channel(user)
    client.files_upload_v2(channel=dm, filename=made.filename, content=made.html,
                           title=f"Offboarding audit report {asked.start:%Y-%m-%d} to {last:%Y-%m-%d}",
                           initial_comment=audit_blocks.report_comment(leavers, asked.start, last))
    message = audit_blocks.report_sent_message(leavers, asked.start, last, channel, unreadable)
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


def _witnessed(deps: Deps, client: WebClient) -> tuple[Witnessed | None, str | None, str | None]:
    """The heads signed in the audit channel when the bot witnesses its chain, that channel (None when it does
    not), and Slack's error when the channel could not be read."""
    poster = deps.scheduled.witness if deps.scheduled else None
    if poster is None:
        return None, None, None
    channel = poster.config.channel
    try:
        heads = witness.heads_in_messages(witness.iter_history(client, channel))
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        log.warning("could not read the audit channel %s: %s", channel, error)
        return None, channel, error
    where = f"Slack channel {channel}"
    return Witnessed(heads, where, poster.key.public_key()), channel, None
