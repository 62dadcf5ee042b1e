"""Fixtures every test folder shares: the database each test runs on (SQLite, or PostgreSQL when
OFFBOARD_TEST_POSTGRES names a server; see tests/databases.py), and the check that a test stops every
thread and process it started (tests/leaks.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from tests.databases import TestDatabases, postgres_server
from tests.leaks import Left, Running


def pytest_report_header() -> str:
    server = postgres_server()
    where = make_url(server).render_as_string(hide_password=True) if server else ""
    return f"offboard databases: {'PostgreSQL at ' + where if server else 'SQLite files'}"


@pytest.fixture(scope="module", autouse=True)
def _left_to_module_fixtures() -> Iterator[list[tuple[str, Left]]]:
    """Threads a test left that may belong to a fixture shared by the module (a stand-in's connection
    threads, a shared bot's listener pool, started lazily during a test): they are judged once that
    fixture is torn down, which happens before this one's teardown (autouse: set up first, ended last)."""
    deferred: list[tuple[str, Left]] = []
    yield deferred
    left = [(test, still) for test, what in deferred if (still := what.still_running())]
    if left:
        pytest.fail("; ".join(f"{test} left running: {what.describe()}" for test, what in left), pytrace=False)


@pytest.fixture(autouse=True)
def leaves_logging_as_it_found_it() -> Iterator[None]:
    """A command run in-process (`offboard serve` through typer's runner) sets up the root logger with
    the stream it was given; left so, later tests would log into that closed stream. Put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def leaves_nothing_running(request: pytest.FixtureRequest,
                           _left_to_module_fixtures: list[tuple[str, Left]]) -> Iterator[None]:
    """A test fails when a thread or child process it started outlives it (its fixtures' teardown included):
    left running, it would act during later tests and make them fail instead."""
    before = Running.now()
    yield
    if _uses_shared_fixtures(request):
        # What is still there now may be the shared fixture's, ended with the module: judged then, with the
        # grace given once, rather than waited out after every test of the module.
        if left := before.left_behind(grace=0.0):
            _left_to_module_fixtures.append((request.node.nodeid, left))
        return
    left = before.left_behind()
    if not left:
        return
    pytest.fail(f"{request.node.nodeid} left running: {left.describe()}", pytrace=False)


def _uses_shared_fixtures(request: pytest.FixtureRequest) -> bool:
    """Whether the test uses a fixture of its module's, class's or package's (not the session's: nothing of
    ours started there runs threads)."""
    definitions = getattr(getattr(request.node, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(defs and defs[-1].scope in ("module", "class", "package")
               for name, defs in definitions.items() if name != "_left_to_module_fixtures")


@pytest.fixture(scope="session")
def databases() -> Iterator[TestDatabases]:
    made = TestDatabases(postgres_server())
    yield made
    made.close()


@pytest.fixture
def database_url(databases: TestDatabases, tmp_path: Path) -> Iterator[str]:
    """A database for this test alone (see TestDatabases.new)."""
    url = databases.new(tmp_path)
    yield url
    databases.drop(url)


@pytest.fixture
def empty_database_url(databases: TestDatabases, tmp_path: Path) -> Iterator[str]:
    """A database for this test alone, with no schema at all."""
    url = databases.new(tmp_path, "empty", empty=True)
    yield url
    databases.drop(url)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """This test's database, migrated, for tests that work on it directly."""
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()
