"""`check()` of Kissmetrics (one authenticated read in API mode, nothing in manual mode) and of a vendor worked
by hand, against the Kissmetrics sandbox over real HTTP, as `offboard check` calls them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.runtime.app import manual_vendor
from vendors.base import Checkable, deployment_problems
from vendors.http import RetryPolicy
from vendors.kissmetrics import KissmetricsVendor
from vendors.sandbox.kissmetrics import SANDBOX_API_KEY, KissmetricsSandbox
from vendors.sandbox.server import Fault

WRONG_KEY = "km_definitely_not_valid_0123456789"


@pytest.fixture(scope="module")
def km_server() -> Iterator[KissmetricsSandbox]:
    with KissmetricsSandbox() as server:
        yield server


@pytest.fixture
def sandbox(km_server: KissmetricsSandbox) -> KissmetricsSandbox:
    km_server.reset()
    return km_server


def connector(sandbox: KissmetricsSandbox, key: str = SANDBOX_API_KEY, url: str | None = None) -> KissmetricsVendor:
    return KissmetricsVendor(key, url or sandbox.url, policy=RetryPolicy(backoff=0.001, max_attempts=2))


def test_api_mode_makes_one_authenticated_read(sandbox: KissmetricsSandbox) -> None:
    vendor = connector(sandbox)
    assert isinstance(vendor, Checkable)
    assert deployment_problems(vendor) == []
    reads = sandbox.requests()
    assert [(method, path.split("?")[0]) for method, path in reads] == [("GET", "/v1/users")]
    vendor.close()


def test_a_wrong_key_says_which_setting_to_fix_and_never_shows_the_key(sandbox: KissmetricsSandbox) -> None:
    problems = deployment_problems(connector(sandbox, WRONG_KEY))
    assert len(problems) == 1
    assert "Invalid API key." in problems[0] and "KISSMETRICS_API_KEY" in problems[0]
    assert WRONG_KEY not in problems[0]


def test_a_url_without_the_user_api_says_so(sandbox: KissmetricsSandbox) -> None:
    problems = deployment_problems(connector(sandbox, url=sandbox.url + "/nothing-here"))
    assert len(problems) == 1 and "may not have the user API" in problems[0]


def test_an_outage_names_the_url_to_check(sandbox: KissmetricsSandbox) -> None:
    sandbox.inject(Fault("status", 500, {"error": "server_error", "message": "Something went wrong."}, times=None))
    problems = deployment_problems(connector(sandbox))
    assert len(problems) == 1
    assert "500" in problems[0] and "KISSMETRICS_API_URL" in problems[0] and sandbox.url in problems[0]


def test_manual_mode_and_manual_only_vendors_have_nothing_to_check(sandbox: KissmetricsSandbox) -> None:
    for vendor in (KissmetricsVendor(), manual_vendor("mixpanel"), manual_vendor("kissmetrics")):
        assert isinstance(vendor, Checkable)
        assert deployment_problems(vendor) == [] and not vendor.capabilities
    assert sandbox.requests() == []
