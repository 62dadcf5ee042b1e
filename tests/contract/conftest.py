"""One running sandbox per vendor for the whole contract run, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.sandboxes import FAST, PAGE_SIZE, SANDBOXES
from vendors.base import Vendor
from vendors.sandbox.contract import ContractSandbox


@pytest.fixture(scope="session", params=sorted(SANDBOXES))
def running_sandbox(request: pytest.FixtureRequest) -> Iterator[ContractSandbox]:
    with SANDBOXES[request.param]() as sandbox:
        assert isinstance(sandbox, ContractSandbox)
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: ContractSandbox) -> ContractSandbox:
    running_sandbox.reset()
    return running_sandbox


@pytest.fixture
def vendor(sandbox: ContractSandbox) -> Iterator[Vendor]:
    connector = sandbox.connector(FAST, page_size=PAGE_SIZE)
    yield connector
    connector.close()  # type: ignore[attr-defined]
