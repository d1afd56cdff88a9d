"""The compose check's traders: REST clients through the load balancer and WebSocket
watchers, polite as a real client is (a 429 is waited out for its ``Retry-After``; an order
is retried under one ``Idempotency-Key`` while the mesh is away)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

PASSWORD = "correct horse battery"
MARKET = "SOL-USD"
RETRYABLE = {409, 502, 503, 504}  # 409: the same Idempotency-Key still in flight
RATE_LIMIT_SECONDS = 60.0
HISTORY_PAGE = 250


def retry_after(response: httpx.Response) -> float:
    """The whole seconds a 429 asks to wait (1 when the header is missing or malformed)."""
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() and 0 < int(value) <= 30 else 1.0


@dataclass
class Ack:
    trader: Trader
    order_id: str
    quantity: Decimal
    filled: Decimal
    at: float = field(default_factory=time.monotonic)


class Trader:
    def __init__(self, client: httpx.AsyncClient, token: str, name: str) -> None:
        self.client, self.name = client, name
        self.headers = {"Authorization": f"Bearer {token}"}
        self.upstreams: set[str] = set()
        self.rate_limited = 0

    async def call(self, method: str, path: str, body: Any = None,
                   key: str | None = None) -> httpx.Response:
        """One request as a polite client makes it: a 429 is waited out for its
        ``Retry-After`` and sent again (at most ``RATE_LIMIT_SECONDS`` in all), since the
        per-user limit (200 at once, 100/s) is shorter than a check of every order on a fast
        machine."""
        headers = dict(self.headers)
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + RATE_LIMIT_SECONDS
        while True:
            response = await self.client.request(method, "/api/v1" + path, json=body,
                                                 headers=headers)
            if "x-trademesh-upstream" in response.headers:
                self.upstreams.add(response.headers["x-trademesh-upstream"])
            if response.status_code != 429 or time.monotonic() >= deadline:
                return response
            self.rate_limited += 1
            await asyncio.sleep(retry_after(response))

    async def must(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.call(method, path, body)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def place(self, side: str, price: str, seconds: float) -> Ack | None:
        """A limit order, retried under one Idempotency-Key while the mesh is away; the
        acknowledgement, or None when none came within ``seconds``."""
        body = {"market": MARKET, "side": side, "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "1", "price": price}
        key = uuid.uuid4().hex
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                response = await self.call("POST", "/orders", body, key)
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 201:
                order = response.json()
                return Ack(self, order["orderId"], Decimal(order["quantity"]),
                           Decimal(order["filledQuantity"]))
            if response.status_code not in RETRYABLE:
                raise RuntimeError(f"order refused: {response.status_code} {response.text}")
            await asyncio.sleep(0.2)
        return None


async def sign_up(client: httpx.AsyncClient, name: str, asset: str, amount: str) -> Trader:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post("/api/v1/auth/signup",
                                 json={"email": email, "password": PASSWORD})
    if response.status_code != 201:
        raise RuntimeError(f"sign-up: {response.status_code} {response.text}")
    trader = Trader(client, response.json()["token"], name)
    await trader.must("POST", "/account/deposit",
                      {"asset": asset, "amount": amount, "transactionId": uuid.uuid4().hex})
    return trader


class TradeWatch:
    """A WebSocket on ``trades@SOL-USD`` through the load balancer; collects trade ids."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.upstream = ws.response.headers.get("x-trademesh-upstream", "?") \
            if ws.response else "?"
        self.trades: set[str] = set()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> TradeWatch:
        ws = await connect(url, open_timeout=10)
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [f"trades@{MARKET}"],
                                  "id": 1}))
        while True:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if reply.get("id") == 1:
                if "error" in reply:
                    raise RuntimeError(f"SUBSCRIBE: {reply}")
                return cls(ws)

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("stream") == f"trades@{MARKET}":
                self.trades.add(message["data"]["tradeId"])

    async def close(self) -> None:
        self.task.cancel()
        await self.ws.close()


async def wait_for(what: str, seconds: float, check: Any) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)
    raise TimeoutError(f"{what}: not within {seconds:.0f} s")


async def trade_ids(acks: list[Ack]) -> set[str]:
    ids: set[str] = set()
    for ack in acks:
        order = await ack.trader.must("GET", f"/orders/{ack.order_id}")
        ids.update(f["tradeId"] for f in order.get("fills", []))
    return ids


async def trade_round(seller: Trader, buyer: Trader, price: str, pairs: int) -> list[Ack]:
    acks: list[Ack] = []
    for _ in range(pairs):
        for trader, side in ((seller, "SELL"), (buyer, "BUY")):
            ack = await trader.place(side, price, 30)
            if ack is None:
                raise RuntimeError(f"{trader.name}: no acknowledgement within 30 s")
            acks.append(ack)
    return acks


async def seen_everywhere(watches: list[TradeWatch], ids: set[str], seconds: float) -> None:
    async def all_seen() -> bool:
        return all(ids <= w.trades for w in watches)
    await wait_for(f"trades {sorted(ids)} on every WebSocket", seconds, all_seen)
    print(f"{len(ids)} trades arrived on the WebSockets of "
          + " and ".join(w.upstream for w in watches))


async def all_fills(trader: Trader) -> list[str]:
    """The trader's fill ids in the history, every page (newest first, ``before`` the last
    id of the previous page; pages of 250, so that a run pages on any machine), at most 400
    pages."""
    recorded: list[str] = []
    query = f"/history/fills?market={MARKET}&limit={HISTORY_PAGE}"
    for _ in range(400):
        rows = await trader.must("GET", query + (f"&before={recorded[-1]}" if recorded else ""))
        recorded += [r["fillId"] for r in rows]
        if len(rows) < HISTORY_PAGE:
            return recorded
    raise RuntimeError(f"{trader.name}: more than 400 pages of fills")
