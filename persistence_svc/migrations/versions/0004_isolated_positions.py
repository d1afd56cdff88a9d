"""Isolated positions: current positions keyed by ``(user_id, market, position_id)`` (``''``
for the cross position); orders record their margin mode and position id; closed positions,
liquidations and funding payments record the position id (NULL for cross).

Additive and in place (``IF NOT EXISTS``, the primary key replaced only when it lacks
``position_id``): a 0003 database upgrades with its rows kept (every one of them cross), and
one created by ``0001`` (which builds the current schema) passes through unchanged.
Downgrading deletes the isolated positions' current rows (a two-column key cannot hold them).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (
    ("positions", "position_id", "VARCHAR(20) NOT NULL DEFAULT ''"),
    ("orders", "margin_mode", "VARCHAR(8)"),
    ("orders", "position_id", "VARCHAR(20)"),
    ("closed_positions", "position_id", "VARCHAR(20)"),
    ("liquidations", "position_id", "VARCHAR(20)"),
    ("funding_payments", "position_id", "VARCHAR(20)"),
)
REKEY = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.key_column_usage
                 WHERE table_schema = current_schema() AND table_name = 'positions'
                   AND constraint_name = 'positions_pkey' AND column_name = 'position_id')
  THEN
    ALTER TABLE positions DROP CONSTRAINT positions_pkey,
      ADD CONSTRAINT positions_pkey PRIMARY KEY (user_id, market, position_id);
  END IF;
END $$"""


def upgrade() -> None:
    for table, column, kind in COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
    op.execute(REKEY)


def downgrade() -> None:
    op.execute("DELETE FROM positions WHERE position_id <> ''")
    op.execute("ALTER TABLE positions DROP CONSTRAINT positions_pkey, "
               "ADD CONSTRAINT positions_pkey PRIMARY KEY (user_id, market)")
    for table, column, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
