"""The WebSocket bridge at ``/ws``: the protocol of API.md over the hub.

Each connection has a reader (client requests → :class:`Session`) and a writer (outbox →
socket). By default every message is its own frame, exactly as API.md describes; a client
that connects to ``/ws?batch=1`` instead gets what is waiting as one frame, a JSON array of
messages in order (a single waiting message goes alone, as an object).

Batched connections are written by one shared pacer, not by a task each, and their
outboxes are deferred: the hub hands them a tick's messages in one call each
(``Hub.settle``, at the start of every tick) instead of one call per message. A tick comes a
little after the first message waits (longer as connections grow, and as the last tick's
work grows: see ``Limits``), and in one pass every batched connection with
something waiting gets it as one frame. Connections whose waiting messages are the same
(the usual case: same channels, caught up) share one rendered, framed array: the JSON is
joined and framed once per tick, not once per client, and written straight to each
socket (:mod:`feed_svc.wire`). A connection whose socket buffer is full is skipped (its own
task waits for the buffer to drain, then asks for a tick), so it never delays the others;
its outbox keeps growing until it drains or overflows.

A client whose outbox overflows is closed with code 1008 and a ``SLOW_CONSUMER`` reason.
A connection past the per-address cap is refused before the upgrade (HTTP 429,
``TOO_MANY_CONNECTIONS``: :mod:`feed_svc.admission`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from feed_svc import metrics
from feed_svc.admission import ConnectionCap
from feed_svc.codec import Frame
from feed_svc.hub import Hub
from feed_svc.outbox import Message
from feed_svc.session import Limits, Session, State
from feed_svc.wire import ExposeProtocol, FrameSocket, text_frame
from mesh_runtime.revocation import TokenCheck

log = logging.getLogger("trademesh.feed.ws")
CLOSE_POLICY = 1008
CLOSE_SECONDS = 10.0
MOST_PER_FRAME = 256
#: Connections written between two turns of the event loop. A trade crosses the feed's
#: loop four or five times before anyone gets it (the engine's message, the Redis write, the
#: read, a gRPC subscriber's writer), each turn waiting for the chunk being written: at
#: 2,000 clients chunks of 200 (~4 ms each) held the hub's own delay at p50 26 ms, chunks
#: of 50 at 12 ms (bench_feed, 2026-12-05).
FLUSH_CHUNK = 50


@dataclass(eq=False, slots=True)
class _Paced:
    """A batched connection the pacer writes; ``stalled`` while its socket is full (then
    ``unstall`` wakes the connection's own task, which waits for the buffer to drain)."""

    session: Session
    socket: FrameSocket
    stalled: bool = False
    unstall: asyncio.Event = field(default_factory=asyncio.Event)


class Bridge:
    def __init__(self, hub: Hub, verifier: TokenCheck | None, limits: Limits,
                 cap: ConnectionCap | None = None) -> None:
        self._hub, self._verifier, self._limits = hub, verifier, limits
        self.cap = cap or ConnectionCap()
        self.sessions: set[Session] = set()
        self.slow_disconnects = 0
        self._paced: dict[Session, _Paced] = {}
        self._demand = asyncio.Event()  # every paced outbox's wakeup
        self._pacer: asyncio.Task[None] | None = None
        self._work = 0.0  # seconds the last tick took
        self._turn = 0  # where the next tick starts writing: each connection goes first in turn
        metrics.bind_subscriptions(hub.subscription_count)
        hub.when_pending(self._demand.set)

    @property
    def paced(self) -> int:
        """How many connections the shared pacer writes (batched, direct to the socket)."""
        return len(self._paced)

    async def endpoint(self, websocket: WebSocket) -> None:
        address = self.cap.address_of(websocket)
        if not self.cap.admit(address):
            await websocket.send_denial_response(self.cap.refusal())
            return
        try:
            await self._serve(websocket)
        finally:
            self.cap.release(address)

    async def _serve(self, websocket: WebSocket) -> None:
        socket = FrameSocket.of(websocket)
        batch = websocket.query_params.get("batch", "0") == "1"
        paced = batch and socket is not None
        session = Session(self._hub, self._verifier, self._limits,
                          wakeup=self._demand if paced else None)
        await websocket.accept()
        session.move(State.OPEN)
        self.sessions.add(session)
        metrics.WS_CONNECTIONS.inc()
        if socket is not None and paced:
            entry = self._paced[session] = _Paced(session, socket)
            writer = self._unstall(entry)
            if self._pacer is None or self._pacer.done():
                self._pacer = asyncio.create_task(self._pace())
            self._demand.set()
        else:
            writer = self._write(websocket, session, socket, batch)
        tasks = [asyncio.create_task(self._read(websocket, session)),
                 asyncio.create_task(writer),
                 asyncio.create_task(session.outbox.closed.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if self._paced.pop(session, None) is not None:
                self._demand.set()  # lets the pacer notice when the last one has gone
            for task in tasks:
                task.cancel()  # a writer blocked on a full socket included
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            if session.outbox.closed_reason is not None:
                await self._close(websocket, session, session.outbox.closed_reason)
        finally:
            metrics.WS_CONNECTIONS.dec()
            self.sessions.discard(session)
            if session.state is not State.CLOSED:
                session.move(State.CLOSED)

    async def _read(self, websocket: WebSocket, session: Session) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            await session.receive(raw if raw is not None else message.get("bytes") or b"")

    async def _write(self, websocket: WebSocket, session: Session,
                     socket: FrameSocket | None, batch: bool) -> None:
        """The writer of a connection the pacer does not serve."""
        outbox = session.outbox
        while True:
            messages = await outbox.take(MOST_PER_FRAME if batch else 1)
            if not messages:
                return
            metrics.WS_MESSAGES.inc(len(messages))
            if batch and len(messages) > 1:
                text = _array(messages)
                await (websocket.send_text(text) if socket is None
                       else socket.send(text_frame(text)))
                continue
            for message in messages:  # conflated messages may come several at once
                await (websocket.send_text(message.payload.text) if socket is None
                       else socket.send(message.payload.wire))

    async def _unstall(self, entry: _Paced) -> None:
        """Waits out a full socket for the pacer; returns when the connection is gone."""
        while True:
            await entry.unstall.wait()
            await entry.socket.drained()
            if entry.socket.gone:
                return
            entry.unstall.clear()
            entry.stalled = False
            self._demand.set()

    async def _pace(self) -> None:
        """One timer for every batched connection: a tick a little after the first
        message waits, then one frame to each connection with something waiting."""
        while self._paced:
            await self._demand.wait()
            await asyncio.sleep(self._linger())
            self._hub.settle()  # before the clear: settle's pushes set the demand again
            self._demand.clear()
            if await self._flush():
                self._demand.set()  # more than one frame's worth was waiting

    def _linger(self) -> float:
        limits = self._limits
        return min(limits.linger_seconds,
                   max(0.001, limits.linger_per_connection * len(self._paced),
                       limits.linger_share * self._work))

    async def _flush(self) -> bool:
        """One tick: every ready paced connection's waiting messages as one frame, in
        chunks with a turn of the event loop between them (the hub and the other doors go
        on meanwhile); True when some connection has more waiting. Connections take turns
        at going first."""
        shared: _Shared = {}
        entries = list(self._paced.values())
        self._turn = turn = (self._turn + 1) % max(1, len(entries))
        entries = entries[turn:] + entries[:turn]
        more, work = False, 0.0
        for start in range(0, len(entries), FLUSH_CHUNK):
            if start:
                await asyncio.sleep(0)
                self._hub.settle()  # what came meanwhile (no resnapshot older than a diff)
            began = time.perf_counter()
            more = _flush_some(entries[start:start + FLUSH_CHUNK], shared) or more
            work += time.perf_counter() - began
        self._work = work
        return more

    async def _close(self, websocket: WebSocket, session: Session, reason: str) -> None:
        """Closes with ``reason``; the close frame waits (bounded) for room on the socket."""
        self.slow_disconnects += 1
        metrics.closed("ws", reason)
        log.info("closing a websocket: %s", reason)
        session.move(State.CLOSING)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(CLOSE_POLICY, reason[:120]), CLOSE_SECONDS)


#: One tick's rendered arrays by the identities of their messages, or of the list itself
#: when an outbox handed over a list it shares (``Outbox.shared``); the value keeps the
#: list and its messages alive, so no identity is reused while the tick lasts.
_Shared = dict[int | tuple[int, ...], tuple[list[Message[Frame]], bytes]]


def _flush_some(entries: list[_Paced], shared: _Shared) -> bool:
    more, sent = False, 0
    for entry in entries:
        outbox = entry.session.outbox
        if entry.stalled or not len(outbox):
            continue
        if not entry.socket.ready():
            entry.stalled = True
            entry.unstall.set()
            continue
        messages = outbox.take_now(MOST_PER_FRAME)
        if not messages:
            continue  # closed: the endpoint ends the connection
        sent += len(messages)
        if len(messages) == 1:
            frame = messages[0].payload.wire
        else:  # the list handed to many outboxes by Hub.settle, or the same messages
            key: int | tuple[int, ...] = id(messages) if outbox.shared else \
                tuple(map(id, messages))
            hit = shared.get(key)
            if hit is None:
                hit = shared[key] = (messages, text_frame(_array(messages)))
            frame = hit[1]
        entry.socket.write(frame)
        if len(outbox):
            more = True
    metrics.WS_MESSAGES.inc(sent)
    return more


def _array(messages: list[Message[Frame]]) -> str:
    return "[" + ",".join([m.payload.text for m in messages]) + "]"


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def upgrade_required(_: Request) -> JSONResponse:
    """Plain HTTP to the WebSocket's path: say what is expected there."""
    return JSONResponse({"error": {"code": "UPGRADE_REQUIRED", "message": "/ws is a WebSocket "
                                   "endpoint: connect with a WebSocket client"}},
                        status_code=426, headers={"upgrade": "websocket",
                                                  "connection": "Upgrade"})


def build_app(bridge: Bridge) -> Starlette:
    return Starlette(routes=[WebSocketRoute("/ws", bridge.endpoint),
                             Route("/ws", upgrade_required),
                             Route("/healthz", healthz)],
                     middleware=[Middleware(ExposeProtocol)])
