"""What the feed rebuilds its 24h ticker and open candles from (GetMarketActivity), and
the 15m and 4h candle intervals, over real gRPC on real PostgreSQL."""

from __future__ import annotations

import grpc
import pytest
from persistence_harness import T0, EngineSide, Persistence
from trademesh.v1 import persistence_pb2 as pb
from trademesh.v1 import persistence_pb2_grpc

from tests.integration.persistence.test_queries import MIN, fund, stamp, trade
from tests.tls import service_channel

HOUR = 60 * MIN


async def test_activity_is_the_window_with_the_last_trade(
        engine: EngineSide, persistence: Persistence) -> None:
    await fund(engine, "maker", "taker")
    await trade(engine, 90_000, 1, T0 + 10_000)  # outside the window asked for below
    await trade(engine, 100_000, 2, T0 + 3 * MIN + 5)
    await trade(engine, 104_000, 3, T0 + 3 * MIN + 9)
    await trade(engine, 99_000, 4, T0 + 7 * MIN)
    await engine.drained()
    async with service_channel(persistence.mesh_address, "feed") as channel:
        stub = persistence_pb2_grpc.PersistenceStub(channel)
        answer = await stub.GetMarketActivity(pb.GetMarketActivityRequest(
            market="SOL-USD", since=stamp(T0 + MIN)))
        assert [(c.open_time.ToMilliseconds() - T0, c.open, c.high, c.low, c.close, c.volume,
                 c.interval) for c in answer.candles] == [
            (3 * MIN, "100", "104", "100", "104", "0.05", "1m"),
            (7 * MIN, "99", "99", "99", "99", "0.04", "1m")]
        assert answer.last_price == "99"
        newest = await persistence.stub.ListTrades(pb.ListTradesRequest(market="SOL-USD",
                                                                        limit=1))
        assert answer.last_trade_id == int(newest.trades[0].trade_id)

        later = await stub.GetMarketActivity(pb.GetMarketActivityRequest(
            market="SOL-USD", since=stamp(T0 + HOUR)))  # nothing in the window: the last
        assert (list(later.candles), later.last_price) == ([], "99")  # trade all the same
        assert later.last_trade_id == answer.last_trade_id

        never = await stub.GetMarketActivity(pb.GetMarketActivityRequest(
            market="BTC-PERP", since=stamp(T0)))
        assert (list(never.candles), never.last_price, never.last_trade_id) == ([], "", 0)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetMarketActivity(pb.GetMarketActivityRequest(since=stamp(T0)))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_activity_is_for_the_feed_only(persistence: Persistence) -> None:
    async with service_channel(persistence.mesh_address, "gateway") as channel:
        stub = persistence_pb2_grpc.PersistenceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetMarketActivity(pb.GetMarketActivityRequest(market="SOL-USD"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_fifteen_minute_and_four_hour_candles(engine: EngineSide,
                                                    persistence: Persistence) -> None:
    await fund(engine, "maker", "taker")
    await trade(engine, 100_000, 1, T0 + 14 * MIN)  # first 15m bucket, first 4h bucket
    await trade(engine, 106_000, 2, T0 + 15 * MIN)  # second 15m bucket
    await trade(engine, 97_000, 3, T0 + 3 * HOUR + 59 * MIN)
    await trade(engine, 101_000, 4, T0 + 4 * HOUR)  # second 4h bucket
    await engine.drained()
    fifteen = await persistence.stub.GetCandles(pb.GetCandlesRequest(
        market="SOL-USD", interval="15m", start=stamp(T0), end=stamp(T0 + 30 * MIN)))
    assert [(c.open_time.ToMilliseconds() - T0, c.open, c.close, c.volume, c.interval)
            for c in fifteen.candles] == [(0, "100", "100", "0.01", "15m"),
                                          (15 * MIN, "106", "106", "0.02", "15m")]
    four = await persistence.stub.GetCandles(pb.GetCandlesRequest(
        market="SOL-USD", interval="4h", start=stamp(T0), end=stamp(T0 + 8 * HOUR)))
    assert [(c.open_time.ToMilliseconds() - T0, c.open, c.high, c.low, c.close, c.volume)
            for c in four.candles] == [(0, "100", "106", "97", "97", "0.06"),
                                       (4 * HOUR, "101", "101", "101", "101", "0.04")]
