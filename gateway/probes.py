"""``/healthz`` (the process is alive) and ``/readyz`` (every dependency is reachable).

Readiness asks each upstream's ``grpc.health.v1.Health/Check`` (service ``""``) and runs
each extra probe (Redis) at once, each within a short timeout; the body lists every
dependency and its state (``SERVING`` or why not), and the engine's status: its sequence
numbers and how many events persistence has yet to commit (``persistenceLag``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import grpc
from google.protobuf import json_format
from starlette.requests import Request
from starlette.responses import JSONResponse
from trademesh.v1 import engine_pb2, engine_pb2_grpc

from gateway.upstream import Upstreams

DEFAULT_CHECK_SECONDS = 1.0
Probe = Callable[[], Awaitable[bool]]


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class Readiness:
    """The ``/readyz`` endpoint over ``upstreams``."""

    def __init__(self, upstreams: Upstreams, check_seconds: float = DEFAULT_CHECK_SECONDS,
                 probes: Mapping[str, tuple[str, Probe]] | None = None) -> None:
        self.upstreams = upstreams
        self.check_seconds = check_seconds
        self.probes = dict(probes or {})  # name -> (address shown, probe)

    async def handle(self, _: Request) -> JSONResponse:
        addresses = {**self.upstreams.addresses,
                     **{name: address for name, (address, _) in self.probes.items()}}
        names = sorted(addresses)
        states = await asyncio.gather(*(self._state(name) for name in names))
        ready = all(state == "SERVING" for state in states)
        body: dict[str, object] = {
            "status": "ready" if ready else "not ready",
            "dependencies": [
                {"name": name, "address": addresses[name], "state": state}
                for name, state in zip(names, states, strict=True)
            ],
        }
        if "engine" in self.upstreams.addresses:
            body["engine"] = await self._engine_status()
        return JSONResponse(body, status_code=200 if ready else 503)

    async def _engine_status(self) -> dict[str, object]:
        stub = engine_pb2_grpc.EngineStub(self.upstreams.channel("engine"))
        try:
            status = await stub.GetEngineStatus(engine_pb2.GetEngineStatusRequest(),
                                                timeout=self.check_seconds)
        except grpc.aio.AioRpcError as err:
            return {"error": err.code().name}
        return json_format.MessageToDict(status, always_print_fields_with_no_presence=True)

    async def _state(self, name: str) -> str:
        if name not in self.probes:
            return await self.upstreams.health(name, self.check_seconds)
        try:
            ok = await asyncio.wait_for(self.probes[name][1](), self.check_seconds)
        except (TimeoutError, OSError):
            return "UNAVAILABLE"
        return "SERVING" if ok else "UNAVAILABLE"
