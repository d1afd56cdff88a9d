"""HTTP as generic clients expect it: HEAD on every GET route, CORS for browser origins."""

from __future__ import annotations

import pytest
from gateway_harness import GatewayFactory

pytestmark = pytest.mark.timeout(60)

ORIGIN = "https://app.example.com"


async def test_head_is_get_without_the_body(gateway: GatewayFactory) -> None:
    client = await gateway()
    got = await client.get("/api/v1/markets")
    head = await client.head("/api/v1/markets")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) == len(got.content)
    missing = await client.head("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.content == b""
    assert (await client.head("/healthz")).status_code == 200


async def test_no_cors_headers_unless_configured(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.get("/api/v1/markets", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options("/api/v1/orders", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 405


async def test_cors_for_configured_origins(gateway: GatewayFactory) -> None:
    client = await gateway(cors_origins=f"{ORIGIN}, https://other.example.com")
    preflight = await client.options("/api/v1/orders", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    for method in ("DELETE", "PATCH"):  # cancel and amend
        preflight = await client.options("/api/v1/orders/7", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": method})
        assert preflight.status_code == 200, method
    response = await client.get("/api/v1/markets", headers={"Origin": ORIGIN})
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    stranger = await client.options("/api/v1/orders", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
