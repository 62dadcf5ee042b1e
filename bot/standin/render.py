"""A Slack message as a person reads it, in plain text. Pure; the demo prints it with rich."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

NameOf = Callable[[str], str]

_USER = re.compile(r"<@([UWB][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BOLD = re.compile(r"\*([^*\n]+)\*")  # Slack shows *x* bold and ~x~ struck through; plain text shows x
_STRIKE = re.compile(r"~([^~\n]+)~")
_EMOJI = {
    ":white_check_mark:": "✅", ":x:": "❌", ":warning:": "⚠️", ":hourglass_flowing_sand:": "⏳",
    ":gear:": "⚙️", ":clipboard:": "📋", ":no_entry:": "⛔", ":mag:": "🔍", ":calendar:": "📅",
    ":white_circle:": "⚪", ":arrows_counterclockwise:": "🔄", ":white_large_square:": "☐",
    ":grey_question:": "❔", ":lock:": "🔒", ":package:": "📦", ":heavy_minus_sign:": "—",
}


def render_text(text: str, name_of: NameOf) -> str:
    text = _USER.sub(lambda m: "@" + name_of(m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _STRIKE.sub(r"\1", _BOLD.sub(r"\1", text))
    for code, emoji in _EMOJI.items():
        text = text.replace(code, emoji)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text_of(obj: dict[str, Any] | None) -> str:
    return (obj or {}).get("text", "")


def _button(element: dict[str, Any]) -> str:
    return f"[ {_text_of(element.get('text'))} ]"


def render_blocks(blocks: list[dict[str, Any]], name_of: NameOf) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [title.upper(), "═" * min(len(title), 60)]
        elif kind == "section":
            if block.get("text"):
                lines.append(render_text(_text_of(block["text"]), name_of))
            fields = [render_text(_text_of(f), name_of).replace("\n", ": ", 1) for f in block.get("fields", [])]
            lines += fields
            if block.get("accessory", {}).get("type") == "button":
                lines.append("    " + _button(block["accessory"]))
        elif kind == "context":
            lines += [render_text(_text_of(e), name_of) for e in block.get("elements", []) if "text" in e]
        elif kind == "divider":
            lines.append("─" * 40)
        elif kind == "actions":
            lines.append("  ".join(_button(e) for e in block.get("elements", []) if e.get("type") == "button"))
    return lines


def render_message(message: dict[str, Any], name_of: NameOf = lambda user_id: user_id) -> str:
    """The blocks when there are any (Slack shows those), else the plain text."""
    blocks = message.get("blocks") or []
    if blocks:
        return "\n".join(render_blocks(blocks, name_of))
    return render_text(message.get("text", ""), name_of)
