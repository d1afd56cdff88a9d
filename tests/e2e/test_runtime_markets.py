"""Markets are data, on ``trademesh up``: an operator lists INR, TATA and TATA-INR (tick
0.05) over REST, two traders trade it, the operator halts it, the mesh is stopped and
started again on the same data dir, and the market, its status, the balances and the
durable trades are all still there. Bad input is a 4xx naming the field, changing nothing."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.test_mesh_up import Mesh, mesh_env, running_mesh, start_up
from tests.e2e.test_perps import token
from tests.e2e.test_rest_api import Trader, eventually, new_trader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
M = "TATA-INR"
TATA = {"symbol": M, "kind": "SPOT", "baseAsset": "TATA", "quoteAsset": "INR",
        "tickSize": "0.05", "lotSize": "1", "makerFeeBps": 2, "takerFeeBps": 5}
BAD: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("unknown asset", "/admin/markets", {**TATA, "baseAsset": "NOPE"}, 400, "baseAsset"),
    ("duplicate market", "/admin/markets", TATA, 409, "symbol"),
    ("duplicate asset", "/admin/assets", {"symbol": "INR", "decimals": 2}, 409, "symbol"),
    ("zero tick", "/admin/markets", {**TATA, "symbol": "SOL-INR", "baseAsset": "SOL",
                                     "tickSize": "0"}, 400, "tickSize"),
    ("negative lot", "/admin/markets", {**TATA, "symbol": "SOL-INR", "baseAsset": "SOL",
                                        "lotSize": "-1"}, 400, "lotSize"),
    ("tick finer than INR", "/admin/markets", {**TATA, "symbol": "SOL-INR",
                                               "baseAsset": "SOL", "tickSize": "0.001"},
     400, "tickSize"),
    ("decimals out of range", "/admin/assets", {"symbol": "EUR", "decimals": 19}, 400,
     "decimals"),
]


@pytest.fixture(scope="module")
def market_mesh() -> Iterator[tuple[Mesh, dict[str, str]]]:
    with running_mesh("markets", TRADEMESH_MARKET_MAKER="off") as running:
        yield running


async def _admin(api: httpx.AsyncClient, admin: str, method: str, path: str,
                 status: int = 200, **kw: Any) -> Any:
    response = await api.request(method, path, headers={"Authorization": f"Bearer {admin}"},
                                 **kw)
    assert response.status_code == status, f"{method} {path}: {response.text}"
    return response.json()


def _market(registry: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in registry["markets"] if m["symbol"] == M)


async def _list_trade_halt(api: httpx.AsyncClient, env: dict[str, str]
                           ) -> tuple[str, str, str]:
    admin = token(env, "--admin")
    for symbol, decimals in (("INR", 2), ("TATA", 0)):
        asset = await _admin(api, admin, "POST", "/admin/assets",
                             json={"symbol": symbol, "decimals": decimals})
        assert asset == {"symbol": symbol, "decimals": decimals}
    listed = await _admin(api, admin, "POST", "/admin/markets", json=TATA)
    assert (listed["tickSize"], listed["status"]) == ("0.05", "OPEN")
    before = await _admin(api, admin, "GET", "/admin/markets")
    for name, path, body, status, field in BAD:
        error = (await _admin(api, admin, "POST", path, status, json=body))["error"]
        assert field in [d.get("field") for d in error["details"]], (name, error)
    user = token(env)
    denied = await api.post("/admin/markets", json=TATA,
                            headers={"Authorization": f"Bearer {user}"})
    assert denied.status_code == 403
    assert await _admin(api, admin, "GET", "/admin/markets") == before

    seller, buyer = await new_trader(api), await new_trader(api)
    await seller.deposit("TATA", "100")
    await buyer.deposit("INR", "100000")
    await seller.place(market=M, side="SELL", quantity="10", price="1000.05")
    filled = await buyer.place(market=M, side="BUY", quantity="4", price="1000.05")
    assert (filled["status"], filled["filledQuantity"]) == ("FILLED", "4")
    for empty in ({"json": {}}, {}):  # no body, or nothing in it: nothing to update
        nothing = await _admin(api, admin, "PATCH", f"/admin/markets/{M}", 400, **empty)
        assert nothing["error"]["details"][0]["field"] == "status", nothing
    halted = await _admin(api, admin, "PATCH", f"/admin/markets/{M}",
                          json={"status": "HALTED", "takerFeeBps": 7})
    assert (halted["status"], halted["takerFeeBps"]) == ("HALTED", 7)
    refused = await buyer.place(400, market=M, side="BUY", quantity="1", price="1000.05")
    assert "MARKET_HALTED" in str(refused), refused
    trades = await eventually(lambda: api.get(f"/markets/{M}/trades"),
                              lambda r: r.status_code == 200 and r.json())
    assert trades.json()[0]["price"] == "1000.05", trades.text
    return seller.headers["Authorization"], buyer.headers["Authorization"], buyer.id


async def _after_restart(api: httpx.AsyncClient, env: dict[str, str],
                         buyer_auth: str, buyer_id: str) -> None:
    admin = token(env, "--admin")
    registry = await _admin(api, admin, "GET", "/admin/markets")
    market = _market(registry)
    assert (market["status"], market["tickSize"], market["takerFeeBps"]) == \
        ("HALTED", "0.05", 7)
    assert {"symbol": "INR", "decimals": 2} in registry["assets"]
    buyer = Trader(api, buyer_auth.removeprefix("Bearer "), buyer_id)
    balances = await buyer.balances()
    fee = Decimal("2.01")  # ceil(400020 paise * 5 / 10000) = 201 paise
    assert balances["TATA"] == (Decimal(4), Decimal(0))
    assert balances["INR"] == (Decimal(100000) - Decimal("4000.20") - fee, Decimal(0))
    public = (await api.get("/markets")).json()
    assert M in {m["symbol"] for m in public}
    await _admin(api, admin, "PATCH", f"/admin/markets/{M}", json={"status": "OPEN"})
    resting = await buyer.place(market=M, side="BUY", quantity="6", price="1000.05")
    assert resting["status"] == "FILLED", resting  # the seller's 6 left rest across restarts


def test_list_trade_halt_restart_it_is_all_still_there(
        market_mesh: tuple[Mesh, dict[str, str]]) -> None:
    mesh, env = market_mesh
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"

    async def first() -> tuple[str, str, str]:
        async with httpx.AsyncClient(base_url=base, timeout=20) as api:
            return await _list_trade_halt(api, env)

    _, buyer_auth, buyer_id = asyncio.run(first())
    assert mesh.stop(signal.SIGINT) == 0, mesh.output
    mesh.assert_nothing_left()
    again_env, _ = mesh_env(mesh.out_path.parent / "data", ports=mesh.ports)
    again_env["TRADEMESH_MARKET_MAKER"] = "off"
    again = start_up(mesh.out_path.parent, again_env, mesh.ports, "second")
    try:
        again.wait_ready()

        async def second() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=20) as api:
                await _after_restart(api, again_env, buyer_auth, buyer_id)

        asyncio.run(second())
    finally:
        assert again.stop(signal.SIGINT) == 0, again.output
    again.assert_nothing_left()
