"""Isolated positions on a real engine service (gRPC over TLS, the Redis journal): listed
with their own margin, liquidation price and margin ratio, closed by id in part or whole,
refused with the right status naming the field, and rebuilt by a restart (journal replay)."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2, trigger_pb2

from engine_svc.core.commands import SetIndexPrice
from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_engine_service import _error, _fund, _limit


async def _positions(h: EngineHarness, user: str) -> dict[str, engine_pb2.Position]:
    reply = await h.stub.GetPositions(engine_pb2.GetPositionsRequest(), metadata=h.auth(user))
    return {p.position_id: p for p in reply.positions}


async def _setup(h: EngineHarness) -> tuple[str, str]:
    """alice: isolated longs of 10 (10x) and 6 (5x), a cross long of 4, at 100."""
    assert h.sequencer is not None
    await _fund(h, "mm", "USD", "1000000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await h.sequencer.submit(SetIndexPrice(market="SOL-PERP", price=100_000, ts=1),
                             lambda e, r: None)
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "20", "100", leverage=2),
                            metadata=h.auth("mm"))
    a = (await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "10", "100", leverage=10,
                                        margin_mode=order_pb2.ISOLATED),
                                 metadata=h.auth("alice"))).order
    b = (await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "6", "100", leverage=5,
                                        margin_mode=order_pb2.ISOLATED),
                                 metadata=h.auth("alice"))).order
    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "4", "100", leverage=10),
                            metadata=h.auth("alice"))
    assert (a.margin_mode, a.position_id) == (order_pb2.ISOLATED, a.order_id)
    return a.order_id, b.order_id


async def test_isolated_positions_are_listed_apart_and_closed_by_id(
        harness: EngineHarness) -> None:
    h = harness
    a, b = await _setup(h)
    rows = await _positions(h, "alice")
    assert set(rows) == {"", a, b}
    assert (rows[""].margin_mode, rows[""].size, rows[""].margin) == (order_pb2.CROSS, "4", "40")
    assert (rows[a].margin_mode, rows[a].margin, rows[a].liquidation_price) == (
        order_pb2.ISOLATED, "100", "90.453")
    assert (rows[b].margin, rows[b].liquidation_price) == ("120", "80.403")
    summary = (await h.stub.GetAccountSummary(engine_pb2.GetAccountSummaryRequest(),
                                              metadata=h.auth("alice"))).summary
    assert summary.initial_margin == "40"  # the cross account only
    ratio = {p.position_id: p.margin_ratio for p in summary.positions}
    assert ratio == {"": "", a: "0.05", b: "0.025"}  # 5 / 100 and 3 / 120

    await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.BUY, "20", "100", leverage=2),
                            metadata=h.auth("mm"))
    half = (await h.stub.ClosePosition(engine_pb2.ClosePositionRequest(
        market="SOL-PERP", position_id=a, percent="50"), metadata=h.auth("alice"))).order
    assert (half.filled_quantity, half.position_id, half.reduce_only) == ("5", a, True)
    part = (await h.stub.ClosePosition(engine_pb2.ClosePositionRequest(
        market="SOL-PERP", position_id=b, quantity="2.5"), metadata=h.auth("alice"))).order
    assert part.filled_quantity == "2.5"
    rows = await _positions(h, "alice")
    assert (rows[a].size, rows[a].margin, rows[b].size, rows[""].size) == ("5", "50", "3.5", "4")

    # a restart replays the journal into the same positions
    await h.restart()
    assert {k: (v.size, v.margin, v.liquidation_price)
            for k, v in (await _positions(h, "alice")).items()} == {
        k: (v.size, v.margin, v.liquidation_price) for k, v in rows.items()}
    await h.stub.ClosePosition(engine_pb2.ClosePositionRequest(
        market="SOL-PERP", position_id=a), metadata=h.auth("alice"))
    assert set(await _positions(h, "alice")) == {"", b}


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"position_id": "424242"}, grpc.StatusCode.NOT_FOUND, "positionId"),
    ({"position_id": "0"}, grpc.StatusCode.NOT_FOUND, "positionId"),
    ({"position_id": "٣"}, grpc.StatusCode.INVALID_ARGUMENT, "positionId"),
    ({"percent": "50", "quantity": "1"}, grpc.StatusCode.INVALID_ARGUMENT, "percent"),
    ({"percent": "0"}, grpc.StatusCode.INVALID_ARGUMENT, "percent"),
    ({"percent": "1e2"}, grpc.StatusCode.INVALID_ARGUMENT, "percent"),
    ({"percent": "0.01"}, grpc.StatusCode.INVALID_ARGUMENT, "percent"),  # under one lot
])
async def test_bad_closes_are_refused_naming_the_field(
        harness: EngineHarness, body: dict[str, str], code: grpc.StatusCode,
        field: str) -> None:
    h = harness
    a, _ = await _setup(h)
    request = engine_pb2.ClosePositionRequest(market="SOL-PERP", **body)
    if "percent" in body:
        request.position_id = a
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.ClosePosition(request, metadata=h.auth("alice"))
    got_code, _, fields = _error(err.value)
    assert (got_code, fields) == (code, [field])
    assert (await _positions(h, "alice"))[a].size == "10"  # nothing moved


async def test_orders_and_triggers_name_positions(harness: EngineHarness) -> None:
    h = harness
    a, _ = await _setup(h)
    for request, field in (
            (_limit("SOL-USD", order_pb2.BUY, "1", "1", margin_mode=order_pb2.ISOLATED),
             "marginMode"),
            (_limit("SOL-PERP", order_pb2.SELL, "1", "100", position_id=a,
                    margin_mode=order_pb2.CROSS), "marginMode"),
            (_limit("SOL-PERP", order_pb2.SELL, "1", "100", reduce_only=True,
                    margin_mode=order_pb2.ISOLATED), "marginMode")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await h.stub.PlaceOrder(request, metadata=h.auth("alice"))
        assert _error(err.value)[0] == grpc.StatusCode.INVALID_ARGUMENT
        assert _error(err.value)[2] == [field]
    with pytest.raises(grpc.aio.AioRpcError) as err:  # someone else's position
        await h.stub.PlaceOrder(_limit("SOL-PERP", order_pb2.SELL, "1", "100", position_id=a),
                                metadata=h.auth("mm"))
    assert _error(err.value)[:2] == (grpc.StatusCode.NOT_FOUND, "POSITION_NOT_FOUND")
    placed = (await h.stub.PlaceTrigger(engine_pb2.PlaceTriggerRequest(
        market="SOL-PERP", kind=trigger_pb2.STOP_LOSS, trigger_price="95", position_id=a),
        metadata=h.auth("alice"))).trigger
    assert (placed.position_id, placed.side, placed.quantity) == (a, order_pb2.SELL, "")
    listed = (await h.stub.ListTriggers(engine_pb2.ListTriggersRequest(),
                                        metadata=h.auth("alice"))).triggers
    assert [t.position_id for t in listed] == [a]
    assert Decimal((await _positions(h, "alice"))[a].size) == 10
