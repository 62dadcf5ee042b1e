"""A whole offboard installation on one machine: vendor sandboxes, the Slack stand-in, and the real
bot in HTTP mode on a SQLite file, all on 127.0.0.1. The demo plays through it and the end-to-end
tests drive it; nothing in it is mocked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.runtime.app import Bot, create_bot, manual_vendor
from bot.runtime.config import Settings
from bot.runtime.server import HttpServer
from vendors.base import Vendor
from vendors.http import RetryPolicy
from vendors.kissmetrics import KissmetricsVendor
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.contract import ContractSandbox
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import PostHogSandbox

SIGNING_SECRET = "local-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APPROVALS_CHANNEL = "CAPPROVALS"
NOTIFY_CHANNEL = "CNOTIFY"
COMMAND_CHANNEL = "CCMD"
APPROVER = "UAPP1"  # listed in OFFBOARD_APPROVERS
GROUP_APPROVER = "UAPP2"  # an approver through the SAPPROVERS user group
REQUESTER = "UREQ"
OUTSIDER = "UMAL"
RESPONDER = "UAPP2"  # in OFFBOARD_EMERGENCY_RESPONDERS (and an approver through the group)
SECURITY_CHANNEL = "CSECURITY"  # where emergency removals are posted

# Short waits between retries keep the demo and the tests quick; the retry logic is the real one.
FAST_RETRIES = RetryPolicy(backoff=0.01, max_retry_after=1.0)
ALL_VENDORS = ("posthog", "amplitude", "mixpanel", "kissmetrics")
SANDBOXES: dict[str, type[ContractSandbox]] = {
    "posthog": PostHogSandbox,
    "amplitude": AmplitudeSandbox,
    "mixpanel": MixpanelSandbox,
    "kissmetrics": KissmetricsSandbox,  # only with `kissmetrics_api`: its API is opt-in and UNVERIFIED
}


@dataclass
class LocalWorld:
    database: Path | str  # a SQLite file, or any database URL
    slack: SlackStandIn
    sandboxes: dict[str, ContractSandbox]
    bot: Bot
    http: HttpServer
    driver: SlackDriver
    vendors: tuple[str, ...] = ("posthog",)
    manual: tuple[str, ...] = ()
    _background: bool = field(default=True, repr=False)
    settings: Mapping[str, Any] = field(default_factory=dict)  # overrides of `local_settings`

    @classmethod
    def start(
        cls,
        database: Path | str,
        *,
        background: bool = True,
        vendors: tuple[str, ...] = ("posthog",),
        manual: tuple[str, ...] = ("kissmetrics",),
        settings: Mapping[str, Any] | None = None,
    ) -> LocalWorld:
        """`vendors` names what to run. Each gets its sandbox and its connector, except those in
        `manual`, which are worked by hand as OFFBOARD_MANUAL_VENDORS would set up: Kissmetrics by
        default, as it has no public API (leave it out of `manual` to use its opt-in API)."""
        slack = SlackStandIn()
        slack.start()
        sandboxes = _start_sandboxes(tuple(v for v in vendors if v not in manual))
        bot = start_bot(database, slack, sandboxes, vendors, background=background, settings=settings)
        http = bot.start_http()
        driver = SlackDriver(http.url, SIGNING_SECRET, slack)
        return cls(database, slack, sandboxes, bot, http, driver, vendors, manual, background, dict(settings or {}))

    @property
    def database_url(self) -> str:
        return database_url(self.database)

    @property
    def posthog(self) -> PostHogSandbox:
        sandbox = self.sandboxes["posthog"]
        assert isinstance(sandbox, PostHogSandbox)
        return sandbox

    def restart_bot(self) -> None:
        """Stop the bot and start a new one on the same database, as after a deploy or a crash."""
        self.stop_bot()
        self.bot = start_bot(self.database, self.slack, self.sandboxes, self.vendors, background=self._background,
                             settings=self.settings)
        self.http = self.bot.start_http()
        self.driver = SlackDriver(self.http.url, SIGNING_SECRET, self.slack)

    def stop_bot(self) -> None:
        """Stop the bot, its driver and the connectors made for it; the stand-ins go on."""
        self.driver.close()
        self.bot.stop()
        for connector in self.bot.workflow.vendors.values():  # made by start_bot for this bot alone
            close = getattr(connector, "close", None)
            if close is not None:
                close()

    def stop(self) -> None:
        self.stop_bot()
        for sandbox in self.sandboxes.values():
            sandbox.stop()
        self.slack.stop()


def _start_sandboxes(vendors: tuple[str, ...]) -> dict[str, ContractSandbox]:
    started: dict[str, ContractSandbox] = {}
    for name in vendors:
        sandbox = SANDBOXES[name]()
        sandbox.start()
        started[name] = sandbox
    return started


def _connectors(sandboxes: dict[str, ContractSandbox], vendors: tuple[str, ...]) -> dict[str, Vendor]:
    connectors: dict[str, Vendor] = {}
    for name in vendors:
        if name in sandboxes:
            connectors[name] = sandboxes[name].connector(FAST_RETRIES)
        elif name == "kissmetrics":
            connectors[name] = KissmetricsVendor()  # its own checklist, the runbook's word for word
        else:
            connectors[name] = manual_vendor(name)
    return connectors


def database_url(database: Path | str) -> str:
    """A path is a SQLite file; anything else is already a URL (PostgreSQL, say)."""
    return f"sqlite:///{database}" if isinstance(database, Path) else database


def local_settings(database: Path | str, slack: SlackStandIn, overrides: Mapping[str, Any] | None = None) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{slack.url}/api/",
        database_url=database_url(database),
        approvals_channel=APPROVALS_CHANNEL,
        notify_channel=NOTIFY_CHANNEL,
        approvers=[APPROVER],
        approver_group="SAPPROVERS",
        contact="<#CITHELP|it-help>",
        **{"emergency_responders": [RESPONDER], "security_channel": SECURITY_CHANNEL, **(overrides or {})},
    )


def start_bot(
    database: Path | str,
    slack: SlackStandIn,
    sandboxes: dict[str, ContractSandbox],
    vendors: tuple[str, ...],
    *,
    background: bool = True,
    settings: Mapping[str, Any] | None = None,
) -> Bot:
    bot = create_bot(local_settings(database, slack, settings), vendors=_connectors(sandboxes, vendors))
    if background:
        bot.start_background_work()
    return bot
