"""What the Slack listeners need, built once by bot/runtime/app.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bot.offboarding.slack.notify import SlackNotifier
from bot.offboarding.workflow import Workflow
from bot.slack.directory import SlackDirectory

if TYPE_CHECKING:
    from bot.runtime.scheduled_work import ScheduledWork


@dataclass(frozen=True)
class Deps:
    workflow: Workflow
    directory: SlackDirectory
    notifier: SlackNotifier
    clock: Callable[[], datetime]
    audit_admins: frozenset[str] = frozenset()  # who may see audit data; empty: whoever may approve
    scheduled: ScheduledWork | None = None  # sweeps, reminders, reviews (bot/runtime/scheduled_work.py)
    seat_cost: Mapping[str, float] = field(default_factory=dict)  # OFFBOARD_SEAT_COST, for the audit report

    @property
    def vendor_names(self) -> tuple[str, ...]:
        return tuple(self.workflow.vendors)
