"""The WebSocket bridge at ``/ws``: the protocol of API.md over the hub.

Each connection has a reader (client requests → :class:`Session`) and a writer (outbox →
socket). By default every message is its own frame, exactly as API.md describes; a client
that connects to ``/ws?batch=1`` instead gets what is waiting as one frame, a JSON array of
messages in order (far fewer frames for a busy client); batched writers are paced by one
shared tick (a few ms, longer as connections grow: see ``Limits``), so with many clients
each frame carries more. A client whose outbox
overflows is closed with code 1008 and a ``SLOW_CONSUMER`` reason; its writer waits on its
own socket only, never on anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from feed_svc.hub import Hub
from feed_svc.session import Limits, Session, State
from mesh_runtime.revocation import TokenCheck

log = logging.getLogger("trademesh.feed.ws")
CLOSE_POLICY = 1008
CLOSE_SECONDS = 10.0


class Bridge:
    def __init__(self, hub: Hub, verifier: TokenCheck | None, limits: Limits) -> None:
        self._hub, self._verifier, self._limits = hub, verifier, limits
        self.sessions: set[Session] = set()
        self.slow_disconnects = 0
        self._tick = asyncio.Event()
        self._demand = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None

    async def endpoint(self, websocket: WebSocket) -> None:
        session = Session(self._hub, self._verifier, self._limits)
        await websocket.accept()
        session.move(State.OPEN)
        self.sessions.add(session)
        if self._pacer is None or self._pacer.done():
            self._pacer = asyncio.create_task(self._pace())
        batch = websocket.query_params.get("batch", "0") == "1"
        tasks = [asyncio.create_task(self._read(websocket, session)),
                 asyncio.create_task(self._write(websocket, session, batch)),
                 asyncio.create_task(session.outbox.closed.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()  # a writer blocked on a full socket included
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if session.outbox.closed_reason is not None:
                await self._close(websocket, session, session.outbox.closed_reason)
        finally:
            self.sessions.discard(session)
            self._demand.set()  # lets the pacer notice when the last session has gone
            if session.state is not State.CLOSED:
                session.move(State.CLOSED)

    async def _read(self, websocket: WebSocket, session: Session) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            await session.receive(raw if raw is not None else message.get("bytes") or b"")

    async def _write(self, websocket: WebSocket, session: Session, batch: bool) -> None:
        outbox = session.outbox
        while True:
            if batch:
                await outbox.wait()
                self._demand.set()
                await self._tick.wait()
            messages = await outbox.take(256 if batch else 1)
            if not messages:
                break
            if batch and len(messages) > 1:
                await websocket.send_text(
                    "[" + ",".join(m.payload.text for m in messages) + "]")
                continue
            for message in messages:  # conflated messages may come several at once
                await websocket.send_text(message.payload.text)

    async def _pace(self) -> None:
        """One timer for every writer: each tick lets every writer with something waiting
        send it as one frame; ticks come more slowly as connections grow (see Limits)."""
        limits = self._limits
        while self.sessions:
            await self._demand.wait()
            await asyncio.sleep(max(0.001, min(limits.linger_seconds,
                                               limits.linger_per_connection
                                               * len(self.sessions))))
            self._demand.clear()
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()

    async def _close(self, websocket: WebSocket, session: Session, reason: str) -> None:
        """Closes with ``reason``; the close frame waits (bounded) for room on the socket."""
        self.slow_disconnects += 1
        log.info("closing a websocket: %s", reason)
        session.move(State.CLOSING)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(CLOSE_POLICY, reason[:120]), CLOSE_SECONDS)


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_app(bridge: Bridge) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/ws", bridge.endpoint),
                             Route("/healthz", healthz)])
