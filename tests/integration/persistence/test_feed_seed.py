"""The feed's 24h window rebuilt from real PostgreSQL: a hub that counted some live trades
before its seed arrived ends with every trade counted once (the seeder against the real
persistence service, as the feed)."""

from __future__ import annotations

from persistence_harness import T0, EngineSide, Persistence
from trademesh.v1 import feed_pb2, market_pb2, persistence_pb2_grpc
from trademesh.v1 import persistence_pb2 as pb

from feed_svc.hub import Hub
from feed_svc.seeder import Seeder
from tests.integration.persistence.test_queries import MIN, fund, trade
from tests.tls import service_channel


def live(hub: Hub, row: market_pb2.Trade) -> None:
    hub.apply(feed_pb2.PublishMarketDataRequest(trade=row))


async def test_seeded_window_counts_each_trade_once(engine: EngineSide,
                                                    persistence: Persistence) -> None:
    await fund(engine, "maker", "taker")
    await trade(engine, 100_000, 1, T0 + MIN)
    await trade(engine, 110_000, 2, T0 + 2 * MIN)
    await trade(engine, 90_000, 3, T0 + 3 * MIN)
    await engine.drained()
    now = T0 + 10 * MIN
    hub = Hub(["SOL-USD", "BTC-PERP"], lambda: now)
    async with service_channel(persistence.mesh_address, "feed") as channel:
        stub = persistence_pb2_grpc.PersistenceStub(channel)
        recorded = await persistence.stub.ListTrades(pb.ListTradesRequest(market="SOL-USD"))
        newest, *_ = recorded.trades  # newest first
        live(hub, newest)  # the feed saw the last trade live too: it must not count twice
        later = market_pb2.Trade(market="SOL-USD", trade_id=str(int(newest.trade_id) + 100),
                                 price="95", quantity="0.04", taker_side="BUY")
        later.time.FromMilliseconds(T0 + 4 * MIN)
        live(hub, later)  # one the record does not have yet: kept
        seeder = Seeder(hub, persistence.mesh_address,
                        persistence.settings.tls_files("feed"), lambda: now)
        await seeder.seed_all(stub)
    assert hub.unseeded() == []
    ticker = hub.ticker("SOL-USD")
    assert (ticker.last, ticker.high_24h, ticker.low_24h, ticker.volume_24h, ticker.change_24h,
            ticker.change_percent_24h) == ("95", "110", "90", "0.1", "-5", "-5")
    never = hub.ticker("BTC-PERP")
    assert (never.last, never.volume_24h) == ("", "0")
