"""`offboard request EMAIL …` for scripts and cron: the same intake as Okta's and the HR systems' events, or with
`--dry-run` each tool's plan for the person, asked of the tools but changing nothing (no database, no Slack)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from rich.console import Console
from rich.markup import escape

from bot.offboarding.modes import plan_for
from bot.runtime.config import Settings
from bot.triggers.events import HR_REASONS, OffboardEvent, UnreadableEvent, read_hr
from storage.models import RequestMode


def read_event(email: str, reason: str, effective: str, ticket: str, by: str, event_id: str) -> OffboardEvent:
    """The command's options read as an HR event would be (the same checks), from source "cli"."""
    body = json.dumps({"event_id": event_id or str(uuid.uuid4()), "email": email, "termination_at": effective,
                       "reason": reason, "ticket": ticket, "requested_by": by}).encode()
    read = read_hr(body)
    return OffboardEvent("cli", read.event_id, "offboard request", read.email, read.effective_at, read.reason,
                         read.ticket, read.requested_by)


def dry_run(console: Console, settings: Settings, event: OffboardEvent) -> int:
    from bot.offboarding.changes import config_from
    from bot.runtime.app import vendors_from_settings

    vendors = vendors_from_settings(settings)
    when = event.effective_at.strftime("%Y-%m-%d %H:%M UTC") if event.effective_at else "on approval"
    console.print(f"Dry run: offboarding {escape(event.email)} ({event.reason}), effective {when}. Nothing is changed.")
    if not vendors:
        console.print("No tools are configured.")
    for vendor in vendors.values():
        assessment = vendor.assess(event.email)
        steps = plan_for(RequestMode.FULL, vendor, assessment, email=event.email, new_owner_email=None,
                         mode_params={}, config=config_from(settings))
        state = assessment.status.value + (f" ({escape(assessment.error)})" if assessment.error else "")
        console.print(f"[bold]{escape(vendor.label)}[/]: {state}")
        for step in steps:
            console.print(f"  • {escape(step.title)}{' (by hand)' if step.manual else ''}")
        if not steps:
            console.print("  • nothing to do")
    return 0


def submit(console: Console, settings: Settings, event: OffboardEvent, raw: bytes) -> int:
    from bot.runtime.app import create_bot

    bot = create_bot(settings)
    try:
        assert bot.triggers is not None
        taken = bot.triggers.intake.take(event, raw)
    finally:
        bot.stop()  # waits for the assessment (and, when the event is the approval, the removal) under way
    words = {"created": "is open", "attached": "was already open; this request is attached to it",
             "duplicate": "was made for this event id before"}.get(taken.outcome, taken.outcome)
    console.print(f"Offboarding request #{taken.request_id} for {escape(event.email)} {words}.")
    return 0


def parse(email: str, reason: str, effective: str, ticket: str, by: str, event_id: str,
          error: Console) -> OffboardEvent | None:
    try:
        return read_event(email, reason, effective, ticket, by, event_id)
    except UnreadableEvent as exc:
        error.print(f"[bold red]{escape(str(exc))}[/] (reasons: {', '.join(HR_REASONS)})")
        return None


def raw_of(event: OffboardEvent) -> bytes:
    """What the command was asked, as the bytes whose digest is its evidence."""
    return json.dumps({"email": event.email, "reason": event.reason, "ticket": event.ticket,
                       "effective_at": event.effective_at.isoformat() if event.effective_at else None,
                       "by": event.requested_by, "event_id": event.event_id,
                       "at": datetime.now().astimezone().isoformat()}, sort_keys=True).encode()
