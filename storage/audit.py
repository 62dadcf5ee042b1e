"""The audit log: one append-only event for every change of state, chained by hashes.

Each entry carries `seq` (1, 2, 3… without gaps), `prev_hash` (the hash of entry seq-1, or
`GENESIS_HASH` for the first) and `hash`, the SHA-256 of a canonical JSON document of the entry:
seq, at, request_id, action, the public part of actor and details, the paths of the personal part,
the digest of the personal part, and prev_hash. Changing, removing, reordering or inserting an entry
therefore breaks the chain where it happened, and `verify_chain` names that entry.

Personal data (emails, names, free text, who acted) is hashed only through `personal_digest`, a salted
SHA-256 over those values, so that a retention purge can erase them and the salt while the chain still
verifies (see storage/retention.py for the whole design).

Appends serialize through the one-row `audit_chain_head`. `record` only queues the event on the session;
the transaction's commit takes the head (an UPDATE, so the row lock on PostgreSQL or the write lock on
SQLite makes concurrent transactions take their seqs one after the other) and writes the queued events.
Taking the head last matters: it is the one row every transaction that records touches, so a transaction
holding it while it goes on to change a request or a step would deadlock with one that changed that row
first and records next. A transaction that rolls back writes nothing and takes no seq.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, func, insert, update
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from storage.models import AuditChainHead, AuditEvent, utcnow
from vendors.base import to_jsonable

BOT_ACTOR = "offboard"
GENESIS_HASH = "0" * 64
PURGED = "[purged]"  # what a purge leaves in a personal text column
PURGE_ACTION = "retention_purged"
HASH_SCHEME = 1  # part of every hashed document, so a future scheme can never be confused with this one

# Keys whose values are facts about the process, not about a person. Everything else is personal
# (default-deny, so a detail someone adds later is purged unless it is declared safe here). Values
# under these keys are still searched: a dict under a safe key has its own keys checked, and any text
# that contains "@" (an email, a Slack mention) is personal wherever it sits.
SAFE_KEYS = frozenset(
    {
        "action", "already_removed", "asset_id", "assets", "attempted", "changed", "channel", "count",
        "demoted_first", "details", "dry_run", "due", "effective_at", "format", "from_level", "invite_batch_ids",
        "joined_at", "last_login", "last_login_known", "level", "level_before", "manual", "member", "project_id",
        "project_name", "projects", "reason", "records", "replaces", "request_ids", "restricted", "retained_until",
        "role", "rows", "since", "status", "steps", "table", "teams", "to_level", "ts", "unlinked_seqs", "until",
        "vendor", "vendor_role", "vendors", "verified_at", "via", "was_restricted", "why", "withheld",
    }
)  # fmt: skip
# Keys that hold an identifier ("remove_member") in some entries and words for people in others (a
# manual step's title, which may name the person): safe only while the value is an identifier.
IDENTIFIER_KEYS = frozenset({"kind", "step"})
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")

Path = list[str | int]


# -- canonical form and hashing ---------------------------------------------------------------------
def canonical(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def json_safe(details: dict[str, Any]) -> dict[str, Any]:
    """Details exactly as the JSON column will hand them back (datetimes as text, tuples as lists,
    keys as strings), so the hash computed now is the hash recomputed later."""
    return json.loads(json.dumps(to_jsonable(details), default=str))


def personal_paths(actor: str, details: dict[str, Any]) -> list[Path]:
    """Where the personal data of an entry is, as paths into {"actor": …, "details": …}."""
    paths: list[Path] = [] if actor == BOT_ACTOR else [["actor"]]
    return paths + [["details", *path] for path in personal_in(details)]


def personal_in(value: Any, path: Path | None = None) -> Iterator[Path]:
    """Paths of the personal values inside `value` (see SAFE_KEYS)."""
    path = path or []
    if isinstance(value, dict):
        for key in sorted(value):
            item = value[key]
            if key in SAFE_KEYS or (key in IDENTIFIER_KEYS and _is_identifier(item)):
                yield from personal_in(item, [*path, key])
            elif item not in (None, "", [], {}):
                yield [*path, key]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from personal_in(item, [*path, index])
    elif isinstance(value, str) and "@" in value:
        yield path


def _is_identifier(value: Any) -> bool:
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def value_at(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def blanked(document: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """A copy of `document` with the value at each path replaced by None. Blanking twice changes
    nothing, so a purged entry hashes like the entry it was."""
    copied = copy.deepcopy(document)
    for path in paths:
        if not path:
            continue
        parent = value_at(copied, path[:-1])
        parent[path[-1]] = None
    return copied


def personal_digest(salt: str, actor: str, details: dict[str, Any], paths: list[Path]) -> str:
    whole = {"actor": actor, "details": details}
    return sha256_hex(canonical({"salt": salt, "values": [value_at(whole, p) for p in paths]}))


def entry_hash(event: AuditEvent, *, seq: int | None = None) -> str:
    """The hash the entry must carry; `seq` recomputes it as if it had been recorded at another place."""
    public = blanked({"actor": event.actor, "details": event.details}, event.personal_paths)
    document = {
        "scheme": HASH_SCHEME,
        "seq": event.seq if seq is None else seq,
        "at": canonical_time(event.at),
        "request_id": event.request_id,
        "action": event.action,
        "actor": public["actor"],
        "details": public["details"],
        "personal_paths": event.personal_paths,
        "personal_digest": event.personal_digest,
        "prev_hash": event.prev_hash,
    }
    return sha256_hex(canonical(document))


# -- appending --------------------------------------------------------------------------------------
class AuditChainError(RuntimeError):
    """The chain cannot be extended safely (its head is gone while entries exist)."""


def record(
    session: Session,
    action: str,
    *,
    actor: str = BOT_ACTOR,
    request_id: int | None = None,
    at: datetime | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an event in the caller's transaction, so the event and the change it records commit
    together or not at all. Its seq and hashes are given at commit (see the module's docstring), or by
    `write_queued` when the caller needs the seq sooner."""
    moment = at or utcnow()
    canonical_time(moment)  # refuse a naive time now, not at commit
    clean = json_safe(details)
    paths = personal_paths(actor, clean)
    salt = secrets.token_hex(16)
    event = AuditEvent(
        at=moment.astimezone(UTC),
        request_id=request_id,
        actor=actor,
        action=action,
        details=clean,
        personal_paths=paths,
        salt=salt,
        personal_digest=personal_digest(salt, actor, clean, paths),
        prev_hash="",
        hash="",
    )
    session.info.setdefault(_QUEUED, []).append(event)
    return event


def write_queued(session: Session) -> None:
    """Give the session's queued events their places in the chain and add them, taking the chain's head
    for the rest of the transaction. Commit does this by itself; call it only to read a seq before."""
    queued: list[AuditEvent] = session.info.pop(_QUEUED, [])
    if not queued:
        return
    last, prev_hash = _advance_head(session, len(queued))
    for seq, event in enumerate(queued, start=last - len(queued) + 1):
        event.seq = seq
        event.prev_hash = prev_hash
        event.hash = prev_hash = entry_hash(event)
        session.add(event)
    head = AuditChainHead.__table__
    session.execute(update(head).where(head.c.id == 1).values(hash=prev_hash))


_QUEUED = "audit.queued"


@orm_events.listens_for(OrmSession, "before_commit")
def _write_at_commit(session: OrmSession) -> None:
    write_queued(session)  # type: ignore[arg-type]


@orm_events.listens_for(OrmSession, "after_soft_rollback")
def _forget_on_rollback(session: OrmSession, previous_transaction: Any) -> None:
    session.info.pop(_QUEUED, None)


def _advance_head(session: Session, count: int) -> tuple[int, str]:
    """Take the next `count` seqs: the last of them, and the hash before the first. The UPDATE comes first:
    it takes the write lock before this transaction reads anything of the chain, so no two transactions
    can read the same head."""
    head = AuditChainHead.__table__
    bump = update(head).where(head.c.id == 1).values(seq=head.c.seq + count)
    if session.execute(bump).rowcount == 0:  # type: ignore[attr-defined]
        _create_head(session)
        session.execute(bump)
    row = session.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).one()
    return int(row.seq), str(row.hash)


def _create_head(session: Session) -> None:
    existing = session.exec(select(func.count()).select_from(AuditEvent)).one()
    if existing:
        raise AuditChainError(
            f"the audit chain head is missing although {existing} entries exist; run `offboard audit verify`"
        )
    values = {"id": 1, "seq": 0, "hash": GENESIS_HASH}
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(AuditChainHead.__table__).values(values).on_conflict_do_nothing())
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(AuditChainHead.__table__).values(values).on_conflict_do_nothing())
    else:
        session.execute(insert(AuditChainHead.__table__).values(values))


# -- reading ----------------------------------------------------------------------------------------
def events_for(session: Session, request_id: int) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(col(AuditEvent.seq))
    return list(session.exec(statement))


def is_purged(event: AuditEvent) -> bool:
    return event.salt is None


# -- verifying --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainProblem:
    seq: int  # the first entry that is wrong (for a removal: the first one missing)
    kind: str  # "edited" | "removed" | "reordered" | "inserted"
    message: str


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    head_seq: int
    head_hash: str
    purged_entries: int = 0
    problem: ChainProblem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(session: Session) -> VerifyResult:
    """Recompute the chain from the first entry and stop at the first one that is wrong."""
    try:
        return _verify_chain(session)
    except ValueError:  # a details column that is not JSON (edited outside offboard) fails to load
        seq = _first_unreadable_details(session)
        if seq is None:
            raise
        message = f"entry {seq}'s details are not JSON any more: it was edited outside offboard"
        head = session.get(AuditChainHead, 1)
        return VerifyResult(seq - 1, head.seq if head else 0, head.hash if head else GENESIS_HASH, 0,
                            ChainProblem(seq, "edited", message))


def _first_unreadable_details(session: Session) -> int | None:
    """The first entry whose details, read as stored text, do not parse as JSON."""
    rows = session.exec(select(AuditEvent.seq, cast(AuditEvent.details, String)).order_by(col(AuditEvent.seq)))
    for seq, stored in rows:
        try:
            json.loads(stored)
        except (TypeError, ValueError):
            return int(seq)
    return None


def _verify_chain(session: Session) -> VerifyResult:
    head_row = session.get(AuditChainHead, 1)
    head_seq, head_hash = (head_row.seq, head_row.hash) if head_row else (0, GENESIS_HASH)
    if head_row is None:
        count = session.exec(select(func.count()).select_from(AuditEvent)).one()
        if count:
            problem = ChainProblem(count, "removed", "the chain head record is missing, so entries cut off the "
                                                     "end of the log could not be noticed")
            return VerifyResult(0, head_seq, head_hash, 0, problem)
    purged_requests, purged_seqs = _purges_recorded(session)
    checker = _Checker(session, head_seq, purged_requests, purged_seqs)
    position, prev_hash, purged = 1, GENESIS_HASH, 0
    # Only up to the head as read above: the bot may be appending while an admin verifies, and what it
    # appends after that read is checked by the next verification, not mistaken for an insertion.
    upto_head = select(AuditEvent).where(col(AuditEvent.seq) <= head_seq).order_by(col(AuditEvent.seq))
    for event in session.exec(upto_head):
        problem = checker.check(event, position, prev_hash)
        if problem:
            return VerifyResult(position - 1, head_seq, head_hash, purged, problem)
        position, prev_hash = event.seq + 1, event.hash
        purged += is_purged(event)
    forged = _beyond_the_head(session)
    if forged is not None:
        message = f"entry {forged} was inserted: it lies beyond the chain head, which records fewer entries"
        return VerifyResult(position - 1, head_seq, head_hash, purged, ChainProblem(forged, "inserted", message))
    entries = position - 1
    if head_seq > entries:
        message = (
            f"entries {entries + 1}…{head_seq} are missing from the end of the log (the chain head records {head_seq})"
        )
        return VerifyResult(entries, head_seq, head_hash, purged, ChainProblem(entries + 1, "removed", message))
    if head_hash != prev_hash:
        message = f"entry {entries} is not the entry the chain head recorded: it was altered and its hash recomputed"
        return VerifyResult(entries, head_seq, head_hash, purged, ChainProblem(entries, "edited", message))
    return VerifyResult(entries, head_seq, head_hash, purged)


def _beyond_the_head(session: Session) -> int | None:
    """The first entry past the chain head as it stands now (a row added without moving the head), if any.
    The head is read after the entries, so an append committed meanwhile has moved it past its entry."""
    last = session.exec(select(func.max(AuditEvent.seq))).one()
    head = session.exec(select(AuditChainHead.seq).where(AuditChainHead.id == 1)).first() or 0
    if last is None or last <= head:
        return None
    return int(head) + 1


def _purges_recorded(session: Session) -> tuple[set[int], set[int]]:
    """Requests and request-less entries that retention purges say they erased."""
    requests: set[int] = set()
    seqs: set[int] = set()
    for details in session.exec(select(AuditEvent.details).where(AuditEvent.action == PURGE_ACTION)):
        requests.update(int(r) for r in details.get("request_ids") or [])
        seqs.update(int(s) for s in details.get("unlinked_seqs") or [])
    return requests, seqs


class _Checker:
    def __init__(self, session: Session, head_seq: int, purged_requests: set[int], purged_seqs: set[int]) -> None:
        self.session = session
        self.head_seq = head_seq
        self.purged_requests = purged_requests
        self.purged_seqs = purged_seqs

    def check(self, event: AuditEvent, position: int, prev_hash: str) -> ChainProblem | None:
        if event.seq > position:
            missing = f"entry {position}" if event.seq == position + 1 else f"entries {position}…{event.seq - 1}"
            return ChainProblem(position, "removed", f"{missing} removed: the log jumps from {position - 1} to "
                                                     f"{event.seq}")
        if event.seq > self.head_seq:
            return ChainProblem(position, "inserted", f"entry {position} was inserted: it lies beyond the chain "
                                                      f"head, which records {self.head_seq} entries")
        if entry_hash(event) != event.hash:
            return self._misplaced_or_edited(event, position)
        if event.prev_hash != prev_hash:
            if position == 1:
                return ChainProblem(1, "edited", "entry 1 does not start the chain (its link was rewritten)")
            return ChainProblem(position - 1, "edited", f"entry {position - 1} is not the entry that entry "
                                f"{position} followed when it was recorded: it was altered and its hash recomputed, "
                                "or replaced")
        return self._personal_problem(event)

    def _personal_problem(self, event: AuditEvent) -> ChainProblem | None:
        if is_purged(event):
            covered = event.seq in self.purged_seqs or (
                event.request_id is not None and event.request_id in self.purged_requests
            )
            if covered:
                return None
            return ChainProblem(event.seq, "edited", f"entry {event.seq}'s personal data was erased, but no "
                                                     "retention purge in the log names it")
        assert event.salt is not None
        expected = personal_digest(event.salt, event.actor, event.details, event.personal_paths)
        if expected != event.personal_digest:
            return ChainProblem(event.seq, "edited", f"entry {event.seq} ({event.action}) was altered: its actor "
                                                     "or personal details differ from what was recorded")
        return None

    def _misplaced_or_edited(self, event: AuditEvent, position: int) -> ChainProblem:
        recorded_as = self._recorded_seq(event, position)
        if recorded_as is not None:
            if not self._predecessor_exists(event):
                return ChainProblem(position, "removed", f"entry {position} was removed and the entries after it "
                                    f"renumbered (the entry now at {position} was recorded as {recorded_as})")
            if recorded_as < position:
                return ChainProblem(recorded_as, "inserted", f"entry {recorded_as} was inserted: the entry now at "
                                    f"{position} was recorded as {recorded_as}")
            return ChainProblem(position, "reordered", f"entries were reordered: the entry at {position} "
                                f"({event.action}) was recorded as entry {recorded_as}")
        following = self.session.exec(select(AuditEvent).where(AuditEvent.seq == position + 1)).first()
        if following is not None and entry_hash(following, seq=position) == following.hash:
            return ChainProblem(position, "inserted", f"entry {position} ({event.action}) was inserted: the entry "
                                f"after it was recorded as {position}")
        return ChainProblem(position, "edited", f"entry {position} ({event.action}) was altered after it was "
                                                "recorded: its hash does not match its content")

    def _recorded_seq(self, event: AuditEvent, position: int) -> int | None:
        """The seq under which the entry's hash checks out, when that is not where it is now."""
        candidates = {position - 1, position + 1}
        if event.prev_hash == GENESIS_HASH:
            candidates.add(1)
        before = self.session.exec(select(AuditEvent.seq).where(AuditEvent.hash == event.prev_hash)).first()
        if before is not None:
            candidates.add(before + 1)
        return next((s for s in sorted(candidates - {position}) if s > 0 and entry_hash(event, seq=s) == event.hash),
                    None)

    def _predecessor_exists(self, event: AuditEvent) -> bool:
        if event.prev_hash == GENESIS_HASH:
            return True
        return self.session.exec(select(AuditEvent.id).where(AuditEvent.hash == event.prev_hash)).first() is not None
