"""A card in Slack: posted once, then updated in place to show its latest state. Every card owed until Slack has it
(storage/owed_cards.py: a request's, an emergency's, a batch's, an invitation batch's) goes through `show`; the
sweep and access-review cards still post and update through bot/slack/post.py.

A card someone deleted cannot be updated: Slack answers `message_not_found`, and would answer it for ever, so
the card would stay owed (storage/owed_cards.py) and be tried again for ever while nobody sees it. Instead it
is posted anew, where it was, and `CardLocation.replaces` tells the caller which post the new one stands for,
so the stored location moves from exactly that post to the new one.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from storage.owed_cards import CardLocation

log = logging.getLogger(__name__)

# The post is gone for good: updating it again cannot work, posting anew can.
GONE = frozenset({"message_not_found"})


def show(client: WebClient, text: str, blocks: list[dict[str, Any]], *, channel: str | None, ts: str | None,
         post_to: str, thread_ts: str | None = None) -> CardLocation | None:
    """Update the card at (`channel`, `ts`), or post it to `post_to` when it has no post yet. Returns where a new
    post landed (None after an update). Slack's other errors go up: the card stays owed and is tried again."""
    replaces = None
    if channel and ts:
        try:
            client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            return None
        except SlackApiError as exc:
            if exc.response.get("error") not in GONE:
                raise
            log.warning("the card at %s %s was deleted in Slack: posting it again", channel, ts)
            post_to, replaces = channel, ts
    posted = client.chat_postMessage(channel=post_to, thread_ts=thread_ts, text=text, blocks=blocks,
                                     unfurl_links=False)
    return CardLocation(channel=str(posted["channel"]), ts=str(posted["ts"]), replaces=replaces)
