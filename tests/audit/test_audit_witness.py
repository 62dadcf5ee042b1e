"""Witnessed chain heads: each attack that a plain `offboard audit verify` cannot see (a consistent rewrite of
the whole chain, a dropped tail with the head set back, an emptied table without its head) is done with plain
SQL on a real SQLite file after the bot posted signed heads to the Slack stand-in, and `verify --witness`
names it, reading the heads back through conversations.history or from an exported file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from slack_sdk import WebClient
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.audit.witness_post import HeadWitness, WitnessConfig
from bot.cli.main import app as cli
from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn
from storage import audit, witness
from storage.db import Database
from storage.models import AuditChainHead, AuditEvent, WitnessedHead
from tests.audit.test_audit_chain import START, seed, sql, verdict

AUDIT_CHANNEL = "CAUDIT"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        assert isinstance(standin, SlackStandIn)
        yield standin


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "witness.pem"
    witness.generate_key_file(path)
    return path


def poster(db: Database, slack: SlackStandIn, key_file: Path) -> HeadWitness:
    client = WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/")
    config = WitnessConfig(AUDIT_CHANNEL, timedelta(hours=1))
    return HeadWitness(db, client, witness.load_key_file(key_file), config, clock=lambda: START + timedelta(hours=5))


def witnessed_world(db: Database, slack: SlackStandIn, key_file: Path) -> HeadWitness:
    """Six entries; heads witnessed at entry 3 (the first post) and entry 6 (a removal completed since)."""
    slack.reset()
    posts = poster(db, slack, key_file)
    seed(db, 3)
    assert posts.tick(START + timedelta(hours=1)) is not None
    seed_more(db, 3)
    assert posts.tick(START + timedelta(hours=1, minutes=5)) is not None  # "completed" is entry 6
    assert [m["text"].splitlines()[0][:38] for m in slack.messages(AUDIT_CHANNEL)] == [
        "Signed audit chain head: entry 3, hash", "Signed audit chain head: entry 6, hash"]
    return posts


def seed_more(db: Database, count: int) -> None:
    """The rest of seed()'s script: entries 4, 5 and 6 (the last one is `completed`)."""
    with db.session() as session:
        done = session.exec(select(AuditEvent)).all()
    assert len(done) == 3
    script = [("step_succeeded", {"vendor": "posthog", "step": "remove_member", "outcome": "Removed"}),
              ("step_succeeded", {"vendor": "posthog", "step": "verify_removed", "outcome": "gone"}),
              ("completed", {})]
    for index, (action, details) in enumerate(script[:count]):
        with db.session() as session:
            audit.record(session, action, request_id=1, at=START + timedelta(minutes=10 + index), **details)


def run_verify(db: Database, tmp_path: Path, slack: SlackStandIn, key_file: Path, *args: str) -> tuple[int, str]:
    env_file = tmp_path / "audit.env"
    env_file.write_text(f"DATABASE_URL={db.url}\nSLACK_BOT_TOKEN={DEFAULT_TOKEN}\nSLACK_API_URL={slack.url}/api/\n"
                        f"OFFBOARD_AUDIT_CHANNEL={AUDIT_CHANNEL}\nOFFBOARD_WITNESS_KEY_FILE={key_file}\n")
    result = CliRunner().invoke(cli, ["audit", "verify", "--env-file", str(env_file), *args], env={"COLUMNS": "250"})
    return result.exit_code, result.output


# -- the three attacks ---------------------------------------------------------------------------------
def rewrite_whole_chain(db: Database) -> None:
    """Change who approved, then recompute every digest, hash, link and the head, as someone who read
    storage/audit.py would."""
    with db.session() as session:
        events = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
        events[0].details = {**events[0].details, "ticket": "HR-FORGED"}
        previous = audit.GENESIS_HASH
        for event in events:
            assert event.salt is not None
            event.personal_digest = audit.personal_digest(event.salt, event.actor, event.details,
                                                          event.personal_paths)
            event.prev_hash = previous
            event.hash = audit.entry_hash(event)
            previous = event.hash
            session.add(event)
        session.flush()
        head = session.get(AuditChainHead, 1)
        assert head is not None
        head.hash = previous
        session.add(head)


def drop_tail(db: Database, keep: int) -> None:
    with db.session() as session:
        kept = session.exec(select(AuditEvent.hash).where(AuditEvent.seq == keep)).one()
    sql(db, "DELETE FROM audit_event WHERE seq > :keep", keep=keep)
    sql(db, "UPDATE audit_chain_head SET seq = :keep, hash = :hash", keep=keep, hash=kept)


def truncate(db: Database) -> None:
    sql(db, "DELETE FROM audit_event")
    sql(db, "DELETE FROM audit_chain_head")


def test_an_untouched_chain_holds_every_witnessed_head(db: Database, slack: SlackStandIn, key_file: Path,
                                                        tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 0, output
    assert "The chain is intact: 6 entries" in output
    assert "The chain holds every witnessed head: 2 of 2, the latest entry 6" in output
    history = slack.calls("conversations.history")
    assert history and history[-1].params["channel"] == AUDIT_CHANNEL


def test_a_consistent_rewrite_passes_plain_verify_and_is_named_by_the_witness(
        db: Database, slack: SlackStandIn, key_file: Path, tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    rewrite_whole_chain(db)
    assert verdict(db).ok  # the chain alone cannot tell
    code, output = run_verify(db, tmp_path, slack, key_file)
    assert code == 0 and "The chain is intact: 6 entries" in output
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 1
    assert "✗ rewritten: the chain was rewritten: the head witnessed at entry 3" in output
    assert "never appeared in this chain" in output and "1 later witnessed head(s) never appeared either" in output


def test_a_dropped_tail_with_the_head_set_back_is_named(db: Database, slack: SlackStandIn, key_file: Path,
                                                        tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    drop_tail(db, keep=4)
    assert verdict(db).ok and verdict(db).entries == 4
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 1
    assert "✗ dropped tail: entries 5…6 were dropped from the end of the log" in output
    assert "the chain now ends at entry 4" in output and "1 of 2 witnessed heads are in the chain" in output


def test_an_emptied_table_without_its_head_is_named_a_truncation(db: Database, slack: SlackStandIn, key_file: Path,
                                                                 tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    truncate(db)
    assert verdict(db).ok and verdict(db).entries == 0
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 1
    assert "✗ truncated: the log was truncated: it holds no entries, but its head was witnessed at entry 6" in output


def test_an_exported_file_and_the_public_key_alone_are_enough(db: Database, slack: SlackStandIn, key_file: Path,
                                                              tmp_path: Path) -> None:
    """What an auditor does without Slack access or the private key: the channel exported as JSON Lines, the
    public key printed by `offboard audit witness-key`."""
    witnessed_world(db, slack, key_file)
    export = tmp_path / "audit-channel.jsonl"
    export.write_text("".join(json.dumps(m) + "\n" for m in slack.messages(AUDIT_CHANNEL)))
    shown = CliRunner().invoke(cli, ["audit", "witness-key", str(key_file)])
    public = next(line.split()[-1] for line in shown.output.splitlines() if line.startswith("Public key:"))
    drop_tail(db, keep=5)
    other = tmp_path / "other.pem"
    witness.generate_key_file(other)  # verifying must not need the private key
    code, output = run_verify(db, tmp_path, slack, other, "--witness", str(export), "--public-key", public)
    assert code == 1 and "✗ dropped tail: entries 6…6" in output and f"file {export}" in output


def test_a_head_not_signed_with_our_key_is_named_forged(db: Database, slack: SlackStandIn, key_file: Path,
                                                        tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    with db.session() as session:
        head = session.get(AuditChainHead, 1)
        assert head is not None
        forged = witness.sign_head(witness.load_key_file(key_file), head.seq, head.hash, START)
    tampered = json.dumps({**forged.to_json(), "seq": 7}) + "\n"  # signed for 6, claims 7
    export = tmp_path / "heads.jsonl"
    export.write_text(json.dumps(forged.to_json()) + "\n" + tampered)
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", str(export))
    assert code == 1 and "✗ forged: a head for entry 7" in output and "offboard never signed it" in output


def test_no_heads_at_all_is_not_a_pass(db: Database, slack: SlackStandIn, key_file: Path, tmp_path: Path) -> None:
    slack.reset()
    seed(db, 2)
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 1 and "No head signed with key" in output


# -- posting -------------------------------------------------------------------------------------------
def test_a_head_is_posted_once_and_only_when_due(db: Database, slack: SlackStandIn, key_file: Path) -> None:
    slack.reset()
    posts = poster(db, slack, key_file)
    assert posts.tick(START) is None  # an empty chain has nothing to witness
    seed(db, 2)
    first = posts.tick(START)
    assert first is not None and first.seq == 2
    assert posts.tick(START + timedelta(minutes=1)) is None  # nothing moved
    seed(db, 1)
    assert posts.tick(START + timedelta(minutes=2)) is None  # moved, but no removal completed and within the hour
    later = posts.tick(START + timedelta(hours=1, minutes=1))
    assert later is not None and later.seq == 3
    posted = [witness.heads_in_text(m["text"])[0] for m in slack.messages(AUDIT_CHANNEL)]
    assert [h.seq for h in posted] == [2, 3]
    with db.session() as session:
        rows = session.exec(select(WitnessedHead).order_by(col(WitnessedHead.seq))).all()
    assert [(r.seq, r.ts is not None) for r in rows] == [(2, True), (3, True)]


def test_a_failed_post_is_posted_again_at_the_next_tick(db: Database, slack: SlackStandIn, key_file: Path) -> None:
    slack.reset()
    posts = poster(db, slack, key_file)
    seed(db, 2)
    slack.set_channel(AUDIT_CHANNEL, member=False)  # nobody invited the bot yet
    try:
        assert posts.tick(START) is None
        assert slack.messages(AUDIT_CHANNEL) == []
    finally:
        slack.set_channel(AUDIT_CHANNEL, member=True)
    again = posts.tick(START + timedelta(minutes=1))
    assert again is not None and [witness.heads_in_text(m["text"])[0].seq for m in slack.messages(AUDIT_CHANNEL)] == [2]


def test_the_key_file_is_never_overwritten(key_file: Path) -> None:
    before = key_file.read_bytes()
    result = CliRunner().invoke(cli, ["audit", "witness-key", str(key_file), "--generate"])
    assert result.exit_code == 2 and "never overwrites" in result.output
    assert key_file.read_bytes() == before
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_heads_of_another_key_are_set_aside_not_called_forged(db: Database, slack: SlackStandIn, key_file: Path,
                                                               tmp_path: Path) -> None:
    """After a key rotation the channel holds heads of the old key: they are named, and checked with that key."""
    witnessed_world(db, slack, key_file)
    old_key = tmp_path / "old.pem"
    witness.generate_key_file(old_key)
    with db.session() as session:
        head = session.get(AuditChainHead, 1)
        assert head is not None
        earlier = witness.sign_head(witness.load_key_file(old_key), head.seq, head.hash, START)
    slack.set_channel(AUDIT_CHANNEL)
    WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/").chat_postMessage(
        channel=AUDIT_CHANNEL, text=witness.message_text(earlier))
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    assert code == 0 and f"Heads signed with other keys ({earlier.key_id}) are not checked" in output
    assert "2 of 2" in output


def test_the_history_is_read_page_by_page_and_a_missing_scope_is_explained(
        db: Database, slack: SlackStandIn, key_file: Path, tmp_path: Path) -> None:
    witnessed_world(db, slack, key_file)
    client = WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/")
    for index in range(3):
        client.chat_postMessage(channel=AUDIT_CHANNEL, text=f"chatter {index}")
    first = client.conversations_history(channel=AUDIT_CHANNEL, limit=2)
    assert [m["text"] for m in first["messages"]] == ["chatter 2", "chatter 1"] and first["has_more"]
    rest = client.conversations_history(channel=AUDIT_CHANNEL, limit=10,
                                        cursor=first["response_metadata"]["next_cursor"])
    assert len(rest["messages"]) == 3 and not rest["has_more"]
    assert len(list(witness.iter_history(client, AUDIT_CHANNEL))) == 5
    scopes = slack.scopes
    slack.set_scopes([s for s in scopes if s != "channels:history"])
    try:
        code, output = run_verify(db, tmp_path, slack, key_file, "--witness", "slack")
    finally:
        slack.set_scopes(scopes)
    assert code == 2 and "missing_scope (the bot token needs channels:history)" in output


def test_witness_key_generate_writes_a_private_file_and_prints_the_public_key(tmp_path: Path) -> None:
    path = tmp_path / "new.pem"
    result = CliRunner().invoke(cli, ["audit", "witness-key", str(path), "--generate"])
    assert result.exit_code == 0, result.output
    public = witness.load_key_file(path).public_key()
    assert f"Key id:     {witness.key_id_of(public)}" in result.output
    assert f"Public key: {witness.public_key_text(public)}" in result.output
    assert oct(path.stat().st_mode & 0o777) == "0o600" and "PRIVATE KEY" not in result.output


def test_a_head_another_instance_is_posting_is_left_to_it_until_its_claim_goes_stale(
        db: Database, slack: SlackStandIn, key_file: Path) -> None:
    """Another bot instance (its own engine, as another process) claimed the head and has not posted yet: this
    one leaves it; if that instance died mid-post, the claim goes stale and this one posts."""
    slack.reset()
    seed(db, 2)
    other_db = Database(db.url)
    try:
        with other_db.session() as session:
            head = session.get(AuditChainHead, 1)
            assert head is not None
            session.add(WitnessedHead(seq=head.seq, hash=head.hash, signed_at=START, key_id="k", signature="s",
                                      channel=AUDIT_CHANNEL, claimed_at=START))
    finally:
        other_db.dispose()
    posts = poster(db, slack, key_file)
    assert posts.tick(START + timedelta(minutes=1)) is None and slack.messages(AUDIT_CHANNEL) == []
    late = posts.tick(START + timedelta(minutes=6))
    assert late is not None and late.seq == 2 and len(slack.messages(AUDIT_CHANNEL)) == 1


def test_a_signed_head_the_chain_never_had_is_named(db: Database, slack: SlackStandIn, key_file: Path,
                                                    tmp_path: Path) -> None:
    """A head signed for entry 4 with a hash entry 4 never had (the head record was false when the bot signed
    it), while the heads at 3 and 6 still match: no rewrite, since 6 depends on 4; that head never was the
    chain's."""
    witnessed_world(db, slack, key_file)
    false_head = witness.sign_head(witness.load_key_file(key_file), 4, "f" * 64, START + timedelta(hours=1, minutes=2))
    export = tmp_path / "heads.jsonl"
    lines = [json.dumps(m) for m in slack.messages(AUDIT_CHANNEL)] + [json.dumps(false_head.to_json())]
    export.write_text("\n".join(lines) + "\n")
    code, output = run_verify(db, tmp_path, slack, key_file, "--witness", str(export))
    assert code == 1 and "✗ never appeared: the head witnessed at entry 4" in output
    assert "though later witnessed heads do" in output and "✗ rewritten" not in output
    assert "2 of 3 witnessed heads are in the chain as signed" in output
