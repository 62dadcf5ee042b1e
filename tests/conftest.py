"""Fixtures every test folder shares: the database each test runs on (SQLite, or PostgreSQL when
OFFBOARD_TEST_POSTGRES names a server; see tests/databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.db import Database
from tests.databases import TestDatabases, postgres_server


def pytest_report_header() -> str:
    server = postgres_server()
    where = make_url(server).render_as_string(hide_password=True) if server else ""
    return f"offboard databases: {'PostgreSQL at ' + where if server else 'SQLite files'}"


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
