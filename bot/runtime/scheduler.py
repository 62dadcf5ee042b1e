"""Every periodic job of the bot, registered here and nowhere else.

APScheduler only fires them (it keeps no state: APScheduler 3's job stores must not be shared between bot
instances). What is due lives in our own tables and is claimed there, so a restart loses nothing and several
instances on one database never do an item twice:

- checks, every few seconds: each claims its items row by row (conditional UPDATEs, leases, owed cards);
- periodic jobs on a schedule (sweeps, reviews, checklist reminders, the overdue list, the daily housekeeping):
  each slot is claimed once across instances in `job_run` (storage/schedule.py), so the daily retention purge
  runs once a day in all, not once per instance.

coalesce and no misfire limit everywhere: after a pause (a suspended host, a long GC), one run, not one per
missed tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.offboarding import emergency
from bot.onboarding.due import OnboardingDue
from bot.runtime import scheduled_work
from bot.triggers import wiring as triggers

if TYPE_CHECKING:
    from bot.runtime.app import Bot

log = logging.getLogger(__name__)

HOUSEKEEPING_JOB = "daily_housekeeping"
HOUSEKEEPING_SCHEDULE = CronTrigger(hour=3, timezone="UTC")  # the retention purge and old delivery digests
OPTIONS: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1, "misfire_grace_time": None}


@dataclass(frozen=True)
class Check:
    """A periodic look at what is due, claimed by its owner item by item."""

    name: str
    run: Callable[[], object]
    seconds: float
    at_start: bool = False  # also at once, not only after the first interval


def checks_of(bot: Bot) -> list[Check]:
    """The checks every feature needs, at the configured interval; the ones that take over a dead instance's
    work run at least twice per lease, so a take-over waits at most half a lease after the lease ran out."""
    interval = bot.settings.scheduler_interval_seconds
    workflow = bot.workflow
    lease_check = max(1.0, min(interval, workflow.leases.duration.total_seconds() / 2))
    checks = [
        Check("run_due_requests", workflow.run_due, interval),
        Check("reclaim_abandoned_requests", workflow.reclaim, lease_check),
        Check("deliver_owed_cards", workflow.deliver_owed_cards, lease_check),
        # Emergency reminders and closing dispute windows, with the scheduled removals' interval.
        Check("run_due_changes", lambda: emergency.run_due_changes(workflow), interval),
    ]
    if bot.onboarding:  # reminders, expiry, acceptance, access end dates; sends a dead instance left
        onboarding = bot.onboarding
        send_check = max(1, min(interval, int(onboarding.leases.duration.total_seconds() / 2)))
        checks += [
            Check("onboarding_due", OnboardingDue(onboarding).tick, interval, at_start=True),
            Check("onboarding_reclaim", onboarding.reclaim, send_check, at_start=True),
            Check("onboarding_owed_cards", onboarding.deliver_owed_cards, send_check, at_start=True),
        ]
    if bot.triggers:  # HR and identity-provider intake, re-checks after removal, the removal deadline
        checks.append(Check(triggers.TICK_JOB, bot.triggers.tick, interval, at_start=True))
    if bot.deps.scheduled:  # scheduled removals, approval reminders, grace deadlines, and the slots below
        checks.append(Check(scheduled_work.TICK_JOB, bot.deps.scheduled.tick, interval))
    return checks


def start_jobs(bot: Bot) -> BackgroundScheduler:
    """Register every job of `bot` and start firing them."""
    scheduler = BackgroundScheduler(timezone="UTC")
    for check in checks_of(bot):
        first = {"next_run_time": datetime.now(UTC)} if check.at_start else {}
        scheduler.add_job(check.run, IntervalTrigger(seconds=check.seconds), id=check.name, **first, **OPTIONS)
    scheduled = bot.deps.scheduled
    if scheduled is not None:
        scheduled.jobs[HOUSEKEEPING_JOB] = (HOUSEKEEPING_SCHEDULE, bot.daily_housekeeping)
        for job, (trigger, _) in scheduled.jobs.items():
            if trigger is not None:  # fired by its schedule; the tick above runs a slot missed while down
                scheduler.add_job(scheduled.run_periodic, trigger, args=[job], id=job, **OPTIONS)
        for job, when in scheduled.next_runs().items():
            log.info("%s: %s", job, f"next run {when:%Y-%m-%d %H:%M} UTC" if when else "off")
    scheduler.start()
    return scheduler
