"""The OpenAPI document derived from the descriptors, checked against API.md's REST table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.docs_page import render_docs
from gateway.errors import GatewayError
from gateway.openapi import build_openapi
from gateway.request_codec import build_request
from gateway.routes import default_file_descriptors, load_routes
from tests.api_routes import ALL_ROUTES

API_MD_ROUTES = ALL_ROUTES
PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs",
          "/api/v1/auth/signup", "/api/v1/auth/signin", "/api/v1/markets",
          "/api/v1/markets/{market}/depth", "/api/v1/markets/{market}/trades",
          "/api/v1/markets/{market}/ticker", "/api/v1/markets/{market}/candles",
          "/api/v1/markets/tickers"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(load_routes(default_file_descriptors()))


def schema_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][f"trademesh.v1.{name}"]
    return schema


def test_every_api_md_route_is_documented(document: dict[str, Any]) -> None:
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    assert documented == set(API_MD_ROUTES)


def test_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    assert document["openapi"] == "3.1.0"


def test_bearer_auth_except_public_routes(document: dict[str, Any]) -> None:
    for method, path in API_MD_ROUTES:
        security = document["paths"][path][method]["security"]
        assert security == ([] if path in PUBLIC else [{"bearerAuth": []}]), path
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_parameters_and_bodies(document: dict[str, Any]) -> None:
    get_order = document["paths"]["/api/v1/orders/{orderId}"]["get"]
    assert get_order["parameters"] == [
        {"name": "orderId", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]{1,19}$", "maxLength": 19,
                    "description": "a decimal id in ASCII digits"}}]
    candles = document["paths"]["/api/v1/markets/{market}/candles"]["get"]
    query = {p["name"]: (p["required"], p["schema"]) for p in candles["parameters"]
             if p["in"] == "query"}
    intervals = ["1m", "5m", "15m", "1h", "4h", "1d"]
    assert query == {"interval": (True, {"type": "string", "enum": intervals}),
                     "start": (False, {"type": "string", "format": "date-time"}),
                     "end": (False, {"type": "string", "format": "date-time"})}
    place = document["paths"]["/api/v1/orders"]["post"]
    assert [(p["name"], p["in"]) for p in place["parameters"]] == [("Idempotency-Key",
                                                                    "header")]
    body = place["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/trademesh.v1.PlaceOrderRequest"}


def test_responses_honour_response_body_and_status(document: dict[str, Any]) -> None:
    place = document["paths"]["/api/v1/orders"]["post"]["responses"]
    assert place["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/trademesh.v1.Order"}
    markets = document["paths"]["/api/v1/markets"]["get"]["responses"]["200"]
    assert markets["content"]["application/json"]["schema"] == {
        "type": "array", "items": {"$ref": "#/components/schemas/trademesh.v1.Market"}}
    assert "default" in place
    assert {"401", "409", "413", "422", "429"} <= set(place)
    oracle = document["paths"]["/api/v1/admin/oracle/{market}"]["post"]["responses"]
    assert "403" in oracle
    public = document["paths"]["/api/v1/markets"]["get"]["responses"]
    assert "401" not in public and "429" in public


def test_component_schemas_follow_the_json_mapping(document: dict[str, Any]) -> None:
    order = schema_of(document, "Order")["properties"]
    assert order["side"] == {"type": "string", "enum": ["SIDE_UNSPECIFIED", "BUY", "SELL"]}
    assert order["createTime"] == {"type": "string", "format": "date-time"}
    assert order["fills"] == {"type": "array",
                              "items": {"$ref": "#/components/schemas/trademesh.v1.Fill"}}
    assert order["leverage"]["type"] == "integer"
    depth = schema_of(document, "GetDepthResponse")["properties"]
    assert depth["sequence"] == {"type": "string", "format": "uint64"}
    assert depth["bids"] == {"type": "array", "items": {"type": "array", "items": {}}}


def test_docs_page_lists_every_route_without_external_assets(document: dict[str, Any]) -> None:
    html = render_docs(document)
    for method, path in API_MD_ROUTES:
        assert f"<code>{path}</code>" in html
        assert method.upper() in html
    assert "http://" not in html and "https://" not in html


def test_32_bit_integer_bounds_are_the_ones_the_gateway_accepts(
        document: dict[str, Any]) -> None:
    # Regression (schemathesis): the document offered any uint32 >= 0, the gateway answered
    # leverage 2**32 with a 400.
    place = schema_of(document, "PlaceOrderRequest")["properties"]
    assert (place["leverage"]["minimum"], place["leverage"]["maximum"]) == (0, 2**32 - 1)
    market = schema_of(document, "Market")["properties"]
    assert (market["makerFeeBps"]["minimum"], market["makerFeeBps"]["maximum"]) == (
        -(2**31), 2**31 - 1)
    route = next(r for r in load_routes(default_file_descriptors())
                 if r.name == "Engine.PlaceOrder")
    highest = place["leverage"]["maximum"]
    order = {"market": "BTC-PERP", "side": "BUY", "type": "MARKET", "quantity": "1"}
    assert build_request(route, json.dumps({**order, "leverage": highest}).encode(), {}, []
                         ).leverage == highest
    with pytest.raises(GatewayError) as caught:
        build_request(route, json.dumps({**order, "leverage": highest + 1}).encode(), {}, [])
    assert (caught.value.status, caught.value.details[0]["field"]) == (400, "leverage")
