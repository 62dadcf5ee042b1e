"""The Slack side of restore: the Restore button on a completed removal's card (approvers only,
within the dispute window). The workflow makes the restore a request of its own, approved by the click."""

from __future__ import annotations

from slack_bolt import App

from bot.offboarding.slack import change_blocks
from bot.offboarding.slack.actions import click_listener
from bot.runtime.deps import Deps


def register(app: App, deps: Deps) -> None:
    app.action(change_blocks.RESTORE)(click_listener(deps, deps.workflow.restore))
