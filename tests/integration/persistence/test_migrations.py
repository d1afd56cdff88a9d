"""Migrations: programmatic, idempotent, safe when several replicas start at once."""

from __future__ import annotations

import asyncio

from persistence_harness import fetch

from persistence_svc import migrations
from persistence_svc.schema import metadata


async def test_concurrent_upgrades_create_every_table_once(database: str) -> None:
    await asyncio.gather(migrations.upgrade(database), migrations.upgrade(database))
    await migrations.upgrade(database)
    version = await fetch(database, "SELECT version_num FROM alembic_version")
    assert [r["version_num"] for r in version] == ["0002_registry"]
    tables = await fetch(database, "SELECT tablename FROM pg_tables WHERE schemaname='public'")
    assert {r["tablename"] for r in tables} == {*metadata.tables, "alembic_version"}
    numeric = await fetch(database, "SELECT count(*) AS n FROM information_schema.columns "
                                    "WHERE table_schema = 'public' AND data_type IN "
                                    "('real', 'double precision')")
    assert numeric[0]["n"] == 0  # no binary floating point anywhere
