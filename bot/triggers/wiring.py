"""The triggers' parts, built from the settings once by bot/runtime/app.py, and the periodic work they add: approvals
owed on an event, re-checks after removal and deadline reminders (every tick), and the daily list of overdue
removals (a periodic
job of bot.runtime.scheduled_work, so it runs once a day across instances)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient

from bot.offboarding.workflow import Workflow
from bot.runtime.config import Settings
from bot.runtime.scheduled_work import ScheduledWork
from bot.slack.post import SlackPoster
from bot.triggers import deadline
from bot.triggers.deadline_reminders import DeadlineReminders
from bot.triggers.endpoint import TriggerEndpoint
from bot.triggers.intake import Intake
from bot.triggers.overdue import OVERDUE_JOB, OverdueList
from bot.triggers.rechecks import Rechecks
from bot.triggers.signatures import TriggerSecrets
from storage.models import utcnow
from storage.schedule import parse_schedule

log = logging.getLogger(__name__)

TICK_JOB = "trigger_work"


def secrets_from(settings: Settings) -> TriggerSecrets:
    return TriggerSecrets(okta_header=settings.okta_hook_header.lower(),
                          okta_secret=settings.okta_hook_secret.get_secret_value(),
                          hr_secret=settings.hr_webhook_secret.get_secret_value(),
                          bamboohr_key=settings.bamboohr_webhook_key.get_secret_value())


class Triggers:
    def __init__(self, settings: Settings, workflow: Workflow, client: WebClient,
                 clock: Callable[[], datetime] = utcnow) -> None:
        deadline.configure(settings.removal_deadline_days)
        poster = SlackPoster(client)
        self.intake = Intake(workflow, approval_required=settings.trigger_approval == "required", clock=clock)
        self.endpoint = TriggerEndpoint(self.intake, secrets_from(settings), settings.okta_apps)
        self.rechecks = Rechecks(workflow, poster, settings.security_channel or settings.approvals_channel,
                                 [timedelta(hours=float(h)) for h in settings.recheck_hours], clock)
        self.overdue = OverdueList(workflow.db, poster, settings.admin_channel or settings.approvals_channel,
                                            clock)
        self.overdue_schedule = parse_schedule(settings.overdue_schedule)
        self.reminders = DeadlineReminders(workflow.db, poster, clock)

    def tick(self, now: datetime | None = None) -> None:
        for name, part in (("event approvals", lambda: self.intake.approve_ready()),
                           ("re-checks after removal", lambda: self.rechecks.tick(now)),
                           ("deadline reminders", lambda: self.reminders.tick(now))):
            try:
                part()
            except Exception:  # one failing part must not starve the other
                log.exception("trigger work: %s failed", name)

    def register(self, scheduled: ScheduledWork) -> None:
        """The daily overdue list joins the periodic jobs (claimed per slot in the database)."""
        scheduled.jobs[OVERDUE_JOB] = (self.overdue_schedule, lambda: self.overdue.run())

    def shutdown(self) -> None:
        self.intake.shutdown()
