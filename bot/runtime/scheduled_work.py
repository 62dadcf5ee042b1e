"""Scheduled work (sweeps, reminders, reviews, scheduled removals), wired to APScheduler.

APScheduler only fires: a `tick` every OFFBOARD_SCHEDULER_INTERVAL seconds and one cron job per periodic
job. Everything due lives in our own tables and is claimed there (storage/schedule.py for the periodic
jobs, conditional UPDATEs for reminders, grace deadlines and scheduled removals), so a restart loses
nothing, a second instance on the same database never runs an item twice, and after downtime a missed run
happens once when the bot is back (`catch_up` at start-up, and every tick looks again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient

from bot.audit.witness_post import HeadWitness, witness_from_settings
from bot.offboarding.reminders import ApprovalReminders, ChecklistReminders, ReminderConfig, ScheduledRemovalNotices
from bot.offboarding.workflow import Workflow
from bot.reviews.inactivity import SweepPolicy
from bot.reviews.review import AccessReviews
from bot.reviews.sweep import SweepConfig, Sweeps
from bot.runtime.config import Settings
from bot.slack.directory import SlackDirectory
from bot.slack.post import SlackPoster
from storage.models import utcnow
from storage.schedule import claim_slot, due_slot, finish_slot, next_run, parse_schedule

log = logging.getLogger(__name__)

SWEEP_JOB = "inactive_sweep"
REVIEW_JOB = "access_review"
CHECKLIST_JOB = "checklist_reminders"
TICK_JOB = "scheduled_work_tick"


@dataclass(frozen=True)
class Schedules:
    sweep: CronTrigger | None
    review: CronTrigger | None
    checklist: CronTrigger | None


def with_fallback(may_approve: Callable[[str], bool], settings: Settings) -> Callable[[str], bool]:
    """The fallback approver (OFFBOARD_FALLBACK_APPROVER) may decide what is escalated to them, so they may
    approve; they are not among the approvers reminded every time."""
    fallback = settings.fallback_approver

    def check(user_id: str) -> bool:
        return (bool(fallback) and user_id == fallback) or may_approve(user_id)

    return check


class ScheduledWork:
    def __init__(self, workflow: Workflow, sweeps: Sweeps, reminders: ApprovalReminders,
                 checklists: ChecklistReminders, removals: ScheduledRemovalNotices, reviews: AccessReviews,
                 schedules: Schedules, clock: Callable[[], datetime] = utcnow,
                 witness: HeadWitness | None = None) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.sweeps = sweeps
        self.reminders = reminders
        self.checklists = checklists
        self.removals = removals
        self.reviews = reviews
        self.clock = clock
        self.witness = witness  # signed chain heads to the audit channel (bot/audit/witness_post.py)
        self.jobs: dict[str, tuple[CronTrigger | None, Callable[[], Any]]] = {
            SWEEP_JOB: (schedules.sweep, lambda: self.sweeps.run("schedule")),
            REVIEW_JOB: (schedules.review, lambda: self.reviews.run("schedule")),
            CHECKLIST_JOB: (schedules.checklist, lambda: self.checklists.run()),
        }
        # Sweeps and reviews asked for in Slack, and periodic jobs found due by a tick, run here so
        # neither a listener nor the tick waits minutes for a vendor's whole member list.
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="scheduled-work")

    @classmethod
    def from_settings(cls, settings: Settings, workflow: Workflow, directory: SlackDirectory, client: WebClient,
                      clock: Callable[[], datetime] = utcnow) -> ScheduledWork:
        poster = SlackPoster(client)
        admin_channel = settings.admin_channel or settings.approvals_channel
        policy = SweepPolicy(settings.inactive_days, dict(settings.inactive_days_per_vendor),
                             tuple(settings.service_accounts), tuple(settings.sweep_allowlist))
        sweep_config = SweepConfig(policy, admin_channel, settings.grace_days, settings.exempt_days,
                                   settings.inactive_auto_remove)
        reminder_config = ReminderConfig(
            intervals=tuple(timedelta(hours=h) for h in settings.reminder_hours),
            escalate_after=timedelta(hours=settings.escalate_after_hours),
            expire_after=timedelta(days=settings.approval_expiry_days),
            fallback_approver=settings.fallback_approver, escalation_channel=settings.escalation_channel,
            approvals_channel=settings.approvals_channel, checklist_owners=dict(settings.checklist_owners))
        schedules = Schedules(parse_schedule(settings.sweep_schedule), parse_schedule(settings.review_schedule),
                              parse_schedule(settings.checklist_reminder_schedule))
        return cls(
            workflow,
            Sweeps(workflow, directory, poster, sweep_config, clock),
            ApprovalReminders(workflow, directory, poster, reminder_config, clock),
            ChecklistReminders(workflow, directory, poster, reminder_config, clock),
            ScheduledRemovalNotices(workflow, poster, clock),
            AccessReviews(workflow, poster, admin_channel=admin_channel, policy=policy,
                          audit_admins=settings.audit_admins, clock=clock),
            schedules, clock, witness_from_settings(settings, workflow.db, client, clock))

    # -- what APScheduler fires --------------------------------------------------------------------
    def tick(self, now: datetime | None = None, *, wait: bool = False) -> None:
        """One pass over everything due: scheduled removals, approval reminders, escalations and expiries,
        grace deadlines, steps parked by a vendor's rate limit, and periodic jobs that are due (run in the
        background unless `wait`)."""
        now = now or self.clock()
        for name, part in (("scheduled removals", self.removals.tick), ("approval reminders", self.reminders.tick),
                           ("grace deadlines", self.sweeps.run_due_deadlines),
                           ("steps parked by a rate limit", self.workflow.resume_parked),
                           *([("witnessed heads", self.witness.tick)] if self.witness else [])):
            try:
                part(now)
            except Exception:  # one failing part must not starve the others
                log.exception("scheduled work: %s failed", name)
        for job in self.jobs:
            if wait:
                self.run_periodic(job, now)
            else:
                self._pool.submit(self._guarded, self.run_periodic, job, now)

    def run_periodic(self, job: str, now: datetime | None = None) -> bool:
        """Run `job` if one of its slots is due and this caller wins the claim; True when it ran."""
        trigger, run = self.jobs[job]
        if trigger is None:
            return False
        now = now or self.clock()
        slot = due_slot(self.db, job, trigger, now)
        if slot is None or not claim_slot(self.db, job, slot, now):
            return False
        log.info("running %s for %s", job, slot.isoformat())
        try:
            run()
        except Exception as exc:
            log.exception("%s for %s failed", job, slot.isoformat())
            finish_slot(self.db, job, slot, self.clock(), f"failed: {type(exc).__name__}")
            return True
        finish_slot(self.db, job, slot, self.clock(), "done")
        return True

    def catch_up(self) -> None:
        """At start-up: whatever came due while the bot was down, once."""
        self.tick()

    def next_runs(self) -> dict[str, datetime | None]:
        now = self.clock()
        return {job: next_run(self.db, job, trigger, now) for job, (trigger, _) in self.jobs.items()}

    # -- on demand -------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        return self._pool.submit(self._guarded, fn, *args)

    @staticmethod
    def _guarded(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:
            log.exception("scheduled work %s failed", getattr(fn, "__name__", fn))
            return None

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
