"""The vendors' rate-limit allowance kept in the database, so every bot instance on it shares one budget.

A vendor limits a credential, whichever process uses it: two instances pacing themselves separately would
together go over. Each claim reads the credential's row, plans a small batch of slots (vendors.ratelimit),
and writes it back only if nobody else wrote meanwhile (`UPDATE … WHERE version = :seen`); a loser plans
again from what the winner wrote. That needs no row locks or advisory locks, so it works the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import col

from storage.db import Database
from storage.models import VendorCallAllowance
from storage.schedule import insert_once
from vendors.ratelimit import AllowanceKey, Plan, Window, plan_calls

MAX_ATTEMPTS = 50  # compare-and-set rounds before giving up; each loss means another instance got its batch


class AllowanceContention(RuntimeError):
    """Others kept winning the claim (far more instances than a vendor's limit can serve)."""


class DatabaseAllowance:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, key: AllowanceKey, windows: Sequence[Window], now: float, *, count: int,
              latest: float) -> Plan:
        for _ in range(MAX_ATTEMPTS):
            row = self._row(key, now)
            plan = plan_calls(windows, row.next_free, now, count=count, latest=latest)
            if not plan.times:
                return plan  # nothing to record: the caller waits or gives up
            with self.db.session() as session:
                written = session.execute(
                    update(VendorCallAllowance)
                    .where(col(VendorCallAllowance.vendor) == key.vendor,
                           col(VendorCallAllowance.key_fingerprint) == key.fingerprint,
                           col(VendorCallAllowance.version) == row.version)
                    .values(next_free=plan.next_free, version=row.version + 1,
                            updated_at=datetime.fromtimestamp(now, UTC))
                )
            if written.rowcount == 1:  # type: ignore[attr-defined]
                return plan
        raise AllowanceContention(f"could not claim {key.vendor}'s rate-limit allowance in {MAX_ATTEMPTS} rounds")

    def _row(self, key: AllowanceKey, now: float) -> VendorCallAllowance:
        for _ in range(2):
            with self.db.session() as session:
                row = session.get(VendorCallAllowance, (key.vendor, key.fingerprint))
            if row is not None:
                return row
            # The first claim for this credential: whoever inserts first wins, the others read theirs.
            insert_once(self.db, VendorCallAllowance(vendor=key.vendor, key_fingerprint=key.fingerprint,
                                                     updated_at=datetime.fromtimestamp(now, UTC)))
        raise RuntimeError(f"the allowance row of {key.vendor} vanished")  # pragma: no cover - nobody deletes it
