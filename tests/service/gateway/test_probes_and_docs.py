"""/healthz, /readyz against real health services, /openapi.json and /docs."""

from __future__ import annotations

import pytest
from gateway_harness import GatewayFactory, Mesh

from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port

pytestmark = pytest.mark.timeout(60)


async def test_healthz(gateway: GatewayFactory) -> None:
    client = await gateway(down=["engine"])
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["X-Request-Id"]


async def test_readyz_200_when_every_upstream_serves(gateway: GatewayFactory) -> None:
    client = await gateway()
    response = await client.get("/readyz")
    assert response.status_code == 200
    states = {d["name"]: d["state"] for d in response.json()["dependencies"]}
    assert states == dict.fromkeys(("auth", "engine", "feed", "persistence", "redis"),
                                   "SERVING")


async def test_readyz_503_when_an_upstream_is_down(gateway: GatewayFactory) -> None:
    client = await gateway(down=["persistence"])
    response = await client.get("/readyz")
    assert response.status_code == 503
    states = {d["name"]: d["state"] for d in response.json()["dependencies"]}
    assert states["persistence"] in ("UNAVAILABLE", "DEADLINE_EXCEEDED")
    assert states["engine"] == "SERVING"


async def test_readyz_503_when_an_upstream_is_not_serving(
        gateway: GatewayFactory, mesh: Mesh) -> None:
    client = await gateway()
    await mesh.services["feed"].set_serving(False)
    response = await client.get("/readyz")
    assert response.status_code == 503
    states = {d["name"]: d["state"] for d in response.json()["dependencies"]}
    assert states["feed"] == "NOT_SERVING"


async def test_openapi_and_docs(gateway: GatewayFactory) -> None:
    client = await gateway()
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/orders/{orderId}" in document["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/api/v1/orders/by-client-id/{clientOrderId}" in docs.text


async def test_readyz_503_when_redis_is_gone(gateway: GatewayFactory, mesh: Mesh,
                                             base_settings: Settings) -> None:
    client = await gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = await client.get("/readyz")
    assert response.status_code == 503
    states = {d["name"]: d["state"] for d in response.json()["dependencies"]}
    assert states["redis"] == "UNAVAILABLE" and states["engine"] == "SERVING"


async def test_redis_gone_fails_closed_on_protected_routes(gateway: GatewayFactory) -> None:
    client = await gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    response = await client.get("/api/v1/orders")  # the revocation set cannot be asked
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert (await client.get("/api/v1/markets")).status_code == 200  # limits fail open
