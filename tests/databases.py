"""Where each test's database lives. SQLite files by default; with OFFBOARD_TEST_POSTGRES set to a server's
URL (e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`) every test gets a PostgreSQL database of its
own instead, copied from a template that the migrations built once per run, and dropped afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from storage.db import Database

POSTGRES_ENV = "OFFBOARD_TEST_POSTGRES"


def postgres_server() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


class TestDatabases:
    """Hands out empty databases: a file under the test's own folder, or a fresh PostgreSQL database."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, server: str | None) -> None:
        self.server = server
        self._template: str | None = None
        self._made: list[str] = []
        self._admin = None
        if server:
            # CREATE/DROP DATABASE cannot run inside a transaction.
            self._admin = create_engine(server, isolation_level="AUTOCOMMIT", pool_size=1)

    @property
    def kind(self) -> str:
        return "postgresql" if self.server else "sqlite"

    def new(self, folder: Path, name: str = "offboard", *, empty: bool = False) -> str:
        """A database of the test's own. On PostgreSQL it comes migrated already (copying a template is
        far quicker than migrating each time) unless `empty`; SQLite files always start empty, and the
        bot migrates whatever it is given."""
        if not self.server:
            return f"sqlite:///{folder / f'{name}.db'}"
        database = f"offboard_test_{uuid.uuid4().hex[:12]}"
        template = "template0" if empty else self._migrated_template()
        self._execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
        self._made.append(database)
        return self._url(database)

    def drop(self, url: str) -> None:
        if not self.server:
            return
        database = make_url(url).database
        if database in self._made:
            self._made.remove(database)
            # FORCE: a bot a test left running (or killed) may still hold connections.
            self._execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def close(self) -> None:
        for database in list(self._made):
            self.drop(self._url(database))
        if self._template:
            self._execute(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
        if self._admin is not None:
            self._admin.dispose()

    def _migrated_template(self) -> str:
        if self._template is None:
            template = f"offboard_template_{uuid.uuid4().hex[:12]}"
            self._execute(f'CREATE DATABASE "{template}"')
            database = Database(self._url(template))
            database.migrate()
            database.dispose()  # a template must have no connections while it is copied
            self._template = template
        return self._template

    def _url(self, database: str) -> str:
        assert self.server
        return make_url(self.server).set(database=database).render_as_string(hide_password=False)

    def _execute(self, statement: str) -> None:
        assert self._admin is not None
        with self._admin.connect() as connection:
            connection.execute(text(statement))


def _main(argv: list[str]) -> int:
    """For scripts/test: `--reachable URL` exits 0 when the server answers; `--where URL` prints the URL
    without its password."""
    option, url = argv
    if option == "--where":
        print(make_url(url).render_as_string(hide_password=True))
        return 0
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return 1
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(_main(sys.argv[1:]))
