"""Periodic work inside the bot process. APScheduler only fires the checks; what is due lives in
our own tables and is claimed row by row (see Workflow.run_due), so a restart loses nothing and
two processes never run the same item twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.offboarding.workflow import Workflow


def start_scheduler(
    workflow: Workflow, interval_seconds: int = 60, daily: Callable[[], object] | None = None,
) -> BackgroundScheduler:
    lease_check_seconds = max(1.0, workflow.leases.duration.total_seconds() / 2)
    """`daily` (the retention purge) runs once a day at 03:00 UTC, once after downtime."""
    scheduler = BackgroundScheduler(timezone="UTC")
    if daily is not None:
        scheduler.add_job(daily, CronTrigger(hour=3, timezone="UTC"), id="daily_housekeeping",
                          replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=None)
    scheduler.add_job(
        workflow.run_due,
        IntervalTrigger(seconds=interval_seconds),
        id="run_due_requests",
        replace_existing=True,
        coalesce=True,  # after downtime: one catch-up run, not one per missed tick
        max_instances=1,
        misfire_grace_time=None,
    )
    # Several instances: requests whose instance died mid-work are taken over once its lease has run out.
    scheduler.add_job(workflow.reclaim, IntervalTrigger(seconds=min(interval_seconds, lease_check_seconds)),
                      id="reclaim_abandoned_requests", replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=None)
    # Cards Slack has not accepted yet (a failed post or update) are tried again once their back-off is over.
    scheduler.add_job(workflow.deliver_owed_cards, IntervalTrigger(seconds=min(interval_seconds, lease_check_seconds)),
                      id="deliver_owed_cards", replace_existing=True, coalesce=True, max_instances=1,
                      misfire_grace_time=None)
    scheduler.start()
    return scheduler


def add_check(scheduler: BackgroundScheduler, name: str, check: Callable[[], object], interval_seconds: int) -> None:
    """One more periodic check (invitations, for one), run now and every `interval_seconds`; what is due lives
    in its owner's tables and is claimed there."""
    scheduler.add_job(check, IntervalTrigger(seconds=interval_seconds), id=name, replace_existing=True, coalesce=True,
                      max_instances=1, misfire_grace_time=None, next_run_time=datetime.now(UTC))
