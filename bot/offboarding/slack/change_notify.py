"""Emergency removals' and batches' voice in Slack: emergency cards in the security channel, batch members'
cards in their batch card's thread, the batch card with its detail file, the batch's one notification,
emergency reminders."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from slack_sdk import WebClient

from bot.offboarding.slack import batch_blocks, blocks
from bot.offboarding.values import BatchSnapshot, CardLocation, RequestSnapshot
from bot.slack import cards, mrkdwn
from bot.slack.post import SlackPoster
from storage.models import BatchStatus, RequestMode, utcnow


class SlackChangeNotifier:
    def __init__(
        self,
        client: WebClient,
        *,
        approvals_channel: str,
        security_channel: str = "",
        notify_channel: str = "",
        contact: str = "",
        responders: Iterable[str] = (),
        responder_group: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.security_channel = security_channel or approvals_channel
        self.notify_channel = notify_channel
        self.contact = contact
        self.responders = tuple(responders)
        self.responder_group = responder_group
        self.clock = clock

    # -- request cards that do not go to the approvals channel -------------------------------------------
    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        message = blocks.approval_card(snapshot, self.clock())
        request = snapshot.request
        channel, thread = self.approvals_channel, None
        if snapshot.change.mode == RequestMode.EMERGENCY:
            channel = self.security_channel
        elif snapshot.change.batch_card is not None:
            channel, thread = snapshot.change.batch_card
        return cards.show(self.client, message.text, message.blocks, channel=request.card_channel,
                          ts=request.card_ts, post_to=channel, thread_ts=thread)

    # -- batches -----------------------------------------------------------------------------------------------
    def show_batch(self, batch: BatchSnapshot) -> CardLocation | None:
        message = batch_blocks.batch_card(batch, self.clock())
        return cards.show(self.client, message.text, message.blocks, channel=batch.batch.card_channel,
                          ts=batch.batch.card_ts, post_to=self.approvals_channel)

    def share_batch_details(self, batch: BatchSnapshot) -> None:
        day = self.clock().strftime("%Y-%m-%d")
        self.client.files_upload_v2(
            channel=batch.batch.card_channel or self.approvals_channel,
            thread_ts=batch.batch.card_ts,
            filename=f"offboard-batch-{batch.id}-{day}.csv",
            content=batch_blocks.detail_csv(batch),
            title=f"Batch #{batch.id}: every person and tool",
            initial_comment=batch_blocks.details_comment(batch),
        )

    def deliver_batch(self, batch: BatchSnapshot) -> str:
        """The batch's one notification: the stakeholders once for everyone, and the requester once."""
        sent = []
        if batch.status == BatchStatus.DONE and any(m.removals for m in batch.members):
            notice = batch_blocks.batch_notice(batch, self.contact)
            channel = self.notify_channel or batch.batch.card_channel or self.approvals_channel
            thread = None if self.notify_channel else batch.batch.card_ts
            self.client.chat_postMessage(channel=channel, thread_ts=thread, text=notice.text, blocks=notice.blocks)
            sent.append(f"posted in {mrkdwn.channel(channel)}")
        outcome = batch_blocks.requester_batch_outcome(batch)
        SlackPoster(self.client).dm(batch.batch.requester_id, outcome)
        sent.append(f"sent to {mrkdwn.user(batch.batch.requester_id)}")
        return ", ".join(sent)

    # -- emergencies -----------------------------------------------------------------------------------------
    def remind_emergency(self, snapshot: RequestSnapshot, number: int) -> None:
        request = snapshot.request
        who = [mrkdwn.user(user) for user in self.responders]
        if self.responder_group:
            who.append(mrkdwn.group(self.responder_group))
        text = (f":rotating_light: Reminder {number}: nobody has acknowledged emergency removal #{snapshot.id} of "
                f"{mrkdwn.escape(request.subject_email)} yet. {' '.join(who) or 'Responders'}: a second person must "
                "press *Acknowledge* on the card.")
        channel = request.card_channel or self.security_channel
        self.client.chat_postMessage(channel=channel, thread_ts=request.card_ts, reply_broadcast=True, text=text)
