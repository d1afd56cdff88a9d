"""The embedded servers require a password, even on loopback: generated once into the data
dir (0600), refused without it, accepted with it; a data dir from before passwords is
upgraded on its next start, its data kept."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from embedded_helpers import traversable_tmp
from redis.exceptions import AuthenticationError, ResponseError

from mesh_runtime.config import Settings
from mesh_runtime.embedded_postgres import EmbeddedPostgres
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.ports import free_port

pytestmark = pytest.mark.timeout(180)
OLD_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"


@pytest.fixture
def data_root() -> Iterator[Path]:
    with traversable_tmp() as path:
        yield path


@pytest.fixture
async def servers() -> AsyncIterator[list[EmbeddedPostgres | EmbeddedRedis]]:
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    yield started
    for server in started:
        await server.stop()


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600 and \
        stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def refused_by_postgres(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return True
    await conn.close()
    return False


async def postgres_answers(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM kept")
        return value
    finally:
        await conn.close()


async def test_postgres_refuses_a_connection_without_the_password(
        data_root: Path, servers: list[EmbeddedPostgres | EmbeddedRedis]) -> None:
    server = EmbeddedPostgres(data_root / "data", free_port())
    servers.append(server)
    await server.start()
    assert private(server.password_file)
    assert await refused_by_postgres(server.public_url)
    assert await refused_by_postgres(server.public_url.replace("postgres@", "postgres:guess@"))
    conn = await asyncpg.connect(server.url, timeout=10)
    await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)")
    await conn.close()
    settings = Settings(data_dir=data_root / "data", embedded_postgres_port=server.port)
    assert settings.postgres_dsn == server.url  # what services read from the data dir
    assert await postgres_answers(settings.postgres_dsn) == 1


async def test_a_postgres_cluster_from_before_passwords_is_upgraded(
        data_root: Path, servers: list[EmbeddedPostgres | EmbeddedRedis]) -> None:
    server = EmbeddedPostgres(data_root / "data", free_port())
    servers.append(server)
    await server.start()
    conn = await asyncpg.connect(server.url, timeout=10)
    await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (1)")
    await conn.close()
    await server.stop()
    # what an older trademesh left: a trusting pg_hba.conf and no secrets
    (server.pgdata / "pg_hba.conf").write_text(OLD_HBA)
    old_password = server.password_file.read_text()
    server.password_file.unlink()
    again = EmbeddedPostgres(data_root / "data", server.port)
    servers.append(again)
    await again.start()
    assert server.password_file.read_text() != old_password
    assert await refused_by_postgres(again.public_url)
    assert await postgres_answers(again.url) == 1
    assert "trust" not in (again.pgdata / "pg_hba.conf").read_text()


async def redis_refuses(url: str) -> bool:
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
    except (AuthenticationError, ResponseError):
        return True
    finally:
        await client.aclose()
    return False


async def test_redis_refuses_a_client_without_the_password(
        data_root: Path, servers: list[EmbeddedPostgres | EmbeddedRedis]) -> None:
    server = EmbeddedRedis(data_root / "data", free_port())
    servers.append(server)
    await server.start()
    assert private(server.password_file)
    assert stat.S_IMODE((server.dir / "redis.conf").stat().st_mode) == 0o600
    assert await redis_refuses(server.public_url)
    assert await redis_refuses(server.public_url.replace("//", "//:guess@"))
    settings = Settings(data_dir=data_root / "data", embedded_redis_port=server.port)
    assert settings.redis_dsn == server.url
    client = aioredis.Redis.from_url(settings.redis_dsn)
    try:
        assert await client.set("kept", "1")
    finally:
        await client.aclose()


async def test_a_redis_data_dir_from_before_passwords_is_upgraded(
        data_root: Path, servers: list[EmbeddedPostgres | EmbeddedRedis]) -> None:
    server = EmbeddedRedis(data_root / "data", free_port())
    servers.append(server)
    await server.start()
    client = aioredis.Redis.from_url(server.url)
    await client.set("kept", "1")
    await client.aclose()
    await server.stop()
    server.password_file.unlink()  # as an older trademesh left it: no secrets
    (server.dir / "redis.conf").write_text("port 1\n")
    again = EmbeddedRedis(data_root / "data", server.port)
    servers.append(again)
    await again.start()
    assert await redis_refuses(again.public_url)
    client = aioredis.Redis.from_url(again.url)
    try:
        assert await client.get("kept") == b"1"
    finally:
        await client.aclose()
