"""`offboard serve` in Socket Mode, as an admin runs it: a separate process with SLACK_APP_TOKEN set, which
asks for a WebSocket URL (`apps.connections.open`), connects to the Socket Mode stand-in and acknowledges
each envelope on the socket; the PostHog sandbox behind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.demo.localrun import BOT_TOKEN
from bot.demo.served import ServedBot
from bot.demo.standin.slack_api import SlackStandIn
from bot.demo.standin.socket_mode import DEFAULT_APP_TOKEN, SocketModeDriver, SocketModeStandIn
from bot.offboarding.slack import blocks
from tests.e2e.conftest import eventually
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

APPROVALS = "CAPPROVALS"
LEAVER = "alice@corp.com"


@dataclass
class SocketWorld:
    slack: SlackStandIn
    socket: SocketModeStandIn
    posthog: PostHogSandbox
    bot: ServedBot
    driver: SocketModeDriver

    def card(self) -> dict[str, Any]:
        cards = self.slack.messages(APPROVALS)
        assert len(cards) == 1, f"expected one card, found {len(cards)}"
        return cards[0]

    def card_text(self) -> str:
        cards = self.slack.messages(APPROVALS)
        return json.dumps(cards[0].get("blocks") or []) if cards else ""


def _env(slack: SlackStandIn, posthog: PostHogSandbox, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_API_URL": f"{slack.url}/api/",
        "DATABASE_URL": database_url,
        "OFFBOARD_APPROVALS_CHANNEL": APPROVALS,
        "OFFBOARD_APPROVERS": "UAPP1",
        "POSTHOG_API_KEY": SANDBOX_API_KEY,
        "POSTHOG_HOST": posthog.url,
        "POSTHOG_ORG_ID": ORG_ID,
    }


@pytest.fixture
def socket_world(tmp_path: Path, database_url: str) -> Iterator[SocketWorld]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog, SocketModeStandIn(slack) as socket:
        bot = ServedBot(_env(slack, posthog, database_url), tmp_path, app_token=DEFAULT_APP_TOKEN).start()
        try:
            socket.wait_connected()
            yield SocketWorld(slack, socket, posthog, bot, SocketModeDriver(socket))
        finally:
            bot.stop()


def open_request(world: SocketWorld) -> None:
    """/offboard, the modal it opens submitted: the approval card is up."""
    ack = world.driver.slash_command("/offboard", LEAVER, user_id="UREQ")
    assert ack.status_code == 200 and ack.envelope.attempts == 1
    view = world.slack.wait_for("views.open", timeout=10).params["view"]
    assert view["callback_id"] == "offboard_request"
    submitted = world.driver.submit_view(view, {"reason": "resignation", "new_owner": "UBOB"}, user_id="UREQ")
    assert submitted.text in ("", "{}"), submitted.text  # acked on the socket with no validation errors
    eventually(lambda: blocks.APPROVE in world.card_text(), timeout=15, what="the approval card")


def approved_and_removed(world: SocketWorld) -> bool:
    return world.posthog.member_by_email(LEAVER) is None and "Approved by <@UAPP1>" in world.card_text()


def test_the_whole_request_runs_over_socket_mode(socket_world: SocketWorld) -> None:
    world = socket_world
    # The bot asked for its URL with the app-level token, never the bot token.
    opens = world.slack.calls("apps.connections.open")
    assert opens and all(call.token == DEFAULT_APP_TOKEN for call in opens)

    # A modal submission's ack carries its answer: here the form's validation errors, on the socket.
    assert world.driver.slash_command("/offboard", LEAVER, user_id="UREQ").status_code == 200
    view = world.slack.wait_for("views.open", timeout=10).params["view"]
    refused = world.driver.submit_view(view, {"reason": "resignation", "new_owner": "UALICE"}, user_id="UREQ")
    assert refused.json() == {"response_action": "errors",
                              "errors": {"new_owner": "The new owner cannot be the person who is leaving."}}
    submitted = world.driver.submit_view(view, {"reason": "resignation", "new_owner": "UBOB"}, user_id="UREQ")
    assert submitted.text in ("", "{}"), submitted.text
    eventually(lambda: blocks.APPROVE in world.card_text(), timeout=15, what="the approval card")
    assert LEAVER in world.card_text()
    world.posthog.throttle(1, times=1)  # PostHog answers the removal's first call with a 429
    ack = world.driver.click(world.card(), blocks.APPROVE, user_id="UAPP1", channel_id=APPROVALS)
    assert ack.status_code == 200
    eventually(lambda: approved_and_removed(world), timeout=20, what="alice removed and the card approved")
    assert world.posthog.delete_count(LEAVER) == 1
    assert all(e.acked.is_set() for e in world.socket.envelopes())
    assert world.socket.unknown_acks == []

    # What the health port's /metrics says about it.
    # Waiting for the request to settle too: the removal is verified a moment before the request's status moves.
    figures = eventually(lambda: _settled(_verified(metrics(world))), timeout=20,
                         what="the verified removal and the request waiting for its checklist in /metrics")
    assert figures[("offboard_vendor_throttled_total", (("tool", "posthog"),))] == 1
    assert sum(v for (name, labels), v in figures.items() if name == "offboard_vendor_call_seconds_count"
               and ("tool", "posthog") in labels) >= 3
    # One ack timed per delivery: a command, two submissions and a click (more if a slow machine made the
    # stand-in deliver one again).
    for kind, least in (("slash_commands", 1), ("interactive", 3)):
        sent = sum(len(e.sent) for e in world.socket.envelopes(kind))
        assert sent >= least and figures[("offboard_socket_ack_seconds_count", (("type", kind),))] == sent
    assert figures[("offboard_cards_owed", ())] == 0
    assert figures[("offboard_requests", (("status", "awaiting_manual"),))] == 1
    assert figures[("offboard_steps", (("kind", "verify_removed"), ("status", "done"), ("tool", "posthog")))] == 1


def metrics(world: SocketWorld) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{world.bot.base}/metrics", timeout=5).text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _settled(figures: dict[tuple[str, tuple[tuple[str, str], ...]], float] | None) -> dict[
        tuple[str, tuple[tuple[str, str], ...]], float] | None:
    waiting = (figures or {}).get(("offboard_requests", (("status", "awaiting_manual"),)), 0)
    return figures if waiting == 1 else None


def _verified(figures: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[
        tuple[str, tuple[tuple[str, str], ...]], float] | None:
    done = figures.get(("offboard_request_to_verified_removal_seconds_count", ()), 0)
    return figures if done == 1 else None


def test_a_redelivered_approval_acts_once(socket_world: SocketWorld) -> None:
    world = socket_world
    open_request(world)
    first = world.driver.click(world.card(), blocks.APPROVE, user_id="UAPP1", channel_id=APPROVALS)
    # Slack sends the envelope again (its ack was late): same payload, a retry_attempt and retry_reason.
    again = world.socket.deliver("interactive", first.envelope.payload)
    assert again.acked.is_set()
    retried = world.socket.deliver("interactive", first.envelope.payload, wait=False)
    eventually(lambda: retried.acked.is_set(), what="the third delivery's ack")
    eventually(lambda: approved_and_removed(world), timeout=20, what="the removal")
    assert world.posthog.delete_count(LEAVER) == 1
    assert world.card_text().count("Approved by <@UAPP1>") == 1


def test_a_late_ack_is_redelivered_with_retry_fields_and_acted_on_once(socket_world: SocketWorld) -> None:
    world = socket_world
    # The bot's first ack never reaches Slack: Slack delivers the command again, saying so.
    ack = world.driver.slash_command("/offboard", LEAVER, user_id="UREQ", lose_acks=1)
    assert ack.status_code == 200
    first, second = ack.envelope.sent
    assert "retry_attempt" not in first
    assert (second["retry_attempt"], second["retry_reason"]) == (1, "timeout")
    assert second["envelope_id"] == first["envelope_id"] and second["payload"] == first["payload"]
    world.slack.wait_for("views.open", timeout=10)
    # Both deliveries were acked; the modal opened once. (The command's modal is opened in the ack's wake, so
    # give a second one the time it would need to show up before counting.)
    eventually(lambda: world.socket.envelopes("slash_commands")[0].acked.is_set(), what="the ack")
    submitted = world.driver.submit_view(world.slack.calls("views.open")[0].params["view"],
                                         {"reason": "resignation", "new_owner": "UBOB"}, user_id="UREQ")
    assert submitted.status_code == 200
    eventually(lambda: blocks.APPROVE in world.card_text(), timeout=15, what="the approval card")
    assert len(world.slack.calls("views.open")) == 1


@pytest.mark.parametrize("reason", ["refresh_requested", "link_disabled", "warning"])
def test_a_disconnect_in_the_middle_of_a_request_loses_nothing(socket_world: SocketWorld, reason: str) -> None:
    world = socket_world
    opened_before = world.socket.connections_opened
    # The command goes out, Slack asks the client to reconnect, and the ack is lost with the old connection.
    command = world.driver.slash_command("/offboard", LEAVER, user_id="UREQ", wait=False, lose_acks=1).envelope
    eventually(lambda: command.sent, what="the command on the wire")
    world.socket.disconnect(reason)
    eventually(lambda: command.acked.is_set(), timeout=15, what="the command's ack")
    world.socket.wait_connected(opened_before + 1)  # the client opened a new connection
    assert command.sent_on[0] == opened_before and command.sent_on[-1] == opened_before + 1  # delivered again there
    view = world.slack.wait_for("views.open", timeout=10).params["view"]
    submitted = world.driver.submit_view(view, {"reason": "resignation", "new_owner": "UBOB"}, user_id="UREQ")
    assert submitted.status_code == 200
    eventually(lambda: blocks.APPROVE in world.card_text(), timeout=15, what="the approval card")
    assert len(world.slack.calls("views.open")) == 1 and len(world.slack.messages(APPROVALS)) == 1


def test_sigterm_stops_gracefully_with_exit_0(socket_world: SocketWorld) -> None:
    world = socket_world
    open_request(world)
    world.driver.click(world.card(), blocks.APPROVE, user_id="UAPP1", channel_id=APPROVALS)
    world.bot.stop()  # SIGTERM right after the approval was acked
    assert world.bot.process is not None and world.bot.process.returncode == 0
    # What was acked was finished before the exit, and the connection was closed, not dropped mid-way.
    assert approved_and_removed(world)
    eventually(lambda: world.socket.live_connections == 0, what="the stand-in to see the connection closed")
    assert not [e for e in world.socket.envelopes() if not e.acked.is_set()]


def test_health_and_readiness_in_socket_mode(socket_world: SocketWorld) -> None:
    # An Events API event is acknowledged at once, whether or not a listener takes it.
    event = socket_world.driver.event({"type": "app_home_opened", "user": "UREQ", "tab": "home"})
    assert event.envelope.attempts == 1 and event.envelope.ack_payload is None
    base = socket_world.bot.base
    assert httpx.get(f"{base}/healthz", timeout=5).text == "ok"
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.text == "ready"
    socket_world.slack.token = "xoxb-revoked"  # Slack no longer accepts the bot token
    eventually(lambda: httpx.get(f"{base}/readyz", timeout=5).status_code == 503, timeout=15, what="not ready")
    assert "Slack refused the bot token (auth.test: invalid_auth)" in httpx.get(f"{base}/readyz", timeout=5).text
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200  # alive still: nothing to restart


def test_a_refused_app_token_is_one_line_and_exit_1(tmp_path: Path, database_url: str) -> None:
    with SlackStandIn() as slack, PostHogSandbox() as posthog, SocketModeStandIn(slack):
        env = {**os.environ, **_env(slack, posthog, database_url), "SLACK_APP_TOKEN": "xapp-not-this-app"}
        result = subprocess.run([sys.executable, "-m", "bot.cli.main", "serve"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Slack refused SLACK_APP_TOKEN (apps.connections.open: invalid_auth)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
