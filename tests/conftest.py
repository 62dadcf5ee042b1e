"""Fixtures every test folder shares: the database each test runs on (SQLite, or PostgreSQL when
OFFBOARD_TEST_POSTGRES names a server; see tests/databases.py), and the check that a test stops every
thread and process it started (tests/leaks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from tests.databases import TestDatabases, postgres_server
from tests.leaks import Running


def pytest_report_header() -> str:
    server = postgres_server()
    where = make_url(server).render_as_string(hide_password=True) if server else ""
    return f"offboard databases: {'PostgreSQL at ' + where if server else 'SQLite files'}"


@pytest.fixture(autouse=True)
def leaves_nothing_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test fails when a thread or child process it started outlives it (its fixtures' teardown included):
    left running, it would act during later tests and make them fail instead."""
    before = Running.now()
    yield
    left = before.left_behind()
    if left:
        pytest.fail(f"{request.node.nodeid} left running: " + "; ".join(left), pytrace=False)


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
