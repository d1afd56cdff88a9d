"""A real Prometheus scraping a real ``trademesh up`` (through ``deploy/prometheus.yml``,
ports moved to the test's free ones) answers PromQL about the orders placed through REST;
every Grafana dashboard query runs on what the mesh exports; every alerting rule in
``deploy/alerts.yml`` loads and evaluates.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.prometheus_server import local_config, query, running_prometheus
from tests.e2e.test_mesh_up import Mesh, running_mesh

pytestmark = pytest.mark.slow

DEFAULT_PORTS = {9100: "metrics_gateway_port", 9101: "metrics_engine_port",
                 9102: "metrics_persistence_port", 9103: "metrics_feed_port",
                 9104: "metrics_mm_port"}
ORDERS = 5
POLL_SECONDS = 60.0
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "trademesh.json"
# labelled counters with no series until their first event (a rejection, a disconnect)
AFTER_FIRST_EVENT = {"trademesh_engine_orders_rejected_total",
                     "trademesh_mm_orders_rejected_total", "trademesh_feed_disconnects_total",
                     "trademesh_engine_fills_total"}
LABELS = {"grpc_type", "grpc_service", "grpc_method", "grpc_code"}


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    with running_mesh("metrics") as (running, _):
        yield running


@pytest.fixture(scope="module")
def prometheus(mesh: Mesh) -> Iterator[str]:
    ports = {default: mesh.ports[name] for default, name in DEFAULT_PORTS.items()}
    with running_prometheus(local_config(ports)) as url:
        yield url


async def place_orders(mesh: Mesh) -> None:
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=20) as client:
        signup = await client.post("/auth/signup", json={
            "email": f"metrics-{uuid.uuid4().hex[:10]}@example.com",
            "password": "a long enough password"})
        assert signup.status_code == 201, signup.text
        auth = {"Authorization": f"Bearer {signup.json()['token']}"}
        deposit = await client.post("/account/deposit", headers=auth, json={
            "asset": "USD", "amount": "100000", "transactionId": uuid.uuid4().hex})
        assert deposit.status_code == 200, deposit.text
        for i in range(ORDERS):
            placed = await client.post("/orders", headers=auth, json={
                "market": "SOL-USD", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": "1", "price": f"{1 + i}.000"})
            assert placed.status_code == 201, placed.text


async def until(url: str, promql: str, ready: float) -> float:
    """Polls ``promql`` (one series summed) until it reaches ``ready``; bounded."""
    deadline = asyncio.get_running_loop().time() + POLL_SECONDS
    value = 0.0
    async with httpx.AsyncClient() as client:
        while asyncio.get_running_loop().time() < deadline:
            result = await query(client, url, promql)
            value = float(result[0]["value"][1]) if result else 0.0
            if value >= ready:
                return value
            await asyncio.sleep(0.5)
    pytest.fail(f"{promql} = {value} after {POLL_SECONDS}s (wanted >= {ready})")


async def test_prometheus_scrapes_every_process(mesh: Mesh, prometheus: str) -> None:
    assert f":{mesh.ports['metrics_engine_port']}" in mesh.output  # the banner says where
    assert await until(prometheus, "sum(up)", 5) == 5


async def test_prometheus_counts_the_orders_placed_through_rest(mesh: Mesh,
                                                                prometheus: str) -> None:
    await place_orders(mesh)
    route = 'route="/api/v1/orders",method="POST",code="201"'
    assert await until(prometheus, f"sum(http_requests_total{{{route}}})", ORDERS) >= ORDERS
    # the gateway sends REST orders over one PlaceOrders stream per caller
    assert await until(prometheus, 'sum(grpc_server_started_total{job="engine",'
                                   'grpc_method="PlaceOrders"})', 1)
    assert await until(prometheus, 'sum(trademesh_engine_orders_accepted_total'
                                   '{market="SOL-USD"})', ORDERS)
    assert await until(prometheus, "sum(trademesh_mm_orders_placed_total)", 1)
    assert await until(prometheus, "sum(trademesh_persistence_events_committed_total)", 1)


async def test_every_dashboard_query_runs_on_metrics_the_mesh_exports(prometheus: str) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for panel in panels for t in panel.get("targets", [])]
    used = {re.sub(r"_(bucket|sum|count)$", "", name) for expr in exprs
            for name in re.findall(r"\b(?:trademesh|http|grpc)_[a-z_]+", expr)} - LABELS
    await until(prometheus, "count(trademesh_engine_queue_depth)", 1)  # scraped once
    async with httpx.AsyncClient() as client:
        for expr in exprs:
            await query(client, prometheus, expr)  # valid PromQL, or this raises
        reply = await client.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10)
    exported = {re.sub(r"_(bucket|sum|count|created)$", "", n) for n in reply.json()["data"]}
    assert used - AFTER_FIRST_EVENT <= exported, sorted(used - AFTER_FIRST_EVENT - exported)


async def test_the_alerting_rules_load_and_evaluate(prometheus: str) -> None:
    """deploy/alerts.yml: every rule loaded and evaluated without error (none need fire)."""
    deadline = asyncio.get_running_loop().time() + POLL_SECONDS
    rules: list[dict[str, object]] = []
    async with httpx.AsyncClient() as client:
        while asyncio.get_running_loop().time() < deadline:
            reply = await client.get(f"{prometheus}/api/v1/rules", timeout=10)
            groups = reply.json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            if rules and all(r["health"] == "ok" for r in rules):
                break
            await asyncio.sleep(0.5)
    assert len(rules) >= 10
    assert [r["name"] for r in rules if r["health"] != "ok"] == []
    assert [r["name"] for r in rules if r["state"] == "firing"] == []
