"""How big the demo's cards are: the approval card of the demo's leaver (all four tools, Kissmetrics by hand)
waiting for approval and once approved, and an emergency card with its follow-up checklist, each as blocks
and characters of text a person reads. `.venv/bin/python -m bench.card_size`.

The cards come from the real bot through signed Slack requests into the Slack stand-in, as in `offboard demo`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.demo.localrun import (
    ALL_VENDORS,
    APPROVER,
    COMMAND_CHANNEL,
    REQUESTER,
    RESPONDER,
    LocalWorld,
)
from storage.models import RequestStatus

SUBJECT = "alice@corp.com"
APPROVAL_LIMIT = 2500
EMERGENCY_LIMIT = 4000


def text_chars(value: Any) -> int:
    """Characters of every text object's text in rendered blocks (mrkdwn and plain text alike)."""
    if isinstance(value, list):
        return sum(text_chars(v) for v in value)
    if not isinstance(value, dict):
        return 0
    own = len(value["text"]) if isinstance(value.get("text"), str) else 0
    return own + sum(text_chars(v) for k, v in value.items() if k != "text" or not isinstance(v, str))


def measure(message: dict[str, Any]) -> tuple[int, int]:
    blocks = message.get("blocks") or []
    return len(blocks), text_chars(blocks)


def _wait(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _card_at(world: LocalWorld, request_id: int, status: RequestStatus) -> dict[str, Any]:
    def shown() -> dict[str, Any] | None:
        snapshot = world.bot.workflow.snapshot(request_id)
        if snapshot is None or snapshot.status != status or not snapshot.request.card_ts:
            return None
        # The card follows the state change: wait until it shows the new status too.
        card = world.slack.message(snapshot.request.card_channel or "", snapshot.request.card_ts)
        words = {RequestStatus.PENDING_APPROVAL: "pending", RequestStatus.AWAITING_MANUAL: "manual"}
        if card and words.get(status, "") in str(card.get("blocks")).lower():
            return card
        return None

    return _wait(shown, f"request #{request_id}'s card at {status}")


def _world(folder: Path, name: str, **options: Any) -> LocalWorld:
    return LocalWorld.start(folder / f"{name}.db", vendors=ALL_VENDORS, **options)


def approval_cards(folder: Path) -> Iterator[tuple[str, dict[str, Any], int]]:
    world = _world(folder, "approval")
    try:
        world.driver.slash_command("/offboard", f"{SUBJECT} resignation", user_id=REQUESTER,
                                   channel_id=COMMAND_CHANNEL)
        view = _wait(lambda: world.slack.calls("views.open"), "the request form")[-1].params["view"]
        world.driver.submit_view(view, {"reason": "resignation", "ticket": "HR-1042", "new_owner": "UBOB"},
                                 user_id=REQUESTER)
        request_id = _wait(lambda: world.bot.workflow.open_request_for(SUBJECT), "the request")
        card = _card_at(world, request_id, RequestStatus.PENDING_APPROVAL)
        yield "approval card, waiting for approval", card, APPROVAL_LIMIT
        world.driver.click(card, "approve_request", user_id=APPROVER, channel_id=world.slack.channel_of(card["ts"]))
        yield "approval card, approved (checklist open)", _card_at(
            world, request_id, RequestStatus.AWAITING_MANUAL), APPROVAL_LIMIT
    finally:
        world.stop()


def emergency_card(folder: Path) -> tuple[str, dict[str, Any], int]:
    world = _world(folder, "emergency", manual=())
    try:
        world.driver.slash_command("/offboard", f"{SUBJECT} emergency", user_id=RESPONDER, channel_id=COMMAND_CHANNEL)
        request_id = _wait(lambda: world.bot.workflow.open_request_for(SUBJECT), "the emergency")
        return "emergency card (checklist open)", _card_at(world, request_id, RequestStatus.AWAITING_MANUAL), \
            EMERGENCY_LIMIT
    finally:
        world.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    over = False
    with tempfile.TemporaryDirectory(prefix="offboard-cards-") as scratch:
        folder = Path(scratch)
        cards = [*approval_cards(folder), emergency_card(folder)]
    for title, card, limit in cards:
        count, chars = measure(card)
        verdict = "ok" if chars <= limit else "OVER"
        over = over or chars > limit
        print(f"{title:45} {count:3} blocks {chars:6} characters (aim ≤ {limit}: {verdict})")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
