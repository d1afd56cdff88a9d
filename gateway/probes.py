"""``/healthz`` (the process is alive) and ``/readyz`` (every upstream answers SERVING).

Readiness asks each upstream's ``grpc.health.v1.Health/Check`` (service ``""``) at once,
each within a short timeout; the body lists every dependency and its state.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.upstream import Upstreams

DEFAULT_CHECK_SECONDS = 1.0


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


class Readiness:
    """The ``/readyz`` endpoint over ``upstreams``."""

    def __init__(self, upstreams: Upstreams, check_seconds: float = DEFAULT_CHECK_SECONDS) -> None:
        self.upstreams = upstreams
        self.check_seconds = check_seconds

    async def handle(self, _: Request) -> JSONResponse:
        names = sorted(self.upstreams.addresses)
        states = await asyncio.gather(
            *(self.upstreams.health(name, self.check_seconds) for name in names)
        )
        ready = all(state == "SERVING" for state in states)
        body = {
            "status": "ready" if ready else "not ready",
            "dependencies": [
                {"name": name, "address": self.upstreams.addresses[name], "state": state}
                for name, state in zip(names, states, strict=True)
            ],
        }
        return JSONResponse(body, status_code=200 if ready else 503)
