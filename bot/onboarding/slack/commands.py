"""`/onboard`, its form and its CSV upload. Every listener acks first and works after; a form
whose answers cannot go out is answered in the form itself, before the ack closes it."""

from __future__ import annotations

import json
import logging
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.offboarding.slack.blocks import Message
from bot.onboarding.parsing import (
    InviteRow,
    OnboardAsk,
    OnboardCsv,
    OnboardHelp,
    OnboardInvalid,
    OnboardPending,
    normalise_email,
    parse_invite_csv,
    parse_onboard,
)
from bot.onboarding.slack import blocks as onboard_blocks
from bot.onboarding.workflow import InviteDraft, Onboarding, SubmitResult
from bot.runtime.deps import Deps
from bot.slack import mrkdwn
from bot.slack.post import SlackPoster
from vendors.base import Role

log = logging.getLogger(__name__)

SLACK_FILE_HOSTS = frozenset({"files.slack.com", "slack-files.com"})
MAX_FORM_ERROR = 1500


def register(app: App, deps: Deps, onboarding: Onboarding) -> None:
    @app.command("/onboard")
    def onboard_command(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        handle_onboard(deps, onboarding, command, respond, client)

    @app.view(onboard_blocks.ONBOARD_MODAL)
    def form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        handle_form(deps, onboarding, ack, body, view)

    @app.view(onboard_blocks.CSV_MODAL)
    def csv_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        handle_csv_form(deps, onboarding, ack, body, view, client)


def _reply(respond: Respond, message: Message) -> None:
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral", replace_original=False)


def handle_onboard(deps: Deps, onboarding: Onboarding, command: dict[str, Any], respond: Respond,
                   client: WebClient) -> None:
    user = command["user_id"]
    parsed = parse_onboard(command.get("text") or "", onboarding.vendor_names)
    try:
        match parsed:
            case OnboardHelp():
                _reply(respond, onboard_blocks.help_message())
            case OnboardInvalid(message):
                _reply(respond, onboard_blocks.problems_message([message], "I could not read that."))
            case OnboardPending():
                everyone = onboarding.is_admin(user) or onboarding.may_approve(user)
                _reply(respond, onboard_blocks.pending_message(onboarding.pending(user), deps.clock(),
                                                               everyone=everyone))
            case OnboardCsv():
                client.views_open(trigger_id=command["trigger_id"],
                                  view=onboard_blocks.csv_modal(command.get("channel_id", "")))
            case OnboardAsk():
                _ask(deps, onboarding, parsed, command, respond, client)
    except SlackApiError as exc:
        log.warning("Slack call failed while handling /onboard: %s", exc.response.get("error"))
        _reply(respond, onboard_blocks.problems_message([f"Slack did not answer ({exc.response.get('error')}). "
                                                         "Try again."], "Something went wrong."))


def _ask(deps: Deps, onboarding: Onboarding, ask: OnboardAsk, command: dict[str, Any], respond: Respond,
         client: WebClient) -> None:
    emails = _emails_of(deps, ask)
    if isinstance(emails, str):
        # The problem names the person with a mention (mrkdwn), so it is not passed as a plain problem.
        _reply(respond, onboard_blocks.info_message(f":warning: I could not tell whom to invite.\n• {emails}"))
        return
    if not ask.complete:
        prefill = onboard_blocks.OnboardPrefill(
            emails=emails, role=ask.role, vendors=onboarding.vendor_names, chosen_vendors=ask.vendors,
            labels={v: onboarding.label(v) for v in onboarding.vendor_names},
            project_vendors=tuple(v for v in onboarding.vendor_names if onboarding.has_projects(v)),
            projects=dict(ask.projects), end_date=ask.end_date, message=ask.message,
            allow_personal=ask.allow_personal, channel_id=command.get("channel_id", ""))
        client.views_open(trigger_id=command["trigger_id"], view=onboard_blocks.onboard_modal(prefill))
        return
    assert ask.role is not None
    rows = tuple(InviteRow(e, ask.role, ask.vendors or (), dict(ask.projects), ask.end_date) for e in emails)
    draft = InviteDraft(command["user_id"], rows, ask.message, ask.allow_personal, "command",
                        source_channel=command.get("channel_id"))
    _reply(respond, submitted_message(onboarding, onboarding.submit(draft)))


def _emails_of(deps: Deps, ask: OnboardAsk) -> tuple[str, ...] | str:
    """The addresses, with @mentions looked up in Slack; a message when someone cannot be found."""
    emails = list(ask.emails)
    for slack_id in ask.slack_ids:
        person = deps.directory.by_id(slack_id)
        if person is None or person.is_bot or not person.email:
            return f"{mrkdwn.user(slack_id)} has no email address Slack can give me: use their work email instead."
        emails.append(person.email)
    return tuple(dict.fromkeys(emails))


def submitted_message(onboarding: Onboarding, result: SubmitResult) -> Message:
    if result.batch_id is None:
        return onboard_blocks.problems_message(result.problems)
    where = mrkdwn.channel(onboarding.config.card_channel)
    parts = []
    if result.sending:
        parts.append(f"{result.sending} invitation{'s' if result.sending != 1 else ''} going out now")
    if result.waiting:
        parts.append(f"{result.waiting} waiting for an approver's click (admin and owner invitations, or an inviter "
                     "who is not an onboarding admin, need one)")
    text = (f"Invitation #{result.batch_id}: {'; '.join(parts)}. The card in {where} shows each tool's answer; "
            "I will message you the outcome.")
    return onboard_blocks.info_message(text)


# -- the form --------------------------------------------------------------------------------------------------
def handle_form(deps: Deps, onboarding: Onboarding, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = view.get("state", {}).get("values", {})
    user = body["user"]["id"]
    read = read_form(values, onboarding, user)
    if isinstance(read, dict):
        ack(response_action="errors", errors=read)
        return
    problems = onboarding.problems(read)
    if problems:
        block = "options" if any("personal" in p for p in problems) and read.allow_personal else "emails"
        ack(response_action="errors", errors={block: _clip_errors(problems)})
        return
    ack()
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id") or None
    draft = InviteDraft(read.inviter_id, read.rows, read.message, read.allow_personal, "form", source_channel=channel)
    _tell(deps, user, channel, submitted_message(onboarding, onboarding.submit(draft)))


def read_form(values: dict[str, Any], onboarding: Onboarding, user: str) -> InviteDraft | dict[str, str]:
    """The form's answers as a draft, or Slack's per-field errors."""
    errors: dict[str, str] = {}
    emails: list[str] = []
    for word in re.split(r"[\s,;]+", _text(values, "emails")):
        if word:
            email = normalise_email(word)
            if email is None:
                errors["emails"] = f"`{word}` is not an email address."
            else:
                emails.append(email)
    if not emails and "emails" not in errors:
        errors["emails"] = "Give at least one work email."
    role_value = _selected(values, "role")
    role = Role(role_value) if role_value in {r.value for r in Role} else None
    if role is None:
        errors["role"] = "Choose a role."
    vendors = _vendors(values, onboarding)
    if not vendors:
        errors["vendors"] = "Choose at least one tool."
    projects: dict[str, tuple[str, ...]] = {}
    for vendor in onboarding.vendor_names:
        ids = tuple(p for p in re.split(r"[\s,;|]+", _text(values, f"projects_{vendor}")) if p)
        if ids and vendor not in vendors:
            errors[f"projects_{vendor}"] = f"{onboarding.label(vendor)} is not among the chosen tools."
        elif ids:
            projects[vendor] = ids
    end_date = _date(values, "end_date")
    if errors or role is None:
        return errors
    rows = tuple(InviteRow(e, role, vendors, projects, end_date) for e in dict.fromkeys(emails))
    allow = any(o.get("value") == onboard_blocks.ALLOW_PERSONAL
                for o in _element(values, "options").get("selected_options") or [])
    return InviteDraft(user, rows, _text(values, "message")[:2000], allow, "form")


def _vendors(values: dict[str, Any], onboarding: Onboarding) -> tuple[str, ...]:
    if "vendors" not in values:  # one tool configured: the form does not ask
        return onboarding.vendor_names
    chosen = [o.get("value") for o in _element(values, "vendors").get("selected_options") or []]
    return tuple(v for v in onboarding.vendor_names if v in chosen)


def _element(values: dict[str, Any], block: str) -> dict[str, Any]:
    return (values.get(block) or {}).get(block) or {}


def _text(values: dict[str, Any], block: str) -> str:
    return str(_element(values, block).get("value") or "").strip()


def _selected(values: dict[str, Any], block: str) -> str | None:
    option = _element(values, block).get("selected_option") or {}
    return option.get("value")


def _date(values: dict[str, Any], block: str) -> date | None:
    raw = _element(values, block).get("selected_date")
    return date.fromisoformat(raw) if raw else None


def _clip_errors(problems: list[str]) -> str:
    text = " ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return text if len(text) <= MAX_FORM_ERROR else text[: MAX_FORM_ERROR - 1] + "…"


# -- the CSV upload --------------------------------------------------------------------------------------------
def handle_csv_form(deps: Deps, onboarding: Onboarding, ack: Ack, body: dict[str, Any], view: dict[str, Any],
                    client: WebClient) -> None:
    values = view.get("state", {}).get("values", {})
    files = _element(values, onboard_blocks.CSV_FILE).get("files") or []
    if not files:
        ack(response_action="errors", errors={onboard_blocks.CSV_FILE: "Choose the CSV file."})
        return
    ack()  # the download may take longer than Slack waits for the form's answer
    user = body["user"]["id"]
    channel = json.loads(view.get("private_metadata") or "{}").get("channel_id") or None
    file = files[0]
    name = str(file.get("name") or file.get("title") or "invitations.csv")
    try:
        content = download_file(client, file)
    except CsvDownloadError as exc:
        _tell(deps, user, channel, onboard_blocks.problems_message([str(exc)], f"{mrkdwn.escape(name)} was not used."))
        return
    parsed = parse_invite_csv(content, onboarding.vendor_names)
    if parsed.problems:
        _tell(deps, user, channel, onboard_blocks.problems_message(parsed.problems,
                                                                    f"{mrkdwn.escape(name)}: nothing was sent."))
        return
    allow = any(o.get("value") == onboard_blocks.ALLOW_PERSONAL
                for o in _element(values, "options").get("selected_options") or [])
    draft = InviteDraft(user, parsed.rows, _text(values, "message")[:2000], allow, "csv", name, channel)
    _tell(deps, user, channel, submitted_message(onboarding, onboarding.submit(draft)))


class CsvDownloadError(Exception):
    pass


def download_file(client: WebClient, file: dict[str, Any]) -> bytes:
    """A file shared in Slack, fetched with the bot token (scope files:read). The token goes only to Slack's own
    file hosts (or the configured stand-in's), never to an address a payload names."""
    url = file.get("url_private_download") or file.get("url_private")
    if not url and file.get("id"):
        url = client.files_info(file=str(file["id"]))["file"].get("url_private_download")
    if not url:
        raise CsvDownloadError("Slack gave no download address for the file.")
    host = urlsplit(str(url)).hostname or ""
    if host not in SLACK_FILE_HOSTS | {urlsplit(client.base_url).hostname or ""}:
        raise CsvDownloadError(f"The file is not on Slack ({host}); upload it in the form instead.")
    with httpx.Client(timeout=30.0, follow_redirects=False) as http:
        response = http.get(str(url), headers={"Authorization": f"Bearer {client.token}"})
    if response.status_code != 200:
        raise CsvDownloadError(f"Slack did not hand the file over (HTTP {response.status_code}); the app needs the "
                               "files:read scope.")
    return response.content


def _tell(deps: Deps, user: str, channel: str | None, message: Message) -> None:
    """An answer only `user` sees: in the channel the command came from, else (or if the bot is not there) a DM."""
    SlackPoster(deps.notifier.client).tell(user, message, channel)
