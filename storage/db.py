"""The database engine, sessions and schema. SQLite (WAL) by default, PostgreSQL by `DATABASE_URL`;
both get their schema from the same Alembic migrations (`storage/migrations/`)."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlmodel import Session, create_engine

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

DEFAULT_DATABASE_URL = "sqlite:///offboard.db"
MIGRATIONS = Path(__file__).with_name("migrations")
# The schema as it stood when migrations began; databases made before then by create_all are stamped
# with it, so they upgrade like any other.
BASELINE_REVISION = "0001"
# Any constant shared by every instance: pg_advisory_xact_lock serialises their migrations.
_MIGRATION_LOCK_KEY = 0x0FFB0A2D


def make_engine(url: str = DEFAULT_DATABASE_URL) -> Engine:
    if url.startswith("sqlite"):
        # Worker threads each open their own session, so sharing the connection pool across
        # threads is safe; busy_timeout lets concurrent writers wait instead of failing.
        # A SQLite connection is a file handle: enough for every busy thread (workers, their vendor pool,
        # Slack listeners) to hold one rather than wait on the pool.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=100)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Sessions are short, so threads share a pool; it is kept within what two or three instances may open
    # together under PostgreSQL's default max_connections (100). Times are timestamptz, read back in UTC.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args={"options": "-c timezone=UTC"})


def make_read_only_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite opened `mode=ro` (and `immutable` for a read-only copy, where
    SQLite could not even make its shared-memory file), PostgreSQL in read-only transactions. No pragma
    that writes, no pool of 20: one reader at a time."""
    if url.startswith("sqlite"):
        engine = create_engine(sqlite_read_only_url(url), connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_read_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=1, max_overflow=2,
                         connect_args={"options": "-c timezone=UTC -c default_transaction_read_only=on"})


def sqlite_read_only_url(url: str) -> URL:
    parsed = make_url(url)
    path = parsed.database or ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return parsed
    absolute = os.path.abspath(path)
    flags = "mode=ro&immutable=1" if read_only_copy(absolute) else "mode=ro"
    return parsed.set(database=f"file:{absolute}?{flags}", query={**parsed.query, "uri": "true"})


def read_only_copy(path: str) -> bool:
    """A database file, or the folder it is in, with no write permission for anyone: nothing writes to it,
    so SQLite may read it as immutable. (By its mode bits, not access(): root may write anywhere.)"""
    def unwritable(where: str) -> bool:
        try:
            return not os.stat(where).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        except OSError:
            return False

    return unwritable(path) or unwritable(os.path.dirname(path) or ".")


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL still survives a crash of the bot (SIGKILL included); only a power cut may lose the
    # last commits, and every vendor step is safe to run again. FULL would fsync on every commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    def __init__(self, url: str = DEFAULT_DATABASE_URL, *, read_only: bool = False) -> None:
        """`read_only`: open it so that nothing is written, not even SQLite's journal (see
        make_read_only_engine); `migrate` is then refused."""
        self.url = url
        self.read_only = read_only
        self.engine = make_read_only_engine(url) if read_only else make_engine(url)

    def migrate(self) -> None:
        """Bring the schema to the newest migration. Safe to call from several instances starting at
        once: they take turns, and the later ones find nothing left to do."""
        if self.read_only:
            raise RuntimeError("a database opened read-only is never migrated")
        with _migration_lock(self.url), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            config = alembic_config(connection)
            if _made_before_migrations(connection):
                command.stamp(config, BASELINE_REVISION)
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        """The migration the database is at (None before the first)."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error. Attributes stay readable
        after commit so callers can return the rows they loaded."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _made_before_migrations(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return "offboard_request" in tables and "alembic_version" not in tables


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """SQLite has no advisory locks: instances sharing a database file take turns on a lock file
    beside it (PostgreSQL's lock is taken inside the migration's transaction instead)."""
    database = make_url(url).database if url.startswith("sqlite") else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
