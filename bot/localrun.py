"""A whole offboard installation on one machine: the sandbox PostHog, the Slack stand-in, and the
real bot in HTTP mode on a SQLite file, all on 127.0.0.1. The demo plays through it and the
end-to-end tests drive it; nothing in it is mocked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.app import Bot, create_bot
from bot.config import Settings
from bot.server import HttpServer
from bot.standin.driver import SlackDriver
from bot.standin.slack_api import SlackStandIn
from vendors.base import Vendor
from vendors.http import RetryPolicy
from vendors.kissmetrics import KissmetricsVendor
from vendors.posthog import PostHogVendor
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

SIGNING_SECRET = "local-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APPROVALS_CHANNEL = "CAPPROVALS"
NOTIFY_CHANNEL = "CNOTIFY"
COMMAND_CHANNEL = "CCMD"
APPROVER = "UAPP1"  # listed in OFFBOARD_APPROVERS
GROUP_APPROVER = "UAPP2"  # an approver through the SAPPROVERS user group
REQUESTER = "UREQ"
OUTSIDER = "UMAL"


@dataclass
class LocalWorld:
    db_path: Path
    slack: SlackStandIn
    posthog: PostHogSandbox
    bot: Bot
    http: HttpServer
    driver: SlackDriver

    kissmetrics_manual: bool = False

    @classmethod
    def start(cls, db_path: Path, *, background: bool = True, kissmetrics_manual: bool = False) -> LocalWorld:
        slack = SlackStandIn()
        slack.start()
        posthog = PostHogSandbox()
        posthog.start()
        bot = start_bot(db_path, slack, posthog, background=background, kissmetrics_manual=kissmetrics_manual)
        http = bot.start_http()
        driver = SlackDriver(http.url, SIGNING_SECRET, slack)
        return cls(db_path, slack, posthog, bot, http, driver, kissmetrics_manual)

    def restart_bot(self, *, background: bool = True) -> None:
        """Stop the bot and start a new one on the same database, as after a deploy or a crash."""
        self.bot.stop()
        self.bot = start_bot(
            self.db_path, self.slack, self.posthog, background=background, kissmetrics_manual=self.kissmetrics_manual
        )
        self.http = self.bot.start_http()
        self.driver = SlackDriver(self.http.url, SIGNING_SECRET, self.slack)

    def stop(self) -> None:
        self.bot.stop()
        self.posthog.stop()
        self.slack.stop()


def local_settings(db_path: Path, slack: SlackStandIn, posthog: PostHogSandbox) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{slack.url}/api/",
        database_url=f"sqlite:///{db_path}",
        approvals_channel=APPROVALS_CHANNEL,
        notify_channel=NOTIFY_CHANNEL,
        approvers=[APPROVER],
        approver_group="SAPPROVERS",
        contact="<#CITHELP|it-help>",
        posthog_api_key=SANDBOX_API_KEY,
        posthog_host=posthog.url,
        posthog_org_id=ORG_ID,
    )


def start_bot(
    db_path: Path,
    slack: SlackStandIn,
    posthog: PostHogSandbox,
    *,
    background: bool = True,
    kissmetrics_manual: bool = False,
) -> Bot:
    settings = local_settings(db_path, slack, posthog)
    # Short waits between retries keep the demo and the tests quick; the retry logic is the real one.
    vendor = PostHogVendor(
        SANDBOX_API_KEY, host=posthog.url, organization_id=ORG_ID, policy=RetryPolicy(backoff=0.01, max_retry_after=1.0)
    )
    vendors: dict[str, Vendor] = {"posthog": vendor}
    if kissmetrics_manual:
        vendors["kissmetrics"] = KissmetricsVendor()  # no API key: a checklist a person confirms
    bot = create_bot(settings, vendors=vendors)
    if background:
        bot.start_background_work()
    return bot
