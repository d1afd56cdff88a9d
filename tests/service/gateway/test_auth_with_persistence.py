"""The Auth servicer against the real persistence service (its composition root's
``build``) on the real embedded PostgreSQL, in a fresh database: users are really stored,
emails are unique case-insensitively, and a stored user signs in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from gateway_harness import STEP_SECONDS
from trademesh.v1 import auth_pb2, auth_pb2_grpc

from gateway.auth_service import auth_registrar
from gateway.policy import GatewayPolicy
from gateway.wiring import build_auth, redis_client
from mesh_runtime.config import Settings
from mesh_runtime.revocation import TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenVerifier
from persistence_svc import app as persistence_app
from tests.tls import files, user_channel

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def auth(base_settings: Settings, database: str) -> AsyncIterator[Any]:
    settings = base_settings.with_overrides(postgres_url=database)
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    async with AsyncExitStack() as stack:
        servicer = await asyncio.wait_for(
            persistence_app.build(settings, stack), 60)
        persistence = GrpcService("test-persistence", "127.0.0.1", 0,
                                  [persistence_app.register(servicer)],
                                  tls=files("persistence"), mesh_port=0, grace_seconds=0.2,
                                  token_check=TokenCheck(verifier, None))
        await asyncio.wait_for(persistence.start(), STEP_SECONDS)
        stack.push_async_callback(persistence.stop)
        client = redis_client(settings)
        stack.push_async_callback(client.aclose)
        parts = build_auth(settings.with_overrides(
            persistence_mesh_addr=f"127.0.0.1:{persistence.mesh_port}"), client,
            GatewayPolicy(bcrypt_rounds=4))
        stack.push_async_callback(parts.persistence.close, None)
        service = GrpcService("test-auth", "127.0.0.1", 0, [auth_registrar(parts.servicer)],
                              tls=files("gateway"), mesh_port=0, grace_seconds=0.2,
                              token_check=parts.check)
        await asyncio.wait_for(service.start(), STEP_SECONDS)
        stack.push_async_callback(service.stop)
        channel = user_channel(f"127.0.0.1:{service.port}")
        stack.push_async_callback(channel.close, None)
        yield auth_pb2_grpc.AuthStub(channel)


async def test_signup_signin_whoami_on_postgres(auth: Any) -> None:
    created = await auth.Signup(auth_pb2.SignupRequest(email="Zed@Example.com",
                                                       password="a fine password"), timeout=10)
    assert created.user.email == "zed@example.com" and created.user.id
    signed_in = await auth.Signin(auth_pb2.SigninRequest(email="zed@example.com",
                                                         password="a fine password"), timeout=10)
    me = await auth.WhoAmI(auth_pb2.WhoAmIRequest(), timeout=10,
                           metadata=(("authorization", f"Bearer {signed_in.token}"),))
    assert me.user.id == created.user.id
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await auth.Signup(auth_pb2.SignupRequest(email="ZED@example.com",
                                                 password="another password"), timeout=10)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    for email, password in (("zed@example.com", "wrong password"),
                            ("nobody@example.com", "a fine password")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await auth.Signin(auth_pb2.SigninRequest(email=email, password=password),
                              timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_over_grpc(auth: Any) -> None:
    created = await auth.Signup(auth_pb2.SignupRequest(email="yan@example.com",
                                                       password="a fine password"), timeout=10)
    metadata = (("authorization", f"Bearer {created.token}"),)
    await auth.Logout(auth_pb2.LogoutRequest(), timeout=10, metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await auth.WhoAmI(auth_pb2.WhoAmIRequest(), timeout=10, metadata=metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (refused.value.details() or "")
