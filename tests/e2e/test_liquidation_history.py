"""A liquidated 10x long is in ``/history/positions`` as soon as persistence has caught up.

Against ``trademesh up`` with its market maker quoting (the setting where a liquidated
position was seen missing from the history in 2 of 6 tries): each round a fresh trader
opens a 10x long against the maker's quotes, an operator moves the index through the
admin route until the engine liquidates it, and once the engine reports persistence
caught up with every event so far, one read of the history must list the position as
LIQUIDATED, with its exit price and leverage. Rounds are bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from mesh_runtime.tls import tls_channel
from tests.e2e.test_mesh_up import Mesh, running_mesh
from tests.e2e.test_perps import set_index, token
from tests.e2e.test_rest_api import Trader, eventually, new_trader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROUNDS = 6
WAIT = 30.0


@pytest.fixture(scope="module")
def quoted_mesh() -> Iterator[tuple[Mesh, dict[str, str]]]:
    with running_mesh("liquidation-history") as running:  # the market maker quotes
        yield running


@pytest.fixture
async def api(quoted_mesh: tuple[Mesh, dict[str, str]]) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{quoted_mesh[0].ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        yield client


async def persisted_through(mesh: Mesh, admin: str) -> None:
    """Waits until persistence has committed every event the engine had emitted when
    called (the engine's own account of it: GetEngineStatus, as an operator)."""
    ca = (Path(mesh.data_dir) / "pki" / "ca.pem").read_bytes()
    metadata = (("authorization", f"Bearer {admin}"),)
    async with tls_channel(f"127.0.0.1:{mesh.ports['engine_port']}", ca) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        status = await stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                            metadata=metadata, timeout=10)
        target = status.event_sequence
        deadline = asyncio.get_running_loop().time() + WAIT
        while status.persisted_sequence < target:
            assert asyncio.get_running_loop().time() < deadline, status
            await asyncio.sleep(0.05)
            status = await stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                                metadata=metadata, timeout=10)


async def open_long(api: httpx.AsyncClient, admin: str) -> Trader:
    await set_index(api, admin, "150")
    long = await new_trader(api)
    await long.deposit("USD", "200")
    quotes = await eventually(  # the maker has requoted around the new index
        lambda: api.get("/markets/SOL-PERP/depth"),
        lambda r: r.json()["asks"] and abs(Decimal(r.json()["asks"][0][0]) - 150) < 8)
    assert quotes.json()["asks"], quotes.text
    # fill-or-kill: while the maker requotes, the book can hold part of its old ladder
    # and part of the new, too little within the slippage bound for 10 (a plain market
    # order then fills in part, the rest canceled); all or nothing, and again a moment later
    body = {"market": "SOL-PERP", "side": "BUY", "type": "MARKET", "quantity": "10",
            "leverage": 10, "slippageBps": 200, "timeInForce": "FOK"}
    for _ in range(50):
        answer = await api.post("/orders", json=body, headers=long.headers)
        if answer.status_code != 400 or \
                answer.json()["error"]["code"] not in ("NO_LIQUIDITY", "FOK_NOT_FILLABLE"):
            break
        await asyncio.sleep(0.1)
    assert answer.status_code == 201, answer.text
    order = answer.json()
    assert order["status"] == "FILLED", order
    return long


async def liquidate(api: httpx.AsyncClient, admin: str, long: Trader) -> None:
    """Moves the index down in steps until the long is gone (bounded)."""
    for price in ("140", "135", "130", "120", "110", "100", "90", "75", "60"):
        await set_index(api, admin, price)
        near = Decimal(price) * Decimal("1.06")  # the mark within its band of the index
        rows = await eventually(lambda: long.call("GET", "/account/positions"),
                                lambda rows, near=near: not rows
                                or Decimal(rows[0]["markPrice"]) <= near)
        if not rows:
            return
    assert await long.call("GET", "/account/positions") == []


async def test_a_liquidated_long_is_in_the_history_once_persistence_caught_up(
        api: httpx.AsyncClient, quoted_mesh: tuple[Mesh, dict[str, str]]) -> None:
    mesh, env = quoted_mesh
    admin = token(env, "--admin")
    for _ in range(ROUNDS):
        long = await open_long(api, admin)
        summary = await long.call("GET", "/account/summary")
        assert Decimal(summary["initialMargin"]) > 0 and summary["marginRatio"] not in ("", "0")
        await liquidate(api, admin, long)
        await persisted_through(mesh, admin)
        closed = await long.call("GET", "/history/positions")
        assert [(c["market"], c["side"], c["size"], c["closeReason"], c["marginMode"])
                for c in closed] == [("SOL-PERP", "BUY", "10", "LIQUIDATED", "CROSS")], closed
        assert Decimal(closed[0]["exitPrice"]) > 0 and closed[0]["leverage"] in (9, 10)
        [liquidation] = await long.call("GET", "/history/liquidations")
        assert (liquidation["market"], liquidation["size"]) == ("SOL-PERP", "10")
        assert Decimal(liquidation["closedOnBook"]) + Decimal(liquidation["takenByFund"]) == 10
        sells = await long.call("GET", "/history/fills", params={"side": "SELL"})
        assert sum(Decimal(f["quantity"]) for f in sells) == Decimal(liquidation["closedOnBook"])
        assert all(Decimal(f["realizedPnl"]) < 0 for f in sells)  # sold below the entry
        buys = await long.call("GET", "/history/fills", params={"side": "BUY"})
        assert buys and all(f["realizedPnl"] == "0" for f in buys)  # the open realized nothing
        summary = await long.call("GET", "/account/summary")
        assert (summary["maintenanceMargin"], summary["marginRatio"], summary["positions"]) \
            == ("0", "0", [])
