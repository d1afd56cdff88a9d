"""Order terms: orders record what they asked for beyond price and quantity (post-only,
reduce-only, leverage, self-trade prevention, slippage bound, stop-loss and take-profit
prices), so history tells the same order as the engine.

Additive and in place (``ADD COLUMN IF NOT EXISTS``, all nullable): a 0005 database
upgrades with its rows kept, NULL in the new columns (not recorded: history leaves those
fields unset); one created by ``0001`` (which builds the current schema) passes through
unchanged. Downgrading drops the columns (and what they held).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (
    ("orders", "post_only", "BOOLEAN"),
    ("orders", "reduce_only", "BOOLEAN"),
    ("orders", "leverage", "INTEGER"),
    ("orders", "self_trade_prevention", "VARCHAR(16)"),
    ("orders", "slippage_bps", "INTEGER"),
    ("orders", "stop_loss", "NUMERIC"),
    ("orders", "take_profit", "NUMERIC"),
)


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")


def downgrade() -> None:
    for table, column, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
