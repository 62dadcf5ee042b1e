"""A LocalWorld whose bot has the scheduled work's settings (admin channel, thresholds, reminders, fallback), for the
scheduled-work tests. Everything is real: sandboxes, the Slack stand-in, the bot in HTTP mode, SQLite."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import time_machine

from bot.demo.localrun import SIGNING_SECRET, LocalWorld, _connectors, _start_sandboxes, local_settings
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.runtime.app import Bot, create_bot
from bot.runtime.scheduled_work import ScheduledWork
from storage.models import OffboardRequest
from tests.e2e.conftest import card_text

ADMIN_CHANNEL = "CADMIN"
ESCALATION_CHANNEL = "CESCALATE"
FALLBACK = "UCAROL"


def settings_for(database: Path | str, slack: SlackStandIn, overrides: dict[str, Any]) -> Any:
    return local_settings(database, slack).model_copy(update={"admin_channel": ADMIN_CHANNEL, **overrides})


def start_world(database: Path | str, *, vendors: tuple[str, ...] = ("posthog",), manual: tuple[str, ...] = (),
                background: bool = False, **overrides: Any) -> LocalWorld:
    slack = SlackStandIn()
    slack.start()
    sandboxes = _start_sandboxes(tuple(v for v in vendors if v not in manual))
    bot = _bot(database, slack, sandboxes, vendors, background, overrides)
    http = bot.start_http()
    world = LocalWorld(database, slack, sandboxes, bot, http, SlackDriver(http.url, SIGNING_SECRET, slack),
                       vendors, manual, background)
    world.overrides = overrides  # type: ignore[attr-defined]
    return world


def _bot(database: Path | str, slack: SlackStandIn, sandboxes: dict[str, Any], vendors: tuple[str, ...],
         background: bool,
         overrides: dict[str, Any]) -> Bot:
    bot = create_bot(settings_for(database, slack, overrides), vendors=_connectors(sandboxes, vendors))
    if background:
        bot.start_background_work()
    return bot


def restart(world: LocalWorld, *, background: bool | None = None, stopped: bool = False) -> None:
    """A new bot process on the same database (as after a deploy or a crash), same settings. `stopped`: the
    old bot was stopped already (the bot was down for a while)."""
    if not stopped:
        world.stop_bot()
    keep = world._background if background is None else background
    world.bot = _bot(world.database, world.slack, world.sandboxes, world.vendors, keep,
                     world.overrides)  # type: ignore[attr-defined]
    world.http = world.bot.start_http()
    world.driver = SlackDriver(world.http.url, SIGNING_SECRET, world.slack)


def work(world: LocalWorld) -> ScheduledWork:
    assert world.bot.deps.scheduled is not None
    return world.bot.deps.scheduled


def tick_at(world: LocalWorld, moment: datetime) -> None:
    """One scheduler tick as if it were `moment`: periodic jobs, and the work they hand to the workflow's
    background (an expired request's notice), run before it returns, so none of it sees the clock jump
    back when the travel ends."""
    with time_machine.travel(moment, tick=False):
        work(world).tick(wait=True)
        assert world.bot.workflow.wait_for_background(10), "the tick's background work did not finish"


def thread_texts(world: LocalWorld, channel: str, ts: str | None) -> list[str]:
    assert ts is not None
    return [card_text(m) for m in world.slack.replies(channel, ts)]


def request_row(world: LocalWorld, request_id: int) -> OffboardRequest:
    with world.bot.db.session() as session:
        row = session.get(OffboardRequest, request_id)
        assert row is not None
        return row


def dm_messages(world: LocalWorld, user: str) -> list[dict[str, Any]]:
    return world.slack.messages(world.slack.dm_channel(user))


def second_bot(world: LocalWorld) -> Bot:
    """Another bot instance on the same database (as two processes would run), without its own HTTP server."""
    return _bot(world.database, world.slack, world.sandboxes, world.vendors, False,
                world.overrides)  # type: ignore[attr-defined]
