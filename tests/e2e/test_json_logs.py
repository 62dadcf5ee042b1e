"""OFFBOARD_LOG_FORMAT=json while a real request runs: one JSON object per line, the request id, tool and step
on the lines about a step, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.demo.localrun import APPROVER, BOT_TOKEN, LocalWorld
from bot.offboarding.slack import blocks
from bot.runtime.log_format import REDACTED, configure
from storage.models import RequestStatus
from tests.e2e.conftest import click, open_request, wait_for_status
from vendors.sandbox.posthog import SANDBOX_API_KEY


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    written = io.StringIO()
    configure(logging.INFO, "json", secrets=[SANDBOX_API_KEY, BOT_TOKEN], stream=written)
    try:
        yield written
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_step_lines_carry_request_tool_and_step_and_no_secret(world: LocalWorld, json_log: io.StringIO) -> None:
    request_id = open_request(world, "alice@corp.com", new_owner="UBOB")
    world.posthog.throttle(1, times=1)  # the removal's first call is throttled: offboard logs its retry
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL, timeout=20)
    logging.getLogger("offboard.test").warning("a token %s and a header Authorization: Bearer %s",
                                               BOT_TOKEN, SANDBOX_API_KEY)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]  # each line one JSON object
    retries = [line for line in lines if "retrying" in line["message"]]
    assert retries, "the throttled call was logged"
    assert retries[0]["request_id"] == request_id and retries[0]["tool"] == "posthog"
    assert retries[0]["step"] and retries[0]["level"] == "info"
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    written = json_log.getvalue()
    assert BOT_TOKEN not in written and SANDBOX_API_KEY not in written
    assert lines[-1]["message"] == f"a token {REDACTED} and a header Authorization: Bearer {REDACTED}"
    assert "request_id" not in lines[-1]  # a line about no request says none


def test_an_exception_s_text_is_redacted_too(json_log: io.StringIO) -> None:
    try:
        raise RuntimeError(f"Slack said no to {BOT_TOKEN} (xapp-1-A1-2-abcdef)")
    except RuntimeError:
        logging.getLogger("offboard.test").exception("posting failed")
    line = json.loads(json_log.getvalue().splitlines()[-1])
    assert line["message"] == "posting failed"
    assert "RuntimeError: Slack said no to [redacted] ([redacted])" in line["exception"]
