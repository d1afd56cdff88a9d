"""``/healthz`` (the process is alive) and ``/readyz`` (every dependency is reachable).

Readiness asks each upstream's ``grpc.health.v1.Health/Check`` (service ``""``) and runs
each extra probe (Redis) at once, each within a short timeout; the body lists every
dependency and its state (``SERVING`` or why not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse

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
        body = {
            "status": "ready" if ready else "not ready",
            "dependencies": [
                {"name": name, "address": addresses[name], "state": state}
                for name, state in zip(names, states, strict=True)
            ],
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def _state(self, name: str) -> str:
        if name not in self.probes:
            return await self.upstreams.health(name, self.check_seconds)
        try:
            ok = await asyncio.wait_for(self.probes[name][1](), self.check_seconds)
        except (TimeoutError, OSError):
            return "UNAVAILABLE"
        return "SERVING" if ok else "UNAVAILABLE"
