"""`offboard db`: the schema's migrations from the terminal. The bot migrates on start too; these are for
an operator who wants to upgrade before a deploy, or to see where a database stands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from storage.db import Database

db_app = typer.Typer(help="The database schema: upgrade it, or show which migration it is at.", no_args_is_help=True)
console = Console()
EnvFile = Annotated[Path | None, typer.Option(help="A .env-style file with the settings (DATABASE_URL, …).")]


def _database(env_file: Path | None) -> Database:
    # Imported here, as in bot.cli.main: `offboard --help` should not load the database stack.
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from bot.runtime.config import Settings
    from storage.db import Database

    settings = Settings(_env_file=env_file) if env_file else Settings()
    try:
        return Database(settings.database_url)
    except (ArgumentError, NoSuchModuleError) as exc:
        console.print(f"[bold red]DATABASE_URL is not a database URL offboard can use:[/] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _reaching(db: Database) -> Iterator[None]:
    """A database that cannot be reached is a clear answer and exit 2, not a traceback."""
    from sqlalchemy.exc import OperationalError

    try:
        yield
    except OperationalError as exc:
        console.print(f"[bold red]Cannot reach {_where(db)}:[/] {str(exc.orig or exc).strip().splitlines()[0]}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def _where(db: Database) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db.url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def upgrade(env_file: EnvFile = None) -> None:
    """Apply every migration the database lacks (safe while other instances start: they take turns)."""
    db = _database(env_file)
    with _reaching(db):
        before = db.schema_revision()
        db.migrate()
        after = db.schema_revision()
    if before == after:
        console.print(f"{_where(db)} is up to date (migration {after}).")
    else:
        console.print(f"{_where(db)} upgraded from {before or 'an empty schema'} to migration {after}.")


@db_app.command("status")
def status(env_file: EnvFile = None) -> None:
    """Which migration the database is at, and whether the code expects a newer one. Changes nothing."""
    db = _database(env_file)
    with _reaching(db):
        current = db.schema_revision()
    from storage.db import head_revision

    head = head_revision()
    if current == head:
        console.print(f"{_where(db)} is at migration {current}, the newest.")
        return
    console.print(f"{_where(db)} is at migration {current or 'none'}; this offboard expects {head}. "
                  "Run `offboard db upgrade` (or start the bot, which upgrades).")
    raise typer.Exit(1)
