"""One bot for a whole property module: each example is a Slack request into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.localrun import LocalWorld
from tests.databases import TestDatabases


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, databases: TestDatabases) -> Iterator[LocalWorld]:
    url = databases.new(Path(tmp_path_factory.mktemp("properties")))
    local = LocalWorld.start(url, vendors=("posthog",))
    yield local
    local.stop()
    databases.drop(url)
