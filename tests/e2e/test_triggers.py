"""Managed triggers end to end on ``trademesh up`` (REST, WebSocket and the mesh): an
order's stop-loss / take-profit follow its fills, triggers are listed, armed, moved and
disarmed over REST (only by their owner; bad fields named), the ``user`` channel reports
them, and the stop-loss closes the position when an operator moves the index through it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.test_mesh_up import Mesh, running_mesh
from tests.e2e.test_perps import set_index, token
from tests.e2e.test_rest_api import eventually, new_trader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
WAIT = 30.0


@pytest.fixture(scope="module")
def trigger_mesh() -> Iterator[tuple[Mesh, dict[str, str]]]:
    with running_mesh("triggers", TRADEMESH_MARKET_MAKER="off") as running:
        yield running


@pytest.fixture
async def api(trigger_mesh: tuple[Mesh, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{trigger_mesh[0].ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        yield client


async def _trigger_events(ws: Any, wanted: int) -> list[dict[str, Any]]:
    """The next ``wanted`` trigger events of the user channel."""
    found: list[dict[str, Any]] = []

    async def read() -> None:
        while len(found) < wanted:
            message = json.loads(await ws.recv())
            data = message.get("data", {}) if message.get("stream") == "user" else {}
            if "trigger" in data:
                found.append(dict(data["trigger"]))

    await asyncio.wait_for(read(), WAIT)
    return found


async def test_triggers_over_rest_and_the_user_channel(
        api: httpx.AsyncClient, trigger_mesh: tuple[Mesh, dict[str, str]]) -> None:
    mesh, env = trigger_mesh
    admin = token(env, "--admin")
    maker, trader, other = await new_trader(api), await new_trader(api), await new_trader(api)
    await maker.deposit("USD", "1000000")
    await trader.deposit("USD", "1000")
    await set_index(api, admin, "100")
    await eventually(lambda: api.get("/markets/SOL-PERP/ticker"),
                     lambda r: r.json().get("indexPrice") not in (None, ""))
    ws_url = f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws"
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"method": "AUTH", "params": [
            trader.headers["Authorization"].split()[1]], "id": 1}))
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["user"], "id": 2}))
        await asyncio.sleep(0.5)
        order = await trader.place(market="SOL-PERP", side="BUY", quantity="10", price="100",
                                   leverage=5, stopLoss="90", takeProfit="120")
        assert (order["status"], order["stopLoss"], order["takeProfit"]) == (
            "NEW", "90", "120")
        armed = await trader.call("GET", "/triggers")
        assert [(t["kind"], t["side"], t["quantity"], t["orderId"], t["pending"])
                for t in armed] == [("STOP_LOSS", "SELL", "0", order["orderId"], True),
                                    ("TAKE_PROFIT", "SELL", "0", order["orderId"], True)]
        events = await _trigger_events(ws, 2)
        assert [e["action"] for e in events] == ["TRIGGER_ARMED"] * 2
        await maker.place(market="SOL-PERP", side="SELL", quantity="4", price="100",
                          leverage=2)
        grown = await _trigger_events(ws, 2)
        assert [(e["action"], e["trigger"]["quantity"]) for e in grown] == [
            ("TRIGGER_UPDATED", "4")] * 2
        assert [t["quantity"] for t in await trader.call("GET", "/triggers")] == ["4", "4"]
        # the order's rest is canceled: what filled stays covered
        await trader.call("DELETE", f"/orders/{order['orderId']}")

        reached = await trader.call("POST", "/triggers", 400, json={
            "market": "SOL-PERP", "kind": "STOP_MARKET", "side": "BUY", "triggerPrice": "95",
            "quantity": "1"})
        assert reached["error"]["details"] and "triggerPrice" in json.dumps(reached)
        off_grid = await trader.call("POST", "/triggers", 400, json={
            "market": "SOL-PERP", "kind": "STOP_MARKET", "side": "BUY",
            "triggerPrice": "105.0001", "quantity": "1"})
        assert "triggerPrice" in json.dumps(off_grid)
        stop = await trader.call("POST", "/triggers", 201, json={
            "market": "SOL-PERP", "kind": "STOP_LIMIT", "side": "SELL", "triggerPrice": "80",
            "limitPrice": "79", "quantity": "1", "reduceOnly": True})
        assert (stop["kind"], stop["limitPrice"], stop["reduceOnly"]) == (
            "STOP_LIMIT", "79", True)
        path = f"/triggers/{stop['triggerId']}"
        moved = await trader.call("PATCH", path, json={"triggerPrice": "81.5"})
        assert (moved["triggerPrice"], moved["limitPrice"]) == ("81.5", "79")
        assert await other.call("GET", "/triggers") == []
        await other.call("PATCH", path, 404, json={"triggerPrice": "82"})
        await other.call("DELETE", path, 404)
        assert (await trader.call("DELETE", path))["triggerId"] == stop["triggerId"]
        await trader.call("DELETE", path, 404)
        await _trigger_events(ws, 3)  # the stop armed, moved and canceled

        await maker.place(market="SOL-PERP", side="BUY", quantity="10", price="89",
                          leverage=2)
        await set_index(api, admin, "89")
        done = await _trigger_events(ws, 2)
    assert [(e["action"], e.get("reason", "")) for e in done] == [
        ("TRIGGER_FIRED", ""), ("TRIGGER_CANCELED", "POSITION_CLOSED")]
    assert done[0]["trigger"]["kind"] == "STOP_LOSS" and done[0]["trigger"]["quantity"] == "4"
    assert await trader.call("GET", "/account/positions") == []
    assert await trader.call("GET", "/triggers") == []
