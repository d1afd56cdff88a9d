"""The call-policy interceptor on a real GrpcService (TLS, the test PKI): what the table
test does not show — default deny at run time, fail-closed revocation, what a servicer
sees as its caller, and a server that accepts no tokens.

The handlers here are trivial on purpose: they stand at real method paths of the contracts
(the interceptor reads the policy from the descriptors by path) and record
:func:`current_caller`, so the interceptor is what is under test.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from trademesh.v1 import engine_pb2

from mesh_runtime.call_policy import Caller, current_caller
from mesh_runtime.revocation import MemoryRevocations, RevocationUnavailable, TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier, ensure_keypair
from tests.tls import files, service_channel, user_channel

pytestmark = pytest.mark.timeout(60)
SEEN: list[Caller] = []


class DownRevocations:
    async def revoke(self, token_id: str, expires_at: int) -> None:
        raise RevocationUnavailable("down")

    async def is_revoked(self, token_id: str) -> bool:
        raise RevocationUnavailable("redis is down")


def _registrar(server: grpc.aio.Server) -> list[str]:
    """ListMarkets (public) and GetEngineStatus (admin | gateway) at their real paths, and
    a method no contract declares."""
    def unary(response: Any) -> Any:
        async def handle(request: Any, context: Any) -> Any:
            SEEN.append(current_caller())
            return response
        return grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=lambda b: b, response_serializer=lambda m: m
            if isinstance(m, bytes) else m.SerializeToString())

    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("trademesh.v1.Engine", {
            "ListMarkets": unary(engine_pb2.ListMarketsResponse()),
            "GetEngineStatus": unary(engine_pb2.GetEngineStatusResponse()),
            "Undeclared": unary(b""),
        }),))
    return ["trademesh.v1.Engine"]


@pytest.fixture
def signer(tmp_path: Any) -> tuple[TokenSigner, TokenVerifier]:
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    return (TokenSigner.from_file(private, "trademesh", "api", 600),
            TokenVerifier.from_file(public, "trademesh", "api"))


async def _serving(check: TokenCheck | None) -> GrpcService:
    service = GrpcService("policy-test", "127.0.0.1", 0, [_registrar], tls=files("engine"),
                          mesh_port=0, grace_seconds=0.2, token_check=check)
    await service.start()
    return service


@pytest.fixture
async def revocations() -> MemoryRevocations:
    return MemoryRevocations()


@pytest.fixture
async def service(signer: tuple[TokenSigner, TokenVerifier],
                  revocations: MemoryRevocations) -> AsyncIterator[GrpcService]:
    service = await _serving(TokenCheck(signer[1], revocations))
    SEEN.clear()
    yield service
    await service.stop()


async def _call(channel: grpc.aio.Channel, method: str, metadata: Any = ()) -> grpc.StatusCode:
    try:
        await channel.unary_unary(f"/trademesh.v1.Engine/{method}", None, None)(
            b"", metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        await channel.close(None)
    return grpc.StatusCode.OK


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def test_default_deny_at_run_time(service: GrpcService) -> None:
    public = f"127.0.0.1:{service.port}"
    mesh = f"127.0.0.1:{service.mesh_port}"
    assert await _call(user_channel(public), "Undeclared") == grpc.StatusCode.PERMISSION_DENIED
    assert await _call(service_channel(mesh, "engine"), "Undeclared") \
        == grpc.StatusCode.PERMISSION_DENIED
    assert await _call(user_channel(public), "NoSuchMethod") == grpc.StatusCode.UNIMPLEMENTED
    assert SEEN == []  # no handler ran


async def test_a_call_to_a_method_nothing_serves_is_logged(
        service: GrpcService, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "trademesh"):
        code = await _call(user_channel(f"127.0.0.1:{service.port}"), "NoSuchMethod")
    assert code == grpc.StatusCode.UNIMPLEMENTED
    assert "refused /trademesh.v1.Engine/NoSuchMethod: no such method" in caplog.messages


async def test_the_servicer_sees_the_verified_caller(
        service: GrpcService, signer: tuple[TokenSigner, TokenVerifier],
        revocations: MemoryRevocations) -> None:
    public = f"127.0.0.1:{service.port}"
    mesh = f"127.0.0.1:{service.mesh_port}"
    admin, expires = signer[0].issue("root", admin=True)
    assert await _call(service_channel(mesh, "gateway"), "GetEngineStatus",
                       _bearer(admin)) == grpc.StatusCode.OK
    assert await _call(user_channel(public), "ListMarkets") == grpc.StatusCode.OK
    assert await _call(service_channel(mesh, "gateway"), "GetEngineStatus") == \
        grpc.StatusCode.OK
    first, anonymous, gateway = SEEN
    assert first.service == "gateway" and first.claims is not None and first.claims.admin
    assert anonymous == Caller(None, None)  # nothing left over from the call before
    assert gateway == Caller("gateway", None)
    await revocations.revoke(signer[1].verify(admin).token_id, expires)
    assert await _call(service_channel(mesh, "gateway"), "GetEngineStatus",
                       _bearer(admin)) == grpc.StatusCode.UNAUTHENTICATED
    two = (*_bearer(signer[0].issue("u")[0]), *_bearer(signer[0].issue("v")[0]))
    assert await _call(user_channel(public), "ListMarkets", two) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert len(SEEN) == 3


async def test_an_unreachable_revocation_store_fails_closed(
        signer: tuple[TokenSigner, TokenVerifier]) -> None:
    service = await _serving(TokenCheck(signer[1], DownRevocations()))
    try:
        public = f"127.0.0.1:{service.port}"
        token = _bearer(signer[0].issue("u1")[0])
        assert await _call(user_channel(public), "ListMarkets", token) == \
            grpc.StatusCode.UNAVAILABLE
        assert await _call(user_channel(public), "ListMarkets") == grpc.StatusCode.OK
    finally:
        await service.stop()


async def test_a_server_without_a_token_check_accepts_no_token(
        signer: tuple[TokenSigner, TokenVerifier]) -> None:
    service = await _serving(None)
    try:
        mesh = f"127.0.0.1:{service.mesh_port}"
        admin = _bearer(signer[0].issue("root", admin=True)[0])
        assert await _call(service_channel(mesh, "engine"), "GetEngineStatus", admin) == \
            grpc.StatusCode.UNAUTHENTICATED
        assert await _call(service_channel(mesh, "gateway"), "GetEngineStatus") == \
            grpc.StatusCode.OK
    finally:
        await service.stop()
