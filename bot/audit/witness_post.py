"""Posting signed chain heads to the audit channel (storage/witness.py says why).

A head is due when the chain moved past the last head posted and either a removal completed since then or
OFFBOARD_WITNESS_INTERVAL_MINUTES went by. Nothing here writes to the audit chain: a post that added an
entry would move the head it just witnessed. Each post is claimed first (a row in witnessed_head whose
primary key is the entry's seq), so two instances never post the same head; a post that fails gives its
claim back and the next tick posts again, until it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from bot.runtime.config import Settings
from storage import witness
from storage.db import Database
from storage.models import AuditChainHead, AuditEvent, WitnessedHead, utcnow

log = logging.getLogger(__name__)

COMPLETED_ACTIONS = ("completed", "emergency_removal_verified")
STALE_CLAIM = timedelta(minutes=5)  # a claim this old without a post: its instance died mid-post


@dataclass(frozen=True)
class WitnessConfig:
    channel: str
    interval: timedelta


class HeadWitness:
    def __init__(self, db: Database, client: WebClient, key: Ed25519PrivateKey, config: WitnessConfig,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.client = client
        self.key = key
        self.config = config
        self.clock = clock

    def due(self, now: datetime) -> tuple[int, str] | None:
        """The head to post now, if one is due."""
        with self.db.session() as session:
            session.execute(delete(WitnessedHead).where(col(WitnessedHead.ts).is_(None),
                                                        col(WitnessedHead.claimed_at) < now - STALE_CLAIM))
            head = session.get(AuditChainHead, 1)
            if head is None or head.seq == 0:
                return None
            last = session.exec(select(WitnessedHead).order_by(col(WitnessedHead.seq).desc())).first()
            if last is not None and last.seq >= head.seq:
                return None
            if last is None or now - last.signed_at >= self.config.interval:
                return head.seq, head.hash
            completed = session.exec(select(func.count()).select_from(AuditEvent).where(
                col(AuditEvent.action).in_(COMPLETED_ACTIONS), col(AuditEvent.seq) > last.seq)).one()
            return (head.seq, head.hash) if completed else None

    def tick(self, now: datetime | None = None) -> witness.SignedHead | None:
        """Post the head if it is due and this instance wins the claim; the head posted, if any."""
        now = now or self.clock()
        due = self.due(now)
        if due is None:
            return None
        signed = witness.sign_head(self.key, due[0], due[1], now)
        try:
            with self.db.session() as session:
                session.add(WitnessedHead(seq=signed.seq, hash=signed.hash, signed_at=now, key_id=signed.key_id,
                                          signature=signed.sig, channel=self.config.channel, claimed_at=now))
        except IntegrityError:
            return None  # another instance is posting this head
        try:
            answer = self.client.chat_postMessage(channel=self.config.channel, text=witness.message_text(signed),
                                                  unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            log.warning("posting the signed audit head failed (%s); it is posted at the next tick",
                        exc.response.get("error"))
            with self.db.session() as session:
                session.execute(delete(WitnessedHead).where(col(WitnessedHead.seq) == signed.seq))
            return None
        with self.db.session() as session:
            session.execute(update(WitnessedHead).where(col(WitnessedHead.seq) == signed.seq)
                            .values(ts=str(answer.get("ts")), posted_at=now))
        return signed


def witness_from_settings(settings: Settings, db: Database, client: WebClient,
                          clock: Callable[[], datetime] = utcnow) -> HeadWitness | None:
    """The witness, when an audit channel and a key file are set; None (no posts) otherwise. A key file
    that cannot be read stops nothing else but is logged, since heads then go unwitnessed."""
    channel, key_file = settings.audit_channel, settings.witness_key_file
    if not channel or not key_file:
        return None
    try:
        key = witness.load_key_file(Path(key_file))
    except witness.WitnessKeyError as exc:
        log.error("audit heads are not witnessed: %s", exc)
        return None
    interval = timedelta(minutes=settings.witness_interval_minutes)
    return HeadWitness(db, client, key, WitnessConfig(channel, interval), clock)
