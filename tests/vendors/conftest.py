from __future__ import annotations

from collections.abc import Iterator

import pytest

from vendors.sandbox.posthog import PostHogSandbox


@pytest.fixture(scope="session")
def posthog_server() -> Iterator[PostHogSandbox]:
    # One running server for the whole run, reset before each test: stopping a server costs 0.5 s.
    with PostHogSandbox() as server:
        yield server


@pytest.fixture
def sandbox(posthog_server: PostHogSandbox) -> PostHogSandbox:
    posthog_server.reset(page_size=100)
    return posthog_server
