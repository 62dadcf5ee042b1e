"""The check every test passes through (tests/leaks.py, tests/conftest.py): what a test leaves running is
named, what is just finishing is given its moment, and what was running before is not the test's."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from tests.leaks import Running


def test_a_thread_left_running_is_named_and_one_that_ends_is_not() -> None:
    stop = threading.Event()
    before = Running.now()
    left = threading.Thread(target=stop.wait, name="left-behind", daemon=True)
    left.start()
    finishing = threading.Thread(target=time.sleep, args=(0.3,), name="finishing")
    finishing.start()
    try:
        found = before.left_behind(grace=1.0)
        assert [t.name for t in found.threads] == ["left-behind"]
        assert "thread 'left-behind' (daemon)" in found.describe()
    finally:
        stop.set()
        left.join()
        finishing.join()
    assert not before.left_behind(grace=1.0)


def test_a_child_process_left_running_is_named() -> None:
    before = Running.now()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        found = before.left_behind(grace=0.2)
        assert list(found.processes) == [child.pid] and "time.sleep(60)" in found.describe()
    finally:
        child.kill()
        child.wait()
    assert not before.left_behind(grace=1.0)


def test_what_ran_before_is_not_counted() -> None:
    stop = threading.Event()
    earlier = threading.Thread(target=stop.wait, name="earlier", daemon=True)
    earlier.start()
    try:
        assert not Running.now().left_behind(grace=0.2)
    finally:
        stop.set()
        earlier.join()
