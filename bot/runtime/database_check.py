"""The database, as `offboard check` sees it: reachable, and at the newest migration. Strictly read-only: a
SQLite file is opened read-only (and a missing one is not created), a PostgreSQL session is read-only, and
nothing is migrated (`offboard db upgrade` does that)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from storage.db import alembic_config, head_revision

UPGRADE = "run `offboard db upgrade` (or start the bot, which upgrades)"
CONNECT_TIMEOUT_SECONDS = 10


class MalformedDatabaseUrl(ValueError):
    """DATABASE_URL is not a database URL offboard can use (a malformed setting, not a problem found)."""


def parse_database_url(url: str) -> URL:
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError) as exc:
        raise MalformedDatabaseUrl(f"DATABASE_URL is not a database URL offboard can use: {exc}") from None
    return parsed


def database_problems(url: str) -> list[str]:
    """One line per problem, each saying what to do; none when the database answers at the newest migration.
    Raises MalformedDatabaseUrl."""
    parsed = parse_database_url(url)
    where = parsed.render_as_string(hide_password=True)
    missing = _missing_sqlite_file(parsed)
    if missing:
        return [missing]
    engine = _read_only_engine(parsed)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return [f"Cannot reach the database at {where} ({detail}): check DATABASE_URL and that the database server "
                "is up and lets this machine in"]
    finally:
        engine.dispose()
    head = head_revision()
    if current == head:
        return []
    if current is None:
        return [f"The database at {where} has no offboard schema yet: {UPGRADE}"]
    if not _known(current):
        return [f"The database at {where} is at migration {current}, which this offboard does not know (a newer "
                "offboard upgraded it): deploy that newer offboard"]
    return [f"The database at {where} is at migration {current}; this offboard expects {head}: {UPGRADE}"]


def _missing_sqlite_file(url: URL) -> str | None:
    """Connecting to a missing SQLite file would create it: say so instead."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = Path(str(url.database))
    if path.exists():
        return None
    if not path.parent.exists():
        return (f"The SQLite database {path} cannot be created: its folder {path.parent} does not exist; create the "
                "folder or fix DATABASE_URL")
    return f"The SQLite database {path} does not exist yet: {UPGRADE} to create it"


def _read_only_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        database = str(url.database or ":memory:")
        if database == ":memory:":
            return create_engine("sqlite://", poolclass=NullPool)
        target = f"file:{quote(str(Path(database).resolve()))}?mode=ro"
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(target, uri=True), poolclass=NullPool)
    if url.get_backend_name() == "postgresql":
        return create_engine(url, poolclass=NullPool, connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS, "options": "-c default_transaction_read_only=on"})
    return create_engine(url, poolclass=NullPool)


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:  # an unknown revision
        return False
