"""The feed's pure parts: book, 24h ticker, candles, oracle, outbox, channel names."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine_svc.batch_scan import changes
from feed_svc.book import Book
from feed_svc.channels import Channel, Kind, UnknownChannel, parse
from feed_svc.oracle import InvalidPrice, SimulatedOracle
from feed_svc.outbox import Message, Mode, Outbox
from feed_svc.stats import DAY_MS, CandleBuilder, RollingTicker

T0 = 1_763_769_600_000  # a midnight, in ms
MARKETS = frozenset({"BTC-PERP", "SOL-USD"})


def test_book_applies_consecutive_diffs_and_refuses_gaps() -> None:
    book = Book("BTC-PERP")
    assert not book.apply(1, [("1", "1")], [])  # no snapshot yet
    assert not book.reset(5, [("100", "1"), ("99", "2")], [("101", "3")])
    assert book.apply(6, [("100", "0"), ("98", "1")], [("102", "1")])
    assert book.levels() == ([("99", "2"), ("98", "1")], [("101", "3"), ("102", "1")])
    assert book.best() == ("99", "101")
    assert not book.apply(8, [], []) and not book.valid
    assert not book.apply(9, [], [])  # stays invalid until a snapshot
    assert not book.reset(9, [("99", "2")], [])
    assert book.reset(9, [("99", "2")], [])  # the same snapshot again: continuous


def test_rolling_ticker_over_24h_with_an_injected_clock() -> None:
    ticker = RollingTicker()
    assert ticker.stats(T0).last == ""
    ticker.add(T0, Decimal("100"), Decimal("1"))
    ticker.add(T0 + 60_000, Decimal("110.5"), Decimal("0.5"))
    ticker.add(T0 + 3_600_000, Decimal("95"), Decimal("2"))
    stats = ticker.stats(T0 + 3_600_000)
    assert (stats.last, stats.high, stats.low, stats.volume, stats.change) == \
        ("95", "110.5", "95", "3.5", "-5")
    later = ticker.stats(T0 + DAY_MS + 60_000)  # the first two minutes have rolled off
    assert (later.high, later.low, later.volume, later.change) == ("95", "95", "2", "0")
    assert ticker.stats(T0 + 2 * DAY_MS).volume == "0"


def test_candles_update_then_close() -> None:
    builder = CandleBuilder(60_000)
    [first] = builder.add(T0 + 1_000, Decimal("10"), Decimal("1"))
    assert (first.open, first.high, first.volume, first.closed) == (10, 10, 1, False)
    [same] = builder.add(T0 + 2_000, Decimal("12"), Decimal("2"))
    assert (same.high, same.close, same.volume) == (12, 12, 3)
    closed, opened = builder.add(T0 + 61_000, Decimal("11"), Decimal("1"))
    assert closed.closed and closed.open_time == T0 and opened.open_time == T0 + 60_000
    assert builder.tick(T0 + 119_999) == []
    [timed_out] = builder.tick(T0 + 120_000)
    assert timed_out.closed and builder.current is None


def test_oracle_is_deterministic_integer_and_settable() -> None:
    a, b = SimulatedOracle(seed=42), SimulatedOracle(seed=42)
    walk_a = [a.step() for _ in range(500)]
    assert walk_a == [b.step() for _ in range(500)]
    assert walk_a != [SimulatedOracle(seed=43).step() for _ in range(500)]
    for step in walk_a:
        for market, price in step:
            assert isinstance(price, str)
            assert Decimal(price) % {"BTC-PERP": Decimal("0.1"), "ETH-PERP": Decimal("0.01"),
                                     "SOL-PERP": Decimal("0.001")}[market] == 0
    btc = [Decimal(dict(s)["BTC-PERP"]) for s in walk_a]
    assert all(abs(p - 60000) <= 60000 * Decimal("0.03") for p in btc)
    assert a.set_price("BTC-PERP", "65000.5") == "65000.5"
    with pytest.raises(InvalidPrice):
        a.set_price("BTC-PERP", "1.05")
    with pytest.raises(InvalidPrice):
        a.set_price("BTC-PERP", "-1")


@pytest.mark.parametrize("price", ["1" * 29 + "." + "0" * 30,  # a 500 in the fuzz run
                                   "٣", "1_0", " 5", "NaN", "Infinity", "1e3", "0", ""])
def test_an_index_price_is_a_positive_ascii_decimal_in_bounds(price: str) -> None:
    oracle = SimulatedOracle(seed=1)
    with pytest.raises(InvalidPrice):
        oracle.set_price("BTC-PERP", price)
    with pytest.raises(KeyError):
        oracle.set_price("NOPE", "1")


def _msg(channel: str, mode: Mode, n: int, key: str = "") -> Message[int]:
    return Message(channel, mode, n, key)


async def test_outbox_conflates_marks_stale_depth_and_closes_slow_strict() -> None:
    box: Outbox[int] = Outbox(10, lambda ch: _msg(ch, Mode.SNAPSHOT, -1))
    for i in range(5):
        box.push(_msg("depth@X", Mode.DIFF, i))
        box.push(_msg("ticker@X", Mode.CONFLATE, i))
    box.push(_msg("depth@X", Mode.DIFF, 99))  # past half full: stale, diffs dropped
    got = await box.take()
    assert [(m.channel, m.payload) for m in got] == [("ticker@X", 4), ("depth@X", -1)]
    for i in range(10):
        box.push(_msg("trades@X", Mode.STRICT, i))
    assert box.closed_reason is None
    box.push(_msg("trades@X", Mode.STRICT, 10))
    assert box.closed_reason is not None and "SLOW_CONSUMER" in box.closed_reason
    assert await box.take() == [] and box.closed.is_set()


async def test_outbox_snapshot_supersedes_and_forget() -> None:
    box: Outbox[int] = Outbox(100, lambda ch: None)
    box.push(_msg("depth@X", Mode.DIFF, 1))
    box.push(_msg("trades@X", Mode.STRICT, 2))
    box.push(_msg("depth@X", Mode.SNAPSHOT, 3))
    box.push(_msg("kline_1m@X", Mode.CONFLATE, 4, key="a"))
    box.push(_msg("kline_1m@X", Mode.CONFLATE, 5, key="b"))
    box.forget("trades@X")
    assert [m.payload for m in await box.take()] == [3, 4, 5]


def test_channel_names() -> None:
    assert parse("depth@BTC-PERP", MARKETS) == Channel(Kind.DEPTH, "BTC-PERP")
    assert parse("kline_5m@SOL-USD", MARKETS).name == "kline_5m@SOL-USD"
    assert parse("user", MARKETS).kind is Kind.USER
    for bad in ("depth@NOPE", "mark@SOL-USD", "index@SOL-USD", "kline_2m@SOL-USD", "user@BTC-PERP",
                "trades", 7, "candles@BTC-PERP"):
        with pytest.raises(UnknownChannel):
            parse(bad, MARKETS)


def test_depth_changes_between_views() -> None:
    old = [(100, 5), (99, 1), (98, 2)]
    new = [(101, 1), (100, 4), (98, 2)]
    assert sorted(changes(old, new)) == [(99, 0), (100, 4), (101, 1)]
    assert changes(new, new) == []


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_text_frames_parse_as_websocket_frames(size: int) -> None:
    from websockets.client import ClientProtocol
    from websockets.frames import Frame as WsFrame
    from websockets.frames import Opcode
    from websockets.protocol import State
    from websockets.uri import parse_uri

    from feed_svc.wire import text_frame

    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8 too
    client = ClientProtocol(parse_uri("ws://localhost/ws"), state=State.OPEN, max_size=None)
    client.receive_data(text_frame(text))
    events = client.events_received()
    assert len(events) == 1 and isinstance(events[0], WsFrame)
    assert events[0].opcode is Opcode.TEXT and events[0].fin and not events[0].rsv1
    assert bytes(events[0].data).decode() == text
