"""Engine snapshots: the whole state and its command sequence, written atomically.

Two implementations behind one interface: PostgreSQL (the default, also what the
embedded mesh uses) and MongoDB (deployments with ``TRADEMESH_MONGO_URL``). A snapshot
and its sequence number live in one row/document, so neither is ever seen without the
other. Only the newest few are kept.
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

KEEP = 3


class SnapshotStore(Protocol):
    async def save(self, seq: int, state: bytes) -> None: ...
    async def latest(self) -> tuple[int, bytes] | None: ...
    async def close(self) -> None: ...


class PostgresSnapshotStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, dsn: str) -> PostgresSnapshotStore:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS engine_snapshots ("
                " seq BIGINT PRIMARY KEY, state BYTEA NOT NULL,"
                " created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
        return cls(pool)

    async def save(self, seq: int, state: bytes) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO engine_snapshots (seq, state) VALUES ($1, $2)"
                " ON CONFLICT (seq) DO NOTHING", seq, state)
            await conn.execute(
                "DELETE FROM engine_snapshots WHERE seq < ALL (SELECT seq FROM"
                " engine_snapshots ORDER BY seq DESC LIMIT $1)", KEEP)

    async def latest(self) -> tuple[int, bytes] | None:
        row = await self._pool.fetchrow(
            "SELECT seq, state FROM engine_snapshots ORDER BY seq DESC LIMIT 1")
        return None if row is None else (int(row["seq"]), bytes(row["state"]))

    async def close(self) -> None:
        await self._pool.close()


class MongoSnapshotStore:
    """Untested here: no MongoDB server runs on the development machines."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    @classmethod
    def connect(cls, url: str) -> MongoSnapshotStore:
        from pymongo import AsyncMongoClient

        client: Any = AsyncMongoClient(url)
        return cls(client.get_default_database("trademesh")["engine_snapshots"])

    async def save(self, seq: int, state: bytes) -> None:
        await self._collection.replace_one({"_id": seq}, {"_id": seq, "state": state},
                                           upsert=True)
        keep = [d["_id"] async for d in self._collection.find({}, {"_id": 1})
                .sort("_id", -1).limit(KEEP)]
        if keep:
            await self._collection.delete_many({"_id": {"$lt": min(keep)}})

    async def latest(self) -> tuple[int, bytes] | None:
        doc = await self._collection.find_one(sort=[("_id", -1)])
        return None if doc is None else (int(doc["_id"]), bytes(doc["state"]))

    async def close(self) -> None:
        await self._collection.database.client.close()
