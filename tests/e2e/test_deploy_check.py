"""`offboard check` as an admin runs it before a deploy: configured only by settings, against the Slack
stand-in, the Kissmetrics and PostHog sandboxes and a real database, all on loopback. It reports one line per
problem, saying what to do, exits 0 / 1 / 2, changes nothing anywhere and never prints a secret."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.demo.standin.slack_api import DEFAULT_SCOPES, DEFAULT_TOKEN, SlackStandIn
from bot.runtime.config import Settings
from storage.db import Database, head_revision
from vendors.sandbox.kissmetrics import SANDBOX_API_KEY as KISSMETRICS_KEY
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.posthog import SANDBOX_API_KEY as POSTHOG_KEY
from vendors.sandbox.posthog import PostHogSandbox

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "signing-secret-never-shown"
WRONG_TOKEN = "xoxb-wrong-token-never-shown"
WRONG_KISSMETRICS_KEY = "km_wrong_key_never_shown_0123456789"
DB_PASSWORD = "db-password-never-shown"
SECRETS = (DEFAULT_TOKEN, SIGNING_SECRET, WRONG_TOKEN, KISSMETRICS_KEY, WRONG_KISSMETRICS_KEY, POSTHOG_KEY, DB_PASSWORD)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[SlackStandIn, KissmetricsSandbox, PostHogSandbox]]:
    with SlackStandIn() as slack, KissmetricsSandbox() as kissmetrics, PostHogSandbox() as posthog:
        assert isinstance(slack, SlackStandIn) and isinstance(kissmetrics, KissmetricsSandbox)
        assert isinstance(posthog, PostHogSandbox)
        yield slack, kissmetrics, posthog


@pytest.fixture
def slack(servers: tuple[SlackStandIn, KissmetricsSandbox, PostHogSandbox]) -> SlackStandIn:
    standin = servers[0]
    standin.reset()
    standin.set_scopes(DEFAULT_SCOPES)
    standin.channels.clear()
    return standin


@pytest.fixture
def kissmetrics(servers: tuple[SlackStandIn, KissmetricsSandbox, PostHogSandbox]) -> KissmetricsSandbox:
    servers[1].reset()
    return servers[1]


@pytest.fixture
def posthog(servers: tuple[SlackStandIn, KissmetricsSandbox, PostHogSandbox]) -> PostHogSandbox:
    servers[2].reset()
    return servers[2]


@pytest.fixture
def settings(slack: SlackStandIn, kissmetrics: KissmetricsSandbox, db: Database) -> dict[str, str]:
    """A deployment with nothing wrong: Kissmetrics through its API, Mixpanel worked by hand, three channels."""
    return {
        "SLACK_BOT_TOKEN": DEFAULT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url + "/api/",
        "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_NOTIFY_CHANNEL": "CNOTIFY",
        "OFFBOARD_SECURITY_CHANNEL": "GSECURITY", "OFFBOARD_ADMIN_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1",
        "DATABASE_URL": db.url, "KISSMETRICS_API_KEY": KISSMETRICS_KEY, "KISSMETRICS_API_URL": kissmetrics.url,
        "OFFBOARD_MANUAL_VENDORS": "mixpanel",
    }


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting leaks in from the machine running the tests, and no stray .env is read."""
    for name in [*_setting_names(), "OFFBOARD_ENV_FILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    return monkeypatch


def _setting_names() -> list[str]:
    names = []
    for field in Settings.model_fields.values():
        names += [str(choice) for choice in getattr(field.validation_alias, "choices", [])]
    return names


def check(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], **changes: str) -> tuple[int, str]:
    for name, value in {**settings, **changes}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, ["check"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    output = result.output
    for secret in SECRETS:
        assert secret not in output
    return result.exit_code, output


def problem_lines(output: str) -> list[str]:
    return [line.removeprefix("✗ ") for line in output.splitlines() if line.startswith("✗ ")]


def test_all_good_in_a_real_process_exits_0_and_touches_nothing(
    settings: dict[str, str], slack: SlackStandIn, kissmetrics: KissmetricsSandbox, tmp_path: Path
) -> None:
    env_file = tmp_path / "offboard.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    environment = {k: v for k, v in os.environ.items() if k not in _setting_names() and k != "OFFBOARD_ENV_FILE"}
    done = subprocess.run([sys.executable, "-m", "bot.cli.main", "check", "--env-file", str(env_file)], cwd=tmp_path,
                          env={**environment, "COLUMNS": "300"}, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert problem_lines(output) == []
    assert f"All good: Slack (the bot token, {len(DEFAULT_SCOPES)} scopes, the bot in 3 channel(s))" in output
    assert f"the database (at migration {head_revision()})" in output and "Kissmetrics" in output
    assert "Mixpanel is worked by hand (offboard does not call it): nothing to check" in output
    for secret in SECRETS:
        assert secret not in output
    # Read-only: Slack was asked who the bot is and about each channel once; Kissmetrics got one read.
    assert sorted(c.method for c in slack.calls()) == ["auth.test", *["conversations.info"] * 3]
    assert {c.params["channel"] for c in slack.calls("conversations.info")} == {"CAPPROVALS", "CNOTIFY", "GSECURITY"}
    assert [method for method, _ in kissmetrics.requests()] == ["GET"]


def test_a_bad_slack_token_is_one_line_saying_which_setting(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    code, output = check(clean_environment, settings, SLACK_BOT_TOKEN=WRONG_TOKEN)
    assert code == 1, output
    [line] = problem_lines(output)
    assert line.startswith("Slack refused SLACK_BOT_TOKEN (invalid_auth)") and "Bot User OAuth Token" in line
    assert slack.calls("conversations.info") == []  # nothing more to learn with a token Slack refuses
    assert "1 problem: fix it and run `offboard check` again." in output


def test_a_missing_scope_is_named_with_how_to_grant_it(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    slack.set_scopes([s for s in DEFAULT_SCOPES if s not in ("files:read", "usergroups:read")])
    code, output = check(clean_environment, settings)
    assert code == 1, output
    lines = problem_lines(output)
    assert len(lines) == 2
    assert lines[0].startswith("The bot token lacks the usergroups:read scope that manifest.yml declares")
    assert lines[1].startswith("The bot token lacks the files:read scope") and "reinstall the app" in lines[1]


def test_without_channels_read_membership_is_unknown_not_passed(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    slack.set_scopes([s for s in DEFAULT_SCOPES if s != "channels:read"])
    code, output = check(clean_environment, settings)
    assert code == 1, output
    lines = problem_lines(output)
    assert lines[0].startswith("The bot token lacks the channels:read scope")
    unknown = [line for line in lines if line.startswith("Cannot tell whether the bot is in")]
    assert len(unknown) == 2  # the public channels; the private one needs groups:read, which it has
    assert "CAPPROVALS (OFFBOARD_APPROVALS_CHANNEL, OFFBOARD_ADMIN_CHANNEL)" in unknown[0]
    assert "CNOTIFY (OFFBOARD_NOTIFY_CHANNEL)" in unknown[1] and "lacks channels:read" in unknown[1]
    assert "All good" not in output


def test_the_bot_outside_a_configured_channel(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    slack.set_channel("CNOTIFY", name="offboarding-news", member=False)
    slack.set_channel("GSECURITY", member=False)  # a private channel the bot is not in: Slack hides it
    code, output = check(clean_environment, settings)
    assert code == 1, output
    lines = problem_lines(output)
    assert lines == [
        "The bot is not in the channel #offboarding-news CNOTIFY (OFFBOARD_NOTIFY_CHANNEL), so it cannot post "
        "there: invite the bot with /invite @offboard in that channel",
        "Slack shows the bot no channel GSECURITY (OFFBOARD_SECURITY_CHANNEL): set the channel's id (C…, at the "
        "bottom of the channel's details), not its name; if the channel is private, invite the bot with "
        "/invite @offboard in that channel",
    ]


def test_bad_vendor_keys_are_named_and_a_good_posthog_key_passes(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], kissmetrics: KissmetricsSandbox,
    posthog: PostHogSandbox,
) -> None:
    code, output = check(clean_environment, settings, KISSMETRICS_API_KEY=WRONG_KISSMETRICS_KEY,
                         POSTHOG_API_KEY=POSTHOG_KEY, POSTHOG_HOST=posthog.url)
    assert code == 1, output
    lines = problem_lines(output)
    assert len(lines) == 1, lines  # the sandbox's owner key with every scope: PostHog has nothing to report
    assert "Kissmetrics rejected the credentials" in lines[0] and "Check KISSMETRICS_API_KEY" in lines[0]
    assert posthog.requests() and all(method == "GET" for method, _ in posthog.requests())  # a check changes nothing

    code, output = check(clean_environment, settings, POSTHOG_API_KEY="phx_not_a_key", POSTHOG_HOST=posthog.url)
    assert code == 1, output
    lines = problem_lines(output)
    assert len(lines) == 1 and lines[0].startswith("PostHog: POSTHOG_API_KEY is not a valid personal API key"), lines
    assert "phx_not_a_key" not in output


def test_an_unreachable_database(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql+psycopg://offboard:{DB_PASSWORD}@127.0.0.1:{port}/offboard"
    code, output = check(clean_environment, settings, DATABASE_URL=url)
    assert code == 1, output
    [line] = problem_lines(output)
    assert line.startswith(f"Cannot reach the database at postgresql+psycopg://offboard:***@127.0.0.1:{port}/offboard")
    assert "check DATABASE_URL" in line
    assert slack.calls("auth.test")  # the other checks still ran


def test_a_database_not_yet_made_or_migrated_is_left_as_it_is(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], empty_database_url: str, tmp_path: Path
) -> None:
    code, output = check(clean_environment, settings, DATABASE_URL=empty_database_url)
    assert code == 1, output
    [line] = problem_lines(output)
    assert "run `offboard db upgrade`" in line
    database = Database(empty_database_url)
    try:
        assert database.schema_revision() is None  # still nothing: the check never migrates
    finally:
        database.dispose()
    missing = tmp_path / "nowhere" / "offboard.db"
    code, output = check(clean_environment, settings, DATABASE_URL=f"sqlite:///{missing}")
    assert code == 1 and f"its folder {missing.parent} does not exist" in output
    assert not missing.parent.exists()


@pytest.mark.parametrize(("name", "value", "said"), [
    ("OFFBOARD_LEASE_SECONDS", "-1", "OFFBOARD_LEASE_SECONDS: Input should be greater than 0"),
    ("DATABASE_URL", "not a database url", "DATABASE_URL is not a database URL offboard can use"),
    ("OFFBOARD_MANUAL_VENDORS", "mixpanel,tableau", "OFFBOARD_MANUAL_VENDORS names unknown vendor(s) tableau"),
    ("POSTHOG_HOST", "ftp://posthog.corp.com", "PostHog host 'ftp://posthog.corp.com' is not 'us', 'eu'"),
])
def test_a_malformed_setting_exits_2_before_checking_anything(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn, name: str, value: str,
    said: str,
) -> None:
    code, output = check(clean_environment, settings, POSTHOG_API_KEY=POSTHOG_KEY, **{name: value})
    assert code == 2, output
    assert said in " ".join(output.split())
    assert slack.calls() == []


def test_slack_out_of_reach_is_one_line_naming_the_setting(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, output = check(clean_environment, settings, SLACK_API_URL=f"http://127.0.0.1:{port}/api/")
    assert code == 1, output
    [line] = problem_lines(output)
    assert line.startswith(f"Cannot reach Slack at http://127.0.0.1:{port}/api/ (auth.test") and "SLACK_API_URL" in line


def test_an_archived_channel_is_named(
    clean_environment: pytest.MonkeyPatch, settings: dict[str, str], slack: SlackStandIn
) -> None:
    slack.set_channel("CAPPROVALS", name="offboarding", archived=True)
    code, output = check(clean_environment, settings)
    assert code == 1, output
    assert problem_lines(output) == [
        "The channel #offboarding CAPPROVALS (OFFBOARD_APPROVALS_CHANNEL, OFFBOARD_ADMIN_CHANNEL) is archived: "
        "unarchive it or name another channel there"]
