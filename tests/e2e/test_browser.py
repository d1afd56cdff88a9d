"""A real browser (Debian's Chromium, driven by Playwright) against ``trademesh up``.

What a frontend does: ``/docs`` renders and links the OpenAPI document; a page on its own
origin signs up and places an order through the REST API (CORS, preflight included) and
watches trades and its own user events on the WebSocket bridge.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from mesh_runtime.ports import free_ports
from tests.e2e.test_mesh_up import Mesh, running_mesh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
STEP_MS = 15_000
PASSWORD = "a long enough password"
FRONTEND_PAGE = "<!doctype html><html><head><title>frontend</title></head><body></body></html>"


def chromium_path() -> str:
    for candidate in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(candidate)
        if found:
            return found
    message = "no Chromium here (Debian: apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def frontend_origin(port: int) -> Iterator[str]:
    """A static page on its own origin, as a trading frontend would be served."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = FRONTEND_PAGE.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def frontend_and_mesh() -> Iterator[tuple[str, Mesh]]:
    (page_port,) = free_ports(1)
    with frontend_origin(page_port) as origin, \
            running_mesh("browser", TRADEMESH_CORS_ORIGINS=origin,
                         TRADEMESH_MARKET_MAKER="off") as (mesh, _):
        yield origin, mesh


@pytest.fixture
async def browser_page(frontend_and_mesh: tuple[str, Mesh]) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            page = await browser.new_page()
            page.set_default_timeout(STEP_MS)
            yield page
        finally:
            await browser.close()


async def test_docs_page_lists_every_route_and_links_the_document(
        browser_page: Any, frontend_and_mesh: tuple[str, Mesh]) -> None:
    from tests.api_routes import ALL_ROUTES

    _, mesh = frontend_and_mesh
    page = browser_page
    await page.goto(f"http://127.0.0.1:{mesh.ports['gateway_port']}/docs")
    assert "trademesh" in await page.title()
    rows = await page.locator("tbody tr").all_inner_texts()
    listed = {" ".join(row.split()[:2]) for row in rows}
    missing = [f"{verb.upper()} {path}" for verb, path in ALL_ROUTES
               if f"{verb.upper()} {path}" not in listed]
    assert not missing, missing
    await page.click("a[href='/openapi.json']")
    document = json.loads(await page.locator("body").inner_text())
    assert document["openapi"].startswith("3.") and "/api/v1/orders" in document["paths"]


async def test_a_frontend_on_its_own_origin_trades_and_watches_the_websocket(
        browser_page: Any, frontend_and_mesh: tuple[str, Mesh]) -> None:
    origin, mesh = frontend_and_mesh
    page = browser_page
    api = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    ws_url = f"ws://127.0.0.1:{mesh.ports['ws_port']}/ws"
    await page.goto(origin)
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    # cross-origin JSON POSTs with Authorization and Idempotency-Key: preflighted requests
    session = await page.evaluate("""async ([api, email, password]) => {
        const post = async (path, body, token) => {
            const headers = {'content-type': 'application/json',
                             'idempotency-key': crypto.randomUUID()};
            if (token) headers['authorization'] = 'Bearer ' + token;
            const r = await fetch(api + path,
                                  {method: 'POST', headers, body: JSON.stringify(body)});
            return {status: r.status, requestId: r.headers.get('x-request-id'),
                    body: await r.json()};
        };
        const signup = await post('/auth/signup', {email, password});
        const token = signup.body.token;
        const deposit = await post('/account/deposit',
            {asset: 'USD', amount: '1000', transactionId: 'browser-1'}, token);
        const order = await post('/orders', {market: 'SOL-USD', side: 'BUY', type: 'LIMIT',
            quantity: '2', price: '7.5'}, token);
        return {signup: signup.status, deposit: deposit.status, order, token};
    }""", [api, email, PASSWORD])
    assert (session["signup"], session["deposit"], session["order"]["status"]) == (201, 200, 201)
    assert session["order"]["requestId"]  # an exposed header
    order_id = session["order"]["body"]["orderId"]

    # the page watches trades@SOL-USD and, after AUTH, its own user channel
    await page.evaluate("""([url, token]) => {
        window.received = [];
        const ws = new WebSocket(url);
        window.ws = ws;
        ws.onmessage = (e) => window.received.push(JSON.parse(e.data));
        ws.onopen = () => {
            ws.send(JSON.stringify({method: 'SUBSCRIBE', params: ['trades@SOL-USD'], id: 1}));
            ws.send(JSON.stringify({method: 'AUTH', params: [token], id: 2}));
            ws.send(JSON.stringify({method: 'SUBSCRIBE', params: ['user'], id: 3}));
        };
    }""", [ws_url, session["token"]])
    await page.wait_for_function(
        "() => window.received.filter(m => 'id' in m).length >= 3")
    replies = await page.evaluate("() => window.received.filter(m => 'id' in m)")
    assert [r.get("error") for r in replies] == [None, None, None], replies

    # another trader (a plain HTTP client) sells into the page's bid
    async with httpx.AsyncClient(base_url=api, timeout=20) as client:
        other = {"email": f"seller-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
        token = (await client.post("/auth/signup", json=other)).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        await client.post("/account/deposit", json={"asset": "SOL", "amount": "5",
                                                     "transactionId": "seller-1"})
        sold = await client.post("/orders", json={"market": "SOL-USD", "side": "SELL",
                                                  "type": "LIMIT", "quantity": "2",
                                                  "price": "7.5"})
        assert sold.status_code == 201 and sold.json()["status"] == "FILLED", sold.text

    await page.wait_for_function("""(orderId) => window.received.some(m =>
        m.stream === 'trades@SOL-USD') && window.received.some(m =>
        m.stream === 'user' && JSON.stringify(m.data).includes(orderId))""", arg=order_id)
    streamed = await page.evaluate("() => window.received.filter(m => m.stream)")
    trades = [m["data"] for m in streamed if m["stream"] == "trades@SOL-USD"]
    assert any(t["price"] == "7.5" and t["quantity"] == "2" for t in trades), trades
    mine = [m["data"] for m in streamed if m["stream"] == "user"]
    assert all(session["order"]["body"]["userId"] in json.dumps(d) for d in mine), mine

