"""One bot for a whole property module: each example is a Slack request into it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.localrun import LocalWorld


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalWorld]:
    local = LocalWorld.start(Path(tmp_path_factory.mktemp("properties")) / "offboard.db", vendors=("posthog",))
    yield local
    local.stop()
