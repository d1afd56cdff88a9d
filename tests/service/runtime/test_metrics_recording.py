"""Metrics over real servers: the gRPC interceptor on a real grpc.aio server (the standard
health service's methods, unary and server-streaming), the REST middleware on a real ASGI
app, and ``/metrics`` served over HTTP on a free port."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from gateway.http_metrics import RouteMetrics, name_route, route_metrics
from gateway.request_id import RequestIdMiddleware
from mesh_runtime import metrics
from mesh_runtime.grpc_metrics import GrpcServerMetrics, server_wrappings
from mesh_runtime.serving import GrpcService
from tests.tls import files, user_channel

HEALTH = "grpc.health.v1.Health"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def handled(method: str, code: str, kind: str = "unary") -> float:
    return sample("grpc_server_handled_total", grpc_type=kind, grpc_service=HEALTH,
                  grpc_method=method, grpc_code=code)


async def test_grpc_calls_are_counted_by_method_and_code() -> None:
    service = GrpcService("metrics-test", "127.0.0.1", 0, [], tls=files("engine"), mesh_port=0)
    await service.start()
    ok, missing = handled("Check", "OK"), handled("Check", "NOT_FOUND")
    seconds = sample("grpc_server_handling_seconds_count", grpc_type="unary",
                     grpc_service=HEALTH, grpc_method="Check")
    try:
        async with user_channel(f"127.0.0.1:{service.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
            assert raised.value.code() is grpc.StatusCode.NOT_FOUND
            watch = stub.Watch(health_pb2.HealthCheckRequest(), timeout=5)
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()
            for _ in range(200):  # the server sees the cancellation a moment later
                if handled("Watch", "CANCELLED", "server_stream"):
                    break
                await asyncio.sleep(0.02)
    finally:
        await service.stop()
    assert handled("Check", "OK") - ok == 2
    assert handled("Check", "NOT_FOUND") - missing == 1
    assert sample("grpc_server_handling_seconds_count", grpc_type="unary",
                  grpc_service=HEALTH, grpc_method="Check") - seconds == 3
    assert handled("Watch", "CANCELLED", "server_stream") >= 1


async def _routed_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Routes ``/things/<id>`` (naming its template) and answers 404 for anything else."""
    status = 404
    if scope["path"].startswith("/things/"):
        name_route(scope, "/things/{id}")
        status = 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_rest_requests_are_counted_by_route_template() -> None:
    app = RequestIdMiddleware(_routed_app, RouteMetrics(["/healthz"]))
    before = {key: sample("http_requests_total", route=key[0], method="GET", code=key[1])
              for key in (("/things/{id}", "200"), ("unmatched", "404"), ("/healthz", "404"))}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        for path in ("/things/1", "/things/2", "/elsewhere/9", "/healthz"):
            await client.get(path)
    after = {key: sample("http_requests_total", route=key[0], method="GET", code=key[1])
             for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("/things/{id}", "200"): 2, ("unmatched", "404"): 1, ("/healthz", "404"): 1}
    assert sample("http_request_duration_seconds_count", route="/things/{id}",
                  method="GET") >= 2
    assert not sample("http_requests_total", route="/things/1", method="GET", code="200")


async def test_metrics_are_served_over_http_on_a_free_port() -> None:
    settings = metrics.MetricsSettings(ports={"engine": 0})
    port = metrics.serve("engine", settings)
    assert port
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert reply.status_code == 200
    assert "grpc_server_handled_total" in reply.text


def test_metrics_off_puts_nothing_on_the_request_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEMESH_METRICS", "off")
    assert server_wrappings() == []
    assert route_metrics(["/healthz"]) is None
    monkeypatch.setenv("TRADEMESH_METRICS", "on")
    assert [type(i) for i in server_wrappings()] == [GrpcServerMetrics]
    assert route_metrics(["/healthz"]) is not None


def test_metrics_off_serves_nothing() -> None:
    off = metrics.MetricsSettings.from_env({"TRADEMESH_METRICS": "off"})
    assert metrics.serve("engine", off) is None
    assert not metrics.enabled({"TRADEMESH_METRICS": "off"})
    assert metrics.MetricsSettings.from_env(
        {"TRADEMESH_METRICS_FEED_PORT": "0"}).port("feed") == 0
    with pytest.raises(metrics.ConfigError):
        metrics.MetricsSettings.from_env({"TRADEMESH_METRICS": "maybe"})
