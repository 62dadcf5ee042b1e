"""`offboard serve` on storage it cannot write — a read-only file system, a full disk — says so in one line
and exits 2, as an operator needs it, instead of a traceback. Both are real: a small tmpfs mounted for the
test (the tests run as root, for whom a file's mode bits stop nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.db import Database

SETTINGS = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "secret", "OFFBOARD_APPROVALS_CHANNEL": "C1",
            "OFFBOARD_APPROVERS": "U1", "OFFBOARD_MANUAL_VENDORS": "posthog", "OFFBOARD_HOST": "127.0.0.1",
            "OFFBOARD_PORT": "0", "SLACK_API_URL": "http://127.0.0.1:9/api/"}


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def serve(database: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **SETTINGS, "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("SLACK_APP_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot.cli.main", "serve"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def said(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What serve said, less the log lines of the migrations it started."""
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and " INFO " not in line]


def test_serve_on_a_read_only_file_system_says_so_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m") as folder:
        database = folder / "offboard.db"
        made = Database(f"sqlite:///{database}")
        made.migrate()
        made.dispose()
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        result = serve(database, tmp_path)
    assert result.returncode == 2, result
    assert len(said(result)) == 1 and "Traceback" not in result.stderr, said(result)
    assert said(result)[0].startswith("offboard cannot start: the database at") and "is read-only" in said(result)[0]


def test_serve_on_a_full_disk_says_so_in_one_line(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "48k") as folder:  # less than the schema needs
        result = serve(folder / "offboard.db", tmp_path)
    assert result.returncode == 2, result
    assert len(said(result)) == 1 and "Traceback" not in result.stderr, said(result)
    assert "offboard cannot start: the disk holding the database" in said(result)[0] and "is full" in said(result)[0]
