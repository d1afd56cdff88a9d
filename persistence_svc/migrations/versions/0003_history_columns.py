"""History a trader can use: a fill's realized PnL; a position's exit fills so far; a
closed position's exit price, leverage, margin mode and close reason; a liquidation's lots
closed on the book and taken by the insurance fund.

Additive only (nullable columns or defaults, ``IF NOT EXISTS``): a database of the previous
release upgrades in place, and one created by ``0001`` (which builds the current schema)
passes through unchanged.

Revision ID: 0003
Revises: 0002_registry
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002_registry"
branch_labels = None
depends_on = None

COLUMNS = (
    ("fills", "realized_pnl", "NUMERIC"),
    ("positions", "exit_quantity", "NUMERIC NOT NULL DEFAULT 0"),
    ("positions", "exit_notional", "NUMERIC NOT NULL DEFAULT 0"),
    ("closed_positions", "exit_price", "NUMERIC"),
    ("closed_positions", "leverage", "INTEGER"),
    ("closed_positions", "margin_mode", "VARCHAR(8)"),
    ("closed_positions", "close_reason", "VARCHAR(16)"),
    ("liquidations", "closed_on_book", "NUMERIC"),
    ("liquidations", "taken_by_fund", "NUMERIC"),
)


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")


def downgrade() -> None:
    for table, column, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
