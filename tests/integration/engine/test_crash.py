"""``kill -9`` of a real engine process while a client streams orders: after a restart every
acknowledged order is there and the books balance (conservation per asset)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc, order_pb2

from mesh_runtime.child_process import Child, ChildSpec
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from mesh_runtime.tokens import TokenSigner, ensure_keypair
from tests.service.engine.conftest import reset_stores
from tests.tls import free_mesh_ports, use_pki, user_channel

pytestmark = pytest.mark.slow
USERS = ["alice", "bob", "carol"]
DEPOSIT = {"USD": 1_000_000, "SOL": 10_000}


async def _serving(address: str, within: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with user_channel(address) as channel:
        while loop.time() < deadline:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"engine at {address} not serving")


def _order(i: int) -> engine_pb2.PlaceOrderRequest:
    buy = i % 2 == 0
    price = 100 + (i % 7 - 3) * (1 if buy else -1)  # crossing and resting orders
    return engine_pb2.PlaceOrderRequest(
        market="SOL-USD", side=order_pb2.BUY if buy else order_pb2.SELL, type=order_pb2.LIMIT,
        quantity="0.5", price=str(price))


async def test_kill_9_loses_no_acknowledged_order(redis_url: str, postgres_url: str,
                                                  tmp_path: Path) -> None:
    await reset_stores(redis_url, postgres_url)
    private, public = tmp_path / "jwt.pem", tmp_path / "jwt.pub.pem"
    ensure_keypair(private, public)
    port = free_port()
    settings = use_pki(free_mesh_ports(Settings(
        data_dir=tmp_path, engine_port=port, redis_url=redis_url, postgres_url=postgres_url,
        jwt_private_key_file=str(private), jwt_public_key_file=str(public),
        log_level="WARNING")))
    signer = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience, 600)
    auth = {u: (("authorization", f"Bearer {signer.issue(u)[0]}"),) for u in
            [*USERS, "__fees__"]}
    spec = ChildSpec("engine", [sys.executable, "-m", "trademesh_cli", "engine"],
                     tmp_path / "engine.log", {**os.environ, **settings.as_env()})
    address = f"127.0.0.1:{port}"
    engine = Child(spec)
    await engine.start()
    try:
        await _serving(address)
        acked = await _stream_until_killed(engine, address, auth)
        assert len(acked) >= 300
        engine = Child(spec)
        await engine.start()
        await _serving(address)
        await _check_after_restart(address, auth, acked)
    finally:
        await engine.stop()


async def _stream_until_killed(engine: Child, address: str,
                               auth: dict[str, tuple[tuple[str, str], ...]]
                               ) -> dict[str, tuple[str, str]]:
    """Streams orders; kills the engine with SIGKILL mid-stream; returns acked id → owner."""
    acked: dict[str, tuple[str, str]] = {}
    enough = asyncio.Event()
    async with user_channel(address) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        for user in USERS:
            for asset, amount in DEPOSIT.items():
                await stub.Deposit(engine_pb2.DepositRequest(
                    asset=asset, amount=str(amount), transaction_id=f"{user}-{asset}"),
                    metadata=auth[user], timeout=10)

        async def batches(user: str) -> AsyncIterator[engine_pb2.PlaceOrdersRequest]:
            for b in range(400):
                yield engine_pb2.PlaceOrdersRequest(batch_id=b,
                                                    orders=[_order(b * 25 + i) for i in range(25)])

        async def one_stream(user: str) -> None:
            try:
                async for reply in stub.PlaceOrders(batches(user), metadata=auth[user]):
                    for result in reply.results:
                        if result.order.order_id:
                            acked[result.order.order_id] = (user, result.order.client_order_id)
                    if len(acked) >= 600:
                        enough.set()
            except grpc.aio.AioRpcError as err:
                assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                                      grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)

        streams = [asyncio.create_task(one_stream(u)) for u in USERS]
        waiting = asyncio.create_task(enough.wait())
        await asyncio.wait([waiting, *streams], timeout=60,
                           return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        assert enough.is_set(), f"only {len(acked)} acks; engine log:\n{engine.log_tail(40)}"
        engine.send(signal.SIGKILL)
        await asyncio.wait_for(engine.wait(), 10)
        await asyncio.wait_for(asyncio.gather(*streams), 30)
    return acked


async def _check_after_restart(address: str, auth: dict[str, tuple[tuple[str, str], ...]],
                               acked: dict[str, tuple[str, str]]) -> None:
    async with user_channel(address) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        for order_id, (user, _) in acked.items():
            reply = await stub.GetOrder(engine_pb2.GetOrderRequest(order_id=order_id),
                                        metadata=auth[user], timeout=10)
            assert reply.order.order_id == order_id
        sums: dict[str, Decimal] = {}
        for user in [*USERS, "__fees__"]:
            balances = await stub.GetBalances(engine_pb2.GetBalancesRequest(),
                                              metadata=auth[user], timeout=10)
            for b in balances.balances:
                sums[b.asset] = sums.get(b.asset, Decimal(0)) + Decimal(b.available) + \
                    Decimal(b.locked)
        assert sums == {asset: Decimal(amount) * len(USERS) for asset, amount in DEPOSIT.items()}
