"""`offboard serve` as an admin runs it: a separate process configured only by environment
variables, answering Slack's signed requests over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.standin.driver import SlackDriver
from bot.standin.slack_api import SlackStandIn
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, SlackStandIn, subprocess.Popen[bytes]]]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        port = free_port()
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{slack.url}/api/",
            "OFFBOARD_HOST": "127.0.0.1",
            "OFFBOARD_PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
            "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS",
            "OFFBOARD_APPROVERS": "UAPP1",
            "POSTHOG_API_KEY": SANDBOX_API_KEY,
            "POSTHOG_HOST": posthog.url,
            "POSTHOG_ORG_ID": ORG_ID,
        }
        env.pop("SLACK_APP_TOKEN", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).text == "ok":
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"offboard serve did not come up:\n{output}")
                time.sleep(0.1)
            yield base, slack, process
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_serve_answers_signed_slack_requests_and_refuses_forged_ones(
    served: tuple[str, SlackStandIn, subprocess.Popen[bytes]],
) -> None:
    base, slack, _process = served
    driver = SlackDriver(f"{base}/slack/events", SIGNING_SECRET, slack)
    assert driver.slash_command("/offboard", "alice@corp.com", user_id="UREQ").status_code == 200
    view = slack.wait_for("views.open", timeout=10).params["view"]
    assert view["callback_id"] == "offboard_request"
    assert driver.slash_command("/offboard", "alice@corp.com", user_id="UREQ", forge=True).status_code == 401
