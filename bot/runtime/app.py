"""Wiring: settings in, a running bot out. No logic lives here."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.offboarding import changes, scheduled_actions
from bot.offboarding.slack import actions, commands
from bot.offboarding.slack.notify import SlackNotifier
from bot.offboarding.workflow import Workflow
from bot.onboarding.slack import actions as onboard_actions
from bot.onboarding.slack.notify import SlackInviteNotifier
from bot.onboarding.workflow import DEFAULT_PERSONAL_DOMAINS, OnboardConfig, Onboarding
from bot.runtime.config import Settings
from bot.runtime.deps import Deps
from bot.runtime.scheduled_work import ScheduledWork, with_fallback
from bot.runtime.scheduler import start_jobs
from bot.runtime.server import HttpServer
from bot.slack import app_home, listener_errors
from bot.slack.dedupe import DeliveryLog, once_per_delivery
from bot.slack.directory import SlackDirectory
from bot.triggers.wiring import Triggers
from storage.allowance import DatabaseAllowance
from storage.db import Database
from storage.leases import Leases
from storage.models import utcnow
from storage.retention import policy_with, purge
from vendors import registry
from vendors.base import Checkable, Vendor, deployment_problems
from vendors.facts import BuildContext
from vendors.http import RetryPolicy
from vendors.ratelimit import AllowanceStore

log = logging.getLogger(__name__)

LISTENER_THREADS = 48


def vendors_from_settings(settings: Settings, allowance: AllowanceStore | None = None) -> dict[str, Vendor]:
    """Every vendor the settings turn on, each built by its registry entry (vendors.registry), in registry
    order, then those worked by hand that no entry built. `allowance`: where the vendors' rate-limit allowance
    is shared (the bot's database); None = this process."""
    manual = {name.lower() for name in settings.manual_vendors}
    scale = settings.rate_limit_scale

    def paced(policy: RetryPolicy) -> RetryPolicy:
        return replace(policy.scaled(scale), max_retry_after=settings.max_call_wait, allowance=allowance)

    configured: dict[str, Vendor] = {}
    for facts in registry.entries():
        built = facts.build(BuildContext(settings, facts.name in manual, paced, settings.vendor_connections))
        if built is not None:
            configured[facts.name] = built
    for name in sorted(manual - set(configured)):
        configured[name] = manual_vendor(name)
    return configured


def log_deployment_problems(vendors: Mapping[str, Vendor]) -> None:
    """At start-up, one log line per problem a connector finds in its own deployment (a missing scope and
    what it stops, a rejected key), so nobody learns of it from a failed offboarding. Read-only; a check
    that cannot run is logged too, and never stops the start."""
    for vendor in vendors.values():
        if not isinstance(vendor, Checkable):
            continue
        try:
            problems = deployment_problems(vendor)
        except Exception:
            log.exception("%s: offboard could not check its own credentials at start-up", vendor.label)
            continue
        for problem in problems:
            log.warning("%s", problem)


def manual_vendor(name: str) -> Vendor:
    """A vendor worked by hand with its connector module's click paths (see vendors.manual)."""
    import importlib

    from vendors.manual import ManualVendor

    facts = registry.facts_of(name)
    module = importlib.import_module(facts.connector_module)
    return ManualVendor(name, facts.label, module.manual_step)


def slack_client(settings: Settings) -> WebClient:
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url or WebClient.BASE_URL,
        # One TLS context for every call: without it the client builds (and loads CAs into) a new one each time.
        ssl=ssl.create_default_context(),
    )
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


@dataclass
class Bot:
    app: App
    deps: Deps
    db: Database
    settings: Settings
    deliveries: DeliveryLog | None = None
    onboarding: Onboarding | None = None  # invitations (/onboard)
    verified_upstream: bool = False  # requests come through the ack front (bot.runtime.front), which checked them
    triggers: Triggers | None = None  # Okta, HR webhooks, `offboard request`; re-checks and deadlines
    _scheduler: BackgroundScheduler | None = field(default=None, repr=False)
    _http: HttpServer | None = field(default=None, repr=False)
    _listeners: ThreadPoolExecutor | None = field(default=None, repr=False)  # the app's listener threads
    _owned_vendors: tuple[Vendor, ...] = field(default=(), repr=False)  # made from the settings: closed on stop

    @property
    def workflow(self) -> Workflow:
        return self.deps.workflow

    def start_background_work(self) -> list[int]:
        """Say what the vendors' credentials lack, resume what a previous run left unfinished, then start
        the periodic checks."""
        log_deployment_problems(self.workflow.vendors)
        resumed = self.workflow.resume()
        self.workflow.run_due()
        if self.onboarding:  # invitations a previous run was sending
            self.onboarding.resume()
        self._scheduler = start_jobs(self)  # every periodic job (bot/runtime/scheduler.py)
        if self.deps.scheduled:  # what came due while the bot was down runs once now
            self.deps.scheduled.catch_up()
        return resumed

    def daily_housekeeping(self) -> None:
        self.purge_past_retention()
        if self.deliveries:
            self.deliveries.forget_old()

    def purge_past_retention(self) -> None:
        """The daily retention purge (storage.retention), recorded in the audit chain like the CLI's."""
        policy = policy_with(self.settings.retention_years, self.settings.retention_other_years)
        with self.db.session() as session:
            report = purge(session, policy, utcnow(), via="scheduler")
        if report.purge_seq is not None:
            log.info("retention purge erased %d audit entries' personal data", report.audit_entries)

    def start_http(self, host: str = "127.0.0.1", port: int = 0) -> HttpServer:
        # An app built to sit behind the ack front does not check signatures itself.
        if self.verified_upstream:
            raise RuntimeError("this bot's app checks no signatures: serve it through bot.runtime.front only")
        endpoint = self.triggers.endpoint if self.triggers else None
        self._http = HttpServer(self.app, host, port, triggers=endpoint,
                                signing_secret=self.settings.slack_signing_secret.get_secret_value()).start()
        return self._http

    def stop(self) -> None:
        if self._http:
            self._http.stop()
        if self._listeners:  # nothing new arrives now: let what runs finish, then end the threads
            self._listeners.shutdown(wait=True)
        if self._scheduler:
            self._scheduler.shutdown(wait=False)
        if self.deps.scheduled:
            self.deps.scheduled.shutdown(wait=True)
        if self.onboarding:
            self.onboarding.shutdown(wait=True)
        if self.triggers:
            self.triggers.shutdown()
        self.workflow.shutdown(wait=True)
        for vendor in self._owned_vendors:
            close = getattr(vendor, "close", None)
            if close is not None:
                close()
        self.db.dispose()


def build_onboarding(deps: Deps, settings: Settings) -> Onboarding:
    """Invitations (/onboard), on the offboarding workflow's database, vendors and approvers."""
    domains = DEFAULT_PERSONAL_DOMAINS if settings.personal_domains is None else settings.personal_domains
    config = OnboardConfig(
        card_channel=settings.onboard_channel or settings.approvals_channel,
        admins=frozenset(settings.onboard_admins),
        personal_domains=frozenset(d.lower().lstrip("@") for d in domains),
        remind_after=timedelta(days=settings.invite_remind_days),
        expiry_warning=timedelta(hours=settings.invite_expiry_warning_hours),
        access_end_hour=settings.access_end_hour,
        acceptance_every=timedelta(minutes=settings.invite_acceptance_check_minutes),
    )
    notifier = SlackInviteNotifier(deps.notifier, deps.directory, card_channel=config.card_channel,
                                   remind_days=settings.invite_remind_days)
    workflow = deps.workflow
    return Onboarding(workflow.db, workflow.vendors, workflow, notifier, workflow.may_approve, config,
                      clock=deps.clock)


def create_bot(
    settings: Settings,
    *,
    vendors: Mapping[str, Vendor] | None = None,
    clock: Callable[[], datetime] = utcnow,
    verified_upstream: bool = False,
) -> Bot:
    """`verified_upstream`: every request reaches the app through the ack front (bot.runtime.front), which has
    checked its signature already; see bot.runtime.front_link for why the app must not check it again."""
    client = slack_client(settings)
    db = Database(settings.database_url)
    db.migrate()
    directory = SlackDirectory(client, settings.approvers, settings.approver_group)
    notifier = SlackNotifier(
        client,
        approvals_channel=settings.approvals_channel,
        notify_channel=settings.notify_channel,
        contact=settings.contact,
        clock=clock,
    )
    # The vendors' rate limits are per credential, so every instance on this database shares one allowance.
    chosen_vendors = vendors if vendors is not None else vendors_from_settings(settings, DatabaseAllowance(db))
    leases = Leases(db, seconds=settings.lease_seconds, clock=clock)  # several instances share the work
    workflow = Workflow(db, chosen_vendors, notifier, with_fallback(directory.may_approve, settings), clock=clock,
                        leases=leases, workers=settings.workers,
                        **changes.workflow_options(client, settings, clock))  # emergencies, partial changes, batches
    scheduled = ScheduledWork.from_settings(settings, workflow, directory, client, clock)
    triggers = Triggers(settings, workflow, client, clock)
    triggers.register(scheduled)
    deps = Deps(workflow=workflow, directory=directory, notifier=notifier, clock=clock,
                audit_admins=frozenset(settings.audit_admins), scheduled=scheduled,
                seat_cost=dict(settings.seat_cost))
    # Bolt acks from inside the listener's thread and its default pool has 5: with more requests in
    # flight, acks would queue behind other listeners' after-ack work (Slack calls, the database).
    listeners = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack-listener")
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value() or None,
        request_verification_enabled=not (settings.socket_mode or verified_upstream),
        listener_executor=listeners,
    )
    listener_errors.register(app, notifier)  # what no listener expected: logged once, and the person told
    deliveries = DeliveryLog(db, clock)
    app.use(once_per_delivery(deliveries))
    commands.register(app, deps)
    actions.register(app, deps)
    app_home.register(app, deps)  # the Home tab
    scheduled_actions.register(app, deps)
    changes.register(app, deps)  # emergency, batches, restore
    onboarding = build_onboarding(deps, settings)
    onboard_actions.register(app, deps, onboarding)  # /onboard
    return Bot(app=app, deps=deps, db=db, settings=settings, deliveries=deliveries, onboarding=onboarding,
               verified_upstream=verified_upstream, _listeners=listeners,
               _owned_vendors=tuple(chosen_vendors.values()) if vendors is None else (), triggers=triggers)
