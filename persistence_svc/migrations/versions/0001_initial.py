"""The initial schema: users, sync state, orders, fills, trades, balances, ledger,
positions, closed positions, funding payments, liquidations and 1-minute candles.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from persistence_svc.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
