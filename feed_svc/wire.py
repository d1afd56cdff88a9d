"""WebSocket frames encoded once, written straight to the socket.

The hot path of the bridge sends the same bytes to many clients. Through Starlette and
uvicorn each ``send_text`` builds, frames (and, when negotiated, compresses) its message
again for every client; here a message is framed once (:func:`text_frame`) and written to
each client's transport as is (:class:`FrameSocket`).

A server's data frame is unmasked, and a frame without the RSV1 bit is an uncompressed
message even on a connection that negotiated permessage-deflate (RFC 7692 §6), so the
same bytes suit every client. :class:`FrameSocket` exists only for connections served
by uvicorn's ``websockets-sansio`` protocol (the one the feed runs); it checks that
protocol's closing state and write flow control before every write and never writes
after a close frame. :class:`ExposeProtocol` is the ASGI middleware that hands the
protocol to the endpoint through the scope.
"""

from __future__ import annotations

import struct

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

SCOPE_KEY = "trademesh.frame_socket"
_TEXT_FIN = 0x81


def text_frame(text: str) -> bytes:
    """``text`` as one final, unmasked, uncompressed WebSocket text frame."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((_TEXT_FIN, size))
    elif size < 65_536:
        head = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        head = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return head + payload


class SocketGone(ConnectionError):
    """The connection is closing or closed: nothing more may be written."""


class FrameSocket:
    """Writes pre-encoded data frames to one uvicorn ``websockets-sansio`` connection."""

    __slots__ = ("_closing", "_protocol", "_transport", "_writable", "_writable_now")

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._writable = protocol.writable
        self._writable_now = protocol.writable.is_set  # bound once: called every tick
        self._closing = protocol.transport.is_closing

    @classmethod
    def of(cls, websocket: WebSocket) -> FrameSocket | None:
        protocol = websocket.scope.get("extensions", {}).get(SCOPE_KEY)
        return cls(protocol) if isinstance(protocol, WebSocketsSansIOProtocol) else None

    @property
    def gone(self) -> bool:
        p = self._protocol
        return p.disconnected or p.close_sent or self._closing()

    def ready(self) -> bool:
        """True when a frame can be written now: open, and the write buffer not full."""
        p = self._protocol
        return self._writable_now() and not (p.disconnected or p.close_sent or self._closing())

    def write(self, frame: bytes) -> None:
        """Writes ``frame`` now (after :meth:`ready`); the transport buffers the rest."""
        self._transport.write(frame)

    async def drained(self) -> None:
        """Returns once the write buffer is below its low-water mark (or the connection
        is lost)."""
        await self._writable.wait()

    async def send(self, frame: bytes) -> None:
        """Waits for room, then writes ``frame``; :class:`SocketGone` once closing."""
        if not self._writable.is_set():
            await self.drained()
        if self.gone:
            raise SocketGone("the WebSocket is closing")
        self.write(frame)


class ExposeProtocol:
    """ASGI middleware: puts the uvicorn ``websockets-sansio`` protocol serving a
    WebSocket into ``scope["extensions"]`` for :meth:`FrameSocket.of`. Any other server
    or protocol passes through untouched (the bridge then sends through ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            owner = getattr(send, "__self__", None)
            if isinstance(owner, WebSocketsSansIOProtocol):
                scope.setdefault("extensions", {})[SCOPE_KEY] = owner
        await self._app(scope, receive, send)
