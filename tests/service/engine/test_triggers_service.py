"""Managed triggers over the Engine's gRPC service (real TLS server, Redis journal,
PostgreSQL snapshots): list, arm, move, disarm, ownership, field errors, an order's
stop-loss following its fills (PlaceOrder and the PlaceOrders stream), firing on the mark,
and triggers surviving a restart."""

from __future__ import annotations

import dataclasses

import grpc
import pytest
from trademesh.v1 import engine_pb2, order_pb2, trigger_pb2

from engine_svc.core.commands import SetIndexPrice
from tests.service.engine.conftest import EngineHarness
from tests.service.engine.test_engine_service import _error, _fund, _limit

PERP = "SOL-PERP"  # tick 0.001, lot 0.01; 100 USD is 100_000 ticks


async def _mark(h: EngineHarness, price_ticks: int) -> None:
    assert h.sequencer is not None
    await h.sequencer.submit(SetIndexPrice(market=PERP, price=price_ticks, ts=h.clock()),
                             lambda e, r: None)


async def _list(h: EngineHarness, user: str) -> list[trigger_pb2.Trigger]:
    reply = await h.stub.ListTriggers(engine_pb2.ListTriggersRequest(), metadata=h.auth(user))
    return list(reply.triggers)


async def _setup(h: EngineHarness) -> None:
    await _fund(h, "mm", "USD", "100000", "m1")
    await _fund(h, "alice", "USD", "1000", "a1")
    await _fund(h, "bob", "USD", "1000", "b1")
    await _mark(h, 100_000)


async def test_an_orders_stop_loss_follows_its_fills_and_fires_on_the_mark(
        harness: EngineHarness) -> None:
    h = harness
    await _setup(h)
    placed = await h.stub.PlaceOrder(
        _limit(PERP, order_pb2.BUY, "10", "100", leverage=5, stop_loss="95",
               take_profit="110"), metadata=h.auth("alice"))
    assert (placed.order.status, placed.order.stop_loss, placed.order.take_profit) == (
        order_pb2.NEW, "95", "110")
    armed = await _list(h, "alice")
    assert [(t.kind, t.side, t.quantity, t.order_id, t.pending, t.trigger_price)
            for t in armed] == [
        (trigger_pb2.STOP_LOSS, order_pb2.SELL, "0", placed.order.order_id, True, "95"),
        (trigger_pb2.TAKE_PROFIT, order_pb2.SELL, "0", placed.order.order_id, True, "110")]
    await h.stub.PlaceOrder(_limit(PERP, order_pb2.SELL, "4", "100", leverage=5),
                            metadata=h.auth("mm"))
    assert [t.quantity for t in await _list(h, "alice")] == ["4", "4"]
    await h.stub.CancelOrder(engine_pb2.CancelOrderRequest(order_id=placed.order.order_id),
                             metadata=h.auth("alice"))
    assert [(t.quantity, t.pending) for t in await _list(h, "alice")] == [
        ("4", False), ("4", False)]
    order = await h.stub.GetOrder(engine_pb2.GetOrderRequest(order_id=placed.order.order_id),
                                  metadata=h.auth("alice"))
    assert order.order.stop_loss == "95"
    await h.stub.PlaceOrder(_limit(PERP, order_pb2.BUY, "10", "94", leverage=5),
                            metadata=h.auth("mm"))
    await _mark(h, 94_000)
    positions = await h.stub.GetPositions(engine_pb2.GetPositionsRequest(),
                                          metadata=h.auth("alice"))
    assert list(positions.positions) == []  # the stop-loss sold the 4 lots
    assert await _list(h, "alice") == []  # and the take-profit went with the position


async def test_arm_move_disarm_and_only_your_own(harness: EngineHarness) -> None:
    h = harness
    await _setup(h)
    stop = await h.stub.PlaceTrigger(engine_pb2.PlaceTriggerRequest(
        market=PERP, kind=trigger_pb2.STOP_LIMIT, side=order_pb2.BUY, trigger_price="105",
        limit_price="106", quantity="2", leverage=10), metadata=h.auth("alice"))
    t = stop.trigger
    assert (t.kind, t.side, t.trigger_price, t.limit_price, t.quantity, t.leverage,
            t.user_id, t.position_id) == (trigger_pb2.STOP_LIMIT, order_pb2.BUY, "105", "106",
                                          "2", 10, "alice", "")
    moved = await h.stub.MoveTrigger(engine_pb2.MoveTriggerRequest(
        trigger_id=t.trigger_id, trigger_price="104.5", limit_price="105"),
        metadata=h.auth("alice"))
    assert (moved.trigger.trigger_price, moved.trigger.limit_price) == ("104.5", "105")
    for call, request in ((h.stub.MoveTrigger, engine_pb2.MoveTriggerRequest(
            trigger_id=t.trigger_id, trigger_price="104")),
            (h.stub.CancelTrigger, engine_pb2.CancelTriggerRequest(trigger_id=t.trigger_id)),
            (h.stub.CancelTrigger, engine_pb2.CancelTriggerRequest(trigger_id="x"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request, metadata=h.auth("bob"))  # type: ignore[operator]
        assert _error(err.value)[:2] == (grpc.StatusCode.NOT_FOUND, "TRIGGER_NOT_FOUND")
    assert await _list(h, "bob") == []
    gone = await h.stub.CancelTrigger(engine_pb2.CancelTriggerRequest(
        trigger_id=t.trigger_id), metadata=h.auth("alice"))
    assert gone.trigger.trigger_price == "104.5"
    assert await _list(h, "alice") == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.CancelTrigger(engine_pb2.CancelTriggerRequest(trigger_id=t.trigger_id),
                                   metadata=h.auth("alice"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"kind": trigger_pb2.STOP_MARKET, "trigger_price": "99"}, "triggerPrice",
     grpc.StatusCode.INVALID_ARGUMENT),  # a buy stop below the mark: already reached
    ({"trigger_price": "105.0001"}, "triggerPrice", grpc.StatusCode.INVALID_ARGUMENT),
    ({"trigger_price": "-1"}, "triggerPrice", grpc.StatusCode.INVALID_ARGUMENT),
    ({"trigger_price": ""}, "triggerPrice", grpc.StatusCode.INVALID_ARGUMENT),
    ({"limit_price": "106"}, "limitPrice", grpc.StatusCode.INVALID_ARGUMENT),
    ({"kind": trigger_pb2.STOP_LIMIT}, "limitPrice", grpc.StatusCode.INVALID_ARGUMENT),
    ({"quantity": ""}, "quantity", grpc.StatusCode.INVALID_ARGUMENT),
    ({"quantity": "NaN"}, "quantity", grpc.StatusCode.INVALID_ARGUMENT),
    ({"side": 0}, "side", grpc.StatusCode.INVALID_ARGUMENT),
    ({"kind": 0}, "kind", grpc.StatusCode.INVALID_ARGUMENT),
    ({"market": "SOL-USD"}, "market", grpc.StatusCode.INVALID_ARGUMENT),
    ({"leverage": 21}, "leverage", grpc.StatusCode.INVALID_ARGUMENT),
    ({"slippage_bps": 10_000}, "slippageBps", grpc.StatusCode.INVALID_ARGUMENT),
    ({"kind": trigger_pb2.STOP_LOSS, "side": 0, "quantity": "", "trigger_price": "95"}, "",
     grpc.StatusCode.FAILED_PRECONDITION),  # no position to close
])
async def test_bad_triggers_name_the_field(harness: EngineHarness, change: dict[str, object],
                                           field: str, code: grpc.StatusCode) -> None:
    h = harness
    await _setup(h)
    fields: dict[str, object] = {"market": PERP, "kind": trigger_pb2.STOP_MARKET,
                                 "side": order_pb2.BUY, "trigger_price": "105",
                                 "quantity": "1"}
    fields.update(change)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceTrigger(engine_pb2.PlaceTriggerRequest(**fields),  # type: ignore[arg-type]
                                  metadata=h.auth("alice"))
    got_code, _, named = _error(err.value)
    assert got_code == code and named == ([field] if field else [])
    assert await _list(h, "alice") == []


async def test_an_orders_stop_loss_on_the_wrong_side_names_the_field(
        harness: EngineHarness) -> None:
    h = harness
    await _setup(h)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(_limit(PERP, order_pb2.BUY, "1", "99", leverage=5,
                                       stop_loss="99.5"), metadata=h.auth("alice"))
    assert _error(err.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_STOP_LOSS",
                                 ["stopLoss"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(_limit(PERP, order_pb2.SELL, "1", "101", leverage=5,
                                       take_profit="102"), metadata=h.auth("alice"))
    assert _error(err.value)[2] == ["takeProfit"]


async def test_the_placeorders_stream_arms_stop_losses_too(harness: EngineHarness) -> None:
    h = harness
    await _setup(h)
    with_stop = _limit(PERP, order_pb2.BUY, "3", "99", leverage=5, stop_loss="90")

    async def requests():  # type: ignore[no-untyped-def]
        yield engine_pb2.PlaceOrdersRequest(batch_id=1, full_orders=True, orders=[with_stop])

    [reply] = [r async for r in h.stub.PlaceOrders(requests(), metadata=h.auth("alice"))]
    order = reply.results[0].order
    assert (order.status, order.stop_loss) == (order_pb2.NEW, "90")
    [armed] = await _list(h, "alice")
    assert (armed.kind, armed.order_id, armed.pending) == (
        trigger_pb2.STOP_LOSS, order.order_id, True)


async def test_triggers_survive_a_restart(harness: EngineHarness) -> None:
    h = harness
    await _setup(h)
    await h.stub.PlaceOrder(_limit(PERP, order_pb2.BUY, "10", "99", leverage=5,
                                   stop_loss="90"), metadata=h.auth("alice"))
    await h.stub.PlaceTrigger(engine_pb2.PlaceTriggerRequest(
        market=PERP, kind=trigger_pb2.STOP_MARKET, side=order_pb2.SELL, trigger_price="95",
        quantity="1"), metadata=h.auth("alice"))
    before = await _list(h, "alice")
    await h.restart()
    assert await _list(h, "alice") == before
    await h.stub.PlaceOrder(_limit(PERP, order_pb2.SELL, "2", "99", leverage=5),
                            metadata=h.auth("mm"))
    assert [t.quantity for t in await _list(h, "alice")] == ["2", "1"]


async def test_the_trigger_limit_comes_from_the_setting(harness: EngineHarness) -> None:
    h = harness
    h.settings = dataclasses.replace(h.settings, max_triggers=2)
    await h.restart()
    assert h.sequencer is not None and h.sequencer.engine.max_triggers == 2
    await _setup(h)
    stop = engine_pb2.PlaceTriggerRequest(market=PERP, kind=trigger_pb2.STOP_MARKET,
                                          side=order_pb2.BUY, trigger_price="105",
                                          quantity="1")
    await h.stub.PlaceTrigger(stop, metadata=h.auth("alice"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceOrder(_limit(PERP, order_pb2.BUY, "1", "99", leverage=5,
                                       stop_loss="90", take_profit="110"),
                                metadata=h.auth("alice"))
    code, reason, _ = _error(err.value)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TOO_MANY_TRIGGERS")
    assert "TRADEMESH_MAX_TRIGGERS" in (err.value.details() or "")
    await h.stub.PlaceTrigger(stop, metadata=h.auth("alice"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await h.stub.PlaceTrigger(stop, metadata=h.auth("alice"))
    assert _error(err.value)[1] == "TOO_MANY_TRIGGERS"
    assert len(await _list(h, "alice")) == 2
