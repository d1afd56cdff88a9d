"""Fixtures: a fresh PostgreSQL database per test, clean Redis streams, JWT keys, and the
persistence service and engine side from :mod:`persistence_harness`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from persistence_harness import EngineSide, Persistence

from mesh_runtime.config import Settings
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from tests.tls import free_mesh_ports, use_pki


@pytest.fixture
async def settings(database: str, redis_url: str, tmp_path: Path) -> Settings:
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete("trademesh:journal", "trademesh:outbox")
    finally:
        await client.aclose()
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    return use_pki(free_mesh_ports(Settings(
        data_dir=tmp_path, redis_url=redis_url, postgres_url=database, host="127.0.0.1",
        jwt_private_key_file=str(private), jwt_public_key_file=str(public))))


@pytest.fixture
def signer(settings: Settings) -> TokenSigner:
    return TokenSigner.from_file(settings.private_key_path, settings.jwt_issuer,
                                 settings.jwt_audience, 600)


@pytest.fixture
async def persistence(settings: Settings) -> AsyncIterator[Persistence]:
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    service = Persistence(settings, verifier)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def engine(settings: Settings, persistence: Persistence) -> AsyncIterator[EngineSide]:
    side = EngineSide(settings.with_overrides(persistence_mesh_addr=persistence.mesh_address))
    await side.start()
    try:
        yield side
    finally:
        await side.stop()
