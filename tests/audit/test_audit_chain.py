"""The audit log's hash chain on a real SQLite file: appends from many threads and engines never fork
or share a seq, and every kind of tampering done directly in the database is named by `verify_chain`
and by `offboard audit verify`."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from storage import audit
from storage.db import Database
from storage.models import AuditChainHead, AuditEvent

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)



def seed(db: Database, count: int = 6) -> None:
    """A small request's worth of entries, one transaction each, as the workflow writes them."""
    script = [
        ("request_created", "UREQ", {"subject": "alice@corp.com", "reason": "resignation", "ticket": "HR-1",
                                     "vendors": ["posthog"]}),
        ("vendor_assessed", audit.BOT_ACTOR, {"vendor": "posthog", "status": "member",
                                              "member": {"email": "alice@corp.com", "name": "Alice", "role": "admin"}}),
        ("approved", "UAPP1", {}),
        ("step_succeeded", audit.BOT_ACTOR, {"vendor": "posthog", "step": "remove_member",
                                             "outcome": "Removed alice@corp.com",
                                             "details": {"already_removed": False}}),
        ("step_succeeded", audit.BOT_ACTOR, {"vendor": "posthog", "step": "verify_removed", "outcome": "gone"}),
        ("completed", audit.BOT_ACTOR, {}),
    ]
    for index in range(count):
        action, actor, details = script[index % len(script)]
        with db.session() as session:
            audit.record(session, action, actor=actor, request_id=1, at=START + timedelta(minutes=index), **details)


def verdict(db: Database) -> audit.VerifyResult:
    with db.session() as session:
        return audit.verify_chain(session)


def sql(db: Database, statement: str, **params: object) -> None:
    """Tamper the way someone with database access would: plain SQL, around the application."""
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def tamper_detail(db: Database, seq: int, key: str, value: object, **columns: object) -> None:
    """Change one detail of one stored entry (and any plain `columns`) with plain SQL that works on both
    SQLite and PostgreSQL: read the JSON, edit it, write it back."""
    with db.engine.begin() as connection:
        stored = connection.execute(text("SELECT details FROM audit_event WHERE seq = :seq"), {"seq": seq}).scalar_one()
        details = json.loads(stored) if isinstance(stored, str) else dict(stored)
        details[key] = value
        assignments = ", ".join(["details = :details", *(f"{name} = :{name}" for name in columns)])
        connection.execute(text(f"UPDATE audit_event SET {assignments} WHERE seq = :seq"),
                           {"details": json.dumps(details), "seq": seq, **columns})


def seqs(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))))


def rehash(db: Database, seq: int, *, link_to: int | None = None) -> None:
    """What an attacker who knows the algorithm does: recompute a row's hash (and link) after changing it."""
    with db.session() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).one()
        if link_to is not None:
            event.prev_hash = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == link_to)).one()
        event.hash = audit.entry_hash(event)
        session.add(event)


# -- appending ----------------------------------------------------------------------------------------
def test_entries_are_numbered_linked_and_verify(db: Database) -> None:
    seed(db)
    with db.session() as session:
        events = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
        head = session.get(AuditChainHead, 1)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[0].prev_hash == audit.GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert head is not None and (head.seq, head.hash) == (6, events[-1].hash)
    result = verdict(db)
    assert result.ok and result.entries == 6 and result.head_hash == events[-1].hash


def test_personal_values_are_marked_and_hashed_apart(db: Database) -> None:
    seed(db, 2)
    with db.session() as session:
        created, assessed = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert created.personal_paths == [["actor"], ["details", "subject"], ["details", "ticket"]]
    assert assessed.personal_paths == [["details", "member", "email"], ["details", "member", "name"]]
    assert created.details["subject"] == "alice@corp.com"  # stored as recorded until a purge
    assert created.salt and created.personal_digest == audit.personal_digest(
        created.salt, created.actor, created.details, created.personal_paths
    )


def test_identifiers_are_facts_but_titles_that_may_name_someone_are_personal() -> None:
    details = {"vendor": "posthog", "step": "Review Alice Anders's recent changes", "kind": "remove_member",
               "steps": [{"kind": "verify_removed", "title": "Check Alice is gone", "manual": False}],
               "projects": [{"project_name": "Production"}], "why": "not an approver", "teams": ["ops@corp.com"]}
    assert list(audit.personal_in(details)) == [["step"], ["steps", 0, "title"], ["teams", 0]]
    assert audit.personal_paths(audit.BOT_ACTOR, {"step": "remove_member"}) == []


def test_a_rolled_back_transaction_gives_its_seq_back(db: Database) -> None:
    seed(db, 2)
    with pytest.raises(RuntimeError), db.session() as session:
        audit.record(session, "approved", actor="UAPP1", request_id=1)
        raise RuntimeError("the change this event records failed")
    seed(db, 1)
    assert seqs(db) == [1, 2, 3] and verdict(db).ok


def test_concurrent_appends_from_threads_and_engines_never_fork(database_url: str) -> None:
    """8 threads x 50 events, each event in its own transaction, through four engines (as four
    processes would) on one SQLite file. Half the transactions read before they write, as the
    workflow's do."""
    engines = [Database(database_url) for _ in range(4)]
    engines[0].migrate()
    threads, per_thread = 8, 50
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        db = engines[worker % len(engines)]
        barrier.wait()
        try:
            for index in range(per_thread):
                with db.session() as session:
                    if index % 2:
                        session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
                    audit.record(session, "step_started", request_id=worker, vendor="posthog", step=f"n{index}")
        except BaseException as exc:  # collected: an exception in a thread would otherwise vanish
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    try:
        assert errors == []
        assert seqs(engines[0]) == list(range(1, threads * per_thread + 1))
        with engines[0].session() as session:
            per_worker = session.exec(select(AuditEvent.request_id)).all()
        assert all(per_worker.count(w) == per_thread for w in range(threads))
        result = verdict(engines[0])
        assert result.ok and result.entries == threads * per_thread
    finally:
        for engine in engines:
            engine.dispose()


def test_a_transaction_that_records_then_changes_a_row_does_not_deadlock_with_one_that_did_the_reverse(
    db: Database,
) -> None:
    """The workflow records a tick and then asks the request for a pass, while a pass changes the request
    and then records. Were the chain's head taken when an event is recorded, each would hold what the other
    waits for (PostgreSQL breaks such a deadlock by failing one; SQLite makes the second wait out its busy
    timeout). The head is taken at commit, after every other change, so both go through."""
    with db.session() as session:
        session.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        session.execute(text("INSERT INTO probe (id, n) VALUES (1, 0)"))
    recorded, changed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def records_then_changes() -> None:
        try:
            with db.session() as session:
                audit.record(session, "manual_step_confirmed", actor="UADMIN", request_id=1)
                session.flush()
                recorded.set()
                assert changed.wait(10), "the other transaction could not change the row"
                session.execute(text("UPDATE probe SET n = n + 1 WHERE id = 1"))
        except BaseException as exc:  # collected: an exception in a thread would otherwise vanish
            errors.append(exc)

    def changes_then_records() -> None:
        try:
            assert recorded.wait(10)
            with db.session() as session:
                session.execute(text("UPDATE probe SET n = n + 10 WHERE id = 1"))
                changed.set()
                audit.record(session, "status_changed", request_id=1, status="executing")
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=records_then_changes), threading.Thread(target=changes_then_records)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with db.session() as session:
        assert session.execute(text("SELECT n FROM probe WHERE id = 1")).scalar_one() == 11
        actions = session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))).all()
    assert actions == ["status_changed", "manual_step_confirmed"]  # in the order they committed
    assert verdict(db).ok


def test_a_seq_can_be_had_before_commit(db: Database) -> None:
    seed(db, 2)
    with db.session() as session:
        event = audit.record(session, "retention_purged", actor="UADMIN")
        audit.write_queued(session)
        assert event.seq == 3
    seed(db, 1)
    assert seqs(db) == [1, 2, 3, 4] and verdict(db).ok


def test_a_missing_head_with_entries_refuses_to_start_a_second_chain(db: Database) -> None:
    seed(db, 2)
    sql(db, "DELETE FROM audit_chain_head")
    with pytest.raises(audit.AuditChainError, match="head is missing"), db.session() as session:
        audit.record(session, "approved", actor="UAPP1", request_id=1)
    result = verdict(db)
    assert result.problem is not None and result.problem.kind == "removed" and "head" in result.problem.message


# -- tampering ----------------------------------------------------------------------------------------
def problem(db: Database) -> audit.ChainProblem:
    result = verdict(db)
    assert result.problem is not None, "the tampering went unnoticed"
    return result.problem


def test_an_edited_detail_is_named(db: Database) -> None:
    seed(db)
    tamper_detail(db, 4, "step", "demote_owner")
    found = problem(db)
    assert (found.seq, found.kind) == (4, "edited") and "step_succeeded" in found.message


def test_an_edited_personal_value_or_actor_is_named(db: Database) -> None:
    seed(db)
    tamper_detail(db, 1, "subject", "mallory@corp.com")
    assert (problem(db).seq, problem(db).kind) == (1, "edited")
    tamper_detail(db, 1, "subject", "alice@corp.com")
    assert verdict(db).ok  # put back exactly, it verifies again
    sql(db, "UPDATE audit_event SET actor = 'UMAL' WHERE seq = 3")  # who approved
    assert (problem(db).seq, problem(db).kind) == (3, "edited")


def test_an_edit_with_a_recomputed_hash_is_named_by_its_successor(db: Database) -> None:
    seed(db)
    tamper_detail(db, 4, "step", "demote_owner")
    rehash(db, 4)
    found = problem(db)
    assert (found.seq, found.kind) == (4, "edited") and "hash recomputed" in found.message


def test_an_edited_last_entry_with_a_recomputed_hash_is_caught_by_the_head(db: Database) -> None:
    seed(db)
    sql(db, "UPDATE audit_event SET action = 'cancelled' WHERE seq = 6")
    rehash(db, 6)
    found = problem(db)
    assert (found.seq, found.kind) == (6, "edited") and "chain head" in found.message


def test_a_removed_entry_is_named(db: Database) -> None:
    seed(db)
    sql(db, "DELETE FROM audit_event WHERE seq = 3")
    found = problem(db)
    assert (found.seq, found.kind) == (3, "removed") and "jumps from 2 to 4" in found.message


def test_a_removed_entry_with_the_rest_renumbered_is_named(db: Database) -> None:
    seed(db)
    sql(db, "DELETE FROM audit_event WHERE seq = 3")
    sql(db, "UPDATE audit_event SET seq = -(seq - 1) WHERE seq > 3")
    sql(db, "UPDATE audit_event SET seq = -seq WHERE seq < 0")
    assert seqs(db) == [1, 2, 3, 4, 5]
    found = problem(db)
    assert (found.seq, found.kind) == (3, "removed") and "renumbered" in found.message


def test_entries_cut_off_the_end_are_named(db: Database) -> None:
    seed(db)
    sql(db, "DELETE FROM audit_event WHERE seq >= 5")
    found = problem(db)
    assert (found.seq, found.kind) == (5, "removed") and "5…6" in found.message


def test_two_swapped_entries_are_named_as_reordered(db: Database) -> None:
    seed(db)
    sql(db, "UPDATE audit_event SET seq = -1 WHERE seq = 2")
    sql(db, "UPDATE audit_event SET seq = 2 WHERE seq = 5")
    sql(db, "UPDATE audit_event SET seq = 5 WHERE seq = -1")
    found = problem(db)
    assert (found.seq, found.kind) == (2, "reordered") and "recorded as entry 5" in found.message


def test_two_neighbours_swapped_by_content_are_named_as_reordered(db: Database) -> None:
    seed(db)
    columns = "at, request_id, actor, action, details, personal_paths, salt, personal_digest, prev_hash, hash"
    sql(db, f"CREATE TEMP TABLE keep AS SELECT seq, {columns} FROM audit_event WHERE seq IN (3, 4)")
    assignments = ", ".join(f"{c} = (SELECT {c} FROM keep WHERE keep.seq = 7 - audit_event.seq)" for c in
                            columns.split(", "))
    sql(db, f"UPDATE audit_event SET {assignments} WHERE seq IN (3, 4)")
    with db.session() as session:
        assert session.exec(select(AuditEvent.action).where(AuditEvent.seq == 3)).one() == "step_succeeded"
    found = problem(db)
    assert (found.seq, found.kind) == (3, "reordered") and "recorded as entry 4" in found.message


def forge_copy(db: Database, seq: int, source: int, action: str = "approved") -> None:
    sql(
        db,
        "INSERT INTO audit_event (seq, at, request_id, actor, action, details, personal_paths, salt, "
        "personal_digest, prev_hash, hash) SELECT :seq, at, request_id, 'UAPP1', :action, details, personal_paths, "
        "salt, personal_digest, prev_hash, :fake FROM audit_event WHERE seq = :source",
        seq=seq, source=source, action=action, fake="f" * 64,
    )


def shift_up_from(db: Database, seq: int) -> None:
    sql(db, "UPDATE audit_event SET seq = -(seq + 1) WHERE seq >= :seq", seq=seq)
    sql(db, "UPDATE audit_event SET seq = -seq WHERE seq < 0")


def test_a_forged_entry_appended_at_the_end_is_named_as_inserted(db: Database) -> None:
    seed(db)
    forge_copy(db, 7, source=3)
    found = problem(db)
    assert (found.seq, found.kind) == (7, "inserted")


def test_a_forged_entry_with_a_correct_hash_at_the_end_is_caught_by_the_head(db: Database) -> None:
    seed(db)
    forge_copy(db, 7, source=3)
    rehash(db, 7, link_to=6)
    found = problem(db)
    assert (found.seq, found.kind) == (7, "inserted") and "beyond the chain head" in found.message


def test_a_forged_entry_slipped_into_the_middle_is_named_as_inserted(db: Database) -> None:
    seed(db)
    shift_up_from(db, 3)
    forge_copy(db, 3, source=2)
    found = problem(db)
    assert (found.seq, found.kind) == (3, "inserted")


def test_a_well_forged_entry_in_the_middle_is_named_as_inserted(db: Database) -> None:
    seed(db)
    shift_up_from(db, 3)
    forge_copy(db, 3, source=2)
    rehash(db, 3, link_to=2)  # its own hash and link are right; the entry after it gives it away
    sql(db, "UPDATE audit_chain_head SET seq = 7")
    found = problem(db)
    assert (found.seq, found.kind) == (3, "inserted") and "recorded as 3" in found.message


def test_personal_data_erased_outside_a_purge_is_an_edit(db: Database) -> None:
    seed(db)
    tamper_detail(db, 1, "subject", None, salt=None)
    found = problem(db)
    assert (found.seq, found.kind) == (1, "edited") and "no retention purge" in found.message


# -- the command line ---------------------------------------------------------------------------------
def run_cli(db: Database, tmp_path: Path, *args: str) -> tuple[int, str]:
    env_file = tmp_path / "audit.env"
    env_file.write_text(f"DATABASE_URL={db.url}\n")
    result = CliRunner().invoke(cli, ["audit", *args, "--env-file", str(env_file)], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_offboard_audit_verify_says_intact_or_names_the_broken_entry(db: Database, tmp_path: Path) -> None:
    seed(db)
    code, output = run_cli(db, tmp_path, "verify")
    assert code == 0 and "The chain is intact: 6 entries" in output and verdict(db).head_hash in output
    sql(db, "DELETE FROM audit_event WHERE seq = 2")
    code, output = run_cli(db, tmp_path, "verify")
    assert code == 1 and "broken at entry 2: removed" in output and "jumps from 1 to 3" in output


def test_hashing_refuses_naive_times(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"), Session(db.engine) as session:
        audit.record(session, "approved", at=datetime(2026, 1, 1))


def test_verifying_while_the_bot_appends_never_raises_a_false_alarm(db: Database) -> None:
    seed(db)
    done = threading.Event()

    def append() -> None:
        for n in range(150):
            with db.session() as session:
                audit.record(session, "step_started", request_id=1, step=f"s{n}")
        done.set()

    writer = threading.Thread(target=append)
    writer.start()
    verdicts = []
    while not done.is_set():
        verdicts.append(verdict(db))
    writer.join()
    verdicts.append(verdict(db))
    assert len(verdicts) > 1
    assert [v.problem for v in verdicts if v.problem] == []
    assert verdicts[-1].entries == 6 + 150
