"""The WebSocket bridge at ``/ws``: the request/response envelope of API.md.

Requests are ``{"method": ..., "params": [...], "id": n}``; every request gets
``{"result": ..., "id": n}`` or ``{"error": {"code", "message"}, "id": n}`` and a bad
request never closes the connection. PING is answered here; the stream methods
(SUBSCRIBE, UNSUBSCRIBE, AUTH) answer UNIMPLEMENTED until the market-data hub lands.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

MAX_MESSAGE_BYTES = 16 * 1024
STREAM_METHODS = frozenset({"SUBSCRIBE", "UNSUBSCRIBE", "AUTH"})


def _error(code: str, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, "id": request_id}


def answer(raw: str) -> dict[str, Any]:
    """The reply to one client message."""
    if len(raw.encode()) > MAX_MESSAGE_BYTES:
        return _error("MESSAGE_TOO_LARGE", f"messages are at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(raw)
    except ValueError:
        return _error("MALFORMED_JSON", "the message is not valid JSON")
    if not isinstance(message, dict):
        return _error("INVALID_REQUEST", "a request is a JSON object")
    request_id = message.get("id")
    method = message.get("method")
    if method == "PING":
        return {"result": None, "id": request_id}
    if method in STREAM_METHODS:
        return _error("UNIMPLEMENTED", f"{method} is not available yet", request_id)
    return _error("INVALID_REQUEST", f"method: unknown method {method!r}", request_id)


async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_json(answer(await websocket.receive_text()))
    except WebSocketDisconnect:
        return


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def build_app() -> Starlette:
    return Starlette(routes=[WebSocketRoute("/ws", websocket_endpoint),
                             Route("/healthz", healthz)])
