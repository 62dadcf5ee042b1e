"""`offboard sweep --dry-run` prints the findings against a real PostHog sandbox (configured the way an admin
configures the bot) and a members export for a manual-only vendor, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from storage.db import Database
from storage.models import AuditEvent, SweepRun
from vendors.sandbox.posthog import SANDBOX_API_KEY, PostHogSandbox


@pytest.fixture
def posthog() -> Iterator[PostHogSandbox]:
    sandbox = PostHogSandbox(seed=False)
    sandbox.start()
    now = sandbox.now
    sandbox.add_member("dave@corp.com", first_name="Dave", joined_at=now - timedelta(days=500),
                       last_login=now - timedelta(days=120))
    sandbox.add_member("alice@corp.com", joined_at=now - timedelta(days=500), last_login=now - timedelta(days=3))
    yield sandbox
    sandbox.stop()


def test_dry_run_prints_findings_and_unjudged_vendors_and_changes_nothing(
    posthog: PostHogSandbox, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "DATABASE_URL": database_url,
           "OFFBOARD_MANUAL_VENDORS": "mixpanel,kissmetrics", "COLUMNS": "200"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    export = tmp_path / "mixpanel.csv"
    export.write_text("Email,Last login\nmia@corp.com,2020-01-01\nmo@corp.com,Never\n")

    result = CliRunner().invoke(cli, ["sweep", "--dry-run", "--export", f"mixpanel={export}"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "dave@corp.com" in out and "120 days ago" in out and "alice@corp.com" not in out
    assert "mia@corp.com" in out and "mo@corp.com" in out and "export" in out
    assert "Kissmetrics could not be judged" in out and "--export kissmetrics=members.csv" in out
    assert "dry run, nothing was changed" in out
    database = Database(database_url)
    with database.session() as session:
        assert not list(session.exec(select(SweepRun))) and not list(session.exec(select(AuditEvent)))
    database.dispose()
    assert posthog.requests("DELETE") == [] and posthog.requests("PATCH") == []


def test_a_wrong_export_option_exits_2(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFBOARD_MANUAL_VENDORS", "mixpanel")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["sweep", "--dry-run", "--export", "amplitude=nope.csv"])
    assert result.exit_code == 2 and "configured tool" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("Name\nx\n")
    result = CliRunner().invoke(cli, ["sweep", "--dry-run", "--export", f"mixpanel={bad}"])
    assert result.exit_code == 2
    assert "neither an email nor a last-login column" in " ".join(result.output.split())
