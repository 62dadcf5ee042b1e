"""The bot's way out to Slack for messages: posts, thread replies, DMs, answers only one person sees, CSV files.
Cards (posted once, then updated) go through bot/slack/cards.py."""

from __future__ import annotations

import logging
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.slack import mrkdwn
from bot.slack.messages import MAX_TEXT, Message, error_message

log = logging.getLogger(__name__)


def info_message(text: str, fallback: str | None = None) -> Message:
    """A one-section message of mrkdwn (escaped by its writer, bot.slack.mrkdwn); `fallback` is the notification text
    when `text` is long."""
    clipped = mrkdwn.clip(text, MAX_TEXT)
    section = SectionBlock(text=MarkdownTextObject(text=clipped)).to_dict()
    return Message(text=(fallback or text)[:3000], blocks=[section])


class SlackPoster:
    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, message: Message, *, thread_ts: str | None = None,
             broadcast: bool = False) -> tuple[str, str]:
        """Post and return (channel, ts). `broadcast` also shows a thread reply in the channel."""
        extra = {"reply_broadcast": True} if broadcast and thread_ts else {}
        posted = self.client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks,
                                              thread_ts=thread_ts, unfurl_links=False, **extra)
        return str(posted["channel"]), str(posted["ts"])

    def update(self, channel: str, ts: str, message: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def dm(self, user_id: str, message: Message) -> tuple[str, str]:
        return self.post(self.dm_channel(user_id), message)

    def dm_channel(self, user_id: str) -> str:
        """The bot's direct-message channel with `user_id` (for a file sent to them)."""
        return str(self.client.conversations_open(users=user_id)["channel"]["id"])

    def tell(self, user_id: str, message: Message, channel: str | None = None) -> None:
        """An answer only `user_id` sees: in `channel` (where they asked), else, or when the bot may not post
        there, by DM, which always works."""
        if channel:
            try:
                self.client.chat_postEphemeral(channel=channel, user=user_id, text=message.text,
                                               blocks=message.blocks)
                return
            except SlackApiError as exc:
                log.info("ephemeral answer in %s failed (%s); sending a DM", channel, exc.response.get("error"))
        self.dm(user_id, message)

    def ephemeral(self, channel: str, user_id: str, text: str, *, warning: bool = True) -> None:
        """Tell only `user_id`; a refusal (`warning`) carries the warning sign."""
        self.tell(user_id, error_message(text) if warning else info_message(text), channel)

    def permalink(self, channel: str | None, ts: str | None) -> str | None:
        if not channel or not ts:
            return None
        try:
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except SlackApiError:
            return None

    def upload_csv(self, channel: str, filename: str, *, content: str | None = None, path: Path | None = None,
                   title: str, comment: str, thread_ts: str | None = None) -> None:
        self.client.files_upload_v2(channel=channel, filename=filename, title=title, initial_comment=comment,
                                    thread_ts=thread_ts, **({"file": str(path)} if path else {"content": content}))
