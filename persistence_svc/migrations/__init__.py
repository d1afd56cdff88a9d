"""Alembic migrations for the persistence schema, runnable from code.

``await upgrade(dsn)`` (or ``upgrade_sync(dsn)`` outside an event loop) brings the database
to the newest revision; ``await downgrade(dsn, revision)`` takes it back to an older one.
Concurrent callers serialize on a PostgreSQL advisory lock, so several persistence replicas
may start at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from persistence_svc.db import create_engine

HERE = Path(__file__).parent
LOCK_KEY = 0x7472_6164_656D  # "tradem"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


Step = Callable[[Config, str], None]  # alembic's command.upgrade or command.downgrade


def _locked(connection: Connection, step: Step, revision: str) -> None:
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    step(alembic_config(connection), revision)


async def _migrate(dsn: str, step: Step, revision: str) -> None:
    """``step`` to ``revision`` in one transaction, under the advisory lock."""
    engine = create_engine(dsn, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_locked, step, revision)
    finally:
        await engine.dispose()


async def upgrade(dsn: str, revision: str = "head") -> None:
    await _migrate(dsn, command.upgrade, revision)


def upgrade_sync(dsn: str, revision: str = "head") -> None:
    asyncio.run(upgrade(dsn, revision))


async def downgrade(dsn: str, revision: str) -> None:
    """Back to ``revision`` (a release's rollback: what a newer revision added is dropped,
    rows only it can hold, such as isolated positions for 0004, with it)."""
    await _migrate(dsn, command.downgrade, revision)
