"""Health and readiness over real HTTP: a real database file, the Slack stand-in on loopback."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient

from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn
from bot.runtime.health import HealthServer, Readiness
from storage.db import Database


def test_ready_when_the_database_is_migrated_and_slack_takes_the_token(database_url: str) -> None:
    Database(database_url).migrate()
    with SlackStandIn() as slack:
        readiness = Readiness(database_url, WebClient(token=DEFAULT_TOKEN, base_url=f"{slack.url}/api/"))
        health = HealthServer(readiness).start()
        try:
            assert httpx.get(f"{health.url}/healthz").text == "ok"
            ready = httpx.get(f"{health.url}/readyz")
            assert (ready.status_code, ready.text) == (200, "ready")
            assert httpx.get(f"{health.url}/nothing").status_code == 404
        finally:
            health.stop()


def test_not_ready_names_each_problem_on_its_own_line(empty_database_url: str) -> None:
    with SlackStandIn() as slack:
        readiness = Readiness(empty_database_url, WebClient(token="xoxb-wrong", base_url=f"{slack.url}/api/"))
        health = HealthServer(readiness).start()
        try:
            answer = httpx.get(f"{health.url}/readyz")
            lines = answer.text.strip().splitlines()
            assert answer.status_code == 503
            assert len(lines) == 2
            assert "offboard db upgrade" in lines[0]  # no schema (or no file) yet
            assert lines[1] == "Slack refused the bot token (auth.test: invalid_auth)"
            assert httpx.get(f"{health.url}/healthz").status_code == 200  # alive: nothing to restart
        finally:
            health.stop()


def test_readiness_is_checked_at_most_once_per_interval(database_url: str) -> None:
    Database(database_url).migrate()
    now = [0.0]
    with SlackStandIn() as slack:
        readiness = Readiness(database_url, WebClient(token=DEFAULT_TOKEN, base_url=f"{slack.url}/api/"),
                              cache_seconds=5, clock=lambda: now[0])
        for _ in range(3):
            assert readiness.problems() == []
        assert len(slack.calls("auth.test")) == 1
        now[0] = 5.0
        readiness.problems()
        assert len(slack.calls("auth.test")) == 2
