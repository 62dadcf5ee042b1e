"""`offboard serve` as an admin runs it: a separate process configured only by environment
variables, answering Slack's signed requests over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.demo.served import ServedBot, free_port
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from tests.e2e.conftest import eventually
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[tuple[str, SlackStandIn, ServedBot]]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{slack.url}/api/",
            "DATABASE_URL": database_url,
            "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS",
            "OFFBOARD_APPROVERS": "UAPP1",
            "POSTHOG_API_KEY": SANDBOX_API_KEY,
            "POSTHOG_HOST": posthog.url,
            "POSTHOG_ORG_ID": ORG_ID,
            "OFFBOARD_HEALTH_PORT": str(free_port()),
        }
        bot = ServedBot(env, tmp_path).start()
        try:
            yield bot.base, slack, bot
        finally:
            bot.stop()


def test_serve_answers_signed_slack_requests_and_refuses_forged_ones(
    served: tuple[str, SlackStandIn, ServedBot],
) -> None:
    base, slack, _process = served
    driver = SlackDriver(f"{base}/slack/events", SIGNING_SECRET, slack)
    assert driver.slash_command("/offboard", "alice@corp.com", user_id="UREQ").status_code == 200
    view = slack.wait_for("views.open", timeout=10).params["view"]
    assert view["callback_id"] == "offboard_request"
    assert driver.slash_command("/offboard", "alice@corp.com", user_id="UREQ", forge=True).status_code == 401


def test_serve_answers_health_and_readiness_on_its_port(served: tuple[str, SlackStandIn, ServedBot]) -> None:
    base, slack, _process = served
    assert httpx.get(f"{base}/healthz", timeout=5).text == "ok"
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert (ready.status_code, ready.text) == (200, "ready")
    slack.token = "xoxb-revoked"  # Slack stops accepting the bot token
    eventually(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 503, timeout=15, what="not ready")
    assert "Slack refused the bot token (auth.test: invalid_auth)" in httpx.get(f"{base}/readyz", timeout=10).text
    assert httpx.get(f"{base}/healthz", timeout=5).text == "ok"


def test_serve_in_http_mode_has_metrics_on_the_health_port(served: tuple[str, SlackStandIn, ServedBot]) -> None:
    base, slack, bot = served
    driver = SlackDriver(f"{base}/slack/events", SIGNING_SECRET, slack)
    driver.slash_command("/offboard", "alice@corp.com", user_id="UREQ")
    view = slack.wait_for("views.open", timeout=10).params["view"]
    assert driver.submit_view(view, {"reason": "resignation", "new_owner": "UBOB"}, user_id="UREQ").status_code == 200
    health = f"http://127.0.0.1:{bot.env['OFFBOARD_HEALTH_PORT']}"
    assert httpx.get(f"{health}/healthz", timeout=5).text == "ok"

    def waiting() -> bool:
        text = httpx.get(f"{health}/metrics", timeout=5).text
        return 'offboard_requests{status="pending_approval"} 1.0' in text and "offboard_vendor_call_seconds" in text

    eventually(waiting, timeout=15, what="the request waiting for approval in /metrics")


def ack_counts(health: str) -> dict[str, float]:
    """offboard_http_ack_seconds' count by kind, as a scrape of /metrics reads it."""
    text = httpx.get(f"{health}/metrics", timeout=5).text
    return {sample.labels["kind"]: sample.value for family in text_string_to_metric_families(text)
            if family.name == "offboard_http_ack_seconds" for sample in family.samples
            if sample.name == "offboard_http_ack_seconds_count"}


def test_the_fronts_ack_times_are_in_the_bots_metrics(served: tuple[str, SlackStandIn, ServedBot]) -> None:
    base, slack, bot = served
    health = f"http://127.0.0.1:{bot.env['OFFBOARD_HEALTH_PORT']}"
    assert ack_counts(health) == {}  # the start-up health checks are no Slack acks
    driver = SlackDriver(f"{base}/slack/events", SIGNING_SECRET, slack)
    assert driver.slash_command("/offboard", "help", user_id="UREQ").status_code == 200
    assert eventually(lambda: ack_counts(health).get("command") == 1.0, timeout=10, what="the command's ack")
    assert driver.slash_command("/offboard", "help", user_id="UREQ", forge=True).status_code == 401
    eventually(lambda: ack_counts(health).get("refused") == 1.0, timeout=10, what="the refusal's ack")
    assert ack_counts(health) == {"command": 1.0, "refused": 1.0}


def test_the_front_logs_json_lines_without_secrets(tmp_path: Path, database_url: str) -> None:
    log_path = tmp_path / "serve.log"
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": f"{slack.url}/api/", "DATABASE_URL": database_url,
               "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1",
               "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID,
               "OFFBOARD_LOG_FORMAT": "json"}
        bot = ServedBot(env, tmp_path, log_path=log_path).start()
        try:
            driver = SlackDriver(bot.events_url, SIGNING_SECRET, slack)
            assert driver.slash_command("/offboard", "help", user_id="UREQ", forge=True).status_code == 401
            assert driver.send("payload=%7Bnot+json").status_code == 400  # signed, but no body Slack sends
        finally:
            bot.stop()
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is one JSON object
    assert all(isinstance(line, dict) for line in lines)
    from_front = [(line["level"], line["message"]) for line in lines if line["logger"] == "bot.runtime.front"]
    assert ("info", "refused a Slack request with a missing, stale or wrong signature") in from_front
    assert ("warning", "refused a signed Slack request: the payload is not JSON") in from_front
    assert SIGNING_SECRET not in text and BOT_TOKEN not in text
