"""Wiring of emergency removal, partial changes, bulk offboarding and restore: their listeners (emergency
acknowledgment, bulk form and batch buttons, Restore), their `/offboard` subcommands, and their periodic
checks. bot/runtime/app.py calls `register` and `schedule`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.offboarding import batch, emergency, restore
from bot.offboarding.modes import ChangeConfig
from bot.offboarding.parsing import Bulk, EmergencyStart
from bot.offboarding.slack.change_notify import SlackChangeNotifier
from bot.runtime.config import Settings
from bot.runtime.deps import Deps
from bot.slack.directory import SlackDirectory


def register(app: App, deps: Deps) -> None:
    emergency.register(app, deps)
    batch.register(app, deps)
    restore.register(app, deps)


def handle_command(deps: Deps, parsed: EmergencyStart | Bulk, command: dict[str, Any], respond: Respond,
                   client: WebClient, resolve: emergency.Resolver) -> None:
    if isinstance(parsed, EmergencyStart):
        emergency.start_from_command(deps, parsed, command, respond, resolve)
    else:
        batch.open_bulk_modal(deps, parsed, command, respond, client, resolve)


def config_from(settings: Settings) -> ChangeConfig:
    return ChangeConfig(
        bot_accounts=frozenset(a.lower() for a in settings.bot_accounts),
        idp_groups=dict(settings.idp_groups),
        idp_name=settings.idp_name,
        two_approvers_over=settings.two_approvers_over,
        dispute_window_business_days=settings.dispute_window_days,
        emergency_reminder=timedelta(minutes=settings.emergency_reminder_minutes),
    )


def responders(client: WebClient, settings: Settings) -> SlackDirectory:
    """Who may declare an emergency: OFFBOARD_EMERGENCY_RESPONDERS and the OFFBOARD_RESPONDER_GROUP members
    (a directory whose "may approve" means "may respond")."""
    return SlackDirectory(client, settings.emergency_responders, settings.responder_group)


def notifier(client: WebClient, settings: Settings, clock: Callable[[], datetime]) -> SlackChangeNotifier:
    return SlackChangeNotifier(
        client, approvals_channel=settings.approvals_channel, security_channel=settings.security_channel,
        notify_channel=settings.notify_channel, contact=settings.contact, responders=settings.emergency_responders,
        responder_group=settings.responder_group, clock=clock,
    )


def workflow_options(client: WebClient, settings: Settings, clock: Callable[[], datetime]) -> dict[str, Any]:
    """The keyword arguments to `Workflow` for these changes: their settings, who may respond to emergencies,
    their messages."""
    return {"changes": config_from(settings), "may_respond": responders(client, settings).may_approve,
            "change_notifier": notifier(client, settings, clock)}
