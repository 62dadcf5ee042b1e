"""Sandboxes served from a child process, steered from this one.

In production the bot does not host the vendors or Slack: they answer from elsewhere, on their own CPUs.
Hosting their stand-ins in the bot's interpreter makes every request they answer compete with the bot for
the one interpreter lock, so a benchmark would time the stand-ins as much as the bot. `SandboxHost` runs
them in a separate process instead (a fresh interpreter, started with `spawn`), and hands back proxies:
each has the sandbox's `url`, builds its connector here (the connector only needs the url), and forwards
every other method call (`seed_person`, `seat`, `writes_about`, `calls`, ...) to the real sandbox over a
pipe. Attribute writes used to steer a sandbox (`latency`, `rate_limit_per_minute`) go through `configure`.
Arguments and results must pickle; the sandboxes' own state types (`Seat`, `LoggedRequest`, `Role`) do.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from vendors.base import Vendor
from vendors.http import RetryPolicy

# Imported in the child by name, so the parent need not pickle classes (spawn re-imports everything).
SANDBOX_CLASSES = {
    "posthog": "vendors.sandbox.posthog:PostHogSandbox",
    "amplitude": "vendors.sandbox.amplitude:AmplitudeSandbox",
    "mixpanel": "vendors.sandbox.mixpanel:MixpanelSandbox",
    "kissmetrics": "vendors.sandbox.kissmetrics:KissmetricsSandbox",
    "slack": "bot.demo.standin.slack_api:SlackStandIn",
}
START_TIMEOUT = 60.0  # seconds for the child to import and bind its servers


def _load(spec: str) -> type:
    import importlib

    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class SandboxHost:
    """A child process serving the named sandboxes on 127.0.0.1. Use as a context manager."""

    def __init__(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in SANDBOX_CLASSES]
        if unknown:
            raise ValueError(f"no sandbox called {', '.join(unknown)}")
        self.names = tuple(names)
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._lock = threading.Lock()  # one call on the pipe at a time: answers must not interleave
        self.sandboxes: dict[str, RemoteSandbox] = {}

    def start(self) -> SandboxHost:
        context = multiprocessing.get_context("spawn")  # no fork of a process that may already run threads
        ours, theirs = context.Pipe()
        self._process = context.Process(target=_serve, args=(theirs, self.names), name="sandboxes", daemon=True)
        self._process.start()
        theirs.close()
        self._conn = ours
        try:
            if not ours.poll(START_TIMEOUT):
                raise EOFError
            urls: dict[str, str] = ours.recv()
        except EOFError:
            self.stop()
            # Its traceback is on stderr. Under spawn, a script that starts sandboxes at import time (no
            # `if __name__ == "__main__":`) is run again by the child, which is the usual cause.
            raise RuntimeError("the sandbox process did not start") from None
        self.sandboxes = {name: RemoteSandbox(self, name, url) for name, url in urls.items()}
        return self

    def stop(self) -> None:
        if self._conn is not None:
            try:
                with self._lock:
                    self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def __enter__(self) -> SandboxHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, name: str, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self._conn is not None, "sandbox process not started"
        with self._lock:
            self._conn.send((name, method, args, kwargs))
            ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"sandbox {name}.{method} failed in the sandbox process: {value}")
        return value


class RemoteSandbox:
    """One sandbox in the child process, as the parent sees it."""

    def __init__(self, host: SandboxHost, name: str, url: str) -> None:
        self._host = host
        self.name = name
        self.url = url

    def connector(self, policy: RetryPolicy, **options: Any) -> Vendor:
        # The sandbox classes build their connector from `self.url` and their own constants, so the class's
        # method runs here against this proxy: the connector lives in this process, talking to the child.
        cls = _load(SANDBOX_CLASSES[self.name])
        return cls.connector(self, policy, **options)  # type: ignore[no-any-return]

    def configure(self, **attributes: Any) -> None:
        """Set attributes of the real sandbox (e.g. `latency`, `rate_limit_per_minute`)."""
        self._host.call(self.name, "__configure__", **attributes)

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._host.call(self.name, method, *args, **kwargs)


def _serve(conn: Connection, names: Sequence[str]) -> None:
    """The child: start the sandboxes, say where they are, then answer calls until told to stop."""
    servers = {name: _load(SANDBOX_CLASSES[name])() for name in names}
    for server in servers.values():
        server.start()
    conn.send({name: server.url for name, server in servers.items()})
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent went away
                return
            if message is None:
                return
            name, method, args, kwargs = message
            try:
                target = servers[name]
                if method == "__configure__":
                    for attribute, value in kwargs.items():
                        setattr(target, attribute, value)
                    result = None
                else:
                    result = getattr(target, method)(*args, **kwargs)
                conn.send((True, result))
            except Exception as exc:  # reported to the caller, which raises it there
                conn.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        for server in servers.values():
            server.stop()
