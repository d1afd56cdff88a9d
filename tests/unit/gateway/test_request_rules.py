"""The document's patterns, types, lengths and required fields are what the gateway accepts
(issue #15: schemathesis found requests the document called valid refused with 400, and the
lenient proto JSON parser took values the document called invalid)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import GatewayError
from gateway.openapi import build_openapi
from gateway.request_codec import build_request
from gateway.request_rules import FIELD_RULES, MESSAGE_RULES, _expected, violation
from gateway.router import RouteTable
from gateway.routes import default_file_descriptors, load_routes

ORDER = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "10"}


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return RouteTable(load_routes(default_file_descriptors()))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(load_routes(default_file_descriptors()))


def refusal(table: RouteTable, method: str, path: str, body: Any = None,
            query: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    found = table.match(method, path)
    raw = b"" if body is None else json.dumps(body).encode()
    with pytest.raises(GatewayError) as caught:
        build_request(found.route, raw, found.path_values, query or [])
    assert caught.value.status == 400
    detail = caught.value.details[0]
    return detail["field"], detail["description"]


@pytest.mark.parametrize(("change", "field", "fragment"), [
    ({"leverage": "5"}, "leverage", "an integer"),  # proto JSON would take it
    ({"leverage": 5.0}, "leverage", "an integer"),
    ({"postOnly": 1}, "postOnly", "true or false"),
    ({"side": 1}, "side", "a string"),  # an enum number
    ({"side": "SIDE_UNSPECIFIED"}, "side", "not one of BUY, SELL"),
    ({"market": None}, "market", "not be null"),
    ({"market": "btc-perp"}, "market", "must be a market symbol such as BTC-PERP"),
    ({"market": "BTC-PERP\n"}, "market", "must be a market symbol such as BTC-PERP"),
    ({"quantity": "1e3"}, "quantity", "must be a positive ASCII decimal string"),
    ({"quantity": "٣"}, "quantity", "must be a positive ASCII decimal string"),
    ({"quantity": "-1"}, "quantity", "must be a positive ASCII decimal string"),
    # schemathesis: valid, then refused
    ({"quantity": "0"}, "quantity", "must be a positive ASCII decimal string"),
    ({"price": "0.000"}, "price", "must be a positive ASCII decimal string"),
    ({"clientOrderId": "x" * 65}, "clientOrderId", "at most 64"),
    ({"clientOrderId": "a\x01b"}, "clientOrderId", "must be 1 to 64 printable ASCII characters"),
    ({"clientOrderId": " padded"}, "clientOrderId", "must be 1 to 64 printable ASCII characters"),
    ({"slippageBps": 10000}, "slippageBps", "at most 9999"),
    ({"market": ""}, "market", "must be a market symbol such as BTC-PERP"),
])
def test_a_body_outside_the_document_is_400_naming_the_field(
        table: RouteTable, change: dict[str, Any], field: str, fragment: str) -> None:
    got = refusal(table, "POST", "/api/v1/orders", {**ORDER, **change})
    assert got[0] == field and fragment in got[1], got


@pytest.mark.parametrize("missing", ["market", "side", "type", "quantity"])
def test_required_fields(table: RouteTable, document: dict[str, Any], missing: str) -> None:
    body = {k: v for k, v in ORDER.items() if k != missing}
    assert refusal(table, "POST", "/api/v1/orders", body) == (missing, "is required")
    schema = document["components"]["schemas"]["trademesh.v1.PlaceOrderRequest"]
    assert missing in schema["required"]


def test_a_replacement_needs_a_price_or_a_quantity(table: RouteTable,
                                                   document: dict[str, Any]) -> None:
    assert refusal(table, "PATCH", "/api/v1/orders/7", {}) == (
        "price", "give at least one of price, quantity")
    schema = document["components"]["schemas"]["trademesh.v1.ReplaceOrderRequest"]
    assert schema["anyOf"] == [{"required": ["price"]}, {"required": ["quantity"]}]


@pytest.mark.parametrize(("method", "path", "query", "field"), [
    ("GET", "/api/v1/orders/²", [], "orderId"),
    ("GET", "/api/v1/orders/٣", [], "orderId"),
    ("GET", "/api/v1/orders/12345678901234567890", [], "orderId"),
    ("DELETE", "/api/v1/orders/by-client-id/a\x01", [], "clientOrderId"),
    ("GET", "/api/v1/orders", [("market", "")], "market"),
    ("GET", "/api/v1/orders", [("market", "D_\"")], "market"),
    ("GET", "/api/v1/markets/0/ticker", [], "market"),
    ("GET", "/api/v1/history/fills", [("limit", "1001")], "limit"),
    ("GET", "/api/v1/history/fills", [("before", "٣")], "before"),
    ("GET", "/api/v1/history/fills", [("positionId", "٣")], "positionId"),
    ("GET", "/api/v1/history/orders", [("positionId", "-41")], "positionId"),
    ("GET", "/api/v1/history/positions", [("positionId", "")], "positionId"),
    ("GET", "/api/v1/history/funding", [("positionId", "41 ")], "positionId"),
    ("GET", "/api/v1/history/liquidations", [("positionId", "1" * 20)], "positionId"),
    ("GET", "/api/v1/markets/BTC-PERP/candles", [("interval", "2m")], "interval"),
    ("GET", "/api/v1/markets/BTC-PERP/candles", [], "interval"),
])
def test_parameters_outside_the_document_are_400(table: RouteTable, method: str, path: str,
                                                 query: list[tuple[str, str]],
                                                 field: str) -> None:
    assert refusal(table, method, path, None, query)[0] == field


def test_values_the_document_calls_valid_pass(table: RouteTable) -> None:
    found = table.match("POST", "/api/v1/orders")
    body = {**ORDER, "clientOrderId": "~" + "a b" * 21, "timeInForce": "IOC",
            "stopLoss": "0.5"}
    message = build_request(found.route, json.dumps(body).encode(), {}, [])
    assert (message.market, message.client_order_id) == ("BTC-PERP", body["clientOrderId"])
    found = table.match("GET", "/api/v1/orders/9223372036854775807")
    assert build_request(found.route, b"", found.path_values, []).order_id == (
        "9223372036854775807")


def test_the_document_states_the_rules(document: dict[str, Any]) -> None:
    params = {p["name"]: p for p in
              document["paths"]["/api/v1/orders/by-client-id/{clientOrderId}"]["delete"][
                  "parameters"]}
    assert params["clientOrderId"]["schema"]["maxLength"] == 64
    place = document["components"]["schemas"]["trademesh.v1.PlaceOrderRequest"]["properties"]
    assert place["side"]["enum"] == ["BUY", "SELL"]
    assert place["market"]["pattern"] == "^[A-Z0-9]{1,16}-[A-Z0-9]{1,16}$"
    order = document["components"]["schemas"]["trademesh.v1.Order"]["properties"]
    assert "pattern" not in order["market"]  # responses are not requests
    assert "SIDE_UNSPECIFIED" in order["side"]["enum"]
    responses = document["paths"]["/api/v1/markets/{market}/ticker"]["get"]["responses"]
    assert "UNKNOWN_MARKET" in responses["404"]["description"]


HISTORY_PATHS = ["/api/v1/history/orders", "/api/v1/history/fills",
                 "/api/v1/history/positions", "/api/v1/history/funding",
                 "/api/v1/history/liquidations"]


@pytest.mark.parametrize("path", HISTORY_PATHS)
def test_the_history_position_filter_is_documented_as_a_filter(
        table: RouteTable, document: dict[str, Any], path: str) -> None:
    operation = document["paths"][path]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert params["positionId"]["pattern"] == "^[0-9]{1,19}$"
    assert "to list only its rows" in params["positionId"]["description"]
    assert "404" not in params["positionId"]["description"] + params["market"]["description"]
    assert "404" not in operation["responses"]  # a filter: an unknown id is an empty page
    found = table.match("GET", path)
    request = build_request(found.route, b"", {}, [("positionId", "041")])
    assert request.position_id == "041"  # as given: persistence reads it as 41


def test_closing_by_position_id_keeps_its_404(document: dict[str, Any]) -> None:
    close = document["paths"]["/api/v1/positions/{market}/close"]["post"]["responses"]
    assert "POSITION_NOT_FOUND" in close["404"]["description"]
    ledger = document["paths"]["/api/v1/history/ledger"]["get"]["responses"]
    assert "404" not in ledger  # its market only filters too


@pytest.mark.parametrize(("rule", "value", "ok"), [
    ({"pattern": "^[0-9]{1,19}$"}, "1\n", False),  # $ is the end, not before a newline
    ({"pattern": "^[0-9]{1,19}$"}, "1", True),
    ({"maxLength": 2}, "ab", True),
    ({"maxLength": 2}, "abc", False),
    ({"maximum": 3}, 4, False),
    ({"enum": ["1m"]}, "1m", True),
])
def test_violation(rule: dict[str, Any], value: object, ok: bool) -> None:
    assert (violation(rule, value) is None) == ok


@pytest.mark.parametrize(("password", "ok"), [
    ("a long enough password", True),
    ("é" * 18, True),  # 36 bytes
    ("é" * 36, True),  # 72 bytes
    ("密" * 24, True),  # 72 bytes
    ("😀" * 18, True),  # 72 bytes
    ("密" * 25, False),
    ("pass\ud800word", False),  # no UTF-8 at all
    ("é" * 19 + "x" * 40, False),  # 78 bytes: bcrypt would refuse (schemathesis found it)
    ("x" * 72, True),
    ("x" * 73, False),
    ("short", False),
    ("tab\there-ok", False),
])
def test_signup_passwords_the_document_allows_fit_bcrypt(table: RouteTable, password: str,
                                                         ok: bool) -> None:
    found = table.match("POST", "/api/v1/auth/signup")
    body = json.dumps({"email": "ana@example.com", "password": password}).encode()
    if ok:
        assert len(password.encode()) <= 72
        assert build_request(found.route, body, {}, []).password == password
    else:
        with pytest.raises(GatewayError) as caught:
            build_request(found.route, body, {}, [])
        assert caught.value.details[0]["field"] == "password"


def test_every_pattern_is_usable_by_json_schema_tools(document: dict[str, Any]) -> None:
    """A pattern a regex engine cannot compile is dropped by the tools (schemathesis
    dropped the sign-up password's while it named a surrogate range): the document would
    then promise more than the gateway takes."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    patterns: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert len(patterns) > 10
    for pattern in patterns:
        jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def test_the_documented_examples_are_requests_the_gateway_takes(
        table: RouteTable, document: dict[str, Any]) -> None:
    place = document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"][
        "application/json"]
    assert place["example"]["market"] == "SOL-USD"
    found = table.match("POST", "/api/v1/orders")
    message = build_request(found.route, json.dumps(place["example"]).encode(), {}, [])
    assert (message.market, message.price, message.quantity) == ("SOL-USD", "1", "1")


def test_every_pattern_refusal_says_what_was_expected_in_words() -> None:
    """The 400 for a value that misses a pattern quotes the rule's description (up to its
    first top-level ';', without a closing parenthetical), never a cut one or the regex."""
    rules = [*FIELD_RULES.items(),
             *[(name, rule) for table in MESSAGE_RULES.values() for name, rule in table.items()]]
    for name, rule in rules:
        if "pattern" not in rule:
            continue
        text = _expected(rule)
        assert text.startswith("must be ") and "must match" not in text, (name, text)
        assert text.count("(") == text.count(")") + text.count("]"), (name, text)  # (0, 100]
        assert not text.endswith((" (", ",", ";", ":")), (name, text)
    history = MESSAGE_RULES["trademesh.v1.ListOrderHistoryRequest"]["position_id"]
    assert _expected(history) == \
        "must be an isolated position's id in ASCII digits, to list only its rows"
