"""Text inside Slack's mrkdwn: the one escaping function, and the markup the bot means, built apart.

Slack reads `<…>` in mrkdwn as markup: `<!channel>` notifies a whole channel, `<@U…>` a person,
`<!subteam^S…>` a group, `<https://x|y>` shows a link disguised as y. Anything a person typed or a vendor
named (a ticket, a note, a comment, a Slack real name, an asset, project or Team name, a vendor's error) is
passed through `escape` exactly once, where it enters a mrkdwn string. The markup the bot means is made
only by the helpers below, which accept an id or URL of a checked shape and escape every label, so no
input can turn into a mention or a link. `plain_text` objects are not parsed by Slack and need none of this.
"""

from __future__ import annotations

import re
from datetime import datetime

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")
GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
# A URL the bot links: http(s), and none of the characters that would end or split Slack's `<url|label>`.
_URL = re.compile(r"https?://[^\s<>|]+")


def escape(text: object) -> str:
    """Typed or vendor-supplied text, safe inside mrkdwn: `&`, `<` and `>` as Slack's entities."""
    return str(text).translate(_ENTITIES)


def user(user_id: str | None, fallback: str = "someone") -> str:
    """A mention of a Slack user the bot knows by id; anything not shaped like an id is shown as text."""
    if user_id and USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape(user_id or fallback)


def channel(channel_id: str | None, fallback: str = "the channel") -> str:
    if channel_id and CHANNEL_ID.fullmatch(channel_id):
        return f"<#{channel_id}>"
    return escape(channel_id or fallback)


def group(group_id: str | None, fallback: str = "the group") -> str:
    """A user-group mention (the configured responder or approver group)."""
    if group_id and GROUP_ID.fullmatch(group_id):
        return f"<!subteam^{group_id}>"
    return escape(group_id or fallback)


def link(url: str | None, label: str) -> str:
    """A link the bot builds to a URL it checked; the label is escaped (a `|` in it is harmless, since
    Slack splits at the first one). A URL of any other shape is left out: the label alone, as text."""
    if url and _URL.fullmatch(url):
        return f"<{url}|{escape(label) or escape(url)}>"
    return escape(label)


def date(moment: datetime, fmt: str = "{date_short_pretty} {time}") -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(moment.timestamp())}^{fmt}|{moment.strftime('%Y-%m-%d %H:%M UTC')}>"


# Phrases the bot itself records with a mention in them (bot/offboarding/workflow.py's cancellations,
# bot/onboarding/workflow.py's withdrawals, hand-made invitations and why an approver must decide, the notifiers'
# delivery summaries). Only these exact phrases keep their mention; any other recorded text is escaped whole.
_RECORDED = tuple(re.compile(p) for p in (
    r"(Cancelled by )<@([UW][A-Z0-9]{2,})>()",
    r"(Cancelled with batch #\d+ by )<@([UW][A-Z0-9]{2,})>()",
    r"(Withdrawn by )<@([UW][A-Z0-9]{2,})>()",
    r"(Invited by hand \(confirmed by )<@([UW][A-Z0-9]{2,})>(\))",
    r"(sent to )<@([UW][A-Z0-9]{2,})>()",
    r"()<@([UW][A-Z0-9]{2,})>( is not an onboarding admin, so an approver decides\.)",
))
_POSTED = re.compile(r"posted in <#([CGD][A-Z0-9]{2,})>")


def recorded(text: str | None) -> str:
    """Text the bot stored for later display, in mrkdwn: one of its own phrases with their mention, or
    anything else (a comment, a vendor's summary) escaped."""
    text = text or ""
    parts = text.split(", ") if text.startswith(("posted in", "sent to")) else [text]
    shown = []
    for part in parts:
        posted = _POSTED.fullmatch(part)
        if posted:
            shown.append(f"posted in {channel(posted.group(1))}")
            continue
        for pattern in _RECORDED:
            found = pattern.fullmatch(part)
            if found:
                shown.append(f"{found.group(1)}{user(found.group(2))}{found.group(3)}")
                break
        else:
            shown.append(escape(part))
    return ", ".join(shown)


def clip(text: str, limit: int) -> str:
    """mrkdwn within `limit` characters, never cut inside an entity or a `<…>` token (a cut token would
    show its raw id; a cut entity its `&am`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    start = cut.rfind("<")
    if start != -1 and cut.find(">", start) == -1:
        cut = cut[:start]
    start = cut.rfind("&", max(0, len(cut) - 4))  # an entity is at most five characters: &amp;
    if start != -1 and ";" not in cut[start:]:
        cut = cut[:start]
    return cut + "…"
