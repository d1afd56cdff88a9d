"""Market data on ``trademesh up``'s real processes: a REST depth snapshot stitched onto
the WebSocket diffs equals the WebSocket book; every ticker field is filled after a trade
(REST, ``/markets/tickers`` and the ``tickers`` channel) and still filled, with the same
24h figures, after the feed is killed and restarted; 15m and 4h candles."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import psutil
import pytest
import websockets

from tests.e2e.test_mesh_up import Mesh, running_mesh
from tests.e2e.test_rest_api import Trader, eventually, index_price, new_trader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
WAIT = 30.0
SPOT, PERP = "SOL-USD", "BTC-PERP"
TICKER_FIELDS = ("last", "bestBid", "bestAsk", "high24h", "low24h", "volume24h", "change24h",
                 "changePercent24h", "markPrice", "indexPrice", "fundingRate",
                 "nextFundingTime")
Book = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    with running_mesh("market-data", TRADEMESH_MARKET_MAKER="off") as (running, _):
        yield running


@pytest.fixture
async def api(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        yield client


def apply(book: Book, data: dict[str, Any]) -> None:
    if data["type"] == "snapshot":
        book["bids"], book["asks"] = {}, {}
    for side in ("bids", "asks"):
        for level in data.get(side, []):
            if data["type"] == "update" and Decimal(level["quantity"]) == 0:
                book[side].pop(level["price"], None)
            else:
                book[side][level["price"]] = level["quantity"]


def rest_book(depth: dict[str, Any]) -> Book:
    return {side: {p: q for p, q in depth[side]} for side in ("bids", "asks")}


class DepthReader:
    """Every ``depth@SPOT`` message of one connection, in order, as they arrive."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.messages = ws, list[dict[str, Any]]()
        self._arrived = asyncio.Event()

    async def run(self) -> None:
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("stream") == f"depth@{SPOT}":
                self.messages.append(message["data"])
                self._arrived.set()

    async def until(self, predicate: Any) -> None:
        async def wait() -> None:
            while not predicate(self.messages):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(wait(), WAIT)


async def resting_burst(traders: list[Trader], rng: random.Random, count: int) -> None:
    """Orders that never cross: bids 10-19, asks 21-30."""
    for _ in range(count):
        side = rng.choice(["BUY", "SELL"])
        low = 10 if side == "BUY" else 21
        await rng.choice(traders).place(market=SPOT, side=side, quantity=str(rng.randint(1, 5)),
                                        price=str(rng.randint(low, low + 9)))


async def test_rest_depth_stitches_onto_websocket_diffs(mesh: Mesh,
                                                        api: httpx.AsyncClient) -> None:
    traders = [await new_trader(api), await new_trader(api)]
    for trader in traders:
        await trader.deposit("USD", "100000")
        await trader.deposit("SOL", "1000")
    rng = random.Random(3)
    await resting_burst(traders, rng, 10)
    async with websockets.connect(f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [f"depth@{SPOT}"], "id": 1}))
        depth = DepthReader(ws)
        reader = asyncio.create_task(depth.run())
        messages = depth.messages
        await depth.until(bool)  # subscribed: the channel's snapshot came
        burst = asyncio.create_task(resting_burst(traders, rng, 30))
        await asyncio.sleep(0.3)
        snapshot = (await api.get(f"/markets/{SPOT}/depth", params={"limit": 100})).json()
        await burst
        await resting_burst(traders, rng, 10)  # surely after the snapshot
        final = (await api.get(f"/markets/{SPOT}/depth", params={"limit": 100})).json()
        assert int(final["sequence"]) > int(snapshot["sequence"])
        try:
            await depth.until(lambda got: int(got[-1]["sequence"]) >= int(final["sequence"]))
        finally:
            reader.cancel()
    assert [m["type"] for m in messages[1:]] == ["update"] * (len(messages) - 1)
    ws_book: Book = {}
    for data in messages:
        apply(ws_book, data)
    assert ws_book == rest_book(final)  # the WebSocket book at the final REST sequence
    stitched, at = rest_book(snapshot), int(snapshot["sequence"])
    for data in messages:  # the documented procedure: diffs above the snapshot, in order
        if data["type"] == "update" and int(data["sequence"]) > at:
            assert int(data["sequence"]) == at + 1
            apply(stitched, data)
            at += 1
    assert at == int(final["sequence"]) and stitched == ws_book


def filled(ticker: dict[str, Any]) -> bool:
    return all(ticker.get(f) not in (None, "") for f in TICKER_FIELDS)


async def feed_restart(mesh: Mesh) -> None:
    feed = next(p for p in psutil.Process(mesh.proc.pid).children(recursive=True)
                if "feed" in p.cmdline())
    feed.kill()
    await asyncio.to_thread(mesh.wait_for_output, "trademesh: feed is back")


async def test_every_ticker_field_filled_and_kept_across_a_feed_restart(
        mesh: Mesh, api: httpx.AsyncClient) -> None:
    maker, taker = await new_trader(api), await new_trader(api)
    for trader in (maker, taker):
        await trader.deposit("USD", "1000000")
    price = await index_price(api, PERP)
    await maker.place(market=PERP, side="SELL", quantity="0.01", price=str(price), leverage=2)
    await maker.place(market=PERP, side="SELL", quantity="0.01", price=str(price + 100),
                      leverage=2)
    await maker.place(market=PERP, side="BUY", quantity="0.01", price=str(price - 100),
                      leverage=2)
    taken = await taker.place(market=PERP, side="BUY", quantity="0.01", price=str(price),
                              leverage=2)
    assert taken["status"] == "FILLED", taken
    before = await eventually(lambda: api_json(api, f"/markets/{PERP}/ticker"), filled)
    assert filled(before), before
    assert Decimal(before["last"]) == price and Decimal(before["volume24h"]) >= Decimal("0.01")
    assert Decimal(before["low24h"]) <= price <= Decimal(before["high24h"])
    tickers = await api_json(api, "/markets/tickers")
    markets = [m["symbol"] for m in await api_json(api, "/markets")]
    assert [t["market"] for t in tickers] == sorted(markets)
    assert filled(next(t for t in tickers if t["market"] == PERP))
    await check_tickers_channel(mesh, price)
    await eventually(lambda: api_json(api, f"/markets/{PERP}/trades"),
                     lambda rows: any(Decimal(t["price"]) == price for t in rows))  # durable

    await feed_restart(mesh)
    after = await eventually(lambda: api_json(api, f"/markets/{PERP}/ticker"),
                             lambda t: filled(t) and t["volume24h"] == before["volume24h"])
    assert filled(after), after
    for field in ("last", "high24h", "low24h", "volume24h", "change24h", "changePercent24h"):
        assert after[field] == before[field], (field, before, after)


async def api_json(api: httpx.AsyncClient, path: str) -> Any:
    response = await api.get(path)
    return response.json() if response.status_code == 200 else {}


async def check_tickers_channel(mesh: Mesh, price: Decimal) -> None:
    async with websockets.connect(f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["tickers"], "id": 1}))

        async def perp_ticker() -> dict[str, Any]:
            while True:
                message = json.loads(await ws.recv())
                if message.get("stream") == "tickers" and message["data"]["market"] == PERP:
                    return dict(message["data"])

        ticker = await asyncio.wait_for(perp_ticker(), WAIT)
    assert filled(ticker) and Decimal(ticker["last"]) == price, ticker


async def test_fifteen_minute_and_four_hour_candles(mesh: Mesh, api: httpx.AsyncClient) -> None:
    seller, buyer = await new_trader(api), await new_trader(api)
    await seller.deposit("SOL", "10")
    await buyer.deposit("USD", "10000")
    # 20: between the depth test's resting bids (10-19) and asks (21-30)
    await seller.place(market=SPOT, side="SELL", quantity="2", price="20")
    await buyer.place(market=SPOT, side="BUY", quantity="2", price="20")
    for interval in ("15m", "4h"):
        candles = await eventually(
            lambda i=interval: api_json(api, f"/markets/{SPOT}/candles?interval={i}"),
            lambda rows: bool(rows) and Decimal(rows[-1]["volume"]) >= 2)
        assert candles and candles[-1]["close"] == "20", (interval, candles)
    bad = await api.get(f"/markets/{SPOT}/candles", params={"interval": "2h"})
    assert bad.status_code == 400 and "interval" in bad.text
    async with websockets.connect(f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE",
                                  "params": [f"kline_15m@{SPOT}", f"kline_4h@{SPOT}"], "id": 1}))
        seen: dict[str, Any] = {}
        while len(seen) < 2:
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if "stream" in message:
                seen[message["stream"]] = message["data"]
    assert {d["interval"] for d in seen.values()} == {"15m", "4h"}
    assert all(d["close"] == "20" for d in seen.values()), seen


async def test_depth_sequence_only_grows_across_an_engine_restart(
        mesh: Mesh, api: httpx.AsyncClient) -> None:
    before = (await api.get(f"/markets/{SPOT}/depth", params={"limit": 100})).json()
    engine = next(p for p in psutil.Process(mesh.proc.pid).children(recursive=True)
                  if "engine" in p.cmdline())
    engine.kill()
    await asyncio.to_thread(mesh.wait_for_output, "trademesh: engine is back")
    after = await eventually(lambda: api_json(api, f"/markets/{SPOT}/depth?limit=100"),
                             bool)
    assert int(after["sequence"]) >= int(before["sequence"]), (before, after)
    assert rest_book(after) == rest_book(before)  # the same resting orders, replayed
    trader = await new_trader(api)
    await trader.deposit("USD", "100")
    await trader.place(market=SPOT, side="BUY", quantity="1", price="1")
    moved = (await api.get(f"/markets/{SPOT}/depth", params={"limit": 100})).json()
    assert int(moved["sequence"]) == int(after["sequence"]) + 1
