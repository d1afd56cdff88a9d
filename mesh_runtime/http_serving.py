"""Serving an ASGI app with uvicorn inside a process that owns its own signal handling.

uvicorn's ``Server.serve`` installs SIGINT/SIGTERM handlers and re-raises the signal on
exit; a trademesh process that also runs a gRPC server wants one shutdown path, so the
server here leaves signals alone and stops when told.

With ``coalesce_writes`` (the gateway), what a connection writes in one event-loop turn
leaves in one write: uvicorn writes a response's status line and headers, then its body,
each its own send on the socket; a short JSON answer then costs one system call (and one
TCP segment for the client to read), not two.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Generator
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class TurnCoalescingTransport:
    """A transport whose writes within one event-loop turn go out as one write, at the end
    of the turn (``call_soon``); everything else is the wrapped transport's. ``close``
    writes what is pending first (as a transport closes after its buffer drains)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`TurnCoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(TurnCoalescingTransport(transport))  # type: ignore[arg-type]


class QuietSignalServer(uvicorn.Server):
    """uvicorn without its own signal capture (and re-raising on exit)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class AsgiServer:
    """One uvicorn server on ``host:port``; :meth:`serve` returns after :meth:`stop`."""

    def __init__(self, app: ASGIApp, host: str, port: int, log_level: str = "warning", *,
                 lifespan: Literal["auto", "on", "off"] = "off",
                 grace_seconds: float = 5.0, ws_deflate: bool = True,
                 coalesce_writes: bool = False) -> None:
        http: Any = CoalescingHttpToolsProtocol if coalesce_writes else "auto"
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(),
                                http=http,
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
