"""Security over ``trademesh up``'s real processes: every bad token kind is 401 on REST and
UNAUTHENTICATED on the engine's gRPC port; bcrypt's 72-byte limit is a 400 at sign-up and a
401 (not a 500) at sign-in; 100 concurrent orders that each need the whole balance lock it
at most once.

The WebSocket bridge is the feed service's: it verifies with the same
``mesh_runtime.revocation.TokenCheck`` (not tested here).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from mesh_runtime.config import Settings
from mesh_runtime.tls import tls_channel
from tests.e2e.test_mesh_up import Mesh, running_mesh
from tests.service.gateway.bad_tokens import bad_tokens

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "a long enough password"
DEFAULTS = Settings()


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    # the users trade with each other only
    with running_mesh("security", TRADEMESH_MARKET_MAKER="off") as (running, _):
        yield running


@pytest.fixture
async def api(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        yield client


@pytest.fixture
async def engine(mesh: Mesh) -> AsyncIterator[engine_pb2_grpc.EngineStub]:
    address = f"127.0.0.1:{mesh.ports['engine_port']}"
    async with tls_channel(address, mesh.ca_pem) as channel:
        yield engine_pb2_grpc.EngineStub(channel)


def private_key(mesh: Mesh) -> bytes:
    return (mesh.out_path.parent / "data" / "keys" / "jwt_private.pem").read_bytes()


async def signup(api: httpx.AsyncClient) -> tuple[str, str]:
    email = f"sec-{uuid.uuid4().hex[:12]}@example.com"
    response = await api.post("/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["token"], response.json()["user"]["id"]


async def grpc_code(engine: engine_pb2_grpc.EngineStub, token: str) -> grpc.StatusCode:
    try:
        call: Any = engine.GetBalances(engine_pb2.GetBalancesRequest(), timeout=10,
                                       metadata=(("authorization", f"Bearer {token}"),))
        await call
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_the_key_pair_was_generated_into_the_data_dir(mesh: Mesh) -> None:
    keys = mesh.out_path.parent / "data" / "keys"
    assert (keys / "jwt_public.pem").exists()
    assert Path(keys / "jwt_private.pem").stat().st_mode & 0o077 == 0


async def test_every_bad_token_kind_is_refused_on_rest_and_grpc(
        mesh: Mesh, api: httpx.AsyncClient, engine: engine_pb2_grpc.EngineStub) -> None:
    good, user_id = await signup(api)
    assert await grpc_code(engine, good) == grpc.StatusCode.OK
    tokens = bad_tokens(private_key(mesh), user_id, DEFAULTS.jwt_issuer, DEFAULTS.jwt_audience)
    for kind, token in tokens.items():
        headers = {"Authorization": f"Bearer {token}"}
        for method, path in (("GET", "/account/balances"), ("GET", "/auth/whoami"),
                             ("POST", "/orders")):
            response = await api.request(method, path, headers=headers,
                                         json={} if method == "POST" else None)
            assert response.status_code == 401, (kind, path, response.text)
        assert await grpc_code(engine, token) == grpc.StatusCode.UNAUTHENTICATED, kind


async def test_a_revoked_token_is_401_on_rest(api: httpx.AsyncClient) -> None:
    token, _ = await signup(api)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.post("/auth/logout", headers=headers, json={})).status_code == 200
    for path in ("/account/balances", "/auth/whoami", "/history/fills"):
        assert (await api.get(path, headers=headers)).status_code == 401, path


async def test_a_revoked_token_is_refused_by_the_engine(
        api: httpx.AsyncClient, engine: engine_pb2_grpc.EngineStub) -> None:
    token, _ = await signup(api)
    assert (await api.post("/auth/logout", json={},
                           headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert await grpc_code(engine, token) == grpc.StatusCode.UNAUTHENTICATED


async def test_over_long_password(api: httpx.AsyncClient) -> None:
    email = f"long-{uuid.uuid4().hex[:12]}@example.com"
    password = "é" * 40  # 40 characters, 80 bytes
    signed_up = await api.post("/auth/signup", json={"email": email, "password": password})
    assert signed_up.status_code == 400, signed_up.text
    assert signed_up.json()["error"]["details"][0]["field"] == "password"
    await api.post("/auth/signup", json={"email": email, "password": PASSWORD})
    signed_in = await api.post("/auth/signin", json={"email": email, "password": password})
    assert signed_in.status_code == 401, signed_in.text
    assert (await api.post("/auth/signin", json={"email": email, "password": password[:36]})
            ).status_code == 401


async def test_concurrent_orders_lock_the_balance_at_most_once(api: httpx.AsyncClient) -> None:
    token, _ = await signup(api)
    headers = {"Authorization": f"Bearer {token}"}
    deposit = {"asset": "USD", "amount": "1001", "transactionId": uuid.uuid4().hex}
    assert (await api.post("/account/deposit", json=deposit, headers=headers)).status_code == 200
    order = {"market": "SOL-USD", "side": "BUY", "type": "LIMIT", "quantity": "10",
             "price": "100", "timeInForce": "GTC"}  # 1000 USD (+ fees): the whole balance

    async def place(n: int) -> httpx.Response:
        return await api.post("/orders", headers=headers,
                              json={**order, "clientOrderId": f"all-in-{n}"})

    answers = await asyncio.gather(*(place(n) for n in range(100)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1, statuses  # at most once; and the balance covers one
    refused = [a.json()["error"]["code"] for a in answers if a.status_code != 201]
    assert set(refused) <= {"INSUFFICIENT_BALANCE"}, refused
    balances = await api.get("/account/balances", headers=headers)
    [usd] = [b for b in balances.json() if b["asset"] == "USD"]
    available, locked = Decimal(usd["available"]), Decimal(usd["locked"])
    assert available + locked == Decimal("1001")
    assert available >= 0 and locked <= Decimal("1001")
    open_orders: Any = (await api.get("/orders", headers=headers)).json()
    assert len(open_orders) == statuses.count(201)
