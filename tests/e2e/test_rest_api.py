"""The traders' REST API over real HTTP against ``trademesh up``'s real processes.

Two users sign up, deposit, trade with each other through crossing limit orders and see
the right fills, balances, positions and durable history; one user can neither see nor
cancel the other's orders; cancel-all touches only the caller's orders. Each test uses
fresh users and its own price levels, and leaves no order resting.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.test_mesh_up import Mesh, running_mesh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PASSWORD = "a long enough password"
HISTORY_WAIT_SECONDS = 30.0


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    # the users trade with each other only
    with running_mesh("rest-api", TRADEMESH_MARKET_MAKER="off") as (running, _):
        yield running


@pytest.fixture
async def api(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        yield client


class Trader:
    """One signed-up user's authenticated calls."""

    def __init__(self, client: httpx.AsyncClient, token: str, user_id: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}
        self.id = user_id

    async def call(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers={
            **self.headers, **kwargs.pop("headers", {})}, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    async def deposit(self, asset: str, amount: str) -> Any:
        body = {"asset": asset, "amount": amount, "transactionId": uuid.uuid4().hex}
        return await self.call("POST", "/account/deposit", json=body)

    async def place(self, status: int = 201, **order: Any) -> Any:
        body = {"type": "LIMIT", "timeInForce": "GTC", **order}
        return await self.call("POST", "/orders", status, json=body)

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        rows = await self.call("GET", "/account/balances")
        return {r["asset"]: (Decimal(r["available"]), Decimal(r["locked"])) for r in rows}

    async def open_orders(self, market: str = "") -> list[Any]:
        params = {"market": market} if market else {}
        return list(await self.call("GET", "/orders", params=params))


async def new_trader(client: httpx.AsyncClient) -> Trader:
    email = f"trader-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == email
    return Trader(client, body["token"], body["user"]["id"])


async def eventually(fetch: Any, ready: Any) -> Any:
    """``await fetch()`` until ``ready(result)`` (persistence follows the engine's events)."""
    deadline = asyncio.get_running_loop().time() + HISTORY_WAIT_SECONDS
    while True:
        result = await fetch()
        if ready(result) or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_two_users_trade_through_crossing_limit_orders(api: httpx.AsyncClient) -> None:
    seller, buyer = await new_trader(api), await new_trader(api)
    await seller.deposit("SOL", "10")
    await buyer.deposit("USD", "1000")
    resting = await seller.place(market="SOL-USD", side="SELL", quantity="2", price="150",
                                 clientOrderId="s-1")
    assert (resting["status"], resting["filledQuantity"]) == ("NEW", "0")
    taker = await buyer.place(market="SOL-USD", side="BUY", quantity="1.5", price="151")
    assert (taker["status"], taker["filledQuantity"], taker["averagePrice"]) == (
        "FILLED", "1.5", "150")
    [fill] = taker["fills"]
    assert (fill["price"], fill["quantity"], fill["liquidity"], fill["fee"]) == (
        "150", "1.5", "TAKER", "0.225")  # 10 bps taker fee on 225 USD
    maker = await seller.call("GET", f"/orders/{resting['orderId']}")
    assert (maker["status"], maker["filledQuantity"]) == ("PARTIALLY_FILLED", "1.5")
    assert maker["fills"][0]["liquidity"] == "MAKER"
    assert await seller.balances() == {"SOL": (Decimal("8"), Decimal("0.5")),
                                       "USD": (Decimal("225"), Decimal("0"))}
    assert await buyer.balances() == {"SOL": (Decimal("1.5"), Decimal("0")),
                                      "USD": (Decimal("774.775"), Decimal("0"))}
    assert [o["orderId"] for o in await seller.open_orders("SOL-USD")] == [resting["orderId"]]
    assert await buyer.open_orders() == []
    await check_history(api, seller, buyer, resting["orderId"], taker["orderId"])
    canceled = await seller.call("DELETE", "/orders/by-client-id/s-1")
    assert canceled["status"] == "CANCELED"
    assert await seller.balances() == {"SOL": (Decimal("8.5"), Decimal("0")),
                                       "USD": (Decimal("225"), Decimal("0"))}


async def check_history(api: httpx.AsyncClient, seller: Trader, buyer: Trader,
                        maker_id: str, taker_id: str) -> None:
    fills = await eventually(lambda: seller.call("GET", "/history/fills"), bool)
    assert [(f["orderId"], f["quantity"], f["side"]) for f in fills] == [
        (maker_id, "1.5", "SELL")]
    orders = await eventually(lambda: buyer.call("GET", "/history/orders"),
                              lambda rows: rows and rows[0]["status"] == "FILLED")
    assert [(o["orderId"], o["status"]) for o in orders] == [(taker_id, "FILLED")]
    ledger = await eventually(lambda: buyer.call("GET", "/history/ledger"),
                              lambda rows: len(rows) >= 2)
    assert ledger, "the buyer's deposit and trade are in the ledger"
    trades = await eventually(lambda: api.get("/markets/SOL-USD/trades"),
                              lambda r: any(t["price"] == "150" for t in r.json()))
    assert any(t["price"] == "150" and t["quantity"] == "1.5" for t in trades.json())


async def index_price(api: httpx.AsyncClient, market: str) -> Decimal:
    """The market's index price (whole units), so a perp trade is not liquidated at once."""
    ticker = (await api.get(f"/markets/{market}/ticker")).json()
    return Decimal(ticker.get("indexPrice") or ticker.get("markPrice") or "60000").quantize(
        Decimal("1"))


async def test_perp_positions_after_a_cross(api: httpx.AsyncClient) -> None:
    long, short = await new_trader(api), await new_trader(api)
    for trader in (long, short):
        await trader.deposit("USD", "100000")
    price = str(await index_price(api, "BTC-PERP"))
    maker = await short.place(market="BTC-PERP", side="SELL", quantity="0.01", price=price,
                              leverage=2)
    taken = await long.place(market="BTC-PERP", side="BUY", quantity="0.01", price=price,
                             leverage=2)
    assert taken["status"] == "FILLED", (maker, taken)
    [position] = await long.call("GET", "/account/positions")
    assert (position["market"], position["side"], position["size"]) == ("BTC-PERP", "BUY",
                                                                        "0.01")
    assert Decimal(position["entryPrice"]) == Decimal(price)
    [other] = await short.call("GET", "/account/positions")
    assert (other["side"], other["size"]) == ("SELL", "0.01")


async def test_history_shows_each_order_as_the_engine_does_live(
        api: httpx.AsyncClient) -> None:
    """A post-only order with brackets and a self-trade prevention mode, a MARKET order
    with a slippage bound and a reduce-only close: ``/history/orders`` shows each as
    ``/orders/{id}`` does, field for field (fills apart), MARKET without a price."""
    long, short = await new_trader(api), await new_trader(api)
    for trader in (long, short):
        await trader.deposit("USD", "100000")
    price = await index_price(api, "BTC-PERP")
    maker = await short.place(
        market="BTC-PERP", side="SELL", quantity="0.01", price=str(price), postOnly=True,
        leverage=2, selfTradePrevention="CANCEL_BOTH", stopLoss=str(price * 6 // 5),
        takeProfit=str(price * 4 // 5))
    taker = await long.place(market="BTC-PERP", side="BUY", type="MARKET",
                             timeInForce="IOC", quantity="0.01", slippageBps=100, leverage=3)
    close = await long.place(market="BTC-PERP", side="SELL", quantity="0.01",
                             price=str(price * 2), reduceOnly=True, timeInForce="IOC",
                             leverage=3)
    assert (maker["status"], taker["status"], close["status"]) == (
        "NEW", "FILLED", "CANCELED"), (maker, taker, close)
    for trader, placed in ((short, [maker]), (long, [taker, close])):
        ids = {o["orderId"] for o in placed}
        rows = await eventually(
            lambda t=trader: t.call("GET", "/history/orders"),
            lambda rows, ids=ids: {r["orderId"] for r in rows if r["status"] != "NEW"} >= ids)
        history = {r["orderId"]: r for r in rows}
        for oid in ids:
            live = await trader.call("GET", f"/orders/{oid}")
            del live["fills"]  # history lists them at /history/fills
            assert history[oid].pop("fills") == [], oid
            assert history[oid] == live, oid
    market = await long.call("GET", f"/orders/{taker['orderId']}")
    assert (market["price"], market["slippageBps"], market["leverage"]) == ("", 100, 3)
    bracketed = await short.call("GET", f"/orders/{maker['orderId']}")
    assert (bracketed["postOnly"], bracketed["selfTradePrevention"],
            bracketed["stopLoss"], bracketed["leverage"]) == (
        True, "CANCEL_BOTH", str(price * 6 // 5), 2)
    assert (await long.call("GET", f"/orders/{close['orderId']}"))["reduceOnly"] is True


async def test_another_users_order_is_404(api: httpx.AsyncClient) -> None:
    owner, stranger = await new_trader(api), await new_trader(api)
    await owner.deposit("SOL", "5")
    order = await owner.place(market="SOL-USD", side="SELL", quantity="1", price="900",
                              clientOrderId="mine")
    path = f"/orders/{order['orderId']}"
    for method in ("GET", "DELETE"):
        error = await stranger.call(method, path, 404)
        assert error["error"]["code"] == "ORDER_NOT_FOUND"
    await stranger.call("DELETE", "/orders/by-client-id/mine", 404)
    replaced = await stranger.client.patch(path, headers=stranger.headers, json={"price": "1"})
    assert replaced.status_code == 404, replaced.text
    assert (await owner.call("GET", path))["status"] == "NEW"
    assert (await owner.call("DELETE", path))["status"] == "CANCELED"
    conflict = await owner.call("DELETE", path, 409)
    assert conflict["error"]["code"]


async def test_cancel_all_cancels_only_the_callers_orders(api: httpx.AsyncClient) -> None:
    first, second = await new_trader(api), await new_trader(api)
    for trader in (first, second):
        await trader.deposit("SOL", "5")
    for price in ("700", "701"):
        await first.place(market="SOL-USD", side="SELL", quantity="1", price=price)
    kept = await second.place(market="SOL-USD", side="SELL", quantity="1", price="702")
    await first.call("DELETE", "/orders", params={"market": "SOL-USD"})
    assert await first.open_orders() == []
    assert [o["orderId"] for o in await second.open_orders()] == [kept["orderId"]]
    assert await first.balances() == {"SOL": (Decimal("5"), Decimal("0"))}
    await second.call("DELETE", "/orders")
    assert await second.open_orders() == []


async def test_idempotency_key_places_one_order(api: httpx.AsyncClient) -> None:
    trader = await new_trader(api)
    await trader.deposit("SOL", "5")
    order = {"market": "SOL-USD", "side": "SELL", "type": "LIMIT", "quantity": "1",
             "price": "800"}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = await trader.call("POST", "/orders", 201, json=order, headers=headers)
    again = await trader.call("POST", "/orders", 201, json=order, headers=headers)
    assert again == first
    assert len(await trader.open_orders()) == 1
    reused = await trader.call("POST", "/orders", 422, json={**order, "price": "801"},
                               headers=headers)
    assert reused["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    await trader.call("DELETE", "/orders")


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("/account/withdraw", {"asset": "USD", "amount": "1"}, 400, "INSUFFICIENT_BALANCE"),
    ("/orders", {"market": "NOPE-USD", "side": "BUY", "type": "LIMIT", "quantity": "1",
                 "price": "1"}, 404, "UNKNOWN_MARKET"),
    ("/orders", {"market": "SOL-USD", "side": "BUY", "type": "LIMIT", "quantity": "1",
                 "price": "1.0001"}, 400, "INVALID_PRICE"),
    ("/orders", {"market": "SOL-USD", "side": "BUY", "type": "LIMIT", "quantity": "1",
                 "price": "1", "colour": "red"}, 400, "INVALID_ARGUMENT"),
])
async def test_errors_name_the_reason(api: httpx.AsyncClient, path: str, body: Any,
                                      status: int, code: str) -> None:
    trader = await new_trader(api)
    error = (await trader.call("POST", path, status, json=body))["error"]
    assert error["code"] == code, error
    assert "Traceback" not in error["message"]


async def test_whoami_and_logout(api: httpx.AsyncClient) -> None:
    trader = await new_trader(api)
    me = await trader.call("GET", "/auth/whoami")
    assert me["id"] == trader.id
    await trader.call("POST", "/auth/logout", json={})
    await trader.call("GET", "/auth/whoami", 401)
    await trader.call("GET", "/account/balances", 401)


async def test_public_market_data(api: httpx.AsyncClient) -> None:
    markets = (await api.get("/markets")).json()
    assert {"BTC-PERP", "SOL-USD"} <= {m["symbol"] for m in markets}
    for path in ("/markets/SOL-USD/depth", "/markets/SOL-USD/ticker",
                 "/markets/SOL-USD/trades"):
        assert (await api.get(path)).status_code == 200, path
    candles = await api.get("/markets/SOL-USD/candles", params={"interval": "1m"})
    assert candles.status_code == 200, candles.text
    for path in ("/markets/NOPE-USD/depth", "/markets/NOPE-USD/ticker",
                 "/markets/NOPE-USD/trades", "/markets/NOPE-USD/candles?interval=1m"):
        unknown = await api.get(path)  # well-formed, not listed: 404 as the document says
        assert (unknown.status_code, unknown.json()["error"]["code"]) == \
            (404, "UNKNOWN_MARKET"), (path, unknown.text)


LIMIT = {"market": "SOL-USD", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "10"}
# (name, path, raw body or JSON, content type, status, the field named)
BAD_INPUTS: list[tuple[str, str, Any, str, int, str]] = [
    ("malformed-json", "/orders", b'{"market": "SOL-USD",', "application/json", 400, "body"),
    ("not-an-object", "/orders", b"[1, 2]", "application/json", 400, "body"),
    ("wrong-content-type", "/orders", b"market=SOL-USD", "application/x-www-form-urlencoded",
     415, "Content-Type"),
    ("unknown-field", "/orders", {**LIMIT, "colour": "red"}, "", 400, "colour"),
    ("missing-market", "/orders", {k: v for k, v in LIMIT.items() if k != "market"}, "", 400,
     "market"),
    ("missing-quantity", "/orders", {k: v for k, v in LIMIT.items() if k != "quantity"}, "",
     400, "quantity"),
    ("number-not-string", "/orders", {**LIMIT, "quantity": 1}, "", 400, "quantity"),
    ("bad-enum", "/orders", {**LIMIT, "side": "UP"}, "", 400, "side"),
    ("duplicate-key", "/orders", json.dumps(LIMIT)[:-1].encode() + b', "price": "0.001"}', "",
     400, "price"),
    ("bool-as-string", "/orders", {**LIMIT, "postOnly": "yes"}, "", 400, "postOnly"),
    *[(f"quantity={q}", "/orders", {**LIMIT, "quantity": q}, "", 400, "quantity")
      for q in ("-1", "0", "NaN", "Infinity", "1e400", "1.001", "abc", " 1", "1_0", ".5",
                "\u0661", "0x1", "")],
    *[(f"price={p}", "/orders", {**LIMIT, "price": p}, "", 400, "price")
      for p in ("-1", "0", "NaN", "-Infinity", "1e400", "10.0001")],
    ("unknown-market", "/orders", {**LIMIT, "market": "NOPE-USD"}, "", 404, "market"),
    ("withdraw-negative", "/account/withdraw", {"asset": "USD", "amount": "-5"}, "", 400,
     "amount"),
    ("withdraw-too-much", "/account/withdraw", {"asset": "USD", "amount": "1000000"}, "", 400,
     ""),
    ("deposit-nan", "/account/deposit", {"asset": "USD", "amount": "NaN",
                                         "transactionId": "t-nan"}, "", 400, "amount"),
    ("deposit-arabic-digits", "/account/deposit", {"asset": "USD", "amount": "\u0661\u0660",
                                                   "transactionId": "t-ar"}, "", 400, "amount"),
    ("oversized", "/orders", {**LIMIT, "clientOrderId": "x" * 100_000}, "", 413, "body"),
]


async def snapshot(trader: Trader, api: httpx.AsyncClient) -> Any:
    depth = (await api.get("/markets/SOL-USD/depth")).json()
    return (await trader.balances(), await trader.open_orders(), depth["bids"], depth["asks"])


async def test_bad_input_is_4xx_naming_the_field_and_changes_nothing(
        api: httpx.AsyncClient) -> None:
    trader = await new_trader(api)
    await trader.deposit("USD", "100")
    before = await snapshot(trader, api)
    for name, path, body, content_type, status, field in BAD_INPUTS:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**trader.headers, "content-type": content_type or "application/json"}
        response = await api.post(path, content=raw, headers=headers)
        assert response.status_code == status, (name, response.text)
        error = response.json()["error"]
        assert "Traceback" not in response.text and error["code"], name
        if field:
            assert field in [d.get("field") for d in error["details"]], (name, error)
    assert await snapshot(trader, api) == before


async def test_readyz_reports_the_persistence_lag_draining(api: httpx.AsyncClient) -> None:
    """After trading, persistence catches up: /readyz shows the engine's sequences and a lag
    that reaches zero (polled, bounded)."""
    await (await new_trader(api)).deposit("USD", "5")  # at least one event to persist
    base = str(api.base_url).rsplit("/api/v1", 1)[0]
    for _ in range(100):
        response = await api.get(f"{base}/readyz")
        engine = response.json()["engine"]
        if response.status_code == 200 and engine["persistenceLag"] == "0":
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 200
    assert engine["persistenceConnected"] is True and engine["healthy"] is True
    assert int(engine["eventSequence"]) > 0 and engine["persistenceLag"] == "0"
    assert engine["persistedSequence"] == engine["eventSequence"]
    assert engine["coreBuild"] in ("compiled", "interpreted")  # which matching core runs
    assert engine["maxOpenOrders"] == 200


async def test_history_filters_over_rest(api: httpx.AsyncClient) -> None:
    """``side``/``status``/``from``/``to`` on the history routes; a bad value or combination
    is a 400 naming the field, and a filter a route does not have is refused."""
    seller, buyer = await new_trader(api), await new_trader(api)
    await seller.deposit("SOL", "3")
    await buyer.deposit("USD", "1000")
    await seller.place(market="SOL-USD", side="SELL", quantity="1", price="151")
    await buyer.place(market="SOL-USD", side="BUY", quantity="1", price="151")
    fills = await eventually(lambda: buyer.call("GET", "/history/fills"), bool)
    time = fills[0]["time"]
    assert fills[0]["realizedPnl"] == ""  # spot
    assert await buyer.call("GET", "/history/fills", params={"side": "SELL"}) == []
    assert len(await buyer.call("GET", "/history/fills", params={"side": "BUY", "from": time})) \
        == 1
    assert await buyer.call("GET", "/history/fills", params={"to": time}) == []  # exclusive
    orders = await buyer.call("GET", "/history/orders", params={"status": "FILLED"})
    assert [o["status"] for o in orders] == ["FILLED"]
    assert await buyer.call("GET", "/history/orders", params={"status": "CANCELED"}) == []
    for path, params, field in (
            ("/history/fills", {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
             "from"),
            ("/history/fills", {"side": "LONG"}, "side"),
            ("/history/orders", {"status": "DONE"}, "status"),
            ("/history/ledger", {"from": "yesterday"}, "from"),
            ("/history/positions", {"status": "FILLED"}, "status"),
            ("/history/liquidations", {"to": "2026-13-01T00:00:00Z"}, "to")):
        response = await api.get(path, params=params, headers=buyer.headers)
        assert response.status_code == 400, (path, params, response.text)
        error = response.json()["error"]
        assert field in [d.get("field") for d in error["details"]], (path, params, error)
