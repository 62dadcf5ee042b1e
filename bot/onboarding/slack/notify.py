"""The invitations' voice in Slack: the batch card, the inviter's DMs, the reminders."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError

from bot.offboarding.slack.notify import SlackNotifier
from bot.onboarding.slack import blocks as onboard_blocks
from bot.onboarding.slack.views import AccessEndNotice, BatchView, PendingItem
from bot.slack import cards
from bot.slack.directory import SlackDirectory, SlackPerson
from storage.owed_cards import CardLocation

log = logging.getLogger(__name__)


class SlackInviteNotifier:
    """Implements `bot.onboarding.workflow.InviteNotifier` with the bot's Slack client."""

    def __init__(self, notifier: SlackNotifier, directory: SlackDirectory, *, card_channel: str,
                 remind_days: int) -> None:
        self.notifier = notifier
        self.client = notifier.client
        self.directory = directory
        self.card_channel = card_channel
        self.remind_days = remind_days

    def show_batch(self, batch: BatchView, now: datetime) -> CardLocation | None:
        message = onboard_blocks.batch_card(batch, now)
        row = batch.batch
        return cards.show(self.client, message.text, message.blocks, channel=row.card_channel, ts=row.card_ts,
                          post_to=self.card_channel)

    def batch_finished(self, batch: BatchView, now: datetime) -> None:
        self.notifier.dm(batch.batch.inviter_id, onboard_blocks.batch_outcome(batch, now))

    def pending_reminder(self, inviter_id: str, items: list[PendingItem], now: datetime) -> None:
        self.notifier.dm(inviter_id, onboard_blocks.reminder_message(items, now, self.remind_days))

    def expiry_warning(self, inviter_id: str, items: list[PendingItem], now: datetime) -> None:
        self.notifier.dm(inviter_id, onboard_blocks.expiry_message(items, now))

    def access_end_reminder(self, notice: AccessEndNotice) -> list[str]:
        reached = [notice.inviter_id]
        self.notifier.dm(notice.inviter_id, onboard_blocks.access_end_inviter_message(
            notice.email, notice.labels, notice.ends_on))
        person = self.find_person_safely(notice.email)
        if person is not None and not person.deleted and not person.is_bot:
            self.notifier.dm(person.user_id, onboard_blocks.access_end_person_message(
                notice.labels, notice.ends_on, notice.inviter_id))
            reached.append(person.user_id)
        return reached

    def access_end_started(self, notice: AccessEndNotice) -> None:
        assert notice.request_id is not None
        self.notifier.dm(notice.inviter_id, onboard_blocks.access_ended_message(
            notice.email, notice.ends_on, notice.request_id, self.notifier.approvals_channel))

    def find_person(self, email: str) -> tuple[str, str] | None:
        person = self.find_person_safely(email)
        return (person.user_id, person.name) if person else None

    def find_person_safely(self, email: str) -> SlackPerson | None:
        """The person, or None when Slack does not know them or cannot say right now: who they are only adds
        to a notice, so a Slack hiccup must not hold it up."""
        try:
            return self.directory.by_email(email)
        except SlackApiError as exc:
            log.warning("could not look %s up in Slack: %s", email, exc.response.get("error"))
            return None
