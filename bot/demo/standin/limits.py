"""Slack's Block Kit limits, checked by the stand-in the way Slack checks them on arrival.

`slack_sdk.models` validates most limits in `.to_dict()`, but plain dicts are not validated and the
50-blocks-per-message limit is never checked by the SDK; a message that only fails in production is
exactly what the stand-in must catch. Each problem is a string ending in a JSON pointer, like Slack's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000

# (block type, field path) -> max characters. Field paths are dotted, read from the block.
_TEXT_LIMITS: dict[str, dict[str, int]] = {
    "header": {"text.text": 150},
    "section": {"text.text": 3000},
    "input": {"label.text": 2000, "hint.text": 2000},
}
_ELEMENT_LIMITS: dict[str, int] = {
    "text.text": 75,  # button text
    "value": 2000,
    "url": 3000,
    "placeholder.text": 150,
    "action_id": 255,
}
_VIEW_LIMITS: dict[str, int] = {
    "title.text": 24,
    "submit.text": 24,
    "close.text": 24,
    "private_metadata": 3000,
    "callback_id": 255,
    "external_id": 255,
}
_MAX_ID = 255
_MAX_FIELDS, _MAX_FIELD_TEXT = 10, 2000
_MAX_ACTIONS_ELEMENTS, _MAX_CONTEXT_ELEMENTS = 25, 10
_MAX_OPTIONS, _MAX_OPTION_TEXT, _MAX_OPTION_VALUE = 100, 75, 150


def _get(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _too_long(obj: dict[str, Any], limits: dict[str, int], pointer: str) -> list[str]:
    problems = []
    for dotted, limit in limits.items():
        value = _get(obj, dotted)
        if isinstance(value, str) and len(value) > limit:
            path = dotted.replace(".", "/")
            problems.append(f"must be less than {limit + 1} characters [json-pointer:{pointer}/{path}]")
    return problems


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def element_problems(element: dict[str, Any], pointer: str) -> list[str]:
    problems = _too_long(element, _ELEMENT_LIMITS, pointer)
    options = _options(element)
    if len(options) > _MAX_OPTIONS:
        problems.append(f"must provide fewer than {_MAX_OPTIONS + 1} items [json-pointer:{pointer}/options]")
    for i, option in enumerate(options):
        limits = {"text.text": _MAX_OPTION_TEXT, "value": _MAX_OPTION_VALUE}
        problems += _too_long(option, limits, f"{pointer}/options/{i}")
    return problems


def _elements_of(block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The interactive elements of a block with their pointer suffix."""
    if block.get("type") == "actions":
        return [(f"/elements/{i}", e) for i, e in enumerate(block.get("elements") or [])]
    found = [(f"/{key}", block[key]) for key in ("accessory", "element") if isinstance(block.get(key), dict)]
    return found


def _block_shape_problems(block: dict[str, Any], pointer: str) -> list[str]:
    kind = block.get("type")
    problems: list[str] = []
    if not kind:
        problems.append(f"missing required field: type [json-pointer:{pointer}]")
    if kind == "section" and not block.get("text") and not block.get("fields"):
        problems.append(f"must provide either text or fields [json-pointer:{pointer}]")
    fields = block.get("fields") or []
    if len(fields) > _MAX_FIELDS:
        problems.append(f"must provide fewer than {_MAX_FIELDS + 1} items [json-pointer:{pointer}/fields]")
    for i, item in enumerate(fields):
        problems += _too_long(item, {"text": _MAX_FIELD_TEXT}, f"{pointer}/fields/{i}")
    limit = {"actions": _MAX_ACTIONS_ELEMENTS, "context": _MAX_CONTEXT_ELEMENTS}.get(str(kind))
    if limit is not None and len(block.get("elements") or []) > limit:
        problems.append(f"must provide fewer than {limit + 1} items [json-pointer:{pointer}/elements]")
    return problems


def block_problems(block: dict[str, Any], pointer: str) -> list[str]:
    problems = _block_shape_problems(block, pointer)
    problems += _too_long(block, _TEXT_LIMITS.get(str(block.get("type")), {}), pointer)
    problems += _too_long(block, {"block_id": _MAX_ID}, pointer)
    action_ids: set[str] = set()
    for suffix, element in _elements_of(block):
        problems += element_problems(element, pointer + suffix)
        action_id = element.get("action_id")
        if action_id and action_id in action_ids:
            problems.append(f"action_id must be unique within the block [json-pointer:{pointer}{suffix}/action_id]")
        action_ids.add(action_id or "")
    return problems


def blocks_problems(blocks: Iterable[dict[str, Any]], *, max_blocks: int, pointer: str = "/blocks") -> list[str]:
    blocks = list(blocks)
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"must provide fewer than {max_blocks + 1} items [json-pointer:{pointer}]")
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            problems.append(f"expected an object [json-pointer:{pointer}/{i}]")
            continue
        problems += block_problems(block, f"{pointer}/{i}")
        block_id = block.get("block_id")
        if block_id and block_id in seen:
            problems.append(f"duplicate block_id {block_id!r} [json-pointer:{pointer}/{i}/block_id]")
        seen.add(block_id or "")
    return problems


def view_problems(view: dict[str, Any]) -> list[str]:
    problems = _too_long(view, _VIEW_LIMITS, "/view")
    if view.get("type") not in ("modal", "home"):
        problems.append("must be one of modal, home [json-pointer:/view/type]")
    blocks = view.get("blocks") or []
    if view.get("type") == "modal":
        if not _get(view, "title.text"):
            problems.append("missing required field: title [json-pointer:/view/title]")
        # Slack refuses a modal with inputs but no way to submit them.
        if any(b.get("type") == "input" for b in blocks if isinstance(b, dict)) and not view.get("submit"):
            problems.append("missing required field: submit [json-pointer:/view/submit]")
    return problems + blocks_problems(blocks, max_blocks=MAX_MODAL_BLOCKS, pointer="/view/blocks")
