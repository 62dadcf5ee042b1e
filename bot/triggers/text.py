"""Escaping for the text this package puts into Slack mrkdwn (emails, sender names, vendor words): `&`, `<`
and `>` as Slack asks, so a name like `<!channel>` or `<https://evil|click>` is shown, never acted on."""

from __future__ import annotations


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
