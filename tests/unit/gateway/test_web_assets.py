"""The web terminal's static serving (:mod:`gateway.web_assets`) in front of a stand-in app:
which paths it answers, its cache headers and ETags, ``/config.json``, and that nothing
outside the build directory is ever read."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.web_assets import IMMUTABLE, NO_CACHE, WebAssets


async def behind(request: Request) -> Response:
    return PlainTextResponse(f"app {request.method} {request.url.path}", status_code=404)


def client(web_dir: Path, ws_port: int = 9191) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/{path:path}", behind, methods=["GET", "POST", "HEAD"])])
    transport = httpx.ASGITransport(app=WebAssets(app, web_dir, ws_port))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>terminal</title>")
    (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
    (dist / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the web")
    return dist


async def test_index_is_revalidated_and_hashed_assets_are_immutable(built: Path) -> None:
    web = client(built)
    index = await web.get("/")
    assert index.status_code == 200 and "terminal" in index.text
    assert index.headers["cache-control"] == NO_CACHE
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    asset = await web.get("/assets/index-abc123.js")
    assert asset.status_code == 200 and asset.headers["cache-control"] == IMMUTABLE
    assert (await web.get("/favicon.svg")).headers["cache-control"] == NO_CACHE
    again = await web.get("/", headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_other_paths_methods_and_escapes_go_to_the_app(built: Path) -> None:
    web = client(built)
    assert (await web.get("/api/v1/markets")).text == "app GET /api/v1/markets"
    assert (await web.post("/")).text == "app POST /"
    assert (await web.get("/nothing.js")).text == "app GET /nothing.js"
    assert (await web.get("/assets/../../secret.txt")).text.startswith("app GET")
    assert (await web.get("/%2e%2e/secret.txt")).text.startswith("app GET")
    assert (await web.head("/")).status_code == 200


async def test_config_names_the_bridge_on_the_pages_host(built: Path) -> None:
    web = client(built, ws_port=18081)
    assert (await web.get("/config.json", headers={"Host": "example.test:8080"})).json() == {
        "wsUrl": "ws://example.test:18081/ws"}
    assert (await web.get("/config.json", headers={"Host": "[::1]:8080"})).json() == {
        "wsUrl": "ws://[::1]:18081/ws"}
    odd = (await web.get("/config.json", headers={"Host": "evil\"host"})).json()
    assert odd == {"wsUrl": "ws://127.0.0.1:18081/ws"}


async def test_without_a_build_the_root_says_how_to_get_one(tmp_path: Path) -> None:
    answer = await client(tmp_path / "missing").get("/")
    assert answer.status_code == 404 and "npm --prefix web ci" in answer.text
