"""Settings as a deployment hands them over: environment, `NAME_FILE`, a secrets directory; and what every
command does when one cannot be read (one line per problem, exit status 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.runtime.config import SettingsProblems, load_settings

SECRET = "xoxb-secret-from-a-file"


def run_offboard(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OFFBOARD_"))}
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [["serve"], ["audit", "verify"], ["db", "upgrade"], ["db", "status"],
                                     ["sweep", "--dry-run"]])
def test_a_malformed_setting_gets_one_line_per_problem_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    env = {"OFFBOARD_INACTIVE_DAYS": "abc", "OFFBOARD_REMINDER_HOURS": "4,x",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'offboard.db'}", "SLACK_BOT_TOKEN": SECRET}
    result = run_offboard(*command, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and SECRET not in result.stderr + result.stdout
    problems = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    assert problems == [
        "OFFBOARD_INACTIVE_DAYS='abc': Input should be a valid integer, unable to parse string as an integer",
        "OFFBOARD_REMINDER_HOURS='4,x': could not convert string to float: 'x'",
    ]


@pytest.mark.parametrize("command", [["audit", "verify"], ["audit", "purge", "--dry-run"], ["db", "status"],
                                     ["sweep", "--dry-run"], ["audit", "show", "1"]])
def test_an_unreachable_database_is_one_line_in_every_command(tmp_path: Path, command: list[str]) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    env = {"DATABASE_URL": "postgresql+psycopg://offboard:db-secret@127.0.0.1:1/offboard", "SLACK_BOT_TOKEN": SECRET}
    result = run_offboard(*command, cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and "db-secret" not in output and SECRET not in output
    assert len(output.strip().splitlines()) <= 3, output
    assert "Connection refused" in " ".join(output.split()), output


def test_version(tmp_path: Path) -> None:
    result = run_offboard("--version", cwd=tmp_path, env={})
    assert (result.returncode, result.stdout.strip()) == (0, f"offboard {version('offboard')}")


def test_secrets_come_from_name_file_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "slack_bot_token"
    token.write_text(SECRET + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN_FILE", str(token))
    monkeypatch.setenv("POSTHOG_API_KEY_FILE", str(token))
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == SECRET  # the trailing newline is not part of it
    assert settings.posthog_api_key.get_secret_value() == SECRET
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    assert load_settings().slack_bot_token.get_secret_value() == "xoxb-from-the-environment"


def test_an_unreadable_secret_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_SIGNING_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsProblems) as raised:
        load_settings()
    assert raised.value.lines == [f"SLACK_SIGNING_SECRET_FILE: cannot read {tmp_path / 'missing'} "
                                  "(No such file or directory)"]


def test_settings_come_from_a_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "slack_bot_token").write_text(SECRET)
    (secrets / "OFFBOARD_APPROVALS_CHANNEL").write_text("CAPPROVALS")
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "OFFBOARD_APPROVALS_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OFFBOARD_SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.slack_bot_token.get_secret_value() == SECRET
    assert settings.approvals_channel == "CAPPROVALS"
    monkeypatch.setenv("OFFBOARD_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsProblems) as raised:
        load_settings()
    assert raised.value.lines == [f"OFFBOARD_SECRETS_DIR: {tmp_path / 'nowhere'} is not a directory"]
