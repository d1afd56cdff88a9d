"""REST over real HTTP → the gateway → real gRPC upstreams, and back."""

from __future__ import annotations

import pytest
from gateway_harness import GatewayFactory, Mesh

pytestmark = pytest.mark.timeout(60)


async def test_place_order_is_201_with_the_order(gateway: GatewayFactory) -> None:
    client = await gateway()
    body = {"market": "BTC-PERP", "side": "BUY", "type": "LIMIT", "quantity": "1",
            "price": "100"}
    response = await client.post("/api/v1/orders", json=body)
    assert response.status_code == 201
    order = response.json()
    assert (order["orderId"], order["market"], order["side"]) == ("o-1", "BTC-PERP", "BUY")
    assert order["fills"] == [] and order["filledQuantity"] == "" and order["leverage"] == 0


async def test_response_body_array(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.get("/api/v1/markets")
    assert response.status_code == 200
    markets = response.json()
    assert [m["symbol"] for m in markets] == ["BTC-PERP", "SOL-USD"]
    assert markets[0]["kind"] == "PERP" and markets[0]["maxLeverage"] == 20


async def test_path_and_query_parameters(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.get("/api/v1/markets/ETH-PERP/depth", params={"limit": "7"})
    assert response.status_code == 200
    assert response.json()["market"] == "ETH-PERP"
    assert response.json()["sequence"] == str(2**60 + 7)  # uint64 as a string


async def test_timestamp_query_parameter(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    response = await client.get("/api/v1/markets/BTC-PERP/candles",
                                params={"interval": "1m", "start": "2026-03-01T00:00:00Z"})
    assert response.status_code == 200
    assert response.json()[0]["openTime"] == "2026-03-01T00:00:00Z"
    assert mesh.recorder.calls[-1].request.market == "BTC-PERP"


async def test_get_order_echoes_the_path_id(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.get("/api/v1/orders/42")
    assert response.status_code == 200
    assert response.json()["orderId"] == "42" and response.json()["status"] == "NEW"


async def test_path_values_are_decoded_once(gateway: GatewayFactory) -> None:
    client = await gateway()
    encoded = await client.get("/api/v1/orders/%34%32")
    assert (encoded.status_code, encoded.json()["orderId"]) == (200, "42")
    twice = await client.get("/api/v1/orders/%2534%2532")  # the id is "%34%32", not 42
    assert twice.status_code == 400 and twice.json()["error"]["details"][0]["field"] == (
        "orderId")


async def test_metadata_and_deadline_reach_the_servicer(
        gateway: GatewayFactory, mesh: Mesh, user_token: str) -> None:
    client = await gateway(token=None)
    headers = {"Authorization": f"Bearer {user_token}", "X-Request-Id": "req-123"}
    response = await client.get("/api/v1/orders/1", headers=headers)
    assert response.headers["X-Request-Id"] == "req-123"
    seen = mesh.recorder.calls[-1]
    assert seen.metadata["authorization"] == f"Bearer {user_token}"
    assert seen.metadata["x-request-id"] == "req-123"
    assert seen.time_remaining is not None and 0 < seen.time_remaining <= 5.1
    await client.get("/api/v1/orders/1", headers={"grpc-timeout": "1500m", **headers})
    seen = mesh.recorder.calls[-1]
    assert seen.time_remaining is not None and 0 < seen.time_remaining <= 1.6  # wire-rounded
    await client.get("/api/v1/markets/BTC-PERP/candles", params={"interval": "1m"})
    assert "authorization" not in mesh.recorder.calls[-1].metadata  # a public route


async def test_request_id_is_generated_when_absent(gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    response = await client.get("/api/v1/orders", params={"market": "SOL-USD"})
    assert response.status_code == 200 and response.json() == []
    generated = response.headers["X-Request-Id"]
    assert len(generated) >= 16
    assert mesh.recorder.calls[-1].metadata["x-request-id"] == generated
    assert mesh.recorder.calls[-1].request.market == "SOL-USD"
