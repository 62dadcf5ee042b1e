"""What a test leaves running after it ends: threads and child processes it started and did not stop.

A thread or process one test forgets keeps working during the tests after it (renewing leases on a dropped
database, logging from a bot nobody drives, holding CPU), and their failures then show up in a test that
did nothing wrong. tests/conftest.py compares what runs before and after each test with `Running`."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Threads and processes that are finishing (a server thread that just answered, a process reaped after its
# stop) get this long to end before they count as left behind.
GRACE_SECONDS = 5.0


def _resource_tracker_pid() -> int | None:
    """multiprocessing's resource tracker: one helper process per interpreter, started by the first spawned
    child and kept until the interpreter exits by design; no test owns it."""
    from multiprocessing import resource_tracker

    return getattr(resource_tracker._resource_tracker, "_pid", None)


def child_processes() -> dict[int, str]:
    """This process's live children (zombies are gone already), pid -> command line, read from /proc."""
    me, found = os.getpid(), {}
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after its last ")".
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) != me or state == "Z":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # it exited while we looked
        found[int(entry.name)] = command
    tracker = _resource_tracker_pid()
    if tracker is not None:
        found.pop(tracker, None)
    return found


def _foreign(thread: threading.Thread) -> bool:
    """A thread started outside Python's threading module (one that merely called into Python): it is listed
    for good once seen, whether or not it still runs, so it says nothing about the test."""
    return isinstance(thread, threading._DummyThread)  # type: ignore[attr-defined]


@dataclass
class Left:
    """What outlived a test: its threads, and its child processes (pid -> command line)."""

    threads: list[threading.Thread]
    processes: dict[int, str]

    def __bool__(self) -> bool:
        return bool(self.threads or self.processes)

    def still_running(self, grace: float = GRACE_SECONDS) -> Left:
        """Those of them still alive after `grace` seconds more."""
        deadline = time.monotonic() + grace
        while True:
            multiprocessing.active_children()
            alive = child_processes()
            left = Left([t for t in self.threads if t.is_alive()],
                        {pid: cmd for pid, cmd in self.processes.items() if pid in alive})
            if not left or time.monotonic() > deadline:
                return left
            for thread in left.threads:
                thread.join(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            if not left.threads:
                time.sleep(0.05)

    def describe(self) -> str:
        return "; ".join([f"thread {t.name!r} ({'daemon' if t.daemon else 'not daemon'})" for t in self.threads]
                         + [f"process {pid}: {cmd[:200]}" for pid, cmd in sorted(self.processes.items())])


@dataclass
class Running:
    """Threads and child processes alive at one moment."""

    threads: set[threading.Thread]
    processes: dict[int, str]

    @classmethod
    def now(cls) -> Running:
        return cls(set(threading.enumerate()), child_processes())

    def left_behind(self, grace: float = GRACE_SECONDS) -> Left:
        """What runs now that did not before, after giving it `grace` seconds to finish."""
        multiprocessing.active_children()  # reaps multiprocessing children that have exited
        new = Left([t for t in threading.enumerate() if t not in self.threads and t.is_alive() and not _foreign(t)],
                   {pid: cmd for pid, cmd in child_processes().items() if pid not in self.processes})
        if new:  # a thread pool nobody refers to any more ends its threads once collected
            gc.collect()
        return new.still_running(grace)
