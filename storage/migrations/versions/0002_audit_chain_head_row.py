"""The audit chain's head row exists from the start.

Before, the first audit entry created it; on PostgreSQL two instances writing their first entries at the
same moment could then see each other's entry but not yet its head, and refuse to write.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64  # storage.audit.GENESIS_HASH, copied: a migration must not change with the code


def upgrade() -> None:
    # Only where the chain has not started: a head missing beside existing entries is tampering that
    # `offboard audit verify` must still report, not something to paper over.
    op.execute(
        sa.text(
            "INSERT INTO audit_chain_head (id, seq, hash) SELECT 1, 0, :genesis "
            "WHERE NOT EXISTS (SELECT 1 FROM audit_chain_head) AND NOT EXISTS (SELECT 1 FROM audit_event)"
        ).bindparams(genesis=GENESIS_HASH)
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM audit_chain_head WHERE seq = 0"))
