"""Persistence honors revocation like every service that accepts user JWTs (a logged-out
token no longer reads history over gRPC), and its internal methods are the gateway's and
the engine's only: no one creates an admin account over the wire."""

from __future__ import annotations

import grpc
import pytest
import redis.asyncio as aioredis
from persistence_harness import Persistence
from trademesh.v1 import persistence_pb2 as pb
from trademesh.v1 import persistence_pb2_grpc

from mesh_runtime.config import Settings
from mesh_runtime.revocation import RedisRevocations
from mesh_runtime.tokens import TokenSigner, TokenVerifier
from tests.tls import service_channel

pytestmark = pytest.mark.timeout(120)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_a_revoked_token_reads_no_history(settings: Settings, signer: TokenSigner,
                                                persistence: Persistence) -> None:
    token, expires = signer.issue("taker")
    stub = persistence.stub
    assert list((await stub.ListFills(pb.ListFillsRequest(), metadata=_bearer(token),
                                      timeout=10)).fills) == []
    revocations = RedisRevocations(aioredis.Redis.from_url(settings.redis_dsn))
    try:
        verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                           settings.jwt_audience)
        await revocations.revoke(verifier.verify(token).token_id, expires)
    finally:
        await revocations.close()
    for call in (stub.ListFills(pb.ListFillsRequest(), metadata=_bearer(token), timeout=10),
                 stub.ListLedger(pb.ListLedgerRequest(), metadata=_bearer(token), timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "revoked" in (err.value.details() or "")
    other, _ = signer.issue("taker")  # the user's other sessions still work
    await stub.ListFills(pb.ListFillsRequest(), metadata=_bearer(other), timeout=10)


async def test_create_user_never_takes_admin_from_the_wire(persistence: Persistence) -> None:
    channel = service_channel(persistence.mesh_address, "gateway")
    stub = persistence_pb2_grpc.PersistenceStub(channel)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateUser(pb.CreateUserRequest(
                email="boss@example.com", password_hash="$2b$04$x", admin=True), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "admin" in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetUser(pb.GetUserRequest(email="boss@example.com"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND  # nothing was created
        created = await stub.CreateUser(pb.CreateUserRequest(
            email="boss@example.com", password_hash="$2b$04$x"), timeout=10)
        assert not created.user.admin
    finally:
        await channel.close(None)

