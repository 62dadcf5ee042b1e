"""Slack, as `offboard check` sees it: the bot token works, it has every bot scope manifest.yml declares, and
the bot is in every channel it is configured to post in. Read-only: `auth.test` and `conversations.info`.

Slack lists a token's scopes in the `x-oauth-scopes` header of every Web API answer (slack_sdk keeps it on
`SlackResponse.headers`). Whether the bot is in a channel is `conversations.info` → `channel.is_member`, which
needs `channels:read` (a private channel: `groups:read`); without the scope the answer is *unknown*, said as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.runtime.config import Settings

SCOPES_HEADER = "x-oauth-scopes"
TOKEN_SETTING = "SLACK_BOT_TOKEN"
# Every setting naming a channel the bot posts in (those left empty fall back to the approvals channel).
CHANNEL_FIELDS = ("approvals_channel", "notify_channel", "admin_channel", "escalation_channel", "onboard_channel",
                  "security_channel", "audit_channel")
REINSTALL = ("add it under OAuth & Permissions → Bot Token Scopes (or update the app from manifest.yml), then "
             "reinstall the app to the workspace")
INVITE = "invite the bot with /invite @offboard in that channel"
# Errors that mean the token itself is no good (auth.test's documented ones, and a revoked or expired token).
_TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                 "not_allowed_token_type", "no_permission"}
_UNREACHABLE = (SlackClientError, OSError)  # connection refused, DNS, TLS, timeouts (urllib raises OSErrors)


def setting_name(field: str) -> str:
    """The environment name people set for a Settings field, e.g. OFFBOARD_APPROVALS_CHANNEL."""
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else field.upper()


def posting_channels(settings: Settings) -> dict[str, list[str]]:
    """Each channel id the bot posts in, with the settings that name it (one channel may be named by several)."""
    found: dict[str, list[str]] = {}
    for field in CHANNEL_FIELDS:
        channel = str(getattr(settings, field) or "").strip()
        if channel:
            found.setdefault(channel, []).append(setting_name(field))
    return found


def declared_bot_scopes(manifest: Path) -> list[str]:
    """`oauth_config.scopes.bot` of the app manifest. Raises OSError or ValueError when it cannot be read."""
    import yaml

    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        scopes = data["oauth_config"]["scopes"]["bot"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest} has no readable oauth_config.scopes.bot ({exc})") from None
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValueError(f"{manifest}: oauth_config.scopes.bot is not a list of scopes")
    return scopes


def granted_scopes(headers: Mapping[str, Any]) -> set[str] | None:
    """The scopes in Slack's `x-oauth-scopes` header (any letter case), or None when the header is absent."""
    value = next((v for k, v in headers.items() if k.lower() == SCOPES_HEADER), None)
    if value is None:
        return None
    text = ",".join(value) if isinstance(value, list) else str(value)
    return {scope.strip() for scope in text.split(",") if scope.strip()}


def slack_problems(
    client: WebClient, declared: Sequence[str] | None, channels: Mapping[str, Sequence[str]]
) -> list[str]:
    """One line per problem, each saying what to do; none when the token, its scopes and the channels are right.
    `declared` None: the manifest could not be read (the caller says so), so the scopes are not compared."""
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        return [_refused(str(exc.response.get("error") or "an error"))]
    except _UNREACHABLE as exc:
        return [_unreachable(client, "auth.test", exc)]
    problems = []
    if not answer.get("bot_id"):
        problems.append(f"{TOKEN_SETTING} is not a bot token: set it to the Bot User OAuth Token (xoxb-…) from the "
                        "app's OAuth & Permissions page")
    granted = granted_scopes(answer.headers)
    if granted is None:
        problems.append(f"Slack did not say which scopes the bot token has (no {SCOPES_HEADER} header on auth.test): "
                        "compare OAuth & Permissions → Bot Token Scopes with manifest.yml by hand")
    elif declared is not None:
        problems += [f"The bot token lacks the {scope} scope that manifest.yml declares: {REINSTALL}"
                     for scope in declared if scope not in granted]
    for channel, names in channels.items():
        problems += _channel_problems(client, channel, names)
    return problems


def _channel_problems(client: WebClient, channel: str, names: Sequence[str]) -> list[str]:
    where = f"{channel} ({', '.join(names)})"
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "an error")
        if error == "missing_scope":
            needed = str(exc.response.get("needed") or "channels:read")
            return [f"Cannot tell whether the bot is in {where}: the token lacks {needed}, without which Slack does "
                    f"not show the bot the channel; {REINSTALL}"]
        if error == "channel_not_found":
            return [f"Slack shows the bot no channel {where}: set the channel's id (C…, at the bottom of the "
                    f"channel's details), not its name; if the channel is private, {INVITE}"]
        return [f"Could not check {where}: Slack answered conversations.info with {error}; run offboard check again"]
    except _UNREACHABLE as exc:
        return [_unreachable(client, f"conversations.info for {where}", exc)]
    name = f"#{info.get('name')} " if info.get("name") else ""
    if info.get("is_archived"):
        return [f"The channel {name}{where} is archived: unarchive it or name another channel there"]
    if not info.get("is_member"):
        return [f"The bot is not in the channel {name}{where}, so it cannot post there: {INVITE}"]
    return []


def _refused(error: str) -> str:
    if error in _TOKEN_ERRORS:
        return (f"Slack refused {TOKEN_SETTING} ({error}): set it to the app's Bot User OAuth Token (xoxb-…, under "
                "OAuth & Permissions; reinstall the app if the token was revoked); the scopes and channels are "
                "checked once the token works")
    return (f"Slack answered auth.test with {error}, so the token, its scopes and the channels were not checked: "
            "run offboard check again")


def _unreachable(client: WebClient, what: str, exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (f"Cannot reach Slack at {client.base_url} ({what}: {detail}): check SLACK_API_URL (unset means Slack "
            "itself) and this machine's network, then run offboard check again")
