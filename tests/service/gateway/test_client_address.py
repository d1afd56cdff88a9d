"""The client address end to end: REST (served as `trademesh gateway` serves it) → the
rate limiter and, as gRPC metadata, the real Auth servicer's sign-in lockout.

The gateway here runs on :class:`mesh_runtime.http_serving.AsgiServer` (uvicorn with the
production options), so X-Forwarded-For is read only as the gateway itself reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import bcrypt
import grpc
import httpx
import pytest
from gateway_harness import STEP_SECONDS, Mesh
from trademesh.v1 import auth_pb2, auth_pb2_grpc

from gateway.app import build_app
from gateway.auth_service import auth_registrar
from gateway.policy import GatewayPolicy
from gateway.wiring import build_auth, redis_client
from mesh_runtime.config import Settings
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.ports import free_port
from mesh_runtime.serving import GrpcService
from tests.tls import files, user_channel

pytestmark = pytest.mark.timeout(90)
PASSWORD = "correct horse"
OWNER, STRANGER = "198.51.100.7", "203.0.113.66"


@dataclass
class Served:
    rest: httpx.AsyncClient  # a client of the gateway's REST port
    auth_address: str  # the Auth service's public (TLS, no client certificate) listener


@contextlib.asynccontextmanager
async def gateway_at(settings: Settings, mesh: Mesh, **changes: Any) -> AsyncIterator[Served]:
    """The gateway and its own Auth service (``changes`` on ``settings``) over ``mesh``'s
    upstreams."""
    settings = settings.with_overrides(bcrypt_rounds=4, **changes)
    redis = redis_client(settings)
    parts = build_auth(
        settings.with_overrides(persistence_mesh_addr=mesh.addresses["persistence"]),
        redis, GatewayPolicy.from_settings(settings))
    auth = GrpcService("test-auth-addr", "127.0.0.1", 0, [auth_registrar(parts.servicer)],
                       tls=files("gateway"), mesh_port=0, grace_seconds=0.2)
    await asyncio.wait_for(auth.start(), STEP_SECONDS)
    await auth.set_serving(True)
    addresses = {**mesh.addresses, "auth": f"127.0.0.1:{auth.mesh_port}"}
    settings = settings.with_overrides(**{f"{k}_mesh_addr": v for k, v in addresses.items()})
    port = free_port()
    server = AsgiServer(build_app(settings, readiness_check_seconds=0.5), "127.0.0.1", port,
                        lifespan="on", grace_seconds=1)
    task = asyncio.create_task(server.serve())
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=STEP_SECONDS)
    try:
        for _ in range(1000):  # bounded: uvicorn only sets a flag
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield Served(client, f"127.0.0.1:{auth.port}")
    finally:
        await client.aclose()
        server.stop()
        await asyncio.wait_for(task, STEP_SECONDS)
        await auth.stop()
        await parts.persistence.close(None)
        await redis.aclose()


async def signin(client: httpx.AsyncClient, email: str, address: str,
                 password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/signin", json={"email": email, "password": password},
                             headers={"X-Forwarded-For": address})


async def signup(client: httpx.AsyncClient, email: str) -> None:
    reply = await client.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
    assert reply.status_code == 201, reply.text


async def test_a_stranger_cannot_lock_the_owner_out(base_settings: Settings,
                                                    mesh: Mesh) -> None:
    async with gateway_at(base_settings, mesh, trusted_proxies="127.0.0.1") as served:
        client = served.rest
        await signup(client, "olga@example.com")
        for _ in range(5):
            assert (await signin(client, "olga@example.com", STRANGER, "guess-guess")
                    ).status_code == 401
        locked = await signin(client, "olga@example.com", STRANGER)  # even the right one
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "SIGNIN_LOCKED"
        wrong = await signin(client, "olga@example.com", OWNER, "typo-typo")
        assert wrong.status_code == 401, wrong.text
        owner = await signin(client, "olga@example.com", OWNER)
        assert owner.status_code == 200, owner.text


async def test_one_address_guessing_across_accounts_is_locked(base_settings: Settings,
                                                              mesh: Mesh) -> None:
    async with gateway_at(base_settings, mesh, trusted_proxies="127.0.0.1",
                          signin_max_failures_per_address=6) as served:
        client = served.rest
        await signup(client, "pavel@example.com")
        for victim in ("a@example.com", "b@example.com", "c@example.com"):
            for _ in range(2):  # under the per-account limit of 5 each
                assert (await signin(client, victim, STRANGER, "guess-guess")
                        ).status_code == 401
        locked = await signin(client, "pavel@example.com", STRANGER)
        assert locked.status_code == 429, locked.text
        assert int(locked.headers["Retry-After"]) >= 1
        assert (await signin(client, "pavel@example.com", OWNER)).status_code == 200


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Counts the real bcrypt checks (the Auth servicer runs in this process)."""
    checked: list[bytes] = []
    real: Callable[[bytes, bytes], bool] = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return checked


async def test_every_signin_answer_costs_one_bcrypt_check(
        base_settings: Settings, mesh: Mesh, bcrypt_checks: list[bytes]) -> None:
    async with gateway_at(base_settings, mesh, trusted_proxies="127.0.0.1") as served:
        client = served.rest
        await signup(client, "quinn@example.com")
        cases = [("quinn@example.com", PASSWORD), ("quinn@example.com", "wrong password"),
                 ("nobody@example.com", PASSWORD), ("not an email", PASSWORD),
                 ("quinn@example.com", "é" * 40), ("quinn@example.com", "")]
        failures = []
        for number, (email, password) in enumerate(cases):
            before = len(bcrypt_checks)
            reply = await signin(client, email, f"192.0.2.{number}", password)
            assert len(bcrypt_checks) == before + 1, (email, password)
            if number:
                failures.append(reply)
        assert {r.status_code for r in failures} == {401}
        assert len({r.text for r in failures}) == 1  # one answer for every failure
        for email in ("quinn@example.com", "ghost@example.com"):  # locked: no check at all
            for _ in range(5):
                await signin(client, email, STRANGER, "guess-guess")
            before = len(bcrypt_checks)
            assert (await signin(client, email, STRANGER)).status_code == 429
            assert len(bcrypt_checks) == before


async def test_x_forwarded_for_cannot_pick_the_rate_limit_bucket(base_settings: Settings,
                                                                 mesh: Mesh) -> None:
    limits = {"rate_limit_ip_burst": 3, "rate_limit_ip_per_second": 0.01}
    async with gateway_at(base_settings, mesh, **limits) as served:
        client = served.rest
        answers = [await client.get("/api/v1/markets", headers={"X-Forwarded-For": f"10.9.0.{i}"})
                   for i in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]


async def test_a_trusted_proxy_gives_each_client_its_bucket(base_settings: Settings,
                                                            mesh: Mesh) -> None:
    limits = {"rate_limit_ip_burst": 2, "rate_limit_ip_per_second": 0.01}
    async with gateway_at(base_settings, mesh, trusted_proxies="127.0.0.0/8",
                          **limits) as served:
        client = served.rest
        def via(address: str) -> dict[str, str]:  # the client spoofs, the proxy appends
            return {"X-Forwarded-For": f"6.6.6.6, {address}"}

        first = [await client.get("/api/v1/markets", headers=via("10.8.0.1")) for _ in range(3)]
        assert [r.status_code for r in first] == [200, 200, 429]
        other = await client.get("/api/v1/markets", headers=via("10.8.0.2"))
        assert other.status_code == 200


async def test_only_the_gateway_may_name_the_client_address(base_settings: Settings,
                                                            mesh: Mesh) -> None:
    """A program calling Auth itself is judged by its own address, whatever it claims."""
    async with gateway_at(base_settings, mesh, trusted_proxies="127.0.0.1") as served:
        await signup(served.rest, "rita@example.com")
        channel = user_channel(served.auth_address)
        try:
            stub = auth_pb2_grpc.AuthStub(channel)
            claim = (("x-trademesh-client-address", OWNER),)
            request = auth_pb2.SigninRequest(email="rita@example.com", password="guess-guess")
            codes = []
            for _ in range(6):
                with pytest.raises(grpc.aio.AioRpcError) as failed:
                    await stub.Signin(request, metadata=claim, timeout=STEP_SECONDS)
                codes.append(failed.value.code())
            assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED  # locked: for 127.0.0.1
        finally:
            await channel.close(None)
        assert (await signin(served.rest, "rita@example.com", OWNER)).status_code == 200
