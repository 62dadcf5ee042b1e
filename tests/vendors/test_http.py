"""The shared vendor HTTP client against a tiny loopback server: retries, waits, typed errors, secrets."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sqlmodel import select

from storage.allowance import DatabaseAllowance
from storage.db import Database
from storage.models import VendorCallAllowance
from vendors.base import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
    VendorError,
)
from vendors.http import RetryPolicy, VendorHTTP, WaitTooLongError, parse_retry_after
from vendors.ratelimit import Window
from vendors.sandbox.posthog import KEY_OWNER_EMAIL, SANDBOX_API_KEY, PostHogSandbox
from vendors.sandbox.posthog import ORG_ID as POSTHOG_ORG
from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

SECRET = "sk_live_very_secret_token_123"


class TinyVendor(LoopbackServer):
    name = "tiny"

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0
        self.received: list[str] = []  # "GET /ok"; written before answering, unlike the base `log`
        self._count_lock = threading.Lock()
        self.route("GET", r"/ok", lambda r: Response(200, {"ok": True}))
        self.route("POST", r"/things", lambda r: Response(201, {"id": 1}))
        self.route("DELETE", r"/things/1", lambda r: Response(204))
        self.route("GET", r"/echo-auth", self._echo_auth)
        self.route("GET", r"/items", self._items)
        self.route("GET", r"/slow", self._slow)
        self.route("GET", r"/html", lambda r: Response(200, b"<html>hi</html>", {"Content-Type": "text/html"}))

    def dispatch(self, request: Request) -> Response | None:
        with self._count_lock:
            self.received.append(f"{request.method} {request.path}")
        return super().dispatch(request)

    def count(self, call: str) -> int:
        with self._count_lock:
            return self.received.count(call)

    def reset(self) -> None:
        self.clear_faults()
        with self._count_lock:
            self.received.clear()
            self.max_in_flight = 0

    def _echo_auth(self, request: Request) -> Response:  # a careless vendor repeating our header back
        return Response(500, {"detail": f"upstream rejected {request.headers.get('authorization')}"})

    def _items(self, request: Request) -> Response:
        page = int(request.arg("page", "1") or 1)
        # The link names another host on purpose: the client must stay on its own base URL.
        next_link = f"http://elsewhere.invalid:9/items?page={page + 1}" if page < 3 else None
        return Response(200, {"results": [page * 10, page * 10 + 1], "next": next_link})

    def _slow(self, request: Request) -> Response:
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(0.05)
        with self._count_lock:
            self.in_flight -= 1
        return Response(200, {"ok": True})


@pytest.fixture(scope="module")
def started() -> Iterator[TinyVendor]:
    with TinyVendor() as running:  # one server for the module: stopping one takes half a second
        assert isinstance(running, TinyVendor)
        yield running


@pytest.fixture
def server(started: TinyVendor) -> TinyVendor:
    started.reset()
    return started


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(server: LoopbackServer, sleeps: list[float], **overrides: object) -> VendorHTTP:
    options: dict[str, object] = {
        "vendor": "tiny", "label": "Tiny", "timeout": 0.3, "max_attempts": 3, "backoff": 0.01,
        "sleep": sleeps.append,
    }
    options.update(overrides)
    policy_fields = {f.name for f in fields(RetryPolicy)}
    policy = RetryPolicy(**{k: v for k, v in options.items() if k in policy_fields})  # type: ignore[arg-type]
    hooks = {k: v for k, v in options.items() if k not in policy_fields}
    return VendorHTTP(server.url, {"Authorization": f"Bearer {SECRET}"}, policy=policy, **hooks)  # type: ignore[arg-type]


def test_retries_server_errors_then_succeeds(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 503, path_pattern="/ok", times=2))
    assert make_client(server, sleeps).get_json("/ok") == {"ok": True}
    assert server.count("GET /ok") == 3
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.011 and 0.02 <= sleeps[1] <= 0.022  # exponential, with a little jitter


def test_retries_a_timeout(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("delay", delay=0.6, path_pattern="/ok", times=1))
    assert make_client(server, sleeps, timeout=0.15).get_json("/ok") == {"ok": True}
    assert len(sleeps) == 1


def test_retries_a_dropped_connection(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("drop", path_pattern="/ok", times=1))
    assert make_client(server, sleeps).get_json("/ok") == {"ok": True}
    assert server.count("GET /ok") == 2


def test_honours_retry_after_seconds(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 429, {"detail": "slow down"}, {"Retry-After": "7"}, times=1))
    assert make_client(server, sleeps).get_json("/ok") == {"ok": True}
    assert sleeps == [7.0]


def test_honours_retry_after_http_date(server: TinyVendor, sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.inject(Fault("status", 429, None, {"Retry-After": when}, times=1))
    make_client(server, sleeps).get_json("/ok")
    assert len(sleeps) == 1 and 27 <= sleeps[0] <= 30


def test_falls_back_to_the_retry_hint_hook(server: TinyVendor, sleeps: list[float]) -> None:
    body = {"detail": "Request was throttled. Expected available in 12 seconds."}
    server.inject(Fault("status", 429, body, times=1))  # no Retry-After header, as older PostHog
    hint = lambda response: float(response.json()["detail"].split(" in ")[1].split()[0])  # noqa: E731
    make_client(server, sleeps, retry_hint=hint).get_json("/ok")
    assert sleeps == [12.0]


def test_a_long_retry_after_fails_at_once_as_a_wait_too_long(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 429, None, {"Retry-After": "3600"}, times=None))
    with pytest.raises(WaitTooLongError) as caught:  # the workflow parks the step until then
        make_client(server, sleeps, max_retry_after=60).get_json("/ok")
    assert caught.value.retry_after == 3600 and caught.value.retryable
    assert sleeps == [] and server.count("GET /ok") == 1


def test_persistent_rate_limit_raises_rate_limited(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 429, None, {"Retry-After": "2"}, times=None))
    with pytest.raises(RateLimitedError) as caught:
        make_client(server, sleeps).get_json("/ok")
    assert not isinstance(caught.value, WaitTooLongError)  # short waits that outlasted the retries: a failure
    assert caught.value.retry_after == 2 and caught.value.status == 429
    assert server.count("GET /ok") == 3 and sleeps == [2.0, 2.0]


def test_persistent_server_errors_raise_unavailable(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 500, {"detail": "boom"}, times=None))
    with pytest.raises(UnavailableError) as caught:
        make_client(server, sleeps).get_json("/ok")
    assert server.count("GET /ok") == 3
    assert "GET /ok" in caught.value.message and "500" in caught.value.message and "boom" in caught.value.message
    assert caught.value.vendor == "tiny" and caught.value.retryable


def test_refused_connection_raises_unavailable(sleeps: list[float]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = VendorHTTP(f"http://127.0.0.1:{port}", {}, vendor="tiny",
                        policy=RetryPolicy(max_attempts=2, backoff=0.01, sleep=sleeps.append))
    with pytest.raises(UnavailableError, match="ConnectError"):
        client.get_json("/ok")
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthError), (403, AuthError), (404, NotFoundError), (409, ConflictError), (400, VendorError)],
)
def test_client_errors_are_typed_and_not_retried(
    server: TinyVendor, sleeps: list[float], status: int, error: type[VendorError]
) -> None:
    server.inject(Fault("status", status, {"detail": "the vendor says no"}, times=None))
    with pytest.raises(error) as caught:
        make_client(server, sleeps).get_json("/ok")
    assert type(caught.value) is error
    assert caught.value.status == status and "the vendor says no" in caught.value.message
    assert server.count("GET /ok") == 1 and sleeps == []


def test_the_connector_may_classify_client_errors(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 400, {"detail": "Cannot do that while it is X"}, times=None))

    def classify(response: object, detail: str) -> VendorError | None:
        return ConflictError(f"Plain words: {detail}") if "while it is X" in detail else None

    with pytest.raises(ConflictError, match="Plain words: Cannot do that") as caught:
        make_client(server, sleeps, classify_error=classify).get_json("/ok")
    assert caught.value.status == 400 and caught.value.vendor == "tiny"


def test_a_create_is_not_repeated_after_a_server_error(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 502, method="POST", times=1))
    with pytest.raises(UnavailableError):
        make_client(server, sleeps).send_json("POST", "/things", {"name": "x"})
    assert server.count("POST /things") == 1


def test_a_create_is_repeated_after_a_rate_limit(server: TinyVendor, sleeps: list[float]) -> None:
    server.inject(Fault("status", 429, None, {"Retry-After": "1"}, method="POST", times=1))
    assert make_client(server, sleeps).send_json("POST", "/things", {"name": "x"}) == {"id": 1}
    assert sleeps == [1.0]


def test_empty_and_non_json_bodies(server: TinyVendor, sleeps: list[float]) -> None:
    client = make_client(server, sleeps)
    assert client.send_json("DELETE", "/things/1") is None
    with pytest.raises(VendorError, match="not JSON"):
        client.get_json("/html")


def test_secrets_never_reach_messages_logs_or_reprs(
    server: TinyVendor, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server, sleeps)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnavailableError) as caught:
        client.get_json("/echo-auth")
    assert SECRET not in caught.value.message and SECRET not in str(caught.value)
    assert "[redacted]" in caught.value.message
    assert caught.value.__cause__ is None
    assert SECRET not in caplog.text and caplog.text  # the retries were logged, without the key
    assert SECRET not in repr(client)
    server.inject(Fault("status", 401, {"detail": f"bad token {SECRET}"}, times=1))
    with pytest.raises(AuthError) as auth:
        client.get_json("/ok")
    assert SECRET not in auth.value.message


def test_paginate_follows_next_links_on_its_own_host(server: TinyVendor, sleeps: list[float]) -> None:
    assert list(make_client(server, sleeps).paginate("/items")) == [10, 11, 20, 21, 30, 31]
    assert server.count("GET /items") == 3


def test_concurrency_is_bounded_per_client(server: TinyVendor, sleeps: list[float]) -> None:
    client = make_client(server, sleeps, max_concurrency=2)
    threads = [threading.Thread(target=client.get_json, args=("/slow",)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.max_in_flight == 2


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None)])
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_a_rate_limited_client_paces_every_call_through_one_allowance(server: TinyVendor) -> None:
    waits: list[float] = []
    window = Window(60, 60.0, burst_calls=6)
    policy = RetryPolicy(rate_limits=(window,), sleep=waits.append, max_concurrency=4)
    client = VendorHTTP(server.url, {}, vendor="tiny", policy=policy)
    assert client.rate_limit is not None
    at_once = int(window.tolerance / window.interval) + 1
    threads = [threading.Thread(target=client.get_json, args=("/ok",)) for _ in range(at_once + 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.count("GET /ok") == at_once + 5
    # Nobody actually slept (the sleep is recorded): the burst went at once, the next five were told to wait
    # for slots a steady interval apart, whichever thread they were on (less the moments that passed between
    # their reservations on a busy machine, never more).
    positive = sorted(w for w in waits if w > 0)
    assert len(positive) == 5
    first = at_once * window.interval - window.tolerance
    for i, wait in enumerate(positive):
        assert first + i * window.interval - 0.5 < wait <= first + i * window.interval + 1e-6


def test_a_wait_for_the_rate_limit_longer_than_a_call_may_wait_fails_at_once_with_the_wait(
    server: TinyVendor, sleeps: list[float],
) -> None:
    hourly = Window(4, 3600.0, burst_calls=2)
    client = make_client(server, sleeps, rate_limits=(hourly,), max_retry_after=60.0)
    sent = 0
    with pytest.raises(WaitTooLongError) as refused:
        for _ in range(10):
            client.get_json("/ok")
            sent += 1
    assert server.count("GET /ok") == sent  # the refused call never went out
    assert refused.value.retry_after is not None and refused.value.retry_after > 60
    assert refused.value.status is None  # our own pacing said so, not the vendor
    assert "Tiny's rate limit (4 calls an hour) is used up: GET /ok may go in" in refused.value.message
    assert all(wait <= 60 for wait in sleeps)


def test_a_policy_scales_its_rate_limits_and_leaves_an_unlimited_one_alone() -> None:
    policy = RetryPolicy(rate_limits=(Window.per_minute(100), Window.per_hour(1000)))
    assert policy.scaled(10).rate_limits == (Window.per_minute(1000), Window.per_hour(10_000))
    assert RetryPolicy().scaled(10).rate_limits == ()
    assert VendorHTTP("http://127.0.0.1:9", {}, vendor="tiny").rate_limit is None


# -- PostHog's per-key limits, shared by two instances ----------------------------------------------------
# Small windows, so the test takes seconds: a short one that shapes bursts and a longer one that a run of
# 60 calls outgrows, as PostHog's minute and hour do.
SHORT, LONG = Window(20, 0.5, burst_calls=10), Window(40, 2.0, burst_calls=20)
MEMBERS = f"/api/organizations/{POSTHOG_ORG}/members/"


@pytest.fixture
def limited_posthog() -> Iterator[PostHogSandbox]:
    with PostHogSandbox(seed=False, key_rate_limits=[(w.calls, w.seconds) for w in (SHORT, LONG)]) as sandbox:
        assert isinstance(sandbox, PostHogSandbox)
        yield sandbox


def posthog_client(sandbox: PostHogSandbox, allowance: DatabaseAllowance | None) -> VendorHTTP:
    policy = RetryPolicy(rate_limits=(SHORT, LONG), allowance=allowance, max_attempts=1, max_retry_after=30.0)
    return VendorHTTP(sandbox.url, {"Authorization": f"Bearer {SANDBOX_API_KEY}"}, vendor="posthog", policy=policy)


def call_together(clients: list[VendorHTTP], calls_each: int, threads_each: int = 3) -> list[VendorError]:
    """Every client's share of calls from a few threads at once, as a bulk run's workers make them."""
    errors: list[VendorError] = []

    def work(client: VendorHTTP, calls: int) -> None:
        for _ in range(calls):
            try:
                client.get_json(MEMBERS)
            except VendorError as exc:
                errors.append(exc)

    shares = [(client, calls_each // threads_each + (i < calls_each % threads_each))
              for client in clients for i in range(threads_each)]
    threads = [threading.Thread(target=work, args=share) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_the_posthog_sandbox_throttles_each_key_like_posthog(limited_posthog: PostHogSandbox) -> None:
    other_key = limited_posthog.issue_key(KEY_OWNER_EMAIL)
    with httpx.Client(base_url=limited_posthog.url) as http:
        def get(key: str) -> httpx.Response:
            return http.get(MEMBERS, headers={"Authorization": f"Bearer {key}"})

        answers = [get(SANDBOX_API_KEY) for _ in range(SHORT.calls + 1)]
        assert [a.status_code for a in answers[:-1]] == [200] * SHORT.calls
        refused = answers[-1]
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json() == {"type": "throttled_error", "code": "throttled", "attr": None,
                                  "detail": "Request was throttled. Expected available in 1 second."}
        assert get(other_key).status_code == 200  # the limits are per key


def test_two_instances_on_one_database_stay_inside_posthogs_limits_together(
    database_url: str, limited_posthog: PostHogSandbox,
) -> None:
    instances = [Database(database_url), Database(database_url)]  # two engines on one database
    instances[0].migrate()
    try:
        clients = [posthog_client(limited_posthog, DatabaseAllowance(db)) for db in instances]
        errors = call_together(clients, 30)  # 60 calls: more than the longer window's 40
        throttled = [c for c in limited_posthog.calls() if c.status == 429]
        assert (errors, throttled) == ([], [])
        assert len(limited_posthog.calls("GET", "/members/")) == 60
        with instances[1].session() as session:
            rows = session.exec(select(VendorCallAllowance)).all()
        # One budget, keyed by a fingerprint of the key that does not contain it.
        assert len(rows) == 1 and rows[0].vendor == "posthog" and SANDBOX_API_KEY not in rows[0].key_fingerprint
        assert set(rows[0].next_free) == {SHORT.name, LONG.name}
        assert sum(c.rate_limit.claims for c in clients if c.rate_limit) < 60  # batches, not a claim per call
        for client in clients:
            client.close()
    finally:
        for db in instances:
            db.dispose()


def test_two_instances_pacing_only_themselves_are_throttled_by_posthog(limited_posthog: PostHogSandbox) -> None:
    """What the shared allowance prevents: each instance inside the limits alone, together over them."""
    clients = [posthog_client(limited_posthog, None) for _ in range(2)]
    errors = call_together(clients, 20)
    for client in clients:
        client.close()
    assert [c for c in limited_posthog.calls() if c.status == 429]
    assert errors and all(isinstance(e, RateLimitedError) for e in errors)
