"""The web terminal's built files, served by the gateway at ``/``.

:class:`WebAssets` is ASGI middleware in front of the gateway's app. It answers ``GET`` and
``HEAD`` for ``/`` (``index.html``), ``/config.json`` (where the page finds the WebSocket
bridge) and any file of the build directory (``TRADEMESH_WEB_DIR``); every other request —
``/api/v1``, ``/docs``, ``/openapi.json``, ``/healthz``, ``/readyz``, any other method —
goes on to the app untouched.

Caching: Vite's content-hashed files under ``/assets/`` are immutable for a year;
``index.html``, ``config.json`` and the unhashed files are ``no-cache`` (revalidated by
ETag), so a rebuilt terminal is picked up on the next load. A path never leaves the build
directory (resolved, then checked). Without a build, ``/`` says in one line how to get one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# The page talks to its own origin over REST and to the bridge over ws(s) on any port.
CONTENT_POLICY = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
                  "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
NOT_BUILT = ("<!doctype html><meta charset=utf-8><title>trademesh</title>"
             "<p>The web terminal is not built. Install Node.js 20.19+ and npm, then run "
             "<code>trademesh up</code> again (or <code>npm --prefix web ci &amp;&amp; "
             "npm --prefix web run build</code>). The API is at <a href=/docs>/docs</a>.")


class WebAssets:
    """Serves the terminal from ``directory`` and ``/config.json`` naming the bridge on
    ``ws_port``; passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, directory: Path, ws_port: int) -> None:
        self._app = app
        self._root = Path(directory).resolve()
        self._ws_port = ws_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/config.json":
            response: Response | None = self._config(scope)
        else:
            response = self._file(path, _header(scope, b"if-none-match"))
        if response is None:
            await self._app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _config(self, scope: Scope) -> Response:
        """``{"wsUrl"}``: the bridge on the host the page was loaded from."""
        host = _hostname(_header(scope, b"host")) or "127.0.0.1"
        scheme = "wss" if scope.get("scheme") == "https" else "ws"
        body = json.dumps({"wsUrl": f"{scheme}://{host}:{self._ws_port}/ws"})
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": NO_CACHE})

    def _file(self, path: str, if_none_match: str) -> Response | None:
        """The response for a file of the build, or None when ``path`` names none."""
        if path in ("/", "/index.html"):
            index = self._root / "index.html"
            if not index.is_file():
                return HTMLResponse(NOT_BUILT, status_code=404,
                                    headers={"Cache-Control": NO_CACHE})
            return _cached(index, NO_CACHE, if_none_match, CONTENT_POLICY)
        if path.startswith("/api/") or "\x00" in path:
            return None
        candidate = (self._root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self._root) or not candidate.is_file():
            return None
        hashed = candidate.parent == self._root / "assets"
        return _cached(candidate, IMMUTABLE if hashed else NO_CACHE, if_none_match)


def _cached(file: Path, cache: str, if_none_match: str, policy: str = "") -> Response:
    """``file`` with ``cache``; 304 when the client's ETag still matches."""
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if policy:
        headers["Content-Security-Policy"] = policy
    response = FileResponse(file, headers=headers, stat_result=os.stat(file))
    etag = response.headers.get("etag", "")
    if etag and etag in {tag.strip() for tag in if_none_match.split(",")}:
        kept = {k: v for k, v in response.headers.items()
                if k in ("etag", "cache-control", "last-modified")}
        return Response(status_code=304, headers=kept)
    return response


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _hostname(host: str) -> str:
    """The host part of a Host header (``[::1]:8080`` → ``[::1]``); "" if it is odd."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else ""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
    return name if name and set(name) <= allowed else ""
