"""The streamed answers' hand-written wire bytes against protobuf's own encoding."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf import timestamp_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from trademesh.v1 import engine_pb2, order_pb2

from engine_svc import codec, errors, order_wire
from engine_svc.core.enums import Liquidity, OrderStatus, OrderType, RejectReason, Side, TimeInForce
from engine_svc.core.markets import default_markets
from engine_svc.order_views import FillRecord, OrderRecord

CONFIG = default_markets()
units = st.integers(min_value=0, max_value=10**24)
signed = st.integers(min_value=-(10**24), max_value=10**24)
times = st.integers(min_value=0, max_value=253_402_300_799_999)  # through year 9999
texts = st.text(max_size=70)  # any Unicode: the encoder writes UTF-8 lengths

fills = st.builds(FillRecord, fill_id=st.integers(min_value=0, max_value=2**63 - 1),
                  price=units, quantity=units, fee=signed,
                  liquidity=st.sampled_from(list(Liquidity)), ts=times,
                  realized=st.one_of(st.none(), signed))


@st.composite
def records(draw: st.DrawFn) -> OrderRecord:
    record = OrderRecord(
        draw(st.integers(min_value=0, max_value=2**63 - 1)), draw(texts),
        draw(st.sampled_from(sorted(CONFIG.markets))), draw(st.sampled_from(list(Side))),
        draw(st.sampled_from(list(OrderType))), draw(st.sampled_from(list(TimeInForce))),
        draw(units), draw(units), draw(st.one_of(st.none(), texts)),
        status=draw(st.sampled_from(list(OrderStatus))), reason=draw(texts),
        fills=draw(st.lists(fills, max_size=4)))
    record.filled = draw(st.integers(min_value=0, max_value=10**12))
    # ticks x lots summed over fills: an average price of at most 10**12 ticks
    record.filled_ticks_lots = draw(st.integers(min_value=0, max_value=10**12 * record.filled))
    return record


EXECUTION_FIELDS = ("order_id", "client_order_id", "status", "filled_quantity",
                    "average_price", "reason")


def _execution(record: OrderRecord) -> order_pb2.Order:
    """What a lean streamed answer holds: those fields of the whole order, and its fills."""
    whole, lean = codec.order(record, CONFIG), order_pb2.Order()
    for name in EXECUTION_FIELDS:
        setattr(lean, name, getattr(whole, name))
    lean.fills.extend(whole.fills)
    return lean


@settings(max_examples=400)
@given(records())
def test_execution_bytes_are_protobufs_own(record: OrderRecord) -> None:
    message = _execution(record)
    written = order_wire.execution(record, CONFIG)
    assert type(message).FromString(written) == message
    assert written == message.SerializeToString()


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_batch_id_varint(batch_id: int) -> None:
    assert order_wire.response(batch_id, []) == \
        engine_pb2.PlaceOrdersResponse(batch_id=batch_id).SerializeToString()


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_negative_varint_is_twos_complement(seconds: int) -> None:
    expected = timestamp_pb2.Timestamp(seconds=seconds).SerializeToString()
    assert (b"\x08" + order_wire.varint(seconds) if seconds else b"") == expected


@settings(max_examples=100)
@given(st.lists(st.one_of(records(), st.sampled_from(list(RejectReason))), max_size=20),
       st.integers(min_value=0, max_value=2**64 - 1))
def test_response_equals_the_message_built_field_by_field(
        items: list[OrderRecord | RejectReason], batch_id: int) -> None:
    expected = engine_pb2.PlaceOrdersResponse(batch_id=batch_id)
    results: list[bytes] = []
    for item in items:
        if isinstance(item, RejectReason):
            status = errors.rejection(item).status
            expected.results.add().error.CopyFrom(status)
            results.append(order_wire.error_result(status.SerializeToString()))
        else:
            order = codec.order(item, CONFIG)
            expected.results.add().order.CopyFrom(order)
            results.append(order_wire.order_result(order.SerializeToString()))
    written = order_wire.response(batch_id, results)
    assert engine_pb2.PlaceOrdersResponse.FromString(written) == expected
    assert engine_pb2.RelayOrdersResponse.FromString(written).SerializeToString() == \
        expected.SerializeToString()


@given(st.sampled_from(sorted(CONFIG.markets)), st.integers(min_value=1, max_value=10**15),
       st.integers(min_value=0, max_value=10**12))
def test_average_price_is_the_decimal_quotient(market: str, filled: int, ticks: int) -> None:
    """The integer average (half to even, a millionth of a tick) against the Decimal
    division and quantize it replaced, over averages of up to 10**12 ticks."""
    spec = CONFIG.markets[market]
    record = OrderRecord(1, "u", market, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 1, 1, None)
    record.filled = filled
    record.filled_ticks_lots = ticks * filled + filled // 3  # averages between the ticks too
    exact = Decimal(record.filled_ticks_lots) / filled * spec.tick_size
    assert codec.average_price(record, spec) == \
        codec.decimal_text(exact.quantize(spec.tick_size / 10**6))
