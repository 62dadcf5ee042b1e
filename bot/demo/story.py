"""`offboard demo`: one whole offboarding, played through real signed Slack requests into the real
bot, against the PostHog sandbox and the Slack stand-in, printed as a person would read it."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from bot.demo.localrun import (
    ALL_VENDORS,
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    NOTIFY_CHANNEL,
    OUTSIDER,
    REQUESTER,
    LocalWorld,
)
from bot.demo.standin.render import render_message
from bot.offboarding.slack import blocks
from storage.audit import events_for
from storage.models import RequestStatus
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox

SUBJECT = "alice@corp.com"


class DemoError(Exception):
    pass


def run_demo(console: Console, keep_db: Path | None = None) -> bool:
    with tempfile.TemporaryDirectory(prefix="offboard-demo-") as scratch:
        db_path = keep_db or Path(scratch) / "offboard.db"
        world = LocalWorld.start(db_path, vendors=ALL_VENDORS)
        try:
            _play(console, world)
        except DemoError as exc:
            console.print(f"[bold red]The demo stopped:[/] {exc}")
            return False
        finally:
            world.stop()
    kept = f" The database with the full audit trail is {keep_db}." if keep_db else ""
    console.print(f"\n[green]Done.[/]{kept}")
    return True


def _play(console: Console, world: LocalWorld) -> None:
    names = {u.id: u.name for u in world.slack.users.values()}
    show = _Shower(console, world, names)
    console.print(Rule("offboard demo"))
    sandboxes = ", ".join(f"{name} at {sandbox.url}" for name, sandbox in world.sandboxes.items())
    console.print(
        f"Sandboxes: {sandboxes}; Kissmetrics as a manual checklist (it has no public user API). "
        f"Slack stand-in at {world.slack.url}, bot at {world.http.url}.\n"
        f"@rita asks to offboard {SUBJECT}; @alex and @sam are approvers; @mallory is not."
    )

    _step(console, f"@rita types  /offboard {SUBJECT} resignation")
    world.driver.slash_command("/offboard", f"{SUBJECT} resignation", user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = _wait(lambda: world.slack.calls("views.open"), "the request form")[-1].params["view"]
    console.print(f"A form opens: [italic]{view['title']['text']}[/], with the person and reason filled in.")
    _step(console, "@rita adds ticket HR-1042, picks @bob as the new owner of alice's assets, and submits")
    world.driver.submit_view(view, {"reason": "resignation", "ticket": "HR-1042", "new_owner": "UBOB"},
                             user_id=REQUESTER)
    request_id = _wait(lambda: world.bot.workflow.open_request_for(SUBJECT), "the request")
    _wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    show.ephemeral(REQUESTER)
    show.card("The approval card in #approvals")

    _step(console, "@mallory clicks Approve")
    show.click(blocks.APPROVE, OUTSIDER)
    show.ephemeral(OUTSIDER, wait=True)

    _step(console, "@alex clicks Approve")
    show.click(blocks.APPROVE, APPROVER)
    _wait_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    show.card("The card once every API step that needs no person has run")

    _step(console, "@sam clicks Details and checklist: the click paths, the assets and Mark done")
    details = show.details(GROUP_APPROVER)
    for block in details["blocks"]:
        accessory = block.get("accessory", {})
        if accessory.get("action_id") == blocks.CONFIRM:
            title = block["text"]["text"].split("\n")[0].replace(":white_large_square: ", "")
            _step(console, f"@sam does the manual step and clicks Mark done: {title}")
            world.driver.click_in_view(details, blocks.CONFIRM, GROUP_APPROVER, value=accessory["value"])
    _wait_status(world, request_id, RequestStatus.COMPLETED)
    _wait(lambda: world.slack.messages(NOTIFY_CHANNEL), "the stakeholder notification")
    show.card("The finished card")
    show.channel(NOTIFY_CHANNEL, "#offboarding-notices")
    show.dm("UBOB", "@bob's DM")
    show.dm(REQUESTER, "@rita's DM")

    console.print(Rule("The tools afterwards"))
    member = world.posthog.member_by_email(SUBJECT)
    console.print(f"PostHog: {SUBJECT} {'is STILL a member' if member else 'is gone'}; "
                  f"DELETE calls for her: {world.posthog.delete_count(SUBJECT)}")
    if member is not None:
        raise DemoError(f"{SUBJECT} is still a PostHog member")
    amplitude, mixpanel = world.sandboxes["amplitude"], world.sandboxes["mixpanel"]
    assert isinstance(amplitude, AmplitudeSandbox) and isinstance(mixpanel, MixpanelSandbox)
    console.print(f"Amplitude: {'STILL there' if amplitude.user(SUBJECT) else 'gone'}; "
                  f"DELETE calls for her: {amplitude.delete_count(SUBJECT)}")
    in_mixpanel = mixpanel.user(SUBJECT)
    active = in_mixpanel is not None and in_mixpanel.active
    console.print(f"Mixpanel: {'STILL active' if active else 'deactivated'}; "
                  f"Teams left: {mixpanel.groups_of(SUBJECT) or 'none'}")
    if amplitude.user(SUBJECT) or active:
        raise DemoError(f"{SUBJECT} still has access somewhere")
    restricted = [a for a in world.posthog.assets_of(SUBJECT, "dashboard") if a.restriction_level != 21]
    console.print(f"Her dashboards still restricted to her: {len(restricted)}")
    console.print(f"Audit trail: {len(_audit(world, request_id))} events for request #{request_id}.")


def _audit(world: LocalWorld, request_id: int) -> list[Any]:
    with world.bot.db.session() as session:
        return events_for(session, request_id)


class _Shower:
    def __init__(self, console: Console, world: LocalWorld, names: dict[str, str]) -> None:
        self.console, self.world, self.names = console, world, names
        self._seen_ephemerals = 0

    def _print(self, title: str, message: dict[str, Any]) -> None:
        body = render_message(message, lambda uid: self.names.get(uid, uid))
        self.console.print(Panel(Text(body), title=title, title_align="left", expand=False))

    def card(self, title: str) -> None:
        self._print(title, self.world.slack.messages(APPROVALS_CHANNEL)[0])

    def channel(self, channel: str, label: str) -> None:
        for message in self.world.slack.messages(channel):
            self._print(label, message)

    def dm(self, user: str, label: str) -> None:
        for message in _wait(lambda: self.world.slack.messages(self.world.slack.dm_channel(user)), label):
            self._print(label, message)

    def ephemeral(self, user: str, wait: bool = False) -> None:
        def mine() -> list[Any]:
            return [c for c in self.world.slack.calls("chat.postEphemeral") if c.params.get("user") == user]

        found = _wait(mine, "an answer") if wait else mine()
        for call in found[-1:]:
            self._print(f"Only @{self.names.get(user, user)} sees", call.params)

    def click(self, action_id: str, user: str, value: str | None = None) -> None:
        card = self.world.slack.messages(APPROVALS_CHANNEL)[0]
        self.world.driver.click(card, action_id, user_id=user, value=value, channel_id=APPROVALS_CHANNEL)


    def details(self, user: str) -> dict[str, Any]:
        """Click Details on the card; print and return the view it opens."""
        self.click(blocks.DETAILS, user)
        trigger = self.world.driver.last_trigger_id
        call = self.world.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
        view = self.world.slack.view(str((call.response or {}).get("view", {}).get("id")))
        if view is None:
            raise DemoError("the Details view did not open")
        self._print(f"Only @{self.names.get(user, user)} sees: the Details view", view)
        return view


def _step(console: Console, text: str) -> None:
    console.print(f"\n[bold cyan]▶ {text}[/]")


def _wait(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise DemoError(f"timed out waiting for {what}")


def _wait_status(world: LocalWorld, request_id: int, status: RequestStatus) -> None:
    def reached() -> bool:
        snapshot = world.bot.workflow.snapshot(request_id)
        if snapshot and snapshot.status == RequestStatus.NEEDS_ATTENTION and status != snapshot.status:
            failed = [s for s in snapshot.steps if s.status == "failed"]
            raise DemoError(f"a step failed: {failed[0].title}: {failed[0].last_error}")
        return snapshot is not None and snapshot.status == status

    _wait(reached, f"request #{request_id} to be {status}")
    time.sleep(0.2)  # the card update follows the state change
