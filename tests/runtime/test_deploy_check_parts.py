"""The parts of `offboard check` the end-to-end tests do not reach: every channel setting is checked, Slack
answers without the scopes header, and a database behind or ahead of this offboard's migrations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from sqlalchemy import text

from bot.runtime import slack_check
from bot.runtime.config import Settings
from bot.runtime.database_check import database_problems
from bot.runtime.deploy_check import run_check
from storage.db import Database, head_revision
from vendors.base import Capability
from vendors.sandbox.server import LoopbackServer, Request, Response


def test_every_channel_setting_is_one_the_check_looks_at() -> None:
    channel_fields = {name for name in Settings.model_fields if name.endswith("_channel")}
    assert channel_fields == set(slack_check.CHANNEL_FIELDS)


def test_channels_named_by_several_settings_are_asked_about_once() -> None:
    settings = Settings(_env_file=None, OFFBOARD_APPROVALS_CHANNEL="C1", OFFBOARD_ADMIN_CHANNEL="C1",
                        OFFBOARD_NOTIFY_CHANNEL=" C2 ")
    assert slack_check.posting_channels(settings) == {
        "C1": ["OFFBOARD_APPROVALS_CHANNEL", "OFFBOARD_ADMIN_CHANNEL"], "C2": ["OFFBOARD_NOTIFY_CHANNEL"]}


def test_the_scopes_header_is_read_in_any_letter_case() -> None:
    assert slack_check.granted_scopes({"X-OAuth-Scopes": "chat:write, commands"}) == {"chat:write", "commands"}
    assert slack_check.granted_scopes({"Content-Type": "application/json"}) is None


class HeaderlessSlack(LoopbackServer):
    """A Web API that answers auth.test for a bot but, like a proxy stripping headers, without x-oauth-scopes."""

    name = "headerless-slack"

    def __init__(self) -> None:
        super().__init__()
        self.route("POST", r"/api/auth\.test", self._auth_test)
        self.route("POST", r"/api/conversations\.info", self._info)

    def _auth_test(self, request: Request) -> Response:
        return Response(200, {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"})

    def _info(self, request: Request) -> Response:
        return Response(200, {"ok": True, "channel": {"id": "C1", "name": "approvals", "is_member": True}})


@pytest.fixture
def headerless() -> Iterator[HeaderlessSlack]:
    with HeaderlessSlack() as server:
        assert isinstance(server, HeaderlessSlack)
        yield server


def test_scopes_slack_does_not_list_are_unknown_not_granted(headerless: HeaderlessSlack) -> None:
    client = WebClient(token="xoxb-1", base_url=headerless.url + "/api/")
    problems = slack_check.slack_problems(client, ["chat:write"], {"C1": ["OFFBOARD_APPROVALS_CHANNEL"]})
    assert problems == ["Slack did not say which scopes the bot token has (no x-oauth-scopes header on auth.test): "
                        "compare OAuth & Permissions → Bot Token Scopes with manifest.yml by hand"]


def _set_revision(db: Database, revision: str) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_a_database_behind_is_told_to_upgrade_and_one_ahead_to_deploy_the_newer_offboard(db: Database) -> None:
    assert database_problems(db.url) == []
    _set_revision(db, "0001")
    [behind] = database_problems(db.url)
    assert f"is at migration 0001; this offboard expects {head_revision()}" in behind
    assert "run `offboard db upgrade`" in behind
    _set_revision(db, "0999")
    [ahead] = database_problems(db.url)
    assert "0999, which this offboard does not know" in ahead and "deploy that newer offboard" in ahead
    assert db.schema_revision() == "0999"  # left as it was


class SurprisingVendor:
    name, label = "posthog", "PostHog"
    capabilities = frozenset({Capability.FIND_MEMBER})
    closed = False

    def check(self) -> list[str]:
        raise RuntimeError("a connector bug")

    def close(self) -> None:
        self.closed = True


def test_a_connector_failing_unexpectedly_is_a_problem_line_and_the_rest_still_runs(db: Database) -> None:
    vendor = SurprisingVendor()
    settings = Settings(_env_file=None, DATABASE_URL=db.url)
    report = run_check(settings, vendors={"posthog": vendor})  # type: ignore[dict-item]
    assert ("PostHog: offboard could not finish checking it (RuntimeError); check its credentials by hand, and run "
            "offboard check again") in report.problems
    assert vendor.closed and f"the database (at migration {head_revision()})" in report.passed
    assert report.exit_code == 1
