"""Readiness probes: gRPC ``grpc.health.v1.Health/Check`` over TLS (a server's public
listener, trusting the mesh CA) and HTTP ``GET`` answering 200."""

from __future__ import annotations

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh_runtime.tls import tls_channel

SERVING = health_pb2.HealthCheckResponse.SERVING


def probe_host(host: str) -> str:
    """Where to reach a server bound to ``host`` (a wildcard bind is reached on loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def grpc_target(host: str, port: int) -> str:
    host = probe_host(host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def grpc_serving(target: str, ca_pem: bytes, service: str = "",
                       seconds: float = 1.0) -> bool:
    """True if the health service at ``target`` (TLS, trusting ``ca_pem``) reports
    ``service`` SERVING."""
    async with tls_channel(target, ca_pem) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service),
                                     timeout=seconds)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == SERVING)


async def http_ok(url: str, seconds: float = 1.0) -> bool:
    """True if ``GET url`` answers 200."""
    try:
        async with httpx.AsyncClient(timeout=seconds) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
