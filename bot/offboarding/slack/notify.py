"""The workflow's voice in Slack: the approval card and the notifications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from slack_sdk import WebClient

from bot.offboarding.slack import blocks
from bot.offboarding.values import CardLocation, NotificationKind, RequestSnapshot
from bot.slack import cards, mrkdwn
from bot.slack.post import SlackPoster
from storage.audit import BOT_ACTOR
from storage.models import utcnow


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        *,
        approvals_channel: str,
        notify_channel: str = "",
        contact: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.notify_channel = notify_channel
        self.contact = contact
        self.clock = clock

    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        message = blocks.approval_card(snapshot, self.clock())
        request = snapshot.request
        return cards.show(self.client, message.text, message.blocks, channel=request.card_channel,
                          ts=request.card_ts, post_to=self.approvals_channel)

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        request = snapshot.request
        if kind == NotificationKind.STAKEHOLDERS:
            message = blocks.stakeholder_notification(snapshot, self.contact)
            # Without a notification channel, in the card's thread: wherever the card is (an emergency's
            # card is in the security channel).
            channel = self.notify_channel or request.card_channel or self.approvals_channel
            thread = None if self.notify_channel else request.card_ts
            self.client.chat_postMessage(channel=channel, thread_ts=thread, text=message.text, blocks=message.blocks)
            return f"posted in {mrkdwn.channel(channel)}"
        recipient = request.requester_id if kind == NotificationKind.DM_REQUESTER else request.new_owner_slack_id
        if not recipient or recipient == BOT_ACTOR:  # asked by offboard itself (an HR event, a sweep): no DM
            return "no one to tell"
        message = blocks.NOTIFICATION_RENDERERS[kind](snapshot)
        self.dm(recipient, message)
        return f"sent to {mrkdwn.user(recipient)}"

    def dm(self, user_id: str, message: blocks.Message) -> None:
        SlackPoster(self.client).dm(user_id, message)

    def ephemeral(self, channel: str, user_id: str, text: str) -> None:
        message = blocks.error_message(text)
        self.client.chat_postEphemeral(channel=channel, user=user_id, text=message.text, blocks=message.blocks)
