"""The feed's 24h figures and open candles: percent change, a window rebuilt from the
durable record's minutes merged exactly with live trades, the ``tickers`` rate bound, the
15m/4h intervals and the hub serving tickers. Pure: no servers, an injected clock."""

from __future__ import annotations

from decimal import Decimal

import pytest
from trademesh.v1 import feed_pb2, market_pb2

from feed_svc.activity import MAX_EARLY, LiveTrade, MarketActivity, Seed
from feed_svc.channels import INTERVALS_MS, TICKERS_CHANNEL, Channel, Kind, UnknownChannel, parse
from feed_svc.codec import Frame
from feed_svc.hub import TICKERS_INTERVAL_MS, Hub
from feed_svc.outbox import Outbox
from feed_svc.pacer import Pacer
from feed_svc.stats import DAY_MS, Candle, CandleBuilder, RollingTicker, percent

T0 = 1_763_769_600_000  # a UTC midnight, in ms
MIN = 60_000
D = Decimal
MARKETS = frozenset({"BTC-PERP", "SOL-USD"})


def minute(at: int, o: str, h: str, low: str, c: str, v: str) -> Candle:
    return Candle(at, D(o), D(h), D(low), D(c), D(v))


def test_percent_is_two_places_half_to_even() -> None:
    assert percent(D("-5"), D("100")) == D("-5.00")
    assert percent(D("1"), D("3")) == D("33.33")
    assert percent(D("0.125"), D("1000")) == D("0.01")  # 0.0125 -> 0.01 (half to even)
    assert percent(D("0.375"), D("1000")) == D("0.04")  # 0.0375 -> 0.04
    assert percent(D("1"), D("0")) == 0


def test_ticker_fields_all_filled_once_traded() -> None:
    ticker = RollingTicker()
    ticker.add(T0, D("200"), D("1"))
    ticker.add(T0 + MIN, D("190"), D("0.5"))
    stats = ticker.stats(T0 + MIN)
    assert (stats.last, stats.high, stats.low, stats.volume, stats.change,
            stats.change_percent) == ("190", "200", "190", "1.5", "-10", "-5")
    quiet = ticker.stats(T0 + 3 * DAY_MS)  # nothing traded for a day: the price stood
    assert (quiet.last, quiet.high, quiet.low, quiet.volume, quiet.change,
            quiet.change_percent) == ("190", "190", "190", "0", "0", "0")


def test_a_seeded_window_rolls_like_a_live_one() -> None:
    minutes = [minute(T0, "100", "120", "90", "110", "2"),
               minute(T0 + 5 * MIN, "110", "111", "80", "85", "3")]
    seeded = RollingTicker.seeded(minutes, D("85"))
    stats = seeded.stats(T0 + 10 * MIN)
    assert (stats.high, stats.low, stats.volume, stats.change, stats.change_percent) == \
        ("120", "80", "5", "-15", "-15")
    later = seeded.stats(T0 + DAY_MS + MIN)  # the first minute has rolled off
    assert (later.high, later.low, later.volume, later.change) == ("111", "80", "3", "-25")


def test_open_candles_rebuilt_from_minutes() -> None:
    minutes = [minute(T0 + 14 * MIN, "100", "101", "99", "100", "1"),
               minute(T0 + 15 * MIN, "102", "103", "98", "99", "2"),
               minute(T0 + 16 * MIN, "99", "104", "99", "104", "3")]
    now = T0 + 16 * MIN + 30_000
    fifteen = CandleBuilder.seeded(INTERVALS_MS["15m"], minutes, now).current
    assert fifteen == Candle(T0 + 15 * MIN, D(102), D(104), D(98), D(104), D(5))
    four = CandleBuilder.seeded(INTERVALS_MS["4h"], minutes, now).current
    assert four == Candle(T0, D(100), D(104), D(98), D(104), D(6))
    assert CandleBuilder.seeded(INTERVALS_MS["1m"], minutes, now + 2 * MIN).current is None


def trade(trade_id: int, at: int, price: str, qty: str) -> LiveTrade:
    return LiveTrade(trade_id, at, D(price), D(qty))


def test_seed_merges_with_live_trades_once_each() -> None:
    activity = MarketActivity(INTERVALS_MS)
    # live trades 7 and 8 arrived before the seed; the record counts up to 7 (7 twice)
    assert activity.add(trade(7, T0 + 2 * MIN, "105", "1")) is not None
    assert activity.add(trade(8, T0 + 3 * MIN, "107", "2")) is not None
    assert activity.add(trade(8, T0 + 3 * MIN, "107", "2")) is None  # a resend
    record = Seed([minute(T0, "100", "100", "100", "100", "4"),
                   minute(T0 + 2 * MIN, "105", "105", "105", "105", "1")], D("105"), 7)
    activity.seed(record, T0 + 3 * MIN)
    stats = activity.ticker.stats(T0 + 3 * MIN)
    assert (stats.last, stats.high, stats.low, stats.volume, stats.change) == \
        ("107", "107", "100", "7", "7")
    day = activity.candles["1d"].current
    assert day is not None and (day.open, day.close, day.volume) == (100, 107, 7)
    assert activity.add(trade(6, T0 + 4 * MIN, "1", "1")) is None  # the record had it
    activity.seed(Seed([], None, 0), T0 + 4 * MIN)  # a second seed changes nothing
    assert activity.ticker.stats(T0 + 4 * MIN).volume == "7"


def test_early_trades_are_bounded() -> None:
    activity = MarketActivity({"1m": MIN})
    for i in range(1, MAX_EARLY + 11):
        activity.add(trade(i, T0, "1", "1"))
    activity.seed(Seed([], None, 0), T0)
    assert activity.ticker.stats(T0).volume == str(MAX_EARLY)  # the oldest ten forgotten


def test_pacer_bounds_each_key() -> None:
    pacer = Pacer(250)
    assert pacer.due("A", 1_000) and pacer.due("B", 1_000)
    assert not pacer.due("A", 1_100) and not pacer.due("A", 1_200)
    assert pacer.flush(1_200) == []
    assert pacer.flush(1_250) == ["A"]
    assert pacer.flush(2_000) == []  # nothing pending any more
    assert not pacer.due("A", 1_300)  # within the interval of the flushed send
    assert pacer.due("A", 1_600)


def test_channel_names_for_tickers_and_new_intervals() -> None:
    assert parse("tickers", MARKETS) == Channel(Kind.TICKERS)
    assert Channel(Kind.TICKERS).name == TICKERS_CHANNEL
    assert parse("kline_15m@SOL-USD", MARKETS).interval == "15m"
    assert parse("kline_4h@BTC-PERP", MARKETS).name == "kline_4h@BTC-PERP"
    for bad in ("tickers@SOL-USD", "kline_2h@SOL-USD"):
        with pytest.raises(UnknownChannel):
            parse(bad, MARKETS)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def publish_trade(hub: Hub, market: str, trade_id: int, price: str, at: int) -> None:
    stamp = market_pb2.Trade(market=market, trade_id=str(trade_id), price=price,
                             quantity="1", taker_side="BUY")
    stamp.time.FromMilliseconds(at)
    hub.apply(feed_pb2.PublishMarketDataRequest(trade=stamp))


def tickers_sent(box: Outbox[Frame]) -> list[tuple[str, str]]:
    out = []
    for message in box.take_now():
        response = message.payload.response
        assert response is not None and message.channel == TICKERS_CHANNEL
        out.append((response.ticker.market, response.ticker.last))
    return out


def test_hub_tickers_channel_is_bounded_per_market() -> None:
    clock = Clock()
    hub = Hub(sorted(MARKETS), clock)
    publish_trade(hub, "SOL-USD", 1, "100", clock.now)
    box: Outbox[Frame] = Outbox(100, hub.resnapshot)
    hub.subscribe(box, Channel(Kind.TICKERS))
    assert tickers_sent(box) == [("SOL-USD", "100")]  # every market that has a ticker
    for i, price in enumerate(("101", "102", "103"), start=2):
        publish_trade(hub, "SOL-USD", i, price, clock.now)
    publish_trade(hub, "BTC-PERP", 5, "60000", clock.now)
    assert tickers_sent(box) == [("SOL-USD", "101"), ("BTC-PERP", "60000")]
    hub.flush_tickers()
    assert tickers_sent(box) == []  # still within the interval
    clock.now += TICKERS_INTERVAL_MS
    hub.flush_tickers()
    assert tickers_sent(box) == [("SOL-USD", "103")]  # the newest, once


def test_hub_serves_the_seeded_ticker_and_mark() -> None:
    clock = Clock()
    hub = Hub(sorted(MARKETS), clock)
    assert hub.unseeded() == ["BTC-PERP", "SOL-USD"]
    hub.seed("BTC-PERP", Seed([minute(T0 - MIN, "60000", "61000", "59000", "60500", "2")],
                              D("60500"), 3))
    mark = market_pb2.MarkPrice(market="BTC-PERP", mark_price="60400", index_price="60390",
                                funding_rate="0.000165")
    mark.next_funding_time.FromMilliseconds(T0 + 3_600_000)
    hub.apply(feed_pb2.PublishMarketDataRequest(mark=mark))
    ticker = hub.ticker("BTC-PERP")
    assert (ticker.last, ticker.high_24h, ticker.low_24h, ticker.volume_24h, ticker.change_24h,
            ticker.change_percent_24h) == ("60500", "61000", "59000", "2", "500", "0.83")
    assert (ticker.mark_price, ticker.index_price, ticker.funding_rate) == \
        ("60400", "60390", "0.000165")
    assert ticker.next_funding_time.ToMilliseconds() == T0 + 3_600_000
    assert hub.unseeded() == ["SOL-USD"]
    publish_trade(hub, "BTC-PERP", 3, "1", clock.now)  # already in the record: ignored
    assert hub.ticker("BTC-PERP").volume_24h == "2"
