"""Renewing what this instance holds (leases on requests, claims on owed cards) while it holds it.

A holder that dies stops renewing, so what it held runs out and another instance takes it over; a holder that
lives renews a third of the way through, so two beats can be missed (a slow database, a long pause) before
anything runs out. The thread runs only while something is held: the last let-go wakes it and it ends (the next
hold starts another), so an idle instance, or one nobody closed, renews nothing and holds no thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, renew: Callable[[list[int]], object], interval: Callable[[], float], *, name: str) -> None:
        """`renew(ids)` extends what is held (in one statement); `interval()` is the seconds between beats."""
        self._renew = renew
        self._interval = interval
        self._name = name
        self._held: set[int] = set()
        self._guard = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()  # the beat looks again now: nothing may be held any more, or close()
        self._thread: threading.Thread | None = None

    def hold(self, item_id: int) -> None:
        with self._guard:
            self._held.add(item_id)
            if self._thread is not None or self._stopping.is_set():
                return
            self._thread = threading.Thread(target=self._beat, name=self._name, daemon=True)
            self._thread.start()

    def let_go(self, item_id: int) -> None:
        with self._guard:
            self._held.discard(item_id)
            if not self._held:
                self._wake.set()

    def held(self) -> list[int]:
        with self._guard:
            return sorted(self._held)

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._guard:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _beat(self) -> None:
        while True:
            self._wake.wait(self._interval())
            with self._guard:
                self._wake.clear()
                if self._stopping.is_set() or not self._held:
                    self._thread = None
                    return
                held = sorted(self._held)
            try:
                self._renew(held)
            except Exception:  # the next beat tries again; the work goes on meanwhile
                log.exception("%s could not renew what this instance holds", self._name)
