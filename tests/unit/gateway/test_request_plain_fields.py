"""The request decoder's fast path for flat JSON bodies sets exactly what
``json_format.ParseDict`` would, and declines whatever it does not take plainly (the
parser then decides and names the problem)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from trademesh.v1 import engine_pb2

from gateway.request_codec import _plain_fields, _set_plain

MESSAGES = [engine_pb2.PlaceOrderRequest, engine_pb2.ReplaceOrderRequest,
            engine_pb2.DepositRequest, engine_pb2.CancelAllOrdersRequest,
            engine_pb2.PlaceTriggerRequest]


def _keys(message_class: Any) -> list[str]:
    names = []
    for field in message_class.DESCRIPTOR.fields:
        names += [field.name, field.json_name]
    return [*sorted(set(names)), "nope", "Market", ""]


def _enum_names(message_class: Any) -> list[str]:
    return sorted({value.name for field in message_class.DESCRIPTOR.fields
                   if field.enum_type is not None for value in field.enum_type.values})


VALUES = st.one_of(
    st.text(max_size=12), st.sampled_from(["GTC", "BUY", "LIMIT", "SELL", "MARKET", "IOC"]),
    st.booleans(), st.integers(-3, 3), st.none(), st.floats(allow_nan=True),
    st.lists(st.text(max_size=3), max_size=2), st.just("\ud800"), st.just({}))


@st.composite
def bodies(draw: Any) -> tuple[Any, dict[str, Any]]:
    message_class = draw(st.sampled_from(MESSAGES))
    keys = _keys(message_class)
    values = st.one_of(VALUES, st.sampled_from(_enum_names(message_class) or ["X"]))
    return message_class, draw(st.dictionaries(st.sampled_from(keys), values, max_size=8))


@settings(max_examples=3000, deadline=None)
@given(bodies())
def test_the_fast_path_sets_what_the_parser_would(case: tuple[Any, dict[str, Any]]) -> None:
    message_class, payload = case
    fast = message_class()
    taken = _set_plain(fast, payload)
    parsed = message_class()
    try:
        json_format.ParseDict(payload, parsed, ignore_unknown_fields=False)
        parses = True
    except Exception:  # ParseError, and (upb) SystemError for a surrogate
        parses = False  # enum name, OverflowError for an infinite float: the gateway's type
        # checks refuse those before the parser sees them
    if taken:
        assert parses and fast == parsed, payload
    else:
        assert fast == message_class()  # declined: left empty for the parser


def test_a_plain_order_takes_the_fast_path() -> None:
    message = engine_pb2.PlaceOrderRequest()
    assert _set_plain(message, {"market": "SOL-USD", "side": "BUY", "type": "LIMIT",
                                "timeInForce": "GTC", "quantity": "1", "price": "10"})
    assert (message.side, message.time_in_force, message.price) == (1, 1, "10")


@pytest.mark.parametrize("payload", [
    {"market": "SOL-USD", "market_": "x"},
    {"timeInForce": "GTC", "time_in_force": "IOC"},  # one field by both names
    {"side": "SIDEWAYS"},
    {"side": 1},  # a number for an enum: the parser's to take
    {"quantity": 1},
    {"market": "\ud800"},
])
def test_what_it_declines(payload: dict[str, Any]) -> None:
    message = engine_pb2.PlaceOrderRequest()
    assert not _set_plain(message, payload)
    assert message == engine_pb2.PlaceOrderRequest()


def test_only_singular_plain_fields_outside_oneofs() -> None:
    plain = _plain_fields(engine_pb2.PlaceOrderRequest.DESCRIPTOR)
    assert {"market", "side", "timeInForce", "time_in_force", "price"} <= set(plain)
    for name, _, _ in plain.values():
        field = engine_pb2.PlaceOrderRequest.DESCRIPTOR.fields_by_name[name]
        assert not field.is_repeated and field.containing_oneof is None
