"""Streamed placements' answers written as protobuf wire bytes, without message objects.

A ``PlaceOrders`` / ``RelayOrders`` response holds one ``PlaceOrderResult`` per order, up
to a thousand a message. Built as messages, each result costs a new ``Order`` (and its
``Fill`` s) set field by field, then a copy into the response, then the serialisation:
about a fifth of the engine's time per streamed order. Here each result is written once
as the bytes it serialises to, and the response is parsed from their concatenation in one
call (upb, C), which then serialises it for gRPC.

Only what the encoding needs is written by hand: varints, length-delimited fields, and the
fields of the execution answer (:func:`execution`: the order's identity and execution
state, the fields of :func:`engine_svc.codec.order` a caller that sent the rest needs).
Proto3 rules: a scalar at its default (``""``, 0) is not written; a message field that is
set is written even when empty (a fill's ``time``). Fields go in field-number order, as
upb writes them, so the bytes equal ``SerializeToString()`` of those fields of the message
``codec.order`` builds (the tests check both the bytes and the parsed message, for
generated records).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from engine_svc.codec import (
    LIQUIDITY_BY_VALUE,
    SIDE_BY_VALUE,
    STATUS_BY_VALUE,
    average_price,
    rejected,
)
from engine_svc.core.enums import RejectReason
from engine_svc.core.events import Event
from engine_svc.core.markets import MarketConfig
from engine_svc.decimal_edge import formatter, minor_formatter
from engine_svc.order_views import OrderRecord

_SMALL: Final = [bytes([i]) for i in range(128)]
_U64: Final = 1 << 64

# tags: (field number << 3) | wire type (0 varint, 2 length-delimited), as varints
_ORDER_ID: Final = b"\x0a"  # Order.order_id = 1
_CLIENT_ORDER_ID: Final = b"\x12"  # 2
_STATUS: Final = b"\x40"  # 8, enum
_FILLED: Final = b"\x5a"  # 11
_AVERAGE: Final = b"\x62"  # 12
_FILLED_NOTHING: Final = _FILLED + b"\x01" + b"0"  # filled_quantity "0"
_FILLS: Final = b"\xa2\x01"  # 20
_REASON: Final = b"\xaa\x01"  # 21
_FILL_TAGS: Final = (b"\x0a", b"\x12", b"\x1a", b"\x20", b"\x2a", b"\x32", b"\x3a", b"\x42",
                     b"\x48", b"\x52", b"\x5a", b"\x62", b"\x6a")  # Fill fields 1..13
_RESULT_ORDER: Final = b"\x0a"  # PlaceOrderResult.order = 1
_RESULT_ERROR: Final = b"\x12"  # PlaceOrderResult.error = 2
_RESULTS: Final = b"\x0a"  # P*OrdersResponse.results = 1
_BATCH_ID: Final = b"\x10"  # P*OrdersResponse.batch_id = 2, uint64


def varint(value: int) -> bytes:
    """``value`` as a protobuf varint (a negative one as its 64-bit two's complement, the
    ten bytes protobuf writes for a negative int64 or enum)."""
    if 0 <= value < 128:
        return _SMALL[value]
    if value < 0:
        value += _U64
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _text(out: bytearray, tag: bytes, text: str) -> None:
    if text:
        data = text.encode()
        out += tag
        out += varint(len(data))
        out += data


def _number(out: bytearray, tag: bytes, value: int) -> None:
    if value:
        out += tag
        out += varint(value)


def _nested(out: bytearray, tag: bytes, body: bytes | bytearray) -> None:
    out += tag
    out += varint(len(body))
    out += body


def execution(record: OrderRecord, config: MarketConfig) -> bytes:
    """The wire bytes of the order's identity and execution state (id, client id, status,
    filled quantity, average price, fills, reason), as ``codec.order`` renders them."""
    spec = config.markets[record.market]
    out = bytearray()
    order_id = str(record.order_id)
    _text(out, _ORDER_ID, order_id)
    _text(out, _CLIENT_ORDER_ID, record.client_order_id or "")
    _number(out, _STATUS, STATUS_BY_VALUE[record.status._value_])
    if not record.filled and not record.fills:  # most answers: "0", no average, no fill
        out += _FILLED_NOTHING
        _text(out, _REASON, record.reason)
        return bytes(out)
    qty_of = formatter(spec.lot_size)
    _text(out, _FILLED, qty_of(record.filled))
    _text(out, _AVERAGE, average_price(record, spec))
    if record.fills:
        price_of, fee_of = formatter(spec.tick_size), minor_formatter(spec.quote.scale)
        fee_asset, market, user_id = spec.quote.symbol, record.market, record.user_id
        side = SIDE_BY_VALUE[record.side._value_]
        perp = spec.is_perp
        tags = _FILL_TAGS
        for f in record.fills:
            fill = bytearray()
            fill_id = str(f.fill_id)
            _text(fill, tags[0], fill_id)
            _text(fill, tags[1], order_id)
            _text(fill, tags[2], market)
            _number(fill, tags[3], side)
            _text(fill, tags[4], price_of(f.price))
            _text(fill, tags[5], qty_of(f.quantity))
            _text(fill, tags[6], fee_of(f.fee))
            _text(fill, tags[7], fee_asset)
            _number(fill, tags[8], LIQUIDITY_BY_VALUE[f.liquidity._value_])
            seconds, millis = divmod(f.ts, 1000)
            time = bytearray()
            _number(time, b"\x08", seconds)
            _number(time, b"\x10", millis * 1_000_000)
            _nested(fill, tags[9], time)
            if perp and f.realized is not None:
                _text(fill, tags[10], fee_of(f.realized))
            _text(fill, tags[11], user_id)
            _text(fill, tags[12], fill_id)
            _nested(out, _FILLS, fill)
    _text(out, _REASON, record.reason)
    return bytes(out)


def order_result(order: bytes) -> bytes:
    """A ``PlaceOrderResult`` holding the order whose wire bytes are ``order``."""
    out = bytearray()
    _nested(out, _RESULT_ORDER, order)
    return bytes(out)


def error_result(status: bytes) -> bytes:
    """A ``PlaceOrderResult`` holding the refusal whose ``google.rpc.Status`` wire bytes
    are ``status``."""
    out = bytearray()
    _nested(out, _RESULT_ERROR, status)
    return bytes(out)


def response(batch_id: int, results: list[bytes]) -> bytes:
    """A ``PlaceOrdersResponse`` (or ``RelayOrdersResponse``, the same fields) holding
    ``results`` (``PlaceOrderResult`` wire bytes, in order) and ``batch_id``."""
    out = bytearray()
    for result in results:
        _nested(out, _RESULTS, result)
    _number(out, _BATCH_ID, batch_id)
    return bytes(out)


class ExecutionAnswers:
    """A streamed order's answer, as the sequencer renders it (compiled: called for every
    streamed order): its ``PlaceOrderResult`` with the order's execution state, or the
    refusal ``refusal`` writes for why the core refused it."""

    def __init__(self, config: Callable[[], MarketConfig],
                 refusal: Callable[[RejectReason], bytes]) -> None:
        self._config = config
        self._refusal = refusal

    def __call__(self, events: list[Event], records: list[OrderRecord]) -> bytes:
        reason = rejected(events)
        if reason is not None:
            return self._refusal(reason)
        if not records:
            return self._refusal(RejectReason.ORDER_NOT_FOUND)
        return order_result(execution(records[0], self._config()))
