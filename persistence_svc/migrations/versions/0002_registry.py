"""The runtime registry: ``assets`` and ``markets`` added or changed by admins.

Revision ID: 0002_registry
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from persistence_svc.schema import assets, markets

revision = "0002_registry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates the schema's tables as they are now: on a new database they exist
    assets.create(op.get_bind(), checkfirst=True)
    markets.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    markets.drop(op.get_bind(), checkfirst=True)
    assets.drop(op.get_bind(), checkfirst=True)
