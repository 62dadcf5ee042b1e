"""`offboard serve` as a separate process, configured only by environment variables, for the tests and
benchmarks that need a real process (a real SIGKILL, a bot with its own interpreter)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServedBot:
    """`offboard serve` processes, one after another (or side by side), on one database."""

    def __init__(self, env: dict[str, str], cwd: Path, *, port: int | None = None,
                 app_token: str | None = None, log_path: Path | None = None) -> None:
        """`app_token`: Socket Mode with this app-level token (health then answers on OFFBOARD_HEALTH_PORT,
        which `base` names); else HTTP mode. `log_path`: where its stderr (the bot's and the front's log) goes,
        appended to; else nowhere."""
        self.env = {**os.environ, **env, "OFFBOARD_HOST": "127.0.0.1", "OFFBOARD_PORT": str(port or free_port())}
        self.env.pop("SLACK_APP_TOKEN", None)
        if app_token:
            self.env |= {"SLACK_APP_TOKEN": app_token, "OFFBOARD_HEALTH_PORT": str(free_port())}
        self.cwd = cwd
        self.base = f"http://127.0.0.1:{self.env['OFFBOARD_HEALTH_PORT' if app_token else 'OFFBOARD_PORT']}"
        self.events_url = f"{self.base}/slack/events"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServedBot:
        with contextlib.ExitStack() as closing:
            log = closing.enter_context(self.log_path.open("ab")) if self.log_path else subprocess.DEVNULL
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve"], env=self.env, cwd=self.cwd,
                                            stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if time.monotonic() > deadline:
                raise RuntimeError("offboard serve did not come up")
            time.sleep(0.05)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"offboard serve exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).text == "ok"
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, whatever was on the wire is cut off. The ack front (a child,
        bot.runtime.front) exits when it sees its parent gone; wait for that, as the next start needs the port."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_for_port_to_close()

    def _wait_for_port_to_close(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/healthz", timeout=1)
            except httpx.TransportError:
                return
            time.sleep(0.02)
        raise RuntimeError("the ack front outlived offboard serve")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: it hands over and finishes what it acked, then exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self._wait_for_port_to_close()
