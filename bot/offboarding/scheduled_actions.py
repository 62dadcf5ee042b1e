"""Slack listeners of the scheduled work: the sweep card's buttons, the members-export upload, "I still need access",
the access review's Attest, and `/offboard sweep` / `/offboard review`. Each listener acks first and works
after; a refusal is shown only to the person who clicked."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.offboarding.parsing import ReviewNow, SweepNow
from bot.offboarding.slack.blocks import Message, error_message
from bot.offboarding.values import ActionResult
from bot.reviews.members_export import ExportError, MembersExport, parse_members_export_chunks
from bot.reviews.slack import review_blocks, sweep_blocks
from bot.runtime.deps import Deps
from bot.runtime.scheduled_work import ScheduledWork
from bot.slack import mrkdwn
from bot.slack.post import info_message

log = logging.getLogger(__name__)

SLACK_FILE_HOSTS = ("files.slack.com", "slack.com")
FindingHandler = Callable[[int, str], ActionResult]


def _work(deps: Deps) -> ScheduledWork:
    assert deps.scheduled is not None, "create_bot builds the scheduled work"
    return deps.scheduled


def register(app: App, deps: Deps) -> None:
    work = _work(deps)
    sweeps = work.sweeps
    by_finding: dict[str, FindingHandler] = {
        sweep_blocks.NOTIFY: sweeps.notify,
        sweep_blocks.OFFBOARD: sweeps.offboard,
        sweep_blocks.KEEP: sweeps.keep,
        sweep_blocks.STILL_NEED: sweeps.still_need_access,
        sweep_blocks.NOTIFY_ALL: sweeps.notify_all,
        review_blocks.ATTEST: work.reviews.attest,
    }
    for action_id, handler in by_finding.items():
        app.action(action_id)(_click(deps, handler))
    for action_id in (sweep_blocks.PAGE, sweep_blocks.PAGE_NEXT):
        app.action(action_id)(_page_click(deps))

    @app.action(sweep_blocks.UPLOAD)
    def upload_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        open_upload_modal(deps, body, action, client)

    @app.view(sweep_blocks.UPLOAD_MODAL)
    def upload_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        handle_upload(deps, ack, body, view, client)


def _click(deps: Deps, handler: FindingHandler) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        value = str(action.get("value", ""))
        if not value.isdigit():
            _tell(deps, body, ActionResult(False, "That button carries nothing to act on; nothing was changed."))
            return
        result = handler(int(value), body["user"]["id"])
        _tell(deps, body, result, notice=action.get("action_id") == sweep_blocks.NOTIFY_ALL)

    return listener


def _page_click(deps: Deps) -> Callable[..., None]:
    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        sweep_id, _, page = str(action.get("value", "")).partition(":")
        if not (sweep_id.isdigit() and page.lstrip("-").isdigit()):
            return
        _tell(deps, body, _work(deps).sweeps.turn_page(int(sweep_id), int(page), body["user"]["id"]))

    return listener


def _tell(deps: Deps, body: dict[str, Any], result: ActionResult, *, notice: bool = False) -> None:
    """A refusal (or, with `notice`, any summary) goes only to the person who clicked."""
    if result.ok and not (notice and result.message):
        return
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = body["user"]["id"]
    poster = _work(deps).sweeps.poster
    if channel:
        poster.ephemeral(channel, user, result.message, warning=not result.ok)
    else:
        poster.dm(user, error_message(result.message) if not result.ok else info_message(result.message))


# -- the members export upload ------------------------------------------------------------------
def open_upload_modal(deps: Deps, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
    sweep_id, _, vendor = str(action.get("value", "")).partition(":")
    user = body["user"]["id"]
    if not sweep_id.isdigit():
        return
    if not deps.workflow.may_approve(user):
        _tell(deps, body, ActionResult(False, "Only approvers can act on the inactive-user sweep."))
        return
    choices = [(name, v.label) for name, v in deps.workflow.vendors.items()]
    client.views_open(trigger_id=body["trigger_id"], view=sweep_blocks.upload_modal(int(sweep_id), choices, vendor))


def handle_upload(deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    values = view.get("state", {}).get("values", {})
    vendor = ((values.get(sweep_blocks.UPLOAD_VENDOR, {}).get(sweep_blocks.UPLOAD_VENDOR) or {})
              .get("selected_option") or {}).get("value")
    files = (values.get(sweep_blocks.UPLOAD_FILE, {}).get(sweep_blocks.UPLOAD_FILE) or {}).get("files") or []
    if not vendor or not files:
        field = sweep_blocks.UPLOAD_VENDOR if not vendor else sweep_blocks.UPLOAD_FILE
        ack(response_action="errors", errors={field: "Choose the tool and its members export (CSV)."})
        return
    ack()
    user = body["user"]["id"]
    sweep_id = json.loads(view.get("private_metadata") or "{}").get("sweep_id")
    if not isinstance(sweep_id, int):
        return
    try:
        export = _read_export(deps, client, vendor, files[0])
    except ExportError as exc:
        deps.notifier.dm(user, error_message(f"The members export was not used: {mrkdwn.escape(exc)}"))
        return
    with export:  # its rows sit in a temporary file until judged
        result = _work(deps).sweeps.add_export(sweep_id, vendor, export, user)
    text = (f"{mrkdwn.escape(export.filename)} is judged: the sweep card in "
            f"{mrkdwn.channel(_work(deps).sweeps.config.admin_channel)} now "
            "includes it." if result.ok else f"The members export was not used: {result.message}")
    deps.notifier.dm(user, info_message(text) if result.ok else error_message(text))


def _read_export(deps: Deps, client: WebClient, vendor: str, file: dict[str, Any]) -> MembersExport:
    name = str(file.get("name") or file.get("title") or "export.csv")
    url = file.get("url_private_download") or file.get("url_private")
    if not url and file.get("id"):
        url = client.files_info(file=str(file["id"]))["file"].get("url_private_download")
    if not url:
        raise ExportError(f"Slack gave no download address for {name}.")
    return download_export(client, str(url), vendor, name)


def download_export(client: WebClient, url: str, vendor: str, name: str) -> MembersExport:
    """A members export shared in Slack, fetched with the bot token (scope files:read) and read as it arrives,
    never whole in memory (see bot.reviews.members_export). The token is only ever sent to Slack's own hosts (or the
    configured stand-in's), never to an address a payload names."""
    host = urlsplit(url).hostname or ""
    allowed = {*SLACK_FILE_HOSTS, urlsplit(client.base_url).hostname or ""}
    if host not in allowed:
        raise ExportError(f"the file is not on Slack ({host}); upload it in the form instead.")
    with httpx.stream("GET", url, headers={"Authorization": f"Bearer {client.token}"}, timeout=30.0) as response:
        if response.status_code != 200:
            raise ExportError(f"Slack did not hand the file over (HTTP {response.status_code}); the app needs the "
                              "files:read scope.")
        return parse_members_export_chunks(vendor, name, response.iter_bytes())


# -- /offboard sweep and /offboard review -------------------------------------------------------
def handle_command(deps: Deps, parsed: SweepNow | ReviewNow, command: dict[str, Any], respond: Respond) -> None:
    work = _work(deps)
    user = command["user_id"]
    channel = work.sweeps.config.admin_channel
    if isinstance(parsed, SweepNow):
        if not deps.workflow.may_approve(user):
            _reply(respond, error_message("Only approvers can run the inactive-user sweep."))
            return
        work.submit(work.sweeps.run, user)
        _reply(respond, info_message(f"Sweeping every tool for inactive accounts; the review card will appear in "
                                     f"<#{channel}>."))
        return
    if not work.reviews.may_review(user):
        _reply(respond, error_message("Only approvers and audit admins can run an access review."))
        return
    work.submit(work.reviews.run, user)
    _reply(respond, info_message(f"Reviewing every tool's members; the report and its CSV will appear in "
                                 f"<#{channel}>."))


def _reply(respond: Respond, message: Message) -> None:
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)
