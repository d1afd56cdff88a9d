"""HTTP request → request message: body, path variables and query parameters by field kind."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from trademesh.v1 import engine_pb2, feed_pb2, order_pb2, persistence_pb2

from gateway.errors import GatewayError
from gateway.request_codec import build_request, set_field
from gateway.router import RouteTable
from gateway.routes import Route, default_file_descriptors, load_routes


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable(load_routes(default_file_descriptors()))


def route(table: RouteTable, method: str, path: str) -> tuple[Route, dict[str, str]]:
    found = table.match(method, path)
    return found.route, found.path_values


def field_error(call: Any, *args: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


def test_strings_ints_and_path_variables(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/markets/BTC-PERP/depth")
    message = build_request(r, b"", values, [("limit", "25")])
    assert message == engine_pb2.GetDepthRequest(market="BTC-PERP", limit=25)


def test_query_accepts_proto_and_json_names() -> None:
    message = engine_pb2.PlaceOrderRequest()
    set_field(message, "client_order_id", ["a"])
    set_field(message, "timeInForce", ["IOC"])
    assert message.client_order_id == "a"
    assert message.time_in_force == order_pb2.IOC


def test_bools_and_enums_by_name() -> None:
    message = engine_pb2.PlaceOrderRequest()
    set_field(message, "post_only", ["true"])
    set_field(message, "reduce_only", ["FALSE"])
    set_field(message, "side", ["SELL"])
    assert (message.post_only, message.reduce_only, message.side) == (True, False,
                                                                      order_pb2.SELL)


def test_repeated_fields_take_every_value() -> None:
    message = feed_pb2.SubscribeRequest()
    set_field(message, "channels", ["trades@BTC-PERP", "depth@BTC-PERP"])
    assert list(message.channels) == ["trades@BTC-PERP", "depth@BTC-PERP"]


def test_nested_fields_by_dotted_name() -> None:
    message = engine_pb2.PlaceOrderResult()
    set_field(message, "order.order_id", ["o-1"])
    set_field(message, "order.leverage", ["5"])
    assert (message.order.order_id, message.order.leverage) == ("o-1", 5)


def test_timestamps_in_rfc3339(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/markets/SOL-USD/candles")
    query = [("interval", "1m"), ("start", "2026-01-02T03:04:05Z"),
             ("end", "2026-01-02T04:00:00.5+01:00")]
    message = build_request(r, b"", values, query)
    assert isinstance(message, persistence_pb2.GetCandlesRequest)
    assert message.start.ToJsonString() == "2026-01-02T03:04:05Z"
    assert message.end.ToJsonString() == "2026-01-02T03:00:00.500Z"


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("leverage", "x", "ASCII digits"),
    ("leverage", "٣", "ASCII digits"),  # int() reads it as 3
    ("leverage", "²", "ASCII digits"),  # isdigit() says yes, int() raises
    ("leverage", " 3", "ASCII digits"),
    ("leverage", "1_0", "ASCII digits"),
    ("leverage", "-1", "out of range"),
    ("leverage", "4294967296", "out of range"),
    ("post_only", "maybe", "not a boolean"),
    ("side", "UP", "not one of"),
    ("nope", "1", "unknown parameter"),
    ("market.x", "1", "not a message field"),
])
def test_bad_parameters_name_the_field(name: str, value: str, fragment: str) -> None:
    error = field_error(set_field, engine_pb2.PlaceOrderRequest(), name, [value])
    assert error.details[0]["field"].startswith(name.split(".")[0])
    assert fragment in error.details[0]["description"]


def test_bad_timestamp_names_the_field(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/markets/SOL-USD/candles")
    error = field_error(build_request, r, b"", values, [("start", "yesterday")])
    assert error.details == [{"field": "start", "description": "'yesterday' is not an RFC 3339 "
                                                              "timestamp"}]


def test_singular_field_given_twice_is_refused(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/orders")
    error = field_error(build_request, r, b"", values, [("market", "A"), ("market", "B")])
    assert error.details[0]["field"] == "market"


def test_unknown_query_parameter_is_named(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/orders")
    error = field_error(build_request, r, b"", values, [("colour", "red")])
    assert error.details[0]["field"] == "colour"
    assert "colour" in error.message


def test_body_route_refuses_query_parameters(table: RouteTable) -> None:
    r, values = route(table, "POST", "/api/v1/orders")
    error = field_error(build_request, r, b"{}", values, [("market", "X")])
    assert error.details[0]["field"] == "market"


def test_body_fills_the_message_and_path_wins(table: RouteTable) -> None:
    r, values = route(table, "POST", "/api/v1/positions/BTC-PERP/close")
    message = build_request(r, b'{"market": "ETH-PERP", "slippageBps": 50}', values, [])
    assert message == engine_pb2.ClosePositionRequest(market="BTC-PERP", slippage_bps=50)


@pytest.mark.parametrize(("body", "field"), [
    (b'{"market": "BTC-PERP", "colour": 1}', "colour"),
    (b'{"price": 141.39}', "price"),
    (b'{"side": "UP"}', "side"),
    (b'{"leverage": "many"}', "leverage"),
    (b'{"market": ', "body"),
    (b'["market"]', "body"),
    (b"\xff\xfe", "body"),
])
def test_bad_bodies_name_the_field(table: RouteTable, body: bytes, field: str) -> None:
    r, values = route(table, "POST", "/api/v1/orders")
    error = field_error(build_request, r, body, values, [])
    assert error.details[0]["field"] == field
    assert field in error.message


def test_path_variable_wins_over_query(table: RouteTable) -> None:
    r, values = route(table, "GET", "/api/v1/markets/BTC-PERP/ticker")
    message = build_request(r, b"", values, [("market", "ETH-PERP")])
    assert message.market == "BTC-PERP"


def test_named_body_field(table: RouteTable) -> None:
    place = table.match("POST", "/api/v1/orders").route
    named = dataclasses.replace(place, body="order", request_class=engine_pb2.PlaceOrderResult)
    message = build_request(named, b'{"orderId": "o-1", "leverage": 3}', {}, [("order.market",
                                                                              "X")])
    assert (message.order.order_id, message.order.leverage) == ("o-1", 3)
    assert message.order.market == "X"
    error = field_error(build_request, named, b'{"price": 1}', {}, [])
    assert error.details[0]["field"] == "order.price"
