"""The PostgreSQL snapshot store on a real server (MongoDB has no server here)."""

from __future__ import annotations

import asyncpg

from engine_svc.snapshot_store import KEEP, PostgresSnapshotStore


async def test_latest_is_the_newest_and_old_ones_are_pruned(postgres_url: str) -> None:
    store = await PostgresSnapshotStore.connect(postgres_url)
    try:
        await store._pool.execute("TRUNCATE engine_snapshots")
        assert await store.latest() is None
        for seq in (5, 10, 15, 20, 25):
            await store.save(seq, f"state-{seq}".encode())
        assert await store.latest() == (25, b"state-25")
        await store.save(25, b"again")  # same sequence: the first write stands
        assert await store.latest() == (25, b"state-25")
        conn = await asyncpg.connect(postgres_url)
        try:
            seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM engine_snapshots")]
        finally:
            await conn.close()
        assert sorted(seqs) == [25 - 5 * i for i in range(KEEP)][::-1]
    finally:
        await store.close()
