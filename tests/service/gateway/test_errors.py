"""Every failure answers the one error shape with the canonical HTTP status."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from gateway_harness import GatewayFactory

pytestmark = pytest.mark.timeout(60)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return dict(body["error"])


async def test_rich_upstream_error(gateway: GatewayFactory) -> None:
    client = await gateway()
    body = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "quantity": "1000000"}
    error = error_of(await client.post("/api/v1/orders", json=body), 400)
    assert error["code"] == "INSUFFICIENT_BALANCE"
    assert error["message"] == "not enough USD"
    assert error["details"] == [{"field": "price", "description": "off the tick"}]


async def test_a_broken_order_stream_fails_its_requests_and_the_next_reopens(
        gateway: GatewayFactory) -> None:
    client = await gateway()
    order = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "price": "1"}
    first = await client.post("/api/v1/orders", json={**order, "quantity": "1"})
    assert first.status_code == 201, first.text
    broken = await client.post("/api/v1/orders", json={**order, "quantity": "13"})
    assert error_of(broken, 503)["code"] == "UNAVAILABLE"
    again = await client.post("/api/v1/orders", json={**order, "quantity": "2"})
    assert (again.status_code, again.json()["quantity"]) == (201, "2")


async def test_unimplemented_is_501(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.post("/api/v1/account/withdraw", json={"asset": "USD", "amount": "1"})
    assert error_of(response, 501)["code"] == "UNIMPLEMENTED"


async def test_upstream_down_is_503(gateway: GatewayFactory) -> None:
    client = await gateway(down=["engine"])
    response = await client.post("/api/v1/account/withdraw", json={"asset": "USD", "amount": "1"})
    assert error_of(response, 503)["code"] == "UNAVAILABLE"


async def test_deadline_exceeded_is_504(gateway: GatewayFactory) -> None:
    client = await gateway()
    body = {"market": "BTC-PERP", "side": "BUY", "quantity": "1"}
    response = await client.post("/api/v1/orders/quote", json=body,
                                 headers={"grpc-timeout": "200m"})
    assert error_of(response, 504)["code"] == "DEADLINE_EXCEEDED"


async def test_servicer_exception_is_500_without_a_trace(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.delete("/api/v1/orders/1")
    error = error_of(response, 500)
    # the upstream's UNKNOWN carries the exception's text: logged, never sent (issue #15)
    assert error == {"code": "INTERNAL", "message": "internal error", "details": []}
    assert "servicer bug" not in response.text and "RuntimeError" not in response.text


@pytest.mark.parametrize(("content", "field"), [
    (b'{"market": "BTC-PERP", "colour": "red"}', "colour"),
    (b'{"quantity": 1}', "quantity"),
    (b'{"side": "UP"}', "side"),
    (b'{"market": ', "body"),
    (b'"just a string"', "body"),
])
async def test_bad_bodies_are_400_naming_the_field(
        gateway: GatewayFactory, content: bytes, field: str) -> None:
    client = await gateway()
    response = await client.post("/api/v1/orders", content=content,
                                 headers={"content-type": "application/json"})
    error = error_of(response, 400)
    assert error["code"] == "INVALID_ARGUMENT"
    assert error["details"][0]["field"] == field


async def test_bad_query_parameters_are_400(gateway: GatewayFactory) -> None:
    client = await gateway()
    unknown = error_of(await client.get("/api/v1/orders", params={"colour": "red"}), 400)
    assert unknown["details"][0]["field"] == "colour"
    wrong = error_of(await client.get("/api/v1/markets/X/depth", params={"limit": "ten"}), 400)
    assert wrong["details"][0]["field"] == "limit"


async def test_unknown_route_404_and_wrong_method_405(gateway: GatewayFactory) -> None:
    client = await gateway()
    assert error_of(await client.get("/api/v1/nowhere"), 404)["code"] == "NOT_FOUND"
    response = await client.put("/api/v1/orders/1", json={})
    assert error_of(response, 405)["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PATCH"
    # every 405 says what is allowed (RFC 9110), the operational paths' and odd methods' too
    for method in ("POST", "TRACE", "CONNECT", "PROPFIND"):
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/api/v1/orders/1"):
            answer = await client.request(method, path)
            assert error_of(answer, 405)["code"] == "METHOD_NOT_ALLOWED", (method, path)
            assert answer.headers["Allow"] == (
                "DELETE, GET, HEAD, PATCH" if path.startswith("/api") else "GET, HEAD")


async def test_body_over_the_limit_is_413(gateway: GatewayFactory) -> None:
    client = await gateway(max_body_bytes=1024)
    response = await client.post("/api/v1/orders", content=b"{" + b" " * 2048 + b"}",
                                 headers={"content-type": "application/json"})
    assert error_of(response, 413)["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
async def test_a_body_that_is_not_json_is_415(gateway: GatewayFactory, mesh: Any,
                                              content_type: str) -> None:
    client = await gateway()
    response = await client.post("/api/v1/orders", content=b'{"market": "BTC-PERP"}',
                                 headers={"content-type": content_type})
    error = error_of(response, 415)
    assert error["details"] == [{"field": "Content-Type",
                                 "description": "must be application/json"}]
    assert mesh.recorder.calls == []


@pytest.mark.parametrize("content_type", [None, "application/json; charset=utf-8",
                                          "application/merge-patch+json"])
async def test_json_media_types_are_accepted(gateway: GatewayFactory,
                                             content_type: str | None) -> None:
    client = await gateway()
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "quantity": "1"}'
    request = client.build_request("POST", "/api/v1/orders", content=body, headers=headers)
    assert request.headers.get("content-type") == content_type
    assert (await client.send(request)).status_code == 201
