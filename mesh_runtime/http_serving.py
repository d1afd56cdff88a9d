"""Serving an ASGI app with uvicorn inside a process that owns its own signal handling.

uvicorn's ``Server.serve`` installs SIGINT/SIGTERM handlers and re-raises the signal on
exit; a trademesh process that also runs a gRPC server wants one shutdown path, so the
server here leaves signals alone and stops when told.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class QuietSignalServer(uvicorn.Server):
    """uvicorn without its own signal capture (and re-raising on exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class AsgiServer:
    """One uvicorn server on ``host:port``; :meth:`serve` returns after :meth:`stop`."""

    def __init__(self, app: ASGIApp, host: str, port: int, log_level: str = "warning", *,
                 lifespan: Literal["auto", "on", "off"] = "off",
                 grace_seconds: float = 5.0, ws_deflate: bool = True) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                                lifespan=lifespan, access_log=False, ws="websockets-sansio",
                                ws_per_message_deflate=ws_deflate,
                                # The client address is ours to work out, from trusted
                                # proxies only (mesh_runtime.client_address): uvicorn must
                                # not rewrite it from X-Forwarded-For (its default trusts
                                # 127.0.0.1, i.e. any local client).
                                proxy_headers=False,
                                # Idle keep-alive connections stay open 75 s (uvicorn: 5 s),
                                # past the usual 60 s of clients and load balancers, so a
                                # client rarely reuses a connection the server is closing.
                                timeout_keep_alive=75,
                                timeout_graceful_shutdown=max(1, math.ceil(grace_seconds)))
        self._server = QuietSignalServer(config)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    async def serve(self) -> None:
        await self._server.serve()

    def stop(self) -> None:
        self._server.should_exit = True
