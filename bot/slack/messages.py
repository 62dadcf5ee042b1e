"""A Slack message as every feature builds it: the notification text and its blocks, within Slack's limits."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.slack import mrkdwn

MAX_BLOCKS = 50
MAX_TEXT = 2900  # Slack's limit is 3000; leave room for the truncation mark


@dataclass(frozen=True)
class Message:
    text: str  # the notification/fallback text
    blocks: list[dict]


def error_message(text: str) -> Message:
    """`text` is mrkdwn: whoever writes it escapes what people and vendors typed in it (bot.slack.mrkdwn)."""
    clipped = mrkdwn.clip(f":warning: {text}", MAX_TEXT)
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=clipped)).to_dict()])
