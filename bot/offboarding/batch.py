"""The Slack side of bulk offboarding: `/offboard a@corp.com b@corp.com …` or `/offboard bulk` opens
the bulk form (a list of emails, CSV lines, or a CSV file); its submission makes one batch with one
approval card; the card's buttons approve (two distinct approvers for a large batch), reject or cancel."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.engine.decisions import Act
from bot.offboarding.parsing import Bulk, Target
from bot.offboarding.slack import batch_blocks, blocks
from bot.offboarding.slack.actions import click_listener, tell
from bot.offboarding.slack.change_forms import (
    MAX_FILE_BYTES,
    MAX_PEOPLE,
    BulkForm,
    BulkRow,
    parse_people,
    read_bulk_form,
)
from bot.offboarding.values import ActionResult, BatchDraft, BatchPerson, Reason
from bot.runtime.deps import Deps
from bot.slack import mrkdwn

log = logging.getLogger(__name__)

Resolver = Callable[[Deps, Target], tuple[str, str | None, str] | str]
DOWNLOAD_TIMEOUT = 2.0  # the form must be answered within Slack's 3 seconds


def register(app: App, deps: Deps) -> None:
    workflow = deps.workflow
    app.action(batch_blocks.APPROVE_BATCH)(click_listener(deps, workflow.approve_batch))
    app.action(batch_blocks.CANCEL_BATCH)(click_listener(deps, workflow.cancel_batch))

    @app.view(batch_blocks.BULK_MODAL)
    def bulk_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        handle_bulk_submission(deps, ack, body, view)

    @app.action(batch_blocks.REJECT_BATCH)
    def reject_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        ack()
        value = str(action.get("value", ""))
        if not value.isdigit():
            tell(deps, body, ActionResult(False, "That button carries no batch; nothing was changed."))
            return
        refusal = workflow.batch_decision_refusal(int(value), body["user"]["id"], Act.REJECT)
        if refusal is not None:
            tell(deps, body, refusal)
            return
        client.views_open(trigger_id=body["trigger_id"], view=batch_blocks.batch_reject_modal(int(value)))

    @app.view(batch_blocks.BATCH_REJECT_MODAL)
    def reject_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        comment = (view["state"]["values"].get("comment", {}).get("comment", {}).get("value") or "").strip()
        if not comment:
            ack(response_action="errors", errors={"comment": "Say why, so the requester knows what to do next."})
            return
        ack()
        batch_id = json.loads(view.get("private_metadata") or "{}").get("batch_id")
        if isinstance(batch_id, int):
            result = workflow.reject_batch(batch_id, body["user"]["id"], comment[:2000])
            if not result.ok:
                deps.notifier.dm(body["user"]["id"], blocks.error_message(result.message))


# -- the form -------------------------------------------------------------------------------------------------
def open_bulk_modal(deps: Deps, parsed: Bulk, command: dict[str, Any], respond: Respond, client: WebClient,
                    resolve: Resolver) -> None:
    people: list[str] = []
    for target in (parsed.target, *parsed.others):
        if not (target.email or target.slack_id):
            continue
        resolved = resolve(deps, target)
        if isinstance(resolved, str):
            respond(text=resolved, response_type="ephemeral", replace_original=False)
            return
        people.append(resolved[0])
    prefill = batch_blocks.BulkPrefill(
        people=tuple(dict.fromkeys(people)), reason=parsed.reason if parsed.reason != Reason.SECURITY_INCIDENT
        else None, note=parsed.note, channel_id=command.get("channel_id", ""), vendors=deps.vendor_names,
        chosen_vendors=parsed.vendors, vendor_labels={n: v.label for n, v in deps.workflow.vendors.items()})
    client.views_open(trigger_id=command["trigger_id"], view=batch_blocks.bulk_modal(prefill))


def handle_bulk_submission(deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    form = read_bulk_form(view.get("state", {}).get("values", {}))
    if isinstance(form, dict):
        ack(response_action="errors", errors=form)
        return
    rows, problems = _rows(deps, form)
    if not problems and not rows:
        problems = ["No one to offboard: list at least one email."]
    if len(rows) > MAX_PEOPLE:
        problems.append(f"{len(rows)} people is more than one batch takes ({MAX_PEOPLE}); split the list.")
    if problems:
        more = f"\n…and {len(problems) - 8} more." if len(problems) > 8 else ""
        ack(response_action="errors", errors={"csv" if form.file and not form.pasted else "people":
                                              "\n".join(problems[:8]) + more})
        return
    ack()
    requester = body["user"]["id"]
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id") or None
    people, skipped = _people(deps, rows)
    if not people:
        deps.notifier.dm(requester, blocks.error_message(
            "Everyone on the list already has an open request: " + mrkdwn.escape(_skipped_words(skipped))))
        return
    source = str(form.file.get("name") or "a CSV file") if form.file else "list"
    batch_id = deps.workflow.create_batch(BatchDraft(
        requester_id=requester, reason=form.reason, people=tuple(people), mode=form.mode,
        mode_params={"projects": list(form.projects)} if form.projects else {}, ticket=form.ticket, note=form.note,
        source=source, source_channel=channel, vendors=form.vendors))
    text = (f"Batch #{batch_id} with {len(people)} people is created. Its approval card is in "
            f"{mrkdwn.channel(deps.notifier.approvals_channel)}; I will message you once, when everyone is done.")
    if skipped:
        text += " Left out, as they already have an open request: " + mrkdwn.escape(_skipped_words(skipped))
    deps.notifier.dm(requester, blocks.Message(text=text, blocks=[]))


def _rows(deps: Deps, form: BulkForm) -> tuple[list[BulkRow], list[str]]:
    rows, problems = parse_people(form.pasted, "the list") if form.pasted else ([], [])
    if form.file:
        content, error = download(deps.notifier.client, form.file)
        if error:
            problems.append(error)
        else:
            from_file, file_problems = parse_people(content, str(form.file.get("name") or "the file"))
            known = {r.email for r in rows}
            rows += [r for r in from_file if r.email not in known]
            problems += file_problems
    problems += [f"{row.email}: a security incident is removed at once, one person at a time: "
                 f"`/offboard {row.email} emergency`." for row in rows if row.reason == Reason.SECURITY_INCIDENT]
    return rows, problems


def _people(deps: Deps, rows: list[BulkRow]) -> tuple[list[BatchPerson], list[tuple[str, int]]]:
    people: list[BatchPerson] = []
    skipped: list[tuple[str, int]] = []
    for row in rows:
        already = deps.workflow.open_request_for(row.email)
        if already is not None:
            skipped.append((row.email, already))
            continue
        found = _by_email(deps, row.email)
        owner = _by_email(deps, row.new_owner_email) if row.new_owner_email else None
        people.append(BatchPerson(
            email=row.email, reason=row.reason, ticket=row.ticket, new_owner_email=row.new_owner_email,
            new_owner_slack_id=owner[0] if owner else None, subject_slack_id=found[0] if found else None,
            subject_name=found[1] if found else ""))
    return people, skipped


def _by_email(deps: Deps, email: str) -> tuple[str, str] | None:
    try:
        found = deps.directory.by_email(email)
    except SlackApiError as exc:  # a leaver may be deactivated in Slack already; their email still works
        log.warning("could not look up %s in Slack: %s", email, exc.response.get("error"))
        return None
    return (found.user_id, found.name) if found else None


def _skipped_words(skipped: list[tuple[str, int]]) -> str:
    return ", ".join(f"{email} (#{request_id})" for email, request_id in skipped) + "."


def download(client: WebClient, file: dict[str, Any]) -> tuple[str, str]:
    """The uploaded file's text, or ("", why not). The bot token goes only to Slack's own file host
    (or the Slack API host the bot is configured with)."""
    name = str(file.get("name") or "the file")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    host = urlsplit(url).hostname or ""
    allowed = {urlsplit(client.base_url).hostname, "files.slack.com"}
    if not url or (host not in allowed and not host.endswith(".slack.com")):
        return "", f"Slack gave no address to read {name} from; paste its lines instead."
    if int(file.get("size") or 0) > MAX_FILE_BYTES:
        return "", f"{name} is larger than 1 MB; split it, or paste the lines."
    try:
        # No redirects: Slack sends a request without a valid token to its sign-in page.
        response = httpx.get(url, headers={"Authorization": f"Bearer {client.token}"}, timeout=DOWNLOAD_TIMEOUT)
    except httpx.HTTPError as exc:
        return "", f"Could not read {name} from Slack ({type(exc).__name__}); try again, or paste its lines."
    if response.status_code != 200 or "text/html" in response.headers.get("content-type", ""):
        return "", (f"Slack did not hand over {name} (HTTP {response.status_code}); the app needs the files:read "
                    "scope. Paste its lines instead.")
    return response.content[:MAX_FILE_BYTES].decode("utf-8-sig", errors="replace"), ""
