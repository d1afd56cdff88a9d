"""Place-order round trips through the REST gateway of a real ``trademesh up``.

Starts the whole mesh (``python -m trademesh_cli up``: a temp data dir, free loopback ports,
no market maker, rate limits raised so the bench measures the path rather than the limiter),
signs up a few users, deposits (with httpx), then, from this one process (the mesh runs in
others) over HTTP/1.1 keep-alive connections (a minimal asyncio client, see
:class:`Connection`), measures ``POST /api/v1/orders``:

* a constant offered ``--rate`` (default 500 orders/s) in an open loop: latency from each
  request's *intended* send time, so queueing delay is counted (p50/p99/p99.9); measured
  first, after a warm-up, once persistence has caught up: a steady state;
* saturation: ``--clients`` concurrent callers in a closed loop (orders/s, p50/p99).

Orders are GTC limit buys on a spot market, far below any ask (they rest; nothing trades),
a lot each, so balances never run out. Targets (issue 5): >= 2,000 orders/s through one
gateway process; p99 < 25 ms at 500 orders/s.

Usage: python -m bench.bench_rest [--clients 64] [--connections 64] [--seconds 10] [--rate 500]
       [--rate-seconds 10] [--users 4] [--market SOL-USD] [--keep-up SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson

from mesh_runtime import event_loop
from mesh_runtime.child_process import die_with_parent
from mesh_runtime.ports import free_ports

READY_LINE = "Press Ctrl-C to stop."
UP_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
PASSWORD = "bench password 123"
PORT_SETTINGS = ("engine_port", "persistence_port", "feed_port", "auth_port", "gateway_port",
                 "ws_port", "embedded_postgres_port", "embedded_redis_port",
                 "engine_mesh_port", "persistence_mesh_port", "feed_mesh_port", "auth_mesh_port",
                 "metrics_gateway_port", "metrics_engine_port", "metrics_persistence_port",
                 "metrics_feed_port", "metrics_mm_port")
GENEROUS_LIMITS = {"TRADEMESH_RATE_LIMIT_USER_BURST": "1000000",
                   "TRADEMESH_RATE_LIMIT_USER_PER_SECOND": "1000000",
                   "TRADEMESH_RATE_LIMIT_IP_BURST": "1000000",
                   "TRADEMESH_RATE_LIMIT_IP_PER_SECOND": "1000000",
                   # every bench order rests: the per-market open-order cap would refuse them
                   "TRADEMESH_MAX_OPEN_ORDERS": "100000000"}


@dataclass
class Mesh:
    proc: subprocess.Popen[bytes]
    out_path: Path
    ports: dict[str, int]

    @property
    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway_port']}/api/v1"

    def gateway_pid(self) -> int | None:
        """The ``trademesh gateway`` process (for py-spy), found through /proc."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
                env = (entry / "environ").read_bytes()
            except OSError:
                continue
            port = f"TRADEMESH_GATEWAY_PORT={self.ports['gateway_port']}".encode()
            if b"gateway" in cmd and port in env.split(b"\0"):
                return int(entry.name)
        return None


def _proc_stat(pid: int) -> tuple[str, int, float]:
    """A process's (name, parent pid, user+system CPU seconds) from /proc."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    rest = raw[raw.rindex(")") + 2:].split()
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [w.decode(errors="replace") for w in cmd if w]
    # a service by its command; anything else by its executable's name (PostgreSQL and
    # Redis rewrite their command lines into titles naming ports and connection states)
    name = words[3] if words[1:3] == ["-m", "trademesh_cli"] and len(words) > 3 else (
        raw[raw.index("(") + 1:raw.rindex(")")])
    ticks = os.sysconf("SC_CLK_TCK")
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / ticks


def cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds so far of each process (by name) of the tree under ``root_pid``, and of
    this (the bench's client) process."""
    stats: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stats[int(entry.name)] = _proc_stat(int(entry.name))
    totals: dict[str, float] = {"bench client": stats.get(os.getpid(), ("", 0, 0.0))[2]}
    for pid, (name, _, cpu) in stats.items():
        if pid == os.getpid():
            continue  # counted as the bench client (when the tree is the bench's own)
        ancestor = pid
        while ancestor > 1 and ancestor != root_pid:
            ancestor = stats.get(ancestor, ("", 1, 0.0))[1]
        if ancestor == root_pid:
            totals[name] = totals.get(name, 0.0) + cpu
    return totals


@contextlib.contextmanager
def cpu_split(root_pid: int) -> Iterator[None]:
    """Prints each process's share of a core over the block."""
    before, started = cpu_seconds(root_pid), time.perf_counter()
    yield
    after, elapsed = cpu_seconds(root_pid), time.perf_counter() - started
    shares = {name: (after[name] - before.get(name, 0.0)) / elapsed for name in after}
    print("  CPU (cores): " + ", ".join(f"{name} {share:.2f}" for name, share in
                                       sorted(shares.items(), key=lambda kv: -kv[1])
                                       if share >= 0.01), flush=True)


@contextlib.contextmanager
def running_mesh() -> Iterator[Mesh]:
    root = Path(tempfile.mkdtemp(prefix="trademesh-bench-rest-"))
    root.chmod(0o755)  # the embedded PostgreSQL account traverses it
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    env = {k: v for k, v in os.environ.items()  # what a comparison may set passes through
           if not k.startswith("TRADEMESH_") or k in ("TRADEMESH_METRICS",
                                                      "TRADEMESH_BCRYPT_ROUNDS")}
    env.update({f"TRADEMESH_{name.upper()}": str(port) for name, port in ports.items()})
    env.update(TRADEMESH_DATA_DIR=str(root / "data"), TRADEMESH_HOST="127.0.0.1",
               TRADEMESH_SHUTDOWN_GRACE_SECONDS="2", TRADEMESH_MARKET_MAKER="off",
               **GENEROUS_LIMITS)
    out_path = root / "up.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "trademesh_cli", "up"], env=env,
                                cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent(signal.SIGTERM, os.getpid()))
    mesh = Mesh(proc, out_path, ports)
    try:
        deadline = time.monotonic() + UP_TIMEOUT
        while READY_LINE not in mesh.output:
            if proc.poll() is not None:
                raise RuntimeError(f"trademesh up exited {proc.returncode}:\n{mesh.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"trademesh up not ready in {UP_TIMEOUT}s:\n{mesh.output}")
            time.sleep(0.2)
        yield mesh
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Trader:
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(client: httpx.AsyncClient, quote_asset: str) -> Trader:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post("/auth/signup", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    trader = Trader(response.json()["token"])
    deposit = {"asset": quote_asset, "amount": "100000000", "transactionId": uuid.uuid4().hex}
    (await client.post("/account/deposit", json=deposit, headers=trader.headers)
     ).raise_for_status()
    return trader


@dataclass
class OrderMaker:
    market: str
    tick: Decimal
    lot: str

    def body(self) -> dict[str, Any]:
        ticks = random.randint(1, 1000)  # 0.001..1 on SOL-USD: far below any ask
        return {"market": self.market, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                "quantity": self.lot, "price": str(ticks * self.tick)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, latencies: list[float], errors: int, elapsed: float) -> None:
    ms = [v * 1000 for v in latencies]
    print(f"{name}: {len(ms)} orders in {elapsed:.1f}s = {len(ms) / elapsed:,.0f} orders/s, "
          f"errors {errors}; latency ms p50 {percentile(ms, 0.5):.2f} "
          f"p99 {percentile(ms, 0.99):.2f} p99.9 {percentile(ms, 0.999):.2f} "
          f"max {max(ms, default=float('nan')):.2f}", flush=True)


class Connection:
    """One keep-alive HTTP/1.1 connection, requests written and responses parsed by hand.

    httpx (and its connection pool) costs a few ms of CPU per request on a loaded 2-core
    machine: the bench's own process became the bottleneck at ~120 orders/s. This costs
    tens of microseconds, so the figures are the gateway's."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, token: str) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip() == b"close":
                self.writer.close()
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


class Pool:
    """At most ``size`` keep-alive connections, each serving one request at a time (opened
    on first use); a request waits for a free one (the open loop counts that wait)."""

    def __init__(self, port: int, path: str, size: int) -> None:
        self.all = [Connection(port, path) for _ in range(size)]
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in self.all:
            self.free.put_nowait(conn)
        self.failures: dict[str, int] = {}

    async def post(self, body: bytes, token: str) -> int:
        conn = await self.free.get()
        try:
            return await conn.post(body, token)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError) as err:
            name = type(err).__name__
            self.failures[name] = self.failures.get(name, 0) + 1
            await conn.close()
            conn.writer = None
            return 0
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self.all:
            await conn.close()


async def place(pool: Pool, trader: Trader, maker: OrderMaker) -> bool:
    return await pool.post(orjson.dumps(maker.body()), trader.token) == 201


async def saturation(client: Pool, traders: list[Trader], maker: OrderMaker,
                     clients: int, seconds: float) -> None:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        nonlocal errors
        trader = traders[index % len(traders)]
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            ok = await place(client, trader, maker)
            latencies.append(time.perf_counter() - start)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(clients)))
    report(f"saturation ({clients} clients)", latencies, errors, time.perf_counter() - started)


async def open_loop(client: Pool, traders: list[Trader], maker: OrderMaker,
                    rate: float, seconds: float) -> None:
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []

    async def one(intended: float, trader: Trader) -> None:
        nonlocal errors
        ok = await place(client, trader, maker)
        latencies.append(time.perf_counter() - intended)
        errors += not ok

    started = time.perf_counter()
    for i in range(total):
        intended = started + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(intended, traders[i % len(traders)])))
    await asyncio.gather(*tasks)
    report(f"open loop at {rate:,.0f}/s offered", latencies, errors,
           time.perf_counter() - started)


async def settled(mesh: Mesh, most_seconds: float = 120.0) -> None:
    """Waits (bounded) until persistence has committed every event (``/readyz``)."""
    async with httpx.AsyncClient(base_url=mesh.base_url.rsplit("/api/", 1)[0]) as client:
        deadline = time.monotonic() + most_seconds
        while time.monotonic() < deadline:
            body = (await client.get("/readyz")).json()
            if str(body.get("engine", {}).get("persistenceLag", "1")) == "0":
                return
            await asyncio.sleep(0.2)
    print("persistence did not catch up; measuring anyway", flush=True)


async def bench(mesh: Mesh, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=max(args.clients, 64), max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=mesh.base_url, limits=limits, timeout=30) as client:
        markets = {m["symbol"]: m for m in (await client.get("/markets")).json()}
        market = markets[args.market]
        maker = OrderMaker(args.market, Decimal(market["tickSize"]), market["lotSize"])
        traders = list(await asyncio.gather(*(sign_up(client, market["quoteAsset"])
                                              for _ in range(args.users))))
    pool = Pool(mesh.ports["gateway_port"], "/api/v1/orders", args.connections)
    try:
        # Warm up: connections, caches, the engine's first orders.
        await saturation(pool, traders, maker, args.clients, 2.0)
        print(f"gateway pid {mesh.gateway_pid()}; load {os.getloadavg()}", flush=True)
        await settled(mesh)  # the open loop measures a steady state, not a backlog
        with cpu_split(mesh.proc.pid):
            await open_loop(pool, traders, maker, args.rate, args.rate_seconds)
        with cpu_split(mesh.proc.pid):
            await saturation(pool, traders, maker, args.clients, args.seconds)
        if args.keep_up:
            print(f"keeping the mesh up {args.keep_up}s (saturating; profile the gateway)",
                  flush=True)
            await saturation(pool, traders, maker, args.clients, args.keep_up)
        print(f"load after {os.getloadavg()}; transport failures {pool.failures}", flush=True)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=64, help="concurrent callers")
    parser.add_argument("--seconds", type=float, default=10.0, help="saturation run length")
    parser.add_argument("--connections", type=int, default=64,
                        help="keep-alive connections (the open loop's concurrency cap)")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop orders/s")
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--market", default="SOL-USD")
    parser.add_argument("--keep-up", type=float, default=0.0,
                        help="then saturate this many more seconds (to profile)")
    args = parser.parse_args()
    with running_mesh() as mesh:
        print(f"mesh up: {mesh.base_url}", flush=True)
        event_loop.run(bench(mesh, args), "uvloop")


if __name__ == "__main__":
    main()
