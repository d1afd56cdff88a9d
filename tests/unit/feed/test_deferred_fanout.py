"""Deferred outboxes (the WebSocket pacer's: messages handed over at ``Hub.settle``) end up
with exactly what outboxes pushed at once get: the same messages in the same order, the
same depth resnapshots and slow-consumer closes, through random publishing, subscribing,
unsubscribing, user events and reading, with queues small enough to overflow."""

from __future__ import annotations

import random

import pytest
from trademesh.v1 import event_pb2, feed_pb2, market_pb2

from feed_svc.channels import Channel, Kind, parse
from feed_svc.codec import Frame
from feed_svc.hub import Hub
from feed_svc.outbox import Outbox

T0 = 1_763_769_600_000
MARKETS = ["BTC-PERP", "SOL-USD"]
CHANNELS = [f"{kind}@{market}" for market in MARKETS for kind in ("depth", "trades", "ticker")] \
    + ["mark@BTC-PERP", "kline_1m@SOL-USD", "tickers"]
USERS = ["u1", "u2"]
Seen = list[tuple[str, str]]


class Twin:
    """One client twice: an outbox pushed at once and a deferred one, same subscriptions."""

    def __init__(self, hub: Hub, limit: int, user: str) -> None:
        self.hub, self.user = hub, user
        self.direct: Outbox[Frame] = Outbox(limit, hub.resnapshot)
        self.deferred: Outbox[Frame] = Outbox(limit, hub.resnapshot, deferred=True)
        self.channels: set[str] = set()

    def subscribe(self, name: str) -> None:
        channel = self._channel(name)
        for box in (self.direct, self.deferred):
            self.hub.subscribe(box, channel, self.user)
        self.channels.add(name)

    def unsubscribe(self, name: str) -> None:
        channel = self._channel(name)
        for box in (self.direct, self.deferred):
            self.hub.unsubscribe(box, channel, self.user)
        self.channels.discard(name)

    def read(self, most: int) -> tuple[Seen, Seen]:
        self.hub.settle()  # what the pacer does before it takes
        return _seen(self.direct.take_now(most)), _seen(self.deferred.take_now(most))

    def _channel(self, name: str) -> Channel:
        return parse(name, frozenset(MARKETS)) if name != "user" else Channel(Kind.USER)


def _seen(messages: list) -> Seen:  # type: ignore[type-arg]
    return [(m.channel, m.payload.text) for m in messages]


class Engine:
    """Market data as the engine publishes it: consecutive depth diffs (a gap now and then),
    trades, marks, user events."""

    def __init__(self, hub: Hub, rng: random.Random) -> None:
        self.hub, self.rng = hub, rng
        self.sequence = {m: 0 for m in MARKETS}
        self.trade_id = self.user_seq = 0

    def step(self) -> None:
        rng, market = self.rng, self.rng.choice(MARKETS)
        roll = rng.random()
        if roll < 0.08 or not self.sequence[market]:
            self.sequence[market] += rng.choice([1, 1, 5])
            snap = market_pb2.DepthSnapshot(market=market, sequence=self.sequence[market],
                                            bids=[_level(rng)], asks=[_level(rng, 200)])
            snap.time.FromMilliseconds(T0)
            self.hub.apply(feed_pb2.PublishMarketDataRequest(depth_snapshot=snap))
        elif roll < 0.5:
            self.sequence[market] += 1 if rng.random() < 0.97 else 2
            update = market_pb2.DepthUpdate(market=market, sequence=self.sequence[market],
                                            bids=[_level(rng)])
            self.hub.apply(feed_pb2.PublishMarketDataRequest(depth_update=update))
        elif roll < 0.8:
            self.trade_id += 1
            trade = market_pb2.Trade(trade_id=str(self.trade_id), market=market,
                                     price=str(rng.randint(90, 110)), quantity="1",
                                     taker_side="BUY")
            trade.time.FromMilliseconds(T0 + self.trade_id)
            self.hub.apply(feed_pb2.PublishMarketDataRequest(trade=trade))
        elif roll < 0.9:
            mark = market_pb2.MarkPrice(market="BTC-PERP", mark_price=str(rng.randint(1, 9)))
            self.hub.apply(feed_pb2.PublishMarketDataRequest(mark=mark))
        else:
            self.user_seq += 1
            event = event_pb2.EngineEvent(sequence=self.user_seq, user_id=rng.choice(USERS))
            event.balance.SetInParent()
            self.hub.apply(feed_pb2.PublishMarketDataRequest(user_event=event))


def _level(rng: random.Random, base: int = 100) -> market_pb2.PriceLevel:
    return market_pb2.PriceLevel(price=str(base - rng.randint(0, 5)),
                                 quantity=str(rng.randint(0, 3)))


@pytest.mark.parametrize("seed", range(12))
def test_deferred_outboxes_get_what_immediate_ones_get(seed: int) -> None:
    rng = random.Random(seed)
    hub = Hub(MARKETS, lambda: T0)
    engine = Engine(hub, rng)
    twins = [Twin(hub, rng.choice([8, 16, 64]), rng.choice(USERS)) for _ in range(5)]
    delivered = 0
    for _ in range(1_500):
        twin, roll = rng.choice(twins), rng.random()
        if roll < 0.55:
            engine.step()
        elif roll < 0.65:
            twin.subscribe(rng.choice([*CHANNELS, "user"]))
        elif roll < 0.7 and twin.channels:
            twin.unsubscribe(rng.choice(sorted(twin.channels)))
        else:
            direct, deferred = twin.read(rng.choice([1, 3, 256]))
            assert deferred == direct
            delivered += len(direct)
            for each in twins:  # a deferred slow consumer is closed at the settle
                assert each.deferred.closed_reason == each.direct.closed_reason
    hub.settle()
    for twin in twins:
        assert len(twin.deferred) == len(twin.direct)
        assert twin.deferred.closed_reason == twin.direct.closed_reason
        direct, deferred = twin.read(10_000)
        assert deferred == direct
        assert len(twin.deferred) == len(twin.direct)
    assert delivered > 200  # the comparison saw real traffic


def test_settle_shares_one_list_among_outboxes_with_the_same_channels() -> None:
    hub = Hub(MARKETS, lambda: T0)
    boxes = [Outbox(100, hub.resnapshot, deferred=True) for _ in range(3)]
    for box in boxes:
        hub.subscribe(box, Channel(Kind.TRADES, "SOL-USD"))
    woken: list[int] = []
    hub.when_pending(lambda: woken.append(1))
    for trade_id in (1, 2):
        trade = market_pb2.Trade(trade_id=str(trade_id), market="SOL-USD", price="1",
                                 quantity="1")
        hub.apply(feed_pb2.PublishMarketDataRequest(trade=trade))
    assert woken == [1]  # once, when the first message started waiting
    assert [len(box) for box in boxes] == [0, 0, 0]
    hub.settle()
    taken = [box.take_now() for box in boxes]
    assert [len(t) for t in taken] == [2, 2, 2]
    assert taken[0] is taken[1] is taken[2] and all(box.shared for box in boxes)  # one list
    hub.subscribe(boxes[0], Channel(Kind.DEPTH, "SOL-USD"))  # nothing to send yet
    trade = market_pb2.Trade(trade_id="3", market="SOL-USD", price="1", quantity="1")
    hub.apply(feed_pb2.PublishMarketDataRequest(trade=trade))
    hub.settle()
    first, second = boxes[0].take_now(), boxes[1].take_now()
    assert first == second and first is not second  # other channels: another group, another list
    assert boxes[0].shared and boxes[1].shared


def test_applied_counts_the_items_of_a_batch_not_the_batch() -> None:
    hub = Hub(MARKETS, lambda: T0)
    mark = feed_pb2.PublishMarketDataRequest(
        mark=market_pb2.MarkPrice(market="BTC-PERP", mark_price="100"))
    hub.apply(mark)
    assert hub.applied == 1
    hub.apply(feed_pb2.PublishMarketDataRequest(
        batch=feed_pb2.MarketDataBatch(items=[mark, mark, mark])))
    assert hub.applied == 4
    hub.apply(feed_pb2.PublishMarketDataRequest(batch=feed_pb2.MarketDataBatch()))
    assert hub.applied == 4
