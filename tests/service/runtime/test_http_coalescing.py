"""One write per event-loop turn (``AsgiServer(coalesce_writes=True)``, the gateway's):
responses arrive whole and in order over keep-alive, ``Connection: close`` still sends the
answer before closing, and a turn's writes reach the socket together, at the end of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.types import Receive, Scope, Send

from mesh_runtime.http_serving import AsgiServer, TurnCoalescingTransport
from mesh_runtime.ports import free_port


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the path and the body it was sent (headers, then body, as Starlette)."""
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = scope["path"].encode() + b":" + body
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[str]:
    port = free_port()
    server = AsgiServer(echo_app, "127.0.0.1", port, coalesce_writes=True)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        await asyncio.wait_for(task, 10)


async def test_keep_alive_answers_arrive_whole_and_in_order() -> None:
    async with serving() as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        for i in range(20):
            reply = await client.post(f"/n/{i}", content=b"x" * i)
            assert reply.status_code == 201
            assert reply.content == f"/n/{i}:".encode() + b"x" * i
        many = await asyncio.gather(*(client.post(f"/p/{i}", content=b"y") for i in range(30)))
        assert [r.content for r in many] == [f"/p/{i}:y".encode() for i in range(30)]


async def test_connection_close_sends_the_answer_first() -> None:
    async with serving() as url:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # to EOF: the server closed
        writer.close()
        assert answer.startswith(b"HTTP/1.1 201 ")
        assert answer.endswith(b"\r\n\r\n/bye:")


async def test_a_turns_writes_leave_together_at_its_end() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Collect(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            received.put_nowait(data)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Collect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    try:
        wrapped = TurnCoalescingTransport(transport)  # type: ignore[arg-type]
        wrapped.write(b"head ")
        wrapped.write(b"body")
        assert wrapped.get_write_buffer_size() == 9  # held, not on the socket yet
        assert transport.get_write_buffer_size() == 0
        data = b""
        while len(data) < 9:
            data += await asyncio.wait_for(received.get(), 5)
        assert data == b"head body"
        assert wrapped.get_write_buffer_size() == 0
        wrapped.write(b"last")
        wrapped.close()  # what is pending is written before the transport closes
        data = await asyncio.wait_for(received.get(), 5)
        assert data == b"last"
    finally:
        transport.close()
        server.close()
        await server.wait_closed()
