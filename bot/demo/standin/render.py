"""A Slack message as a person reads it, in plain text. Pure functions; the demo prints the result
with rich, and tests can assert on what a reader would actually see."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

NameOf = Callable[[str], str]
Block = Mapping[str, Any]

WIDTH = 72
_GAP = "   "
_TOKEN = re.compile(r"<([^<>\n]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")  # word-bounded: contract_end stays as it is
_STRIKE = re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
EMOJI = {
    ":white_check_mark:": "✅", ":heavy_check_mark:": "✔️", ":x:": "❌", ":warning:": "⚠️",
    ":hourglass_flowing_sand:": "⏳", ":hourglass:": "⌛", ":gear:": "⚙️", ":clipboard:": "📋",
    ":no_entry:": "⛔", ":no_entry_sign:": "🚫", ":mag:": "🔍", ":calendar:": "📅", ":white_circle:": "⚪",
    ":arrows_counterclockwise:": "🔄", ":white_large_square:": "☐", ":ballot_box_with_check:": "☑️",
    ":grey_question:": "❔", ":lock:": "🔒", ":unlock:": "🔓", ":package:": "📦", ":heavy_minus_sign:": "—",
    ":bust_in_silhouette:": "👤", ":wave:": "👋", ":bell:": "🔔", ":memo:": "📝", ":paperclip:": "📎",
    ":rotating_light:": "🚨", ":tada:": "🎉", ":information_source:": "\u2139\ufe0f",
}


def _same(user_id: str) -> str:
    return user_id


# -- mrkdwn ------------------------------------------------------------------------------------
def _token(inner: str, name_of: NameOf) -> str:
    """One `<…>` token: mentions, channels, dates, groups and links, as Slack displays them."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + name_of(target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!subteam^"):
        return label or "@" + target.split("^", 1)[1]
    if target.startswith("!"):
        return label or _SPECIAL.get(target[1:], "@" + target[1:])
    return label or target.removeprefix("mailto:")


def render_text(text: str, name_of: NameOf = _same) -> str:
    """mrkdwn to what the reader sees: `<@U1>` → @name, `<!date^…|fallback>` → fallback,
    `<url|text>` → text, *bold*/_italic_/~strike~/`code` marks dropped, :emoji: codes drawn."""
    text = _TOKEN.sub(lambda m: _token(m.group(1), name_of), text)
    for pattern in (_BOLD, _ITALIC, _STRIKE, _CODE):
        text = pattern.sub(r"\1", text)
    for code, emoji in EMOJI.items():
        text = text.replace(code, emoji)
    # Entities last: an escaped &lt;@U1&gt; is literal text, not a mention.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Any, name_of: NameOf) -> str:
    """A text object: mrkdwn is rendered; plain_text only gets its emoji drawn."""
    if not isinstance(obj, Mapping):
        return str(obj or "")
    raw = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return render_text(raw, name_of)
    for code, emoji in EMOJI.items():
        raw = raw.replace(code, emoji)
    return raw


# -- elements ----------------------------------------------------------------------------------
def _element(element: Mapping[str, Any], name_of: NameOf) -> str:
    """An interactive element as a bracketed control: `[ Approve ]`, `[ Pick one ▾ ]`."""
    kind = element.get("type")
    placeholder = _text(element.get("placeholder"), name_of)
    if kind == "button":
        return f"[ {_text(element.get('text'), name_of)} ]"
    if kind == "overflow":
        return "[ ⋯ ]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind == "datepicker":
        return f"[ 📅 {element.get('initial_date') or placeholder or 'date'} ]"
    if kind == "users_select":
        chosen = element.get("initial_user")
        return f"[ {'@' + name_of(chosen) if chosen else placeholder or 'Select a person'} ▾ ]"
    if kind in ("static_select", "radio_buttons"):
        chosen = _text((element.get("initial_option") or {}).get("text"), name_of)
        return f"[ {chosen or placeholder or 'Select'} ▾ ]"
    if kind in ("multi_static_select", "checkboxes"):
        chosen = ", ".join(_text(o.get("text"), name_of) for o in element.get("initial_options") or [])
        return f"[ {chosen or placeholder or 'Select'} ▾ ]"
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        return f"[ {element.get('initial_value') or placeholder or ''} ]".replace("[  ]", "[ ____ ]")
    return f"[ {placeholder or kind} ]"


# -- blocks ------------------------------------------------------------------------------------
def _wrap(lines: Sequence[str], width: int) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, width) or [""]
    return wrapped


def _one_line(cell: list[str]) -> str:
    """A field "Label\\nvalue" as "Label: value" (no doubled colon when the label has one)."""
    head, rest = cell[0], " ".join(line for line in cell[1:] if line)
    if not rest:
        return head
    return f"{head} {rest}" if head.rstrip().endswith(":") else f"{head}: {rest}"


def _fields(fields: Sequence[Any], name_of: NameOf, width: int, columns: int) -> list[str]:
    cells = [_text(f, name_of).split("\n") for f in fields]
    if columns < 2:
        return [_one_line(cell) for cell in cells]
    # Two columns, as Slack lays fields out: pair them and pad the left cell line by line.
    column = (width - len(_GAP)) // 2
    lines: list[str] = []
    for i in range(0, len(cells), 2):
        left = _wrap(cells[i], column)
        right = _wrap(cells[i + 1], column) if i + 1 < len(cells) else []
        for row in range(max(len(left), len(right))):
            a = left[row] if row < len(left) else ""
            b = right[row] if row < len(right) else ""
            lines.append((a.ljust(column) + _GAP + b).rstrip())
    return lines


def _section(block: Block, name_of: NameOf, width: int, columns: int) -> list[str]:
    lines = _text(block.get("text"), name_of).split("\n") if block.get("text") else []
    lines += _fields(block.get("fields") or [], name_of, width, columns)
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping) and accessory.get("type") != "image":
        lines.append("    " + _element(accessory, name_of))
    return lines


def _header(block: Block, name_of: NameOf) -> list[str]:
    title = _text(block.get("text"), name_of)
    return [title, "═" * len(title)]  # an underline is as close to Slack's bold heading as text gets


def _context(block: Block, name_of: NameOf) -> list[str]:
    parts = [_text(e, name_of) for e in block.get("elements") or [] if isinstance(e, Mapping) and "text" in e]
    return ["  ".join(parts)] if parts else []


def _actions(block: Block, name_of: NameOf) -> list[str]:
    return ["  ".join(_element(e, name_of) for e in block.get("elements") or [])]


def _input(block: Block, name_of: NameOf) -> list[str]:
    label = _text(block.get("label"), name_of) + (" (optional)" if block.get("optional") else "")
    lines = [label, "  " + _element(block.get("element") or {}, name_of)]
    if block.get("hint"):
        lines.append("  " + _text(block["hint"], name_of))
    return lines


def _rich_text_element(element: Mapping[str, Any], name_of: NameOf) -> str:
    kind = element.get("type")
    if kind == "user":
        return "@" + name_of(str(element.get("user_id")))
    if kind == "channel":
        return "#" + str(element.get("channel_id"))
    if kind == "link":
        return str(element.get("text") or element.get("url") or "")
    if kind == "emoji":
        return EMOJI.get(f":{element.get('name')}:", f":{element.get('name')}:")
    if kind == "date":
        return str(element.get("fallback") or "")
    return str(element.get("text") or "")


def _rich_text(block: Block, name_of: NameOf) -> list[str]:
    lines: list[str] = []
    for part in block.get("elements") or []:
        children = part.get("elements") or []
        if part.get("type") == "rich_text_list":
            lines += ["• " + "".join(_rich_text_element(e, name_of) for e in item.get("elements") or [])
                      for item in children]
        else:
            lines += "".join(_rich_text_element(e, name_of) for e in children).split("\n")
    return lines


def render_block(block: Block, name_of: NameOf = _same, *, width: int = WIDTH, columns: int = 2) -> list[str]:
    """The lines one block shows; unknown block types show as `[type]` rather than vanishing."""
    kind = block.get("type")
    if kind == "section":
        return _section(block, name_of, width, columns)
    if kind == "divider":
        return ["─" * width]
    if kind == "image":
        return [f"[image: {block.get('alt_text', '')}]"]
    if kind == "markdown":
        return render_text(str(block.get("text") or ""), name_of).split("\n")
    renderers: dict[str, Callable[[Block, NameOf], list[str]]] = {
        "header": _header, "context": _context, "actions": _actions, "input": _input, "rich_text": _rich_text,
    }
    renderer = renderers.get(str(kind))
    return renderer(block, name_of) if renderer else [f"[{kind}]"]


def render_blocks(blocks: Sequence[Block], name_of: NameOf = _same, *, width: int = WIDTH,
                  columns: int = 2) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        lines += render_block(block, name_of, width=width, columns=columns)
    return lines


def _extras(message: Mapping[str, Any], name_of: NameOf) -> list[str]:
    """Legacy attachments and shared files, which Slack shows under the message body."""
    lines: list[str] = []
    for attachment in message.get("attachments") or []:
        body = attachment.get("text") or attachment.get("fallback") or ""
        lines += ["│ " + line for line in render_text(str(body), name_of).split("\n")]
    lines += [f"📎 {f.get('title') or f.get('name')}" for f in message.get("files") or []]
    return lines


def render_message(message: Mapping[str, Any], name_of: NameOf = _same, *, width: int = WIDTH,
                   columns: int = 2) -> str:
    """The blocks when there are any (Slack then shows those, not `text`), else the text."""
    blocks = message.get("blocks") or []
    if blocks:
        lines = render_blocks(blocks, name_of, width=width, columns=columns)
    else:
        text = str(message.get("text") or "")
        lines = render_text(text, name_of).split("\n") if text else []
    return "\n".join(lines + _extras(message, name_of))


def render_view(view: Mapping[str, Any], name_of: NameOf = _same, *, width: int = WIDTH) -> str:
    """A modal: its title, its blocks, and the close/submit buttons at the bottom."""
    title = _text(view.get("title"), name_of)
    lines = [title, "═" * len(title), *render_blocks(view.get("blocks") or [], name_of, width=width)]
    buttons = [f"[ {_text(view[k], name_of)} ]" for k in ("close", "submit") if view.get(k)]
    if buttons:
        lines += ["", "  ".join(buttons).rjust(width)]
    return "\n".join(lines)
