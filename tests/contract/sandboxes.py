"""The vendors the contract suite runs against.

A fifth vendor joins the suite with one line in SANDBOXES: its sandbox class, which implements
`vendors.sandbox.contract.ContractSandbox` (and so builds its own connector).
"""

from __future__ import annotations

from tests.fifth_vendor.sandbox import LumenSandbox
from vendors.http import RetryPolicy
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import PostHogSandbox

SANDBOXES = {
    "posthog": PostHogSandbox,
    "amplitude": AmplitudeSandbox,
    "mixpanel": MixpanelSandbox,
    "kissmetrics": KissmetricsSandbox,  # its opt-in API (UNVERIFIED); manual mode: test_manual_only.py
    "lumen": LumenSandbox,  # the made-up fifth vendor of tests/fifth_vendor, added with no change to the bot
}

# Small pages, so every list spans several; quick retries, so fault tests do not wait.
PAGE_SIZE = 40
FAST = RetryPolicy(timeout=1.0, max_attempts=3, backoff=0.01, max_retry_after=2.0)
