"""Witnessed chain heads: the audit chain's head signed with a key kept outside the database, posted to Slack.

`verify_chain` (storage/audit.py) catches an entry edited, removed, reordered or inserted, but someone who
can write to the database can also rebuild the whole chain consistently (recompute every hash and the head),
drop the last entries and set the head back, or empty the table and delete the head: the chain then verifies.
What stops that is a record of the head kept where that person cannot write: offboard signs the head
(seq, hash, time) with an Ed25519 key read from a file (never the database, never a log) and posts it to an
audit channel, where Slack's own timestamps say by when that head existed. `check_witnessed` compares the
chain as it is now with every signed head read back (from the channel's history, or from an exported file)
and names what it finds.

A signed head is posted as a code block holding one JSON object {seq, hash, at, key_id, sig}: `sig` is the
base64 Ed25519 signature of `signed_bytes`, the canonical JSON of the other four fields.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import Session, col, func, select

from storage.audit import canonical, canonical_time, sha256_hex
from storage.models import AuditEvent

WITNESS_SCHEME = 1
MESSAGE_TITLE = "Signed audit chain head"
_CODE_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


# -- the key ----------------------------------------------------------------------------------------
class WitnessKeyError(ValueError):
    """The witness key file is missing or is not an Ed25519 private key."""


def key_id_of(public: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)[:16]


def public_key_text(public: Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes: what an auditor keeps to check signatures."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError) as exc:
        raise WitnessKeyError("not an Ed25519 public key (base64 of 32 bytes)") from exc


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """A new private key in `path` (PEM, readable by the owner only). Refuses to overwrite: a lost key
    cannot re-sign the heads already witnessed, so replacing one must be a deliberate act."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    return key


def load_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WitnessKeyError(f"cannot read the witness key file {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise WitnessKeyError(f"{path} holds no unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessKeyError(f"{path} holds a private key that is not Ed25519")
    return key


# -- a signed head ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignedHead:
    seq: int
    hash: str
    at: str  # when it was signed, canonical UTC
    key_id: str
    sig: str  # base64 Ed25519 signature of signed_bytes()
    slack_ts: str | None = None  # when Slack received the post, if it was read from Slack

    def signed_bytes(self) -> bytes:
        return canonical({"scheme": WITNESS_SCHEME, "seq": self.seq, "hash": self.hash, "at": self.at,
                          "key_id": self.key_id})

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id, "sig": self.sig}

    def signature_ok(self, public: Ed25519PublicKey) -> bool:
        if self.key_id != key_id_of(public):
            return False
        try:
            public.verify(base64.b64decode(self.sig, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True

    @property
    def witnessed_at(self) -> str:
        """Slack's time when known (the witness), else the signer's own claim."""
        if self.slack_ts:
            return datetime.fromtimestamp(float(self.slack_ts), UTC).isoformat(timespec="seconds")
        return self.at


def sign_head(key: Ed25519PrivateKey, seq: int, head_hash: str, at: datetime) -> SignedHead:
    unsigned = SignedHead(seq, head_hash, canonical_time(at), key_id_of(key.public_key()), "")
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    return SignedHead(seq, head_hash, unsigned.at, unsigned.key_id, signature)


def head_from_json(value: Any, slack_ts: str | None = None) -> SignedHead | None:
    """A signed head from its JSON object; None when `value` is not one (any other message)."""
    if not isinstance(value, dict) or not {"seq", "hash", "at", "key_id", "sig"} <= set(value):
        return None
    try:
        return SignedHead(int(value["seq"]), str(value["hash"]), str(value["at"]), str(value["key_id"]),
                          str(value["sig"]), slack_ts)
    except (TypeError, ValueError):
        return None


def message_text(head: SignedHead) -> str:
    """The Slack message: a line for people, then the JSON in a code block for `heads_in_text`."""
    summary = f"{MESSAGE_TITLE}: entry {head.seq}, hash {head.hash[:16]}…, signed {head.at}"
    return f"{summary}\n```{json.dumps(head.to_json(), sort_keys=True)}```"


def heads_in_text(text: str, slack_ts: str | None = None) -> list[SignedHead]:
    found = []
    for block in _CODE_BLOCK.findall(text or ""):
        try:
            head = head_from_json(json.loads(block), slack_ts)
        except json.JSONDecodeError:
            continue
        if head is not None:
            found.append(head)
    return found


def heads_in_messages(messages: Iterable[dict[str, Any]]) -> list[SignedHead]:
    """Signed heads in Slack messages (conversations.history's `messages`, or a channel export)."""
    found: list[SignedHead] = []
    for message in messages:
        found += heads_in_text(str(message.get("text") or ""), message.get("ts"))
    return found


def heads_in_jsonl(text: str) -> list[SignedHead]:
    """Signed heads in a JSON Lines file: each line a head's JSON object, or a Slack message holding one."""
    found: list[SignedHead] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"line {number} is not JSON") from None
        head = head_from_json(value)
        if head is not None:
            found.append(head)
        elif isinstance(value, dict):
            found += heads_in_messages([value])
    return found


# -- checking the chain against its witnesses ------------------------------------------------------
REWRITTEN = "rewritten"
NEVER_APPEARED = "never_appeared"
DROPPED_TAIL = "dropped_tail"
TRUNCATED = "truncated"
FORGED = "forged"


@dataclass(frozen=True)
class WitnessFinding:
    kind: str  # REWRITTEN | NEVER_APPEARED | DROPPED_TAIL | TRUNCATED | FORGED
    seq: int  # the witnessed head's entry
    message: str


@dataclass(frozen=True)
class WitnessResult:
    heads: int  # heads read that name this key
    matched: int  # heads whose entry is in the chain with the witnessed hash
    latest: SignedHead | None  # the latest validly signed head
    findings: tuple[WitnessFinding, ...] = field(default_factory=tuple)
    chain_entries: int = 0
    # Heads that name another key (an earlier key, before a rotation): not checked with this one, not counted.
    other_keys: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings and self.heads > 0


def check_witnessed(session: Session, heads: Iterable[SignedHead], public: Ed25519PublicKey) -> WitnessResult:
    """Every signed head against the chain as it is now. A head validly signed with our key says: at that
    time the chain's entry `seq` had this hash. The chain must still have that entry with that hash."""
    ours = key_id_of(public)
    read = sorted(heads, key=lambda h: (h.seq, h.at))
    other_keys = sorted({h.key_id for h in read if h.key_id != ours})
    mine = [h for h in read if h.key_id == ours]
    signed = [h for h in mine if h.signature_ok(public)]
    findings: list[WitnessFinding] = [
        WitnessFinding(FORGED, h.seq, f"a head for entry {h.seq} (posted {h.witnessed_at}) does not carry a valid "
                       f"signature of witness key {ours}: offboard never signed it")
        for h in mine if h not in signed
    ]
    last = session.exec(select(func.max(AuditEvent.seq))).one()
    last_seq = int(last or 0)
    hashes = dict(session.exec(select(AuditEvent.seq, AuditEvent.hash).where(
        col(AuditEvent.seq).in_({h.seq for h in signed}))).all())
    matched = 0
    rewritten: list[SignedHead] = []
    dropped: list[SignedHead] = []
    for head in signed:
        now = hashes.get(head.seq)
        if now == head.hash:
            matched += 1
        elif now is not None:
            rewritten.append(head)
        else:
            dropped.append(head)
    # A mismatch followed by a later head that still matches cannot be a rewrite (every later hash depends on the
    # earlier entries): that head never was the chain's, so what was signed then was a false head record.
    matching = [h.seq for h in signed if hashes.get(h.seq) == h.hash]
    false_heads = [h for h in rewritten if any(seq > h.seq for seq in matching)]
    for head in false_heads:
        findings.append(WitnessFinding(NEVER_APPEARED, head.seq, f"the head witnessed at entry {head.seq} "
                                       f"({head.witnessed_at}, hash {head.hash[:16]}…) never appeared in this chain, "
                                       "though later witnessed heads do: the chain head record was altered when it "
                                       "was signed"))
    rewritten = [h for h in rewritten if h not in false_heads]
    if rewritten:
        first = rewritten[0]
        findings.append(WitnessFinding(REWRITTEN, first.seq, _rewritten_text(first, hashes[first.seq], signed,
                                                                              len(rewritten))))
    if dropped and last_seq == 0:
        top = dropped[-1]
        findings.append(WitnessFinding(TRUNCATED, top.seq, f"the log was truncated: it holds no entries, but its "
                                       f"head was witnessed at entry {top.seq} ({top.witnessed_at})"))
    elif dropped:
        top = dropped[-1]
        findings.append(WitnessFinding(DROPPED_TAIL, last_seq + 1, f"entries {last_seq + 1}…{top.seq} were dropped "
                                       f"from the end of the log: its head was witnessed at entry {top.seq} "
                                       f"({top.witnessed_at}), but the chain now ends at entry {last_seq}"))
    return WitnessResult(len(mine), matched, signed[-1] if signed else None, tuple(findings), last_seq,
                         tuple(other_keys))


def _rewritten_text(first: SignedHead, now: str, signed: list[SignedHead], count: int) -> str:
    good = [h.seq for h in signed if h.seq < first.seq]
    since = f" after entry {max(good)} (witnessed intact)" if good else ""
    others = f"; {count - 1} later witnessed head(s) never appeared either" if count > 1 else ""
    return (f"the chain was rewritten{since}: the head witnessed at entry {first.seq} ({first.witnessed_at}, hash "
            f"{first.hash[:16]}…) never appeared in this chain, whose entry {first.seq} has hash {now[:16]}…{others}")


def iter_history(client: Any, channel: str) -> Iterator[dict[str, Any]]:
    """Every message of `channel` through conversations.history, page by page (needs channels:history, or
    groups:history for a private channel). `client` is a slack_sdk WebClient."""
    cursor: str | None = None
    while True:
        answer = client.conversations_history(channel=channel, limit=200, cursor=cursor)
        yield from answer.get("messages") or []
        cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return
