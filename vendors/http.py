"""The HTTP client every vendor connector shares: timeouts, retries, rate limits, typed errors.

Vendor-neutral on purpose: a connector passes its base URL, auth headers and, where its API has
quirks, small hooks (how to read the error message out of a body, how to read a wait time out of a
429 without `Retry-After`, how to classify a 400/409). Everything else is uniform:

* every call has a timeout;
* 429, 5xx, timeouts and refused/dropped connections are retried with exponential backoff and a
  little jitter, a bounded number of times, then raised as `RateLimitedError` / `UnavailableError`;
* 401/403 → `AuthError`, 404 → `NotFoundError`, other 4xx → `VendorError` (`ConflictError` for 409)
  unless the connector's hook says otherwise;
* credentials never reach an exception message, a log line or a repr: messages carry the method,
  the path (never the query, which some vendors use for keys), the status and the vendor's detail,
  and even that detail is scrubbed of the credentials in case a vendor echoes them back.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from vendors import call_metrics
from vendors.base import (
    AuthError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    UnavailableError,
    VendorError,
)
from vendors.ratelimit import AllowanceKey, AllowanceStore, RateLimit, RateLimitExceeded, Window, credential_fingerprint

log = logging.getLogger(__name__)

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]
DetailHook = Callable[[httpx.Response], str]
RetryHintHook = Callable[[httpx.Response], float | None]
ErrorHook = Callable[[httpx.Response, str], VendorError | None]

# Headers whose values are credentials. Matched by substring so "X-Api-Key", "X-Auth-Token" and the
# like are covered without each connector having to say so.
_SECRET_HEADER_WORDS = ("authorization", "key", "token", "secret", "cookie", "auth")
_MIN_SECRET_LENGTH = 4  # shorter values would scrub innocent words out of messages
_DETAIL_LIMIT = 300

# The request may have reached the vendor for every other transport failure, so only these are safe
# to retry for a non-idempotent call (a POST that creates something).
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class WaitTooLongError(RateLimitedError):
    """The vendor's wait (a 429's Retry-After, or its rate limit's next free slot) is longer than a call may
    wait (`RetryPolicy.max_retry_after`): nothing is wrong, the call is to be made after `retry_after`. The
    workflow parks the step until then rather than failing it."""


@dataclass(frozen=True)
class _Failure:
    """Why one attempt failed, in words that are safe to show."""

    description: str
    status: int | None = None
    wait: float | None = None  # what the vendor asked us to wait, if it said


@dataclass(frozen=True)
class RetryPolicy:
    """How a connector talks to its vendor: one value that every connector passes through, so a new
    knob is added here once rather than to each connector's signature."""

    timeout: float = 10.0  # seconds, for every call
    max_attempts: int = 4  # including the first
    backoff: float = 0.5  # first wait; doubles each attempt, plus a little jitter
    # The longest a call may wait, for a Retry-After or for its rate limit's next slot: a longer wait fails at
    # once (RateLimitedError, whose retry_after the workflow parks the step with) rather than blocking a worker.
    max_retry_after: float = 60.0
    max_concurrency: int = 4  # calls on the wire at once, per client
    rate_limits: tuple[Window, ...] = ()  # the vendor's limits, all paced (see vendors.ratelimit); () = not paced
    # Where the limits' allowance is kept: None = in this process; the bot shares it through its database.
    allowance: AllowanceStore | None = None
    sleep: Callable[[float], None] = time.sleep  # injectable so tests need not wait
    clock: Callable[[], float] = time.time  # wall-clock seconds, for the rate limits

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy with the rate limits' calls multiplied by `factor` (benchmarks shrink time with it)."""
        return replace(self, rate_limits=tuple(w.scaled(factor) for w in self.rate_limits))


class VendorHTTP:
    """A thread-safe, retrying JSON client for one vendor account.

    `vendor` is the stable key put on errors ("posthog"); `label` is the name used in messages.
    `paths` in calls are relative to `base_url` (absolute URLs are reduced to their path so a
    vendor-supplied link can never send our credentials to another host).
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        vendor: str,
        label: str | None = None,
        policy: RetryPolicy | None = None,
        detail: DetailHook | None = None,
        retry_hint: RetryHintHook | None = None,
        classify_error: ErrorHook | None = None,
        secrets: Iterable[str] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        policy = policy or RetryPolicy()
        if policy.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.policy = policy
        self.vendor = vendor
        self.label = label or vendor
        self.base_url = base_url.rstrip("/")
        self.max_attempts = policy.max_attempts
        self.backoff = policy.backoff
        self.max_retry_after = policy.max_retry_after
        self._sleep = policy.sleep
        max_concurrency = policy.max_concurrency
        self._detail = detail or default_detail
        self._retry_hint = retry_hint
        self._classify_error = classify_error
        self._secrets = _secret_values(headers, secrets)
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        # Held only while a request is on the wire, not while backing off, so a sleeping retry does
        # not starve the other workers of this client.
        self._slots = threading.BoundedSemaphore(max_concurrency)
        # Keyed by the credential: the vendor counts per key, so every client (and instance) with this key shares it.
        self.rate_limit = RateLimit(
            policy.rate_limits, store=policy.allowance, key=AllowanceKey(vendor, credential_fingerprint(self._secrets)),
            max_wait=policy.max_retry_after, clock=policy.clock, sleep=policy.sleep,
        ) if policy.rate_limits else None
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(policy.timeout),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            follow_redirects=False,  # a redirect to another host must not carry our Authorization header
            transport=transport,
            event_hooks=call_metrics.event_hooks(vendor),  # latency and 429s on /metrics
        )

    def __repr__(self) -> str:
        return f"VendorHTTP(vendor={self.vendor!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VendorHTTP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -----------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one call, retrying what is worth retrying. Returns only 1xx-3xx responses.

        `idempotent` defaults to "not a POST": a non-idempotent call is retried only when it
        certainly did not reach the vendor (refused connection, or a 429 which the vendor rejected
        before acting), so a create is never done twice.
        """
        method = method.upper()
        path = self._relative_path(path)
        where = f"{method} {path}"
        safe_to_repeat = method != "POST" if idempotent is None else idempotent
        failure = _Failure("no attempt made")
        for attempt in range(1, self.max_attempts + 1):
            self._pace(where)
            try:
                response = self._send(method, path, params, json)
            except httpx.TransportError as exc:
                failure = self._transport_failure(exc, where, safe_to_repeat)
            else:
                if response.status_code < 400:
                    return response
                failure = self._status_failure(response, where, safe_to_repeat)
            if attempt == self.max_attempts:
                break
            self._wait_before_retry(failure, where, attempt)
        raise self._exhausted(failure, where)

    def get_json(self, path: str, *, params: Params | None = None) -> Any:
        return self._decode(self.request("GET", path, params=params), f"GET {self._relative_path(path)}")

    def send_json(self, method: str, path: str, json: Any = None, *, idempotent: bool | None = None) -> Any:
        """A write; returns the decoded body, or None for an empty one (204)."""
        response = self.request(method, path, json=json, idempotent=idempotent)
        return self._decode(response, f"{method.upper()} {self._relative_path(path)}")

    def paginate(
        self,
        path: str,
        *,
        params: Params | None = None,
        results_key: str = "results",
        next_key: str = "next",
        max_pages: int = 10_000,
    ) -> Iterator[Any]:
        """Every item of a list that links to its next page (DRF style: `{"results": [...], "next": url}`).

        Vendors with other schemes (SCIM's `startIndex`) loop over `get_json` themselves.
        """
        page_path, page_params = path, params
        for _ in range(max_pages):
            page = self.get_json(page_path, params=page_params)
            if not isinstance(page, dict) or not isinstance(page.get(results_key), list):
                raise VendorError(
                    f"{self.label} answered GET {self._relative_path(page_path)} with an unexpected shape "
                    f"(no '{results_key}' list)",
                    vendor=self.vendor,
                )
            yield from page[results_key]
            link = page.get(next_key)
            if not link:
                return
            page_path, page_params = self._split_link(str(link))
        raise VendorError(
            f"{self.label}: GET {self._relative_path(path)} has more than {max_pages} pages", vendor=self.vendor
        )

    # -- one attempt -----------------------------------------------------------------------------
    def _pace(self, where: str) -> None:
        """Every attempt counts against the vendor's limits, retries included."""
        if not self.rate_limit:
            return
        try:
            self.rate_limit.acquire()
        except RateLimitExceeded as exc:
            window = f" ({exc.window.describe()})" if exc.window else ""
            raise WaitTooLongError(
                f"{self.label}'s rate limit{window} is used up: {where} may go in {exc.wait:.0f} s",
                retry_after=exc.wait, vendor=self.vendor,
            ) from None

    def _send(self, method: str, path: str, params: Params | None, json: Any) -> httpx.Response:
        with self._slots:
            return self._client.request(method, path, params=params, json=json)

    def _transport_failure(self, exc: httpx.TransportError, where: str, safe_to_repeat: bool) -> _Failure:
        retryable = isinstance(exc, _NOT_SENT) or (safe_to_repeat and isinstance(exc, _RETRYABLE_TRANSPORT))
        description = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no details'}"
        if not retryable:
            raise UnavailableError(
                f"{self.label}: {where} failed ({description})", vendor=self.vendor
            ) from None  # the httpx exception holds the request, headers included: do not chain it
        return _Failure(description)

    def _status_failure(self, response: httpx.Response, where: str, safe_to_repeat: bool) -> _Failure:
        status = response.status_code
        detail = self._scrub(self._detail(response))[:_DETAIL_LIMIT]
        if status == 429:
            return _Failure(f"429 {detail}".strip(), status, self._retry_after(response))
        if status in _RETRYABLE_STATUSES and safe_to_repeat:
            return _Failure(f"{status} {detail}".strip(), status)
        raise self._error_for(response, where, detail)

    def _error_for(self, response: httpx.Response, where: str, detail: str) -> VendorError:
        status = response.status_code
        message = f"{self.label}: {where} failed ({status}{': ' + detail if detail else ''})"
        if self._classify_error and status < 500:
            chosen = self._classify_error(response, detail)
            if chosen is not None:
                chosen.status = chosen.status or status
                chosen.vendor = chosen.vendor or self.vendor
                return chosen
        if status == 401:
            return AuthError(f"{self.label} rejected the credentials: {where} ({status}: {detail})",
                             status=status, vendor=self.vendor)
        if status == 403:
            return AuthError(f"{self.label} refused {where} ({status}: {detail}); the credentials may lack "
                             f"a permission or scope", status=status, vendor=self.vendor)
        if status == 404:
            return NotFoundError(message, status=status, vendor=self.vendor)
        if status == 409:
            return ConflictError(message, status=status, vendor=self.vendor)
        if status >= 500:
            return UnavailableError(message, status=status, vendor=self.vendor)
        return VendorError(message, status=status, vendor=self.vendor)

    # -- retry policy ----------------------------------------------------------------------------
    def _wait_before_retry(self, failure: _Failure, where: str, attempt: int) -> None:
        if failure.wait is not None and failure.wait > self.max_retry_after:
            # Blocking a worker for minutes helps nobody: give up now, the caller may retry later.
            raise WaitTooLongError(
                f"{self.label} is rate-limiting us: {where} may be retried in {failure.wait:.0f} s",
                retry_after=failure.wait, status=429, vendor=self.vendor,
            )
        delay = failure.wait if failure.wait is not None else self._backoff_delay(attempt)
        log.info("%s %s: %s; retrying in %.2f s (attempt %d of %d)",
                 self.label, where, failure.description, delay, attempt, self.max_attempts)
        self._sleep(delay)

    def _backoff_delay(self, attempt: int) -> float:
        base = self.backoff * 2 ** (attempt - 1)
        # Jitter keeps parallel workers that failed together from retrying in lockstep.
        return base + random.uniform(0, base * 0.1)

    def _retry_after(self, response: httpx.Response) -> float | None:
        header = response.headers.get("Retry-After")
        seconds = parse_retry_after(header) if header else None
        if seconds is None and self._retry_hint:
            seconds = self._retry_hint(response)
        return seconds

    def _exhausted(self, failure: _Failure, where: str) -> VendorError:
        tries = f"{self.max_attempts} attempt{'s' if self.max_attempts > 1 else ''}"
        if failure.status == 429:
            return RateLimitedError(
                f"{self.label} is rate-limiting us: {where} was still throttled after {tries}",
                retry_after=failure.wait, status=429, vendor=self.vendor,
            )
        return UnavailableError(
            f"{self.label} is not answering properly: {where} still failed after {tries} "
            f"(last: {failure.description})",
            status=failure.status, vendor=self.vendor,
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _decode(self, response: httpx.Response, where: str) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise VendorError(f"{self.label} answered {where} with something that is not JSON",
                              status=response.status_code, vendor=self.vendor) from None

    def _relative_path(self, path: str) -> str:
        parts = urlsplit(path)
        if not parts.scheme:
            return path
        # An absolute URL (a vendor's "next" link) is reduced to our base: never follow it elsewhere.
        relative = parts.path
        if self._base_path and relative.startswith(self._base_path + "/"):
            relative = relative[len(self._base_path):]
        return relative

    def _split_link(self, link: str) -> tuple[str, list[tuple[str, str]]]:
        return self._relative_path(link.split("?", 1)[0]), parse_qsl(urlsplit(link).query, keep_blank_values=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text


def default_detail(response: httpx.Response) -> str:
    """The vendor's own explanation of an error, from the usual JSON keys or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_DETAIL_LIMIT]
    if isinstance(body, dict):
        for key in ("detail", "message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return ""


def parse_retry_after(value: str) -> float | None:
    """`Retry-After` is either a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _secret_values(headers: Mapping[str, str], extra: Iterable[str]) -> tuple[str, ...]:
    values: set[str] = set(extra)
    for name, value in headers.items():
        if any(word in name.lower() for word in _SECRET_HEADER_WORDS):
            values.add(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.isalpha():  # "Bearer abc": the token alone is the secret too
                values.add(credential)
    # Longest first, so a full header value is scrubbed before the token inside it.
    return tuple(sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True))
