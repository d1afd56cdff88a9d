"""The same order read live (the engine's ``GetOrder``) and from history (persistence's
``ListOrderHistory``) agrees on every field both have: orders of every flavour (post-only
with brackets, each self-trade prevention mode, leverage, reduce-only, MARKET with a
slippage bound, isolated and the close of it, spot) placed over the engine's real gRPC
service, persisted through the event link into PostgreSQL, read back over real gRPC."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf import json_format
from persistence_harness import T0, EngineSide, Persistence
from test_queries import auth
from trademesh.v1 import engine_pb2, engine_pb2_grpc, order_pb2
from trademesh.v1 import persistence_pb2 as pb

from engine_svc.app import register
from engine_svc.core import Deposit, SetIndexPrice
from engine_svc.servicer import EngineServicer
from mesh_runtime.revocation import MemoryRevocations, TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenSigner, TokenVerifier
from tests.tls import user_channel

BTC, SOL = "BTC-PERP", "SOL-USD"
LIVE_ONLY = {"fills"}  # history lists fills at /history/fills


@pytest.fixture
async def engine_api(engine: EngineSide) -> AsyncIterator[engine_pb2_grpc.EngineStub]:
    """The engine's gRPC service over the harness's sequencer (its events go to the real
    persistence service through the event link)."""
    assert engine.sequencer is not None
    settings = engine.settings
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    ticks = itertools.count(T0 + 1_000)
    service = GrpcService(
        "engine", "127.0.0.1", 0, [register(EngineServicer(engine.sequencer, ticks.__next__))],
        tls=settings.tls_files("engine"), mesh_port=0, grace_seconds=0.2,
        token_check=TokenCheck(verifier, MemoryRevocations()))
    await service.start()
    channel = user_channel(f"127.0.0.1:{service.port}")
    try:
        yield engine_pb2_grpc.EngineStub(channel)
    finally:
        await channel.close(None)
        await service.stop()


def flavours(isolated_id: str) -> list[tuple[str, engine_pb2.PlaceOrderRequest]]:
    """(user, request) in order; the close names the isolated order's id."""
    buy, sell = order_pb2.BUY, order_pb2.SELL
    limit, market, ioc = order_pb2.LIMIT, order_pb2.MARKET, order_pb2.IOC
    return [
        ("a", engine_pb2.PlaceOrderRequest(
            type=limit, market=BTC, side=buy, quantity="0.0003", price="49900", post_only=True,
            leverage=10, self_trade_prevention=order_pb2.CANCEL_BOTH, stop_loss="48000",
            take_profit="52000", client_order_id="bracketed")),
        ("b", engine_pb2.PlaceOrderRequest(
            type=limit, market=BTC, side=sell, quantity="0.002", price="50100", leverage=5,
            self_trade_prevention=order_pb2.CANCEL_MAKER)),
        ("a", engine_pb2.PlaceOrderRequest(
            market=BTC, side=buy, type=market, time_in_force=ioc, quantity="0.0002",
            slippage_bps=100, leverage=20, take_profit="53000")),
        ("a", engine_pb2.PlaceOrderRequest(
            type=limit, market=BTC, side=sell, quantity="0.0001", price="50200", reduce_only=True,
            time_in_force=ioc, leverage=20)),
        ("a", engine_pb2.PlaceOrderRequest(
            type=limit, market=BTC, side=buy, quantity="0.0004", price="50100", leverage=3,
            margin_mode=order_pb2.ISOLATED)),
        ("b", engine_pb2.PlaceOrderRequest(
            type=limit, market=BTC, side=buy, quantity="0.0005", price="49800", leverage=5)),
        ("a", engine_pb2.PlaceOrderRequest(
            market=BTC, side=sell, type=market, quantity="0.0004", position_id=isolated_id,
            slippage_bps=250, leverage=3, self_trade_prevention=order_pb2.CANCEL_MAKER)),
        ("b", engine_pb2.PlaceOrderRequest(
            type=limit, market=SOL, side=sell, quantity="1", price="150")),
        ("a", engine_pb2.PlaceOrderRequest(
            market=SOL, side=buy, type=market, quantity="1", slippage_bps=50)),
    ]


def as_json(order: order_pb2.Order) -> dict[str, Any]:
    """The order as the gateway renders it, without the fills (history lists those at
    /history/fills)."""
    shown = json_format.MessageToDict(order, always_print_fields_with_no_presence=True)
    return {k: v for k, v in shown.items() if k not in LIVE_ONLY}


async def test_history_tells_each_order_as_the_engine_does_live(
        engine: EngineSide, persistence: Persistence, signer: TokenSigner,
        engine_api: engine_pb2_grpc.EngineStub) -> None:
    for user in ("a", "b"):
        await engine.submit(Deposit(user_id=user, asset="USD", amount=10**10, tx_id=f"u{user}",
                                    ts=T0))
        await engine.submit(Deposit(user_id=user, asset="SOL", amount=10**10, tx_id=f"s{user}",
                                    ts=T0))
    await engine.submit(SetIndexPrice(market=BTC, price=500_000, ts=T0))
    placed: list[tuple[str, str]] = []
    for i, (user, request) in enumerate(flavours("5")):
        answer = await engine_api.PlaceOrder(request, metadata=auth(signer, user))
        placed.append((user, answer.order.order_id))
        assert answer.order.order_id == str(i + 1)  # so the close names order 5
    await engine.drained()
    live = {oid: (await engine_api.GetOrder(engine_pb2.GetOrderRequest(order_id=oid),
                                            metadata=auth(signer, user))).order
            for user, oid in placed}
    history: dict[str, order_pb2.Order] = {}
    for user in ("a", "b"):
        listed = await persistence.stub.ListOrderHistory(pb.ListOrderHistoryRequest(),
                                                         metadata=auth(signer, user))
        history.update((o.order_id, o) for o in listed.orders)
    assert sorted(history, key=int) == sorted(live, key=int)
    for oid, order in live.items():
        assert history[oid].fills == []
        assert as_json(history[oid]) == as_json(order), oid
    bracketed, market, reduce, isolated, close, spot = (
        history[i] for i in ("1", "3", "4", "5", "7", "9"))
    assert (bracketed.post_only, bracketed.leverage, bracketed.self_trade_prevention,
            bracketed.stop_loss, bracketed.take_profit, bracketed.status) == (
        True, 10, order_pb2.CANCEL_BOTH, "48000", "52000", order_pb2.CANCELED)
    assert (market.price, market.slippage_bps, market.take_profit, market.status) == (
        "", 100, "53000", order_pb2.FILLED)
    assert (reduce.reduce_only, reduce.leverage) == (True, 20)
    assert (isolated.margin_mode, isolated.position_id, isolated.leverage) == (
        order_pb2.ISOLATED, "5", 3)
    assert (close.reduce_only, close.position_id, close.price, close.slippage_bps,
            close.self_trade_prevention, close.status) == (
        True, "5", "", 250, order_pb2.CANCEL_MAKER, order_pb2.FILLED)
    assert (spot.price, spot.slippage_bps, spot.margin_mode, spot.status) == (
        "", 50, order_pb2.MARGIN_MODE_UNSPECIFIED, order_pb2.FILLED)
