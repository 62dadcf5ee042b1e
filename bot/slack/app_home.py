"""App Home: what whoever opens the bot's Home tab has a part in. The requests waiting for their approval (with
the buttons), their own open requests, recent completions and emergencies nobody acknowledged yet; for audit
admins also the configuration's state. Only requests the viewer may see are shown (bot.engine.decisions.may_view)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, Block, ContextBlock, DividerBlock, HeaderBlock, SectionBlock
from slack_sdk.models.views import View
from sqlmodel import col, select

from bot.engine import decisions
from bot.offboarding.slack import blocks
from bot.offboarding.slack.blocks import STATUS_EMOJI, _md
from bot.offboarding.values import STATUS_WORDS, RequestSnapshot
from bot.runtime.deps import Deps
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import (
    OPEN_STATUSES,
    AuditChainHead,
    Emergency,
    OffboardRequest,
    RequestMode,
    RequestStatus,
    SweepRun,
)

log = logging.getLogger(__name__)

RECENT = timedelta(days=7)  # how far back "recent completions" reach
SHOWN = 10  # per section; the rest are counted
LOOKED_AT = 200  # the newest requests considered
MAX_HOME_BLOCKS = 100


@dataclass(frozen=True)
class Configuration:
    tools: list[str]  # labels of the configured tools
    last_sweep: SweepRun | None
    chain_seq: int
    chain_hash: str


@dataclass(frozen=True)
class HomeFacts:
    viewer: str
    waiting: list[RequestSnapshot]  # for the viewer's approval
    own_open: list[RequestSnapshot]
    completed: list[RequestSnapshot]
    emergencies: list[RequestSnapshot]  # not acknowledged
    configuration: Configuration | None = None  # audit admins only


def gather(deps: Deps, viewer: str, now: datetime) -> HomeFacts:
    workflow = deps.workflow
    roles = decisions.Roles(workflow.may_approve, workflow.may_respond, lambda u: u in deps.audit_admins)
    with workflow.db.session() as session:
        ids = list(session.exec(select(OffboardRequest.id).order_by(col(OffboardRequest.id).desc()).limit(LOOKED_AT)))
        unacknowledged = set(session.exec(select(Emergency.request_id).where(col(Emergency.acknowledged_by).is_(None))))
    snapshots = [s for s in (workflow.snapshot(i) for i in ids if i is not None) if s is not None]
    visible = [s for s in snapshots if decisions.may_view(viewer, _case(s), roles)]
    approver = workflow.may_approve(viewer)
    waiting = [s for s in visible if approver and s.status == RequestStatus.PENDING_APPROVAL
               and s.request.batch_id is None and s.request.requester_id != viewer]
    own_open = [s for s in visible if s.request.requester_id == viewer and s.status in OPEN_STATUSES]
    completed = [s for s in visible if s.status == RequestStatus.COMPLETED and s.request.completed_at
                 and s.request.completed_at >= now - RECENT]
    emergencies = [s for s in visible if s.id in unacknowledged and s.change.mode == RequestMode.EMERGENCY]
    configuration = _configuration(deps) if viewer in deps.audit_admins else None
    return HomeFacts(viewer, waiting, own_open, completed, emergencies, configuration)


def _case(snapshot: RequestSnapshot) -> decisions.Case:
    case = decisions.request_case(snapshot.request)
    return replace(case, kind=decisions.Kind.EMERGENCY) if snapshot.change.mode == RequestMode.EMERGENCY else case


def _configuration(deps: Deps) -> Configuration:
    workflow = deps.workflow
    with workflow.db.session() as session:
        sweep = session.exec(select(SweepRun).order_by(col(SweepRun.started_at).desc())).first()
        head = session.get(AuditChainHead, 1)
        seq, chain_hash = (head.seq, head.hash) if head else (0, "")
    tools = [getattr(v, "label", name) for name, v in workflow.vendors.items()]
    return Configuration(tools, sweep, seq, chain_hash)


# -- the view ----------------------------------------------------------------------------------------------------
def home_view(facts: HomeFacts, now: datetime) -> View:
    content: list[Block] = [HeaderBlock(text="offboard")]
    content += _section("Waiting for your approval", facts.waiting, "Nothing is waiting for your approval.",
                        buttons=True)
    content += _section("Your open requests", facts.own_open, "You have no open requests.")
    content += _section("Emergencies not acknowledged", facts.emergencies, "No emergency waits for acknowledgment.")
    content += _section(f"Completed in the last {RECENT.days} days", facts.completed, "None.")
    if facts.configuration is not None:
        content += [DividerBlock(), SectionBlock(text=_md(configuration_text(facts.configuration, now)))]
    rendered = [b.to_dict() for b in content][:MAX_HOME_BLOCKS]
    return View(type="home", blocks=rendered)


def _section(title: str, snapshots: list[RequestSnapshot], empty: str, *, buttons: bool = False) -> list[Block]:
    shown: list[Block] = [DividerBlock(), SectionBlock(text=_md(f"*{escape(title)}*"))]
    if not snapshots:
        return [*shown, ContextBlock(elements=[_md(f"_{escape(empty)}_")])]
    for snapshot in snapshots[:SHOWN]:
        shown.append(SectionBlock(text=_md(request_line(snapshot))))
        elements = [*blocks.decision_buttons(snapshot).elements] if buttons else []
        elements.append(blocks.details_button(snapshot))
        shown.append(ActionsBlock(block_id=f"home-{snapshot.id}", elements=elements))
    if len(snapshots) > SHOWN:
        shown.append(ContextBlock(elements=[_md(f"_…and {len(snapshots) - SHOWN} more._")]))
    return shown


def request_line(snapshot: RequestSnapshot) -> str:
    request = snapshot.request
    labels = ", ".join(escape(snapshot.vendor_labels.get(v, v)) for v in snapshot.vendor_names)
    return (f"*#{snapshot.id}* {escape(request.subject_email)} · {STATUS_EMOJI[snapshot.status]} "
            f"{STATUS_WORDS[snapshot.status]} · {escape(blocks._reason_label(request.reason))} · {labels} · asked by "
            f"{mrkdwn.user(request.requester_id)} {blocks.slack_date(request.created_at)}")


def configuration_text(configuration: Configuration, now: datetime) -> str:
    tools = ", ".join(escape(t) for t in configuration.tools) or "_none_"
    sweep = configuration.last_sweep
    swept = "_none yet_" if sweep is None else f"{blocks.slack_date(sweep.started_at)} ({escape(sweep.status)})"
    head = (f"entry {configuration.chain_seq}, hash `{escape(configuration.chain_hash[:16])}`"
            if configuration.chain_hash else "_no entries yet_")
    return (f"*Configuration*\n• Tools configured: {tools}\n• Last inactive-user sweep: {swept}\n"
            f"• Audit chain head: {head}")


# -- the event ---------------------------------------------------------------------------------------------------
def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        publish(deps, client, str(event["user"]))


def publish(deps: Deps, client: WebClient, viewer: str) -> None:
    now = deps.clock()
    view = home_view(gather(deps, viewer, now), now)
    try:
        client.views_publish(user_id=viewer, view=view)
    except SlackApiError as exc:  # nothing is owed: the next opening publishes it afresh
        log.warning("App Home not published for %s: %s", viewer, exc.response.get("error"))
