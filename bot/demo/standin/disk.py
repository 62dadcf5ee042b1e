"""A small filesystem of a test's own (tmpfs, mounted as root, as the developers' machines and CI run), for a
SQLite database the test can run out of space and give space back to. A full disk here is a real one: SQLite
answers every write with SQLITE_FULL ("database or disk is full"), as it would in production."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

CHUNK = 64 * 1024


class SmallDisk:
    def __init__(self, mount_point: Path, size_mb: int = 32) -> None:
        self.path = mount_point
        self.size_mb = size_mb
        self.database = mount_point / "offboard.db"
        self._ballast = mount_point / "ballast"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.database}"

    def mount(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"a full-disk test mounts a small tmpfs (as root): {done.stderr.strip()}"

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)

    def fill(self) -> None:
        """Take every free byte. The WAL is emptied first, so the next write must grow it and fails."""
        with contextlib.closing(sqlite3.connect(self.database, timeout=30)) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        fd = os.open(self._ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (CHUNK, 512):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self._ballast.unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int = 32) -> Iterator[SmallDisk]:
    disk = SmallDisk(where, size_mb)
    disk.mount()
    try:
        yield disk
    finally:
        disk.free()
        disk.unmount()
