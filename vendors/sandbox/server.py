"""A small threaded HTTP server on 127.0.0.1 for vendor sandboxes and the Slack stand-in.

Each sandbox subclasses `LoopbackServer`, registers routes with `self.route(...)`, and answers with
`Response`. Shared here: JSON handling, a request log for assertions, switchable faults (an HTTP
status with headers such as 429 + Retry-After, added latency, a dropped connection), an optional
per-minute rate limit, and a control endpoint (`/_sandbox/faults`) so a sandbox running in another
process can be steered too.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups from the route pattern

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def bearer_token(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else None


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    """A switchable failure. `times=None` means until cleared."""

    kind: str  # "status" | "delay" | "hold" | "drop"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None  # only this HTTP method
    path_pattern: str | None = None  # only paths matching this regex (re.search)
    times: int | None = 1
    # "hold": the request waits until the test sets this (at most `delay` seconds), then is answered: a call
    # kept under way for exactly as long as a test needs, not for a time a slow machine may outlast.
    release: threading.Event | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not (self.path_pattern and not re.search(self.path_pattern, path))


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int  # 0 when the connection was dropped


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    # The default backlog (5) refuses connections when many clients connect at once, as in bulk runs.
    request_queue_size = 128


class LoopbackServer:
    """Base class: subclasses add routes in `__init__` after calling `super().__init__()`."""

    name = "sandbox"

    def __init__(self, *, port: int = 0, latency: float = 0.0, rate_limit_per_minute: int | None = None):
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self.log: list[LoggedRequest] = []
        self.latency = latency
        self.rate_limit_per_minute = rate_limit_per_minute
        self._recent: deque[float] = deque()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.route("POST", r"/_sandbox/faults", self._control_add_fault)
        self.route("DELETE", r"/_sandbox/faults", self._control_clear_faults)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LoopbackServer:
        handler = _make_handler(self)
        self._server = _Server(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- routes and faults ---------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """`pattern` is a regex matched against the whole path; use named groups for ids."""
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def calls(self, method: str | None = None, path_pattern: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                entry
                for entry in self.log
                if (method is None or entry.method == method)
                and (path_pattern is None or re.search(path_pattern, entry.path))
            ]

    # -- hooks for subclasses ------------------------------------------------------------------
    def throttled(self, retry_after: int) -> Response:
        """The vendor's own 429 shape; subclasses override."""
        return Response(429, {"detail": "rate limited"}, {"Retry-After": str(retry_after)})

    def not_found(self) -> Response:
        return Response(404, {"detail": "Not found."})

    def authorize(self, request: Request) -> Response | None:
        """Return a response to refuse the request (401/403), or None to let it through."""
        return None

    # -- dispatch ------------------------------------------------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def _rate_limited(self) -> int | None:
        """Seconds until a slot frees when the per-minute limit is used up, else None."""
        if not self.rate_limit_per_minute:
            return None
        now = time.monotonic()
        with self._lock:
            while self._recent and now - self._recent[0] >= 60.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit_per_minute:
                return max(1, int(60.0 - (now - self._recent[0])) + 1)
            self._recent.append(now)
        return None

    def dispatch(self, request: Request) -> Response | None:
        """None means: drop the connection without answering."""
        is_control = request.path.startswith("/_sandbox/")
        if not is_control:
            if self.latency:
                time.sleep(self.latency)
            fault = self._take_fault(request.method, request.path)
            if fault:
                if fault.kind == "drop":
                    return None
                if fault.kind == "delay":
                    time.sleep(fault.delay)
                elif fault.kind == "hold":
                    assert fault.release is not None, "a hold fault needs its release event"
                    fault.release.wait(fault.delay)
                else:
                    return Response(fault.status, fault.body, dict(fault.headers))
            refusal = self.authorize(request)
            if refusal:
                return refusal
            wait = self._rate_limited()
            if wait is not None:
                return self.throttled(wait)
        for method, pattern, handler in self._routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                request.params = match.groupdict()
                return handler(request)
        return self.not_found()

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append(LoggedRequest(method, path, status))

    # -- control endpoint ----------------------------------------------------------------------
    def _control_add_fault(self, request: Request) -> Response:
        spec = request.json() or {}
        self.inject(Fault(**spec))
        return Response(204)

    def _control_clear_faults(self, request: Request) -> Response:
        self.clear_faults()
        return Response(204)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, each keep-alive answer stalls ~40 ms.
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            try:
                response = server.dispatch(request)
            except Exception as exc:  # a sandbox bug must show as a 500, not a hung client
                response = Response(500, {"detail": f"sandbox error: {exc!r}"})
            if response is None:
                server._record(request.method, request.path, 0)
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            # Logged before answering, so a client that has its answer always finds the call in the log.
            server._record(request.method, request.path, response.status)
            payload = response.encoded()
            self.send_response(response.status)
            if payload and "Content-Type" not in response.headers:
                self.send_header("Content-Type", "application/json")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    return _Handler
