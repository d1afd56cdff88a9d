"""Proto ↔ feed values: the feed's one importer of generated message classes (besides the
servicer). A :class:`Frame` is one outgoing message, encoded once for every subscriber:
the gRPC door sends ``response``; the WebSocket door sends ``text`` (or ``wire``, the
same text already framed),
``{"stream": <channel>, "data": {...}}`` with protobuf's JSON mapping (lowerCamelCase,
decimal strings, RFC 3339 times: :mod:`mesh_runtime.proto_json`, the gateway's renderer).
Depth data also says ``"type": "snapshot"|"update"``. The text is compact and ASCII, as
``json.dumps(..., separators=(",", ":"))`` writes it (orjson, which writes the same bytes
for ASCII text; anything else goes through ``json.dumps`` for its ``\\u`` escapes).
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cached_property
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp
from trademesh.v1 import event_pb2, feed_pb2, market_pb2, persistence_pb2

from feed_svc.activity import Seed
from feed_svc.book import Book, Level
from feed_svc.stats import Candle, TickerStats, text
from feed_svc.wire import text_frame
from mesh_runtime.proto_json import to_json

PublishRequest = feed_pb2.PublishMarketDataRequest
Batch = feed_pb2.MarketDataBatch


class Frame:
    """One outgoing message; a reply to a WebSocket request has no ``response``."""

    __slots__ = ("__dict__", "response")

    def __init__(self, response: feed_pb2.SubscribeResponse | None) -> None:
        self.response = response

    @classmethod
    def reply(cls, body: dict[str, Any]) -> Frame:
        frame = cls(None)
        frame.__dict__["text"] = json.dumps(body, separators=(",", ":"))
        return frame

    @cached_property
    def text(self) -> str:
        assert self.response is not None
        field = self.response.WhichOneof("data")
        assert field is not None
        data: dict[str, Any] = to_json(getattr(self.response, field))
        if field == "depth_snapshot":
            data["type"] = "snapshot"
        elif field == "depth_update":
            data["type"] = "update"
        return compact({"stream": self.response.channel, "data": data})

    @cached_property
    def wire(self) -> bytes:
        """``text`` as a WebSocket text frame, framed once for every client."""
        return text_frame(self.text)


def compact(body: dict[str, Any]) -> str:
    """``json.dumps(body, separators=(",", ":"))``, byte for byte, at orjson's speed."""
    raw = orjson.dumps(body)
    if raw.isascii() and b"\x7f" not in raw:  # json.dumps escapes DEL and all non-ASCII
        return raw.decode("ascii")
    return json.dumps(body, separators=(",", ":"))


def millis(ts: Timestamp) -> int:
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


def stamp(ms: int) -> Timestamp:
    seconds, rest = divmod(ms, 1000)
    return Timestamp(seconds=seconds, nanos=rest * 1_000_000)


def levels(items: Any) -> list[Level]:
    return [(lv.price, lv.quantity) for lv in items]


def _price_levels(items: list[Level]) -> list[market_pb2.PriceLevel]:
    return [market_pb2.PriceLevel(price=p, quantity=q) for p, q in items]


def snapshot_frame(channel: str, book: Book, now_ms: int) -> Frame:
    bids, asks = book.levels()
    snap = market_pb2.DepthSnapshot(market=book.market, sequence=book.sequence,
                                    bids=_price_levels(bids), asks=_price_levels(asks),
                                    time=stamp(now_ms))
    return Frame(feed_pb2.SubscribeResponse(channel=channel, depth_snapshot=snap))


def update_frame(channel: str, update: market_pb2.DepthUpdate) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel=channel, depth_update=update))


def trade_frame(channel: str, trade: market_pb2.Trade) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel=channel, trade=trade))


def user_frame(event: event_pb2.EngineEvent) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel="user", user_event=event))


def mark_frame(channel: str, mark: market_pb2.MarkPrice) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel=channel, mark=mark))


def index_frame(channel: str, index: market_pb2.MarkPrice) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel=channel, index=index))


def ticker(market: str, stats: TickerStats, best: tuple[str, str],
           mark: market_pb2.MarkPrice | None) -> market_pb2.Ticker:
    """The ticker of ``ticker@M``, ``tickers`` and the REST ticker: the 24h figures, the top
    of the book and (perps) the engine's last mark, index, funding rate and next funding."""
    out = market_pb2.Ticker(market=market, last=stats.last, best_bid=best[0],
                            best_ask=best[1], high_24h=stats.high, low_24h=stats.low,
                            volume_24h=stats.volume, change_24h=stats.change,
                            change_percent_24h=stats.change_percent)
    if mark is not None:
        out.mark_price, out.index_price = mark.mark_price, mark.index_price
        out.funding_rate = mark.funding_rate
        if mark.HasField("next_funding_time"):
            out.next_funding_time.CopyFrom(mark.next_funding_time)
    return out


def ticker_frame(channel: str, ticker: market_pb2.Ticker) -> Frame:
    return Frame(feed_pb2.SubscribeResponse(channel=channel, ticker=ticker))


def candle_frame(channel: str, market: str, interval: str, candle: Candle) -> Frame:
    proto = market_pb2.Candle(market=market, interval=interval,
                              open_time=stamp(candle.open_time), open=text(candle.open),
                              high=text(candle.high), low=text(candle.low),
                              close=text(candle.close), volume=text(candle.volume),
                              closed=candle.closed)
    return Frame(feed_pb2.SubscribeResponse(channel=channel, candle=proto))


def seed(answer: persistence_pb2.GetMarketActivityResponse) -> Seed:
    """Persistence's record of a market's recent trading as the feed's :class:`Seed`."""
    minutes = [Candle(millis(c.open_time), Decimal(c.open), Decimal(c.high), Decimal(c.low),
                      Decimal(c.close), Decimal(c.volume)) for c in answer.candles]
    last = Decimal(answer.last_price) if answer.last_price else None
    return Seed(minutes, last, answer.last_trade_id)


def activity_request(market: str, since_ms: int) -> persistence_pb2.GetMarketActivityRequest:
    return persistence_pb2.GetMarketActivityRequest(market=market, since=stamp(since_ms))


def index_request(market: str, index_price: str, now_ms: int) -> PublishRequest:
    """An oracle price as a relay item for ``index@M`` (the engine publishes the mark)."""
    index = market_pb2.MarkPrice(market=market, index_price=index_price, time=stamp(now_ms))
    return PublishRequest(index=index)
