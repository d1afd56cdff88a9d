"""History, candles and users over real gRPC, scoped by the caller's JWT."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import timestamp_pb2
from persistence_harness import T0, EngineSide, Persistence
from trademesh.v1 import account_pb2, order_pb2, persistence_pb2_grpc
from trademesh.v1 import persistence_pb2 as pb

from engine_svc.core import Deposit, OrderType, PlaceOrder, Side
from mesh_runtime.tokens import TokenSigner
from tests.tls import service_channel

MIN = 60_000


def stamp(ms: int) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromMilliseconds(ms)
    return out


def auth(signer: TokenSigner, user: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {signer.issue(user)[0]}"),)


async def fund(engine: EngineSide, *users: str) -> None:
    for u in users:
        await engine.submit(Deposit(user_id=u, asset="USD", amount=10**12, tx_id=f"u{u}", ts=T0))
        await engine.submit(Deposit(user_id=u, asset="SOL", amount=10**12, tx_id=f"s{u}", ts=T0))


async def trade(engine: EngineSide, price: int, lots: int, ts: int) -> None:
    """``maker`` rests a sell, ``taker`` takes it: one SOL-USD fill at ``ts``."""
    await engine.submit(PlaceOrder(user_id="maker", market="SOL-USD", side=Side.SELL,
                                   price=price, quantity=lots, ts=ts))
    await engine.submit(PlaceOrder(user_id="taker", market="SOL-USD", side=Side.BUY,
                                   type=OrderType.MARKET, quantity=lots, ts=ts))


async def test_candles_from_known_fills(engine: EngineSide, persistence: Persistence) -> None:
    await fund(engine, "maker", "taker")
    await trade(engine, 100_000, 1, T0 + 10_000)  # minute 0: 100, 105, 95
    await trade(engine, 105_000, 2, T0 + 20_000)
    await trade(engine, 95_000, 3, T0 + MIN - 1)
    await trade(engine, 101_000, 4, T0 + 2 * MIN)  # minute 1 empty; minute 2 on its boundary
    await trade(engine, 102_000, 5, T0 + 5 * MIN)  # the first trade of the second 5m bucket
    await engine.drained()
    answer = await persistence.stub.GetCandles(pb.GetCandlesRequest(
        market="SOL-USD", interval="1m", start=stamp(T0 - MIN), end=stamp(T0 + 6 * MIN)))
    rows = [(c.open_time.ToMilliseconds() - T0, c.open, c.high, c.low, c.close, c.volume)
            for c in answer.candles]
    assert rows == [  # before the first trade: omitted; empty minutes: flat at the close
        (0, "100", "105", "95", "95", "0.06"),
        (MIN, "95", "95", "95", "95", "0"),
        (2 * MIN, "101", "101", "101", "101", "0.04"),
        (3 * MIN, "101", "101", "101", "101", "0"),
        (4 * MIN, "101", "101", "101", "101", "0"),
        (5 * MIN, "102", "102", "102", "102", "0.05"),
    ]
    assert all(c.closed for c in answer.candles)
    five = await persistence.stub.GetCandles(pb.GetCandlesRequest(
        market="SOL-USD", interval="5m", start=stamp(T0), end=stamp(T0 + 10 * MIN)))
    assert [(c.open, c.high, c.low, c.close, c.volume) for c in five.candles] == [
        ("100", "105", "95", "101", "0.1"), ("102", "102", "102", "102", "0.05")]
    day = await persistence.stub.GetCandles(pb.GetCandlesRequest(
        market="SOL-USD", interval="1d", start=stamp(T0), end=stamp(T0 + 1)))
    assert [(c.open, c.close, c.volume) for c in day.candles] == [("100", "102", "0.15")]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await persistence.stub.GetCandles(pb.GetCandlesRequest(market="SOL-USD",
                                                               interval="2m"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_history_is_the_callers_own_and_pages_stably(
        engine: EngineSide, persistence: Persistence, signer: TokenSigner) -> None:
    await fund(engine, "maker", "taker")
    for i in range(12):
        await trade(engine, 100_000 + i, 1, T0 + i * 1000)
    await engine.drained()
    stub = persistence.stub
    first = await stub.ListFills(pb.ListFillsRequest(limit=5), metadata=auth(signer, "taker"))
    assert len(first.fills) == 5 and {f.user_id for f in first.fills} == {"taker"}
    everything = await stub.ListFills(pb.ListFillsRequest(), metadata=auth(signer, "taker"))
    expected_next = [f.fill_id for f in everything.fills[5:10]]
    for i in range(5):  # new rows arrive between the pages
        await trade(engine, 200_000 + i, 1, T0 + 100_000 + i)
    await engine.drained()
    second = await stub.ListFills(pb.ListFillsRequest(limit=5, before=first.fills[-1].fill_id),
                                  metadata=auth(signer, "taker"))
    assert [f.fill_id for f in second.fills] == expected_next
    orders = await stub.ListOrderHistory(pb.ListOrderHistoryRequest(market="SOL-USD"),
                                         metadata=auth(signer, "maker"))
    assert len(orders.orders) == 17 and {o.user_id for o in orders.orders} == {"maker"}
    assert {o.status for o in orders.orders} == {order_pb2.FILLED}
    assert orders.orders[0].average_price == "200.004"
    ledger = await stub.ListLedger(pb.ListLedgerRequest(limit=1000),
                                   metadata=auth(signer, "maker"))
    assert {account_pb2.LedgerEntryKind.Name(e.kind) for e in ledger.entries} == {
        "DEPOSIT", "TRADE"}  # maker fees are 0 on SOL-USD
    stranger = await stub.ListFills(pb.ListFillsRequest(), metadata=auth(signer, "nobody"))
    assert list(stranger.fills) == []
    trades = await stub.ListTrades(pb.ListTradesRequest(market="SOL-USD", limit=3))
    assert [t.price for t in trades.trades] == ["200.004", "200.003", "200.002"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListFills(pb.ListFillsRequest())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListFills(pb.ListFillsRequest(limit=1001), metadata=auth(signer, "taker"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_users_create_and_lookup(persistence: Persistence) -> None:
    async with service_channel(persistence.mesh_address, "gateway") as channel:
        await _users_create_and_lookup(persistence_pb2_grpc.PersistenceStub(channel))


async def _users_create_and_lookup(stub: persistence_pb2_grpc.PersistenceStub) -> None:
    """CreateUser and GetUser, as their one caller (the gateway) calls them."""
    made = await stub.CreateUser(pb.CreateUserRequest(email=" Alice@Example.COM ",
                                                      password_hash="$2b$12$hash"))
    assert made.user.email == "alice@example.com" and made.user.id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateUser(pb.CreateUserRequest(email="ALICE@example.com",
                                                   password_hash="$2b$12$other"))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    by_email = await stub.GetUser(pb.GetUserRequest(email="alice@EXAMPLE.com"))
    by_id = await stub.GetUser(pb.GetUserRequest(id=made.user.id))
    assert by_email == by_id and by_id.password_hash == "$2b$12$hash"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetUser(pb.GetUserRequest(email="bob@example.com"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateUser(pb.CreateUserRequest(email="not-an-email", password_hash="h"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
