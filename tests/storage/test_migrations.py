"""The schema comes from Alembic migrations, on SQLite and PostgreSQL alike (the run's database: see
tests/databases.py). They must build exactly what the models describe, adopt a database that create_all
made before migrations existed, and let several instances start at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from storage import audit
from storage.db import BASELINE_REVISION, Database, alembic_config, head_revision
from storage.models import AuditChainHead, OffboardRequest

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_the_migrations_build_exactly_what_the_models_describe(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    try:
        assert db.schema_revision() == head_revision()
        assert differences(db) == []  # a model changed without a migration shows here
    finally:
        db.dispose()


def test_a_database_made_before_migrations_is_adopted_and_keeps_its_rows(empty_database_url: str) -> None:
    old = Database(empty_database_url)
    # Earlier versions of offboard made the schema with create_all: the baseline's tables, no version table.
    with old.engine.begin() as connection:
        command.upgrade(alembic_config(connection), BASELINE_REVISION)
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("DELETE FROM audit_chain_head"))  # the old code made it with the first entry
        connection.execute(text(
            "INSERT INTO offboard_request (id, status, subject_email, subject_name, reason, ticket, note, "
            "requester_id, vendors, decision_comment, created_at, updated_at, mode, mode_params) VALUES (1, "
            "'completed', 'alice@corp.com', '', 'resignation', '', '', 'UREQ', '[]', '', :now, :now, 'full', '{}')"
        ), {"now": NOW})
    with old.session() as session:
        audit.record(session, "request_created", request_id=1, at=NOW, subject="alice@corp.com")
    old.migrate()
    try:
        assert old.schema_revision() == head_revision()
        with old.session() as session:
            assert session.exec(select(OffboardRequest.subject_email)).all() == ["alice@corp.com"]
            assert audit.verify_chain(session).ok  # its chain head was kept, not reset to the genesis
            head = session.get(AuditChainHead, 1)
            assert head is not None and head.seq == 1
    finally:
        old.dispose()


def test_every_migration_can_be_undone_and_redone(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    try:
        with db.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with db.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        db.migrate()
        assert db.schema_revision() == head_revision() and differences(db) == []
        with db.engine.connect() as connection:  # the chain's head row is back, ready for the first entry
            assert connection.execute(text("SELECT seq FROM audit_chain_head")).scalar_one() == 0
    finally:
        db.dispose()


def test_instances_starting_at_once_migrate_once_and_all_start(empty_database_url: str) -> None:
    instances = [Database(empty_database_url) for _ in range(4)]
    barrier = threading.Barrier(len(instances))
    errors: list[BaseException] = []

    def start(db: Database) -> None:
        barrier.wait()
        try:
            db.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert {db.schema_revision() for db in instances} == {head_revision()}
        with instances[0].engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM audit_chain_head")).scalar_one() == 1
    finally:
        for db in instances:
            db.dispose()


def test_the_baseline_is_the_first_migration() -> None:
    revisions = list(ScriptDirectory.from_config(alembic_config()).walk_revisions())
    assert revisions[-1].revision == BASELINE_REVISION and revisions[-1].down_revision is None


def test_db_status_and_upgrade_from_the_command_line(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("COLUMNS", "200")  # long URLs stay on one line
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    behind = runner.invoke(cli, ["db", "status"])
    assert behind.exit_code == 1 and "offboard db upgrade" in behind.output
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0 and f"to migration {head_revision()}" in upgraded.output
    assert runner.invoke(cli, ["db", "upgrade"]).output.count("up to date") == 1
    current = runner.invoke(cli, ["db", "status"])
    assert current.exit_code == 0 and "the newest" in current.output


def test_db_commands_answer_clearly_when_the_database_is_wrong_or_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    monkeypatch.setenv("DATABASE_URL", "nonsense://x")
    wrong = runner.invoke(cli, ["db", "upgrade"])
    assert wrong.exit_code == 2 and "not a database URL" in wrong.output
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/offboard")  # nothing listens on 1
    away = runner.invoke(cli, ["db", "status"])
    assert away.exit_code == 2 and "Cannot reach postgresql+psycopg://nobody@127.0.0.1:1/offboard" in away.output
    assert list(tmp_path.iterdir()) == []  # nothing was made anywhere
