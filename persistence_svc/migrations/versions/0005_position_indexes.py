"""Indexes for the history's ``positionId`` filter: ``(user_id, position_id, <page key>)``
on orders, closed positions, funding payments and liquidations, partial (``WHERE
position_id IS NOT NULL``), so only isolated positions' rows are in them and the cross
traffic that makes most rows costs nothing more to write. Fills have no position id: the
filter finds a position's orders by this index and their fills by ``fills_user_fill``.

Additive and in place (``IF NOT EXISTS``; a database created by ``0001``, which builds the
current schema, has them already). Building one reads its table once, holding off writes
to it meanwhile (inside the migration's transaction ``CONCURRENTLY`` is not available).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = (  # name, table, columns: persistence_svc.schema declares the same
    ("orders_user_position", "orders", "user_id, position_id, order_id"),
    ("closed_positions_user_position", "closed_positions", "user_id, position_id, id"),
    ("funding_user_position", "funding_payments", "user_id, position_id, id"),
    ("liquidations_user_position", "liquidations", "user_id, position_id, event_seq"),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns}) "
                   "WHERE position_id IS NOT NULL")


def downgrade() -> None:
    for name, _, _ in reversed(INDEXES):
        op.execute(f"DROP INDEX IF EXISTS {name}")
