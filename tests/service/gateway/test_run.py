"""``gateway.app.run``: REST and the gRPC Auth service together, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import grpc
import httpx
import pytest
from gateway_harness import STEP_SECONDS, Mesh
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import run
from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port
from tests.tls import user_channel

pytestmark = pytest.mark.timeout(60)


async def wait_healthy(client: httpx.AsyncClient) -> None:
    while True:
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.05)


async def wait_auth_serving(address: str) -> None:
    async with user_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="trademesh.v1.Auth")
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(request, timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.05)


async def test_run_serves_and_stops_cleanly_on_sigterm(
        mesh: Mesh, base_settings: Settings) -> None:
    gateway_port, auth_port = free_port(), free_port()
    settings = base_settings.with_overrides(bcrypt_rounds=4) if hasattr(
        base_settings, "bcrypt_rounds") else base_settings
    settings = settings.with_overrides(
        gateway_port=gateway_port, auth_port=auth_port, auth_mesh_port=free_port(),
        log_level="WARNING", engine_mesh_addr=mesh.addresses["engine"],
        persistence_mesh_addr=mesh.addresses["persistence"],
        feed_mesh_addr=mesh.addresses["feed"], shutdown_grace_seconds=0.5)
    task = asyncio.create_task(run(settings))
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway_port}",
                                     timeout=STEP_SECONDS) as client:
            await asyncio.wait_for(wait_healthy(client), STEP_SECONDS)
            await asyncio.wait_for(wait_auth_serving(f"127.0.0.1:{auth_port}"), STEP_SECONDS)
            signup = await client.post("/api/v1/auth/signup",
                                       json={"email": "a@b.co", "password": "pw-123456"})
            assert signup.status_code == 201, signup.text  # REST → the gateway's own Auth
            token = signup.json()["token"]
            whoami = await client.get("/api/v1/auth/whoami",
                                      headers={"Authorization": f"Bearer {token}"})
            assert whoami.json()["email"] == "a@b.co"
            assert (await client.get("/readyz")).status_code == 200
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, STEP_SECONDS)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
