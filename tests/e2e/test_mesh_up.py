"""``trademesh up`` as a user runs it: a subprocess on free loopback ports, a tmp data dir.

The real mesh: what a client sees (health, reflection, readiness, OpenAPI), a killed engine
coming back, and that Ctrl-C leaves no process and no port behind, twice on one data dir.
The helpers here start ``up`` for the other e2e modules too; the supervisor's own behaviour,
with stand-in services, is in ``test_supervisor.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mesh_runtime.ports import free_ports
from mesh_runtime.tls import tls_channel
from tests.api_routes import ALL_ROUTES

pytestmark = pytest.mark.slow

PORT_SETTINGS = ("engine_port", "persistence_port", "feed_port", "auth_port", "gateway_port",
                 "ws_port", "embedded_postgres_port", "embedded_redis_port",
                 "engine_mesh_port", "persistence_mesh_port", "feed_mesh_port", "auth_mesh_port",
                 "metrics_gateway_port", "metrics_engine_port", "metrics_persistence_port",
                 "metrics_feed_port", "metrics_mm_port")
GRPC_SERVICES = {
    "engine_port": "trademesh.v1.Engine",
    "persistence_port": "trademesh.v1.Persistence",
    "feed_port": "trademesh.v1.Feed",
    "auth_port": "trademesh.v1.Auth",
}
READY_LINE = "Press Ctrl-C to stop."
UP_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
API_ROUTES = ALL_ROUTES


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


@contextmanager
def traversable_tmp() -> Iterator[Path]:
    """A tmp dir the ``embedded_postgres`` account can traverse (pytest's basetemp is 0700,
    reset to 0700 by every pytest session that starts)."""
    path = Path(tempfile.mkdtemp(prefix="trademesh-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Mesh:
    """One ``trademesh up`` subprocess and what it was given."""

    proc: subprocess.Popen[bytes]
    out_path: Path
    ports: dict[str, int]
    children: dict[int, str] = field(default_factory=dict)
    data_dir: Path = Path()

    @property
    def ca_path(self) -> Path:
        """The mesh CA ``up`` made: what every client trusts."""
        return self.data_dir / "pki" / "ca.pem"

    @property
    def ca_pem(self) -> bytes:
        return self.ca_path.read_bytes()

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        self.wait_for_output(READY_LINE)

    def wait_for_output(self, line: str) -> None:
        """Until ``line`` is printed (bounded); then notes the children alive."""
        deadline = time.monotonic() + UP_TIMEOUT
        while line not in self.output:
            if self.proc.poll() is not None:
                pytest.fail(f"trademesh up exited {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {line!r} after {UP_TIMEOUT}s:\n{self.output}")
            time.sleep(0.2)
        self.children.update({p.pid: " ".join(p.cmdline()[:4])
                              for p in psutil.Process(self.proc.pid).children(recursive=True)})

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"trademesh up did not stop within {STOP_TIMEOUT}s:\n{self.output}")

    def assert_nothing_left(self, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while True:
            alive = {pid: cmd for pid, cmd in self.children.items() if not gone(pid)}
            busy = [name for name, port in self.ports.items() if listening(port)]
            if not alive and not busy:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"left behind: processes {alive}, listening {busy}")
            time.sleep(0.2)


def mesh_env(
    data_dir: Path, pythonpath: Path | None = None, ports: dict[str, int] | None = None
) -> tuple[dict[str, str], dict[str, int]]:
    """The environment of one ``up``: all-free ports (or ``ports``), ``data_dir``."""
    if ports is None:
        ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEMESH_")}
    env.update({f"TRADEMESH_{name.upper()}": str(port) for name, port in ports.items()})
    env.update(TRADEMESH_DATA_DIR=str(data_dir), TRADEMESH_HOST="127.0.0.1",
               TRADEMESH_SHUTDOWN_GRACE_SECONDS="2")
    if pythonpath is not None:  # stand-in services: no engine for a market maker to quote on
        env["TRADEMESH_MARKET_MAKER"] = "off"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath),
                                                          env.get("PYTHONPATH", "")]))
    return env, ports


@contextlib.contextmanager
def running_mesh(tag: str, **env_overrides: str) -> Iterator[tuple[Mesh, dict[str, str]]]:
    """A real ``trademesh up`` on free ports in a fresh data dir, stopped at the end."""
    with traversable_tmp() as data_root:
        env, ports = mesh_env(data_root / "data")
        env.update(env_overrides)
        running = start_up(data_root, env, ports, tag)
        try:
            running.wait_ready()
            yield running, env
        finally:
            if running.proc.poll() is None:
                running.stop()


def start_up(data_root: Path, env: dict[str, str], ports: dict[str, int], tag: str) -> Mesh:
    out_path = data_root / f"up-{tag}.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trademesh_cli", "up"], env=env,
                                cwd=data_root, stdout=out, stderr=subprocess.STDOUT)
    return Mesh(proc=proc, out_path=out_path, ports=ports,
                data_dir=Path(env["TRADEMESH_DATA_DIR"]))


def run_until_exit(mesh: Mesh, within: float = UP_TIMEOUT) -> int:
    try:
        return mesh.proc.wait(within)
    except subprocess.TimeoutExpired:
        mesh.stop(signal.SIGKILL)
        pytest.fail(f"trademesh up did not exit within {within}s:\n{mesh.output}")


async def health_status(port: int, ca_pem: bytes) -> int:
    async with tls_channel(f"127.0.0.1:{port}", ca_pem) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)


async def reflected_services(port: int, ca_pem: bytes) -> set[str]:
    async with tls_channel(f"127.0.0.1:{port}", ca_pem) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: set[str] = set()
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
            names.update(s.name for s in reply.list_services_response.service)
        return names


# -- the real mesh -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    with traversable_tmp() as data_root:
        env, ports = mesh_env(data_root / "data")
        running = start_up(data_root, env, ports, "first")
        try:
            running.wait_ready()
            yield running
        finally:
            if running.proc.poll() is None:
                running.stop()


async def test_every_grpc_port_is_serving(mesh: Mesh) -> None:
    for setting in GRPC_SERVICES:
        status = await health_status(mesh.ports[setting], mesh.ca_pem)
        assert status == health_pb2.HealthCheckResponse.SERVING, setting


async def test_reflection_lists_the_services(mesh: Mesh) -> None:
    for setting, service in GRPC_SERVICES.items():
        names = await reflected_services(mesh.ports[setting], mesh.ca_pem)
        assert service in names, f"{setting}: {sorted(names)}"
        assert "grpc.health.v1.Health" in names


async def test_gateway_is_ready(mesh: Mesh) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{mesh.ports['gateway_port']}/readyz")
    assert response.status_code == 200, response.text


async def test_openapi_lists_every_rest_route(mesh: Mesh) -> None:
    url = f"http://127.0.0.1:{mesh.ports['gateway_port']}/openapi.json"
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url)
    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = [f"{verb.upper()} {path}" for verb, path in API_ROUTES
               if verb not in paths.get(path, {})]
    assert not missing, f"missing from /openapi.json: {missing}"


async def test_the_market_maker_makes_every_book_two_sided(mesh: Mesh) -> None:
    """Within a minute of `up`, every market has bids and asks from the market maker."""
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        markets = [m["symbol"] for m in (await client.get("/markets")).json()]
        one_sided = markets
        for _ in range(120):
            depths = [(await client.get(f"/markets/{m}/depth")).json() for m in markets]
            one_sided = [m for m, d in zip(markets, depths, strict=True)
                         if not (d["bids"] and d["asks"])]
            if not one_sided:
                break
            await asyncio.sleep(0.5)
    assert len(markets) >= 4 and not one_sided, one_sided


async def test_a_killed_engine_comes_back_with_every_acknowledged_order(mesh: Mesh) -> None:
    """kill -9 of the engine under `up`: restarted from snapshot + journal; what it
    acknowledged before (an order, a balance) is all there afterwards."""
    base = f"http://127.0.0.1:{mesh.ports['gateway_port']}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        creds = {"email": "kill9@example.com", "password": "correct horse"}
        token = (await client.post("/auth/signup", json=creds)).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        deposit = {"asset": "USD", "amount": "100", "transactionId": "k9-1"}
        assert (await client.post("/account/deposit", json=deposit)).status_code == 200
        order = (await client.post("/orders", json={
            "market": "SOL-USD", "side": "BUY", "type": "LIMIT", "quantity": "1",
            "price": "2"})).json()
        balances = (await client.get("/account/balances")).json()
        engine = next(p for p in psutil.Process(mesh.proc.pid).children(recursive=True)
                      if "engine" in p.cmdline())
        engine.kill()
        await asyncio.to_thread(mesh.wait_for_output, "trademesh: engine is back")
        got = await client.get(f"/orders/{order['orderId']}")
        assert got.status_code == 200 and got.json()["status"] == "NEW", got.text
        assert (await client.get("/account/balances")).json() == balances
        assert (await client.post("/account/deposit", json=deposit)).status_code == 200
        assert (await client.get("/account/balances")).json() == balances  # not twice


def test_printed_addresses(mesh: Mesh) -> None:
    out, ports = mesh.output, mesh.ports
    assert f"http://127.0.0.1:{ports['gateway_port']}/api/v1" in out
    assert f"ws://127.0.0.1:{ports['ws_port']}/ws" in out
    assert all(f"127.0.0.1:{ports[setting]}" in out for setting in GRPC_SERVICES)
    secrets = sorted((mesh.data_dir / "secrets").glob("*_password"))
    assert [s.name for s in secrets] == ["postgres_password", "redis_password"]
    logs = "".join(log.read_text(errors="replace")
                   for log in (mesh.data_dir / "logs").glob("*.log"))
    for secret in secrets:  # the embedded servers' passwords: required, never shown
        password = secret.read_text().strip()
        assert password and password not in out and password not in logs


def test_sigint_stops_everything_and_up_starts_again(mesh: Mesh) -> None:
    assert len(mesh.children) >= 6, mesh.children  # postgres, redis, four services
    assert mesh.stop(signal.SIGINT) == 0, mesh.output
    mesh.assert_nothing_left()
    again_env, _ = mesh_env(mesh.out_path.parent / "data", ports=mesh.ports)
    again = start_up(mesh.out_path.parent, again_env, mesh.ports, "second")
    try:
        again.wait_ready()
        assert asyncio.run(health_status(mesh.ports["engine_port"], mesh.ca_pem)) == 1
    finally:
        assert again.stop(signal.SIGINT) == 0, again.output
    again.assert_nothing_left()
