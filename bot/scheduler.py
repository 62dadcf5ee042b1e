"""Periodic work inside the bot process. APScheduler only fires the checks; what is due lives in
our own tables and is claimed row by row (see Workflow.run_due), so a restart loses nothing and
two processes never run the same item twice."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.workflow import Workflow


def start_scheduler(workflow: Workflow, interval_seconds: int = 60) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        workflow.run_due,
        IntervalTrigger(seconds=interval_seconds),
        id="run_due_requests",
        replace_existing=True,
        coalesce=True,  # after downtime: one catch-up run, not one per missed tick
        max_instances=1,
        misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
