"""The async SQLAlchemy engine for a PostgreSQL DSN (asyncpg driver)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_url(dsn: str) -> str:
    """``postgresql://…`` (as configured) → ``postgresql+asyncpg://…`` for SQLAlchemy."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+asyncpg://" + dsn[len(prefix):]
    raise ValueError(f"not a PostgreSQL DSN: {dsn.split('@')[-1]!r}")


def create_engine(dsn: str, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(async_url(dsn), pool_size=pool_size, max_overflow=5,
                               pool_pre_ping=True)
