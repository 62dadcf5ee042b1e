"""Prometheus figures for every vendor API call (bot.runtime.metrics serves them on /metrics): latency by tool and HTTP
status, and the 429s each vendor answered. Fed by httpx event hooks on VendorHTTP's client."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
VENDOR_CALL_SECONDS = Histogram(
    "offboard_vendor_call_seconds", "Time to a vendor API's answer (headers), by tool and HTTP status.",
    ["tool", "status"], registry=REGISTRY,
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
VENDOR_THROTTLED = Counter("offboard_vendor_throttled_total", "Vendor API answers of 429 (rate limited), by tool.",
                           ["tool"], registry=REGISTRY)
_STARTED = "offboard_started"


def event_hooks(tool: str) -> dict[str, list[Any]]:
    """httpx `event_hooks` that time each call of this vendor's client."""

    def on_request(request: httpx.Request) -> None:
        request.extensions[_STARTED] = time.perf_counter()

    def on_response(response: httpx.Response) -> None:
        started = response.request.extensions.get(_STARTED)
        if started is not None:
            VENDOR_CALL_SECONDS.labels(tool, str(response.status_code)).observe(time.perf_counter() - started)
        if response.status_code == 429:
            VENDOR_THROTTLED.labels(tool).inc()

    return {"request": [on_request], "response": [on_response]}
