"""Feed fan-out benchmark: N WebSocket clients on ``trades@M`` and ``depth@M`` while the
engine runs a steady order flow.

    python bench/bench_feed.py --clients 100 1000 --rate 100 --seconds 20

Starts embedded Redis and PostgreSQL, the engine (with its market-data publisher) and the
feed (``feed_svc.app.run``) as child processes, then from this process: a maker resting a
deep ask ladder on SOL-USD and a taker buying ``--rate`` times a second (one trade and one
depth diff each), and N clients. Reports delivered messages/s and the delay from the
engine event's time (the command's timestamp) to a client's receipt, p50/p99/max, measured
on a sample of clients (every client counts its messages and trades: ``trades_per_client_min``
equal to ``trades`` means every client got every trade; sampled clients also check order).
Every client connects from 127.0.0.1, so the benchmark raises its own feed's per-address
cap (``TRADEMESH_FEED_MAX_CONNECTIONS_PER_ADDRESS``) to the largest ``--clients`` and some,
and its own soft open-files limit (``RLIMIT_NOFILE``, inherited by the feed it starts) to
what that many sockets need, up to the hard limit (nothing system-wide).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path

from trademesh.v1 import engine_pb2, engine_pb2_grpc, feed_pb2, feed_pb2_grpc, order_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.engine_harness import bench_pki, wait_serving
from mesh_runtime import event_loop
from mesh_runtime.child_process import die_with_parent
from mesh_runtime.config import Settings
from mesh_runtime.embedded_postgres import EmbeddedPostgres
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.ports import free_port
from mesh_runtime.tls import tls_channel
from mesh_runtime.tokens import TokenSigner, ensure_keypair

MARKET = "SOL-USD"
SAMPLED = 50
#: BENCH_FEED_TIMELINE=path: every sampled delay as (where, receipt ms, delay ms) to a JSON file
TIMELINE: list[tuple[str, float, float]] | None = [] if os.environ.get(
    "BENCH_FEED_TIMELINE") else None


async def engine_role() -> None:
    """The engine as `trademesh engine` runs it, plus the publisher wiring of issue 6."""
    from engine_svc.app import build, register, wall_clock_ms
    from engine_svc.market_data import MarketDataPublisher
    from engine_svc.servicer import EngineServicer
    from mesh_runtime.dependencies import redis_probe, watch_health
    from mesh_runtime.revocation import TokenCheck
    from mesh_runtime.serving import GrpcService, serve_until_signal
    from mesh_runtime.tokens import TokenVerifier

    settings = Settings.from_env()
    verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                       settings.jwt_audience)
    async with AsyncExitStack() as stack:
        sequencer, _ = await build(settings, stack)
        publisher = MarketDataPublisher(sequencer, settings)
        sequencer.add_listener(publisher)
        task = asyncio.create_task(sequencer.run())
        service = GrpcService("engine", settings.host, settings.engine_port, [register(
            EngineServicer(sequencer, wall_clock_ms, depth=publisher.depth))],
            tls=settings.tls_files("engine"), mesh_port=settings.engine_mesh_port,
            token_check=TokenCheck(verifier, None))

        async def stop() -> None:
            await sequencer.close()
            await task

        probes = [("redis", redis_probe(settings.redis_dsn))]
        await serve_until_signal(service, background=[
            publisher.run, lambda: watch_health(service, probes)], cleanup=[stop])


async def feed_role() -> None:
    from feed_svc.app import run
    # no persistence runs here: the feed's 24h seed would retry (and say so) all along
    logging.getLogger("trademesh.feed.seeder").setLevel(logging.ERROR)
    profile_to = os.environ.get("BENCH_FEED_PROFILE")  # a path: profile the feed into it
    if not profile_to:
        await run(Settings.from_env())
        return
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run(Settings.from_env())
    finally:
        profiler.disable()
        profiler.dump_stats(profile_to)


class Client(asyncio.Protocol):
    """One lean WebSocket client: a raw asyncio protocol that parses frames itself, counts
    every message of every frame (each data message holds ``"stream"`` once) and, when
    sampled, decodes the frames with trades to time them. A thousand ``websockets``
    clients in one process spend more CPU than the feed under test and so would measure
    themselves; this one costs a few microseconds a frame and still checks every frame
    (final, unmasked text frames; pings answered; a close frame's reason kept)."""

    def __init__(self, sampled: bool) -> None:
        self.sampled, self.messages, self.frames, self.trades = sampled, 0, 0, 0
        self.last_trade_id, self.out_of_order = 0, 0
        self.delays: list[float] = []
        self.counting = False
        self.closed_reason: str | None = None
        self._buffer = bytearray()
        self._open = False
        self._transport: asyncio.Transport | None = None
        self.ready = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, "127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        assert self._transport is not None
        self._transport.write(
            (f"GET /ws?batch=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await asyncio.wait_for(self.ready.wait(), 60)
        self._send(0x1, json.dumps({"method": "SUBSCRIBE", "id": 1, "params": [
            f"trades@{MARKET}", f"depth@{MARKET}"]}).encode())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_reason is None:
            self.closed_reason = f"lost: {exc}"
        self.done.set()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        assert len(payload) < 126 and self._transport is not None
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:200])
            del buffer[:end + 4]
            self._open = True
            self.ready.set()
        at, size = 0, len(buffer)
        while size - at >= 2:
            first, length = buffer[at], buffer[at + 1]
            head = 2
            if length == 126:
                head = 4
                if size - at < head:
                    break
                length = int.from_bytes(buffer[at + 2:at + 4], "big")
            elif length == 127:
                head = 10
                if size - at < head:
                    break
                length = int.from_bytes(buffer[at + 2:at + 10], "big")
            if size - at < head + length:
                break
            payload = bytes(buffer[at + head:at + head + length])
            at += head + length
            self._on_frame(first, payload)
        del buffer[:at]

    def _on_frame(self, first: int, payload: bytes) -> None:
        opcode = first & 0x0F
        if opcode == 0x9:
            self._send(0xA, payload)
            return
        if opcode == 0x8:
            self.closed_reason = payload[2:].decode() or "closed"
            return
        assert first == 0x81, f"not a final text frame: {first:#x}"
        if not self.counting:
            return
        now = time.time() * 1000
        self.frames += 1
        self.messages += payload.count(b'"stream"')
        trades = payload.count(b'"trades@')
        self.trades += trades
        if self.sampled and trades:
            items = json.loads(payload)
            for item in items if isinstance(items, list) else [items]:
                if item.get("stream", "").startswith("trades@"):
                    data = item["data"]
                    when = datetime.fromisoformat(data["time"]).timestamp() * 1000
                    self.delays.append(now - when)
                    if TIMELINE is not None:
                        TIMELINE.append(("ws", now, now - when))
                    trade_id = int(data["tradeId"])
                    self.out_of_order += trade_id <= self.last_trade_id
                    self.last_trade_id = trade_id


async def probe(address: str, ca_pem: bytes, delays: list[float],
                counting: asyncio.Event) -> None:
    """One gRPC ``Subscribe`` to the trades: the delay up to the feed's hub, the part of
    the clients' delay that the WebSocket side cannot change."""
    async with tls_channel(address, ca_pem) as channel:
        stub = feed_pb2_grpc.FeedStub(channel)
        request = feed_pb2.SubscribeRequest(channels=[f"trades@{MARKET}"])
        async for response in stub.Subscribe(request):
            if counting.is_set() and response.WhichOneof("data") == "trade":
                now = time.time() * 1000
                delays.append(now - response.trade.time.ToMilliseconds())
                if TIMELINE is not None:
                    TIMELINE.append(("hub", now, delays[-1]))


async def order_flow(address: str, ca_pem: bytes, signer: TokenSigner, rate: int,
                     seconds: float) -> int:
    async with tls_channel(address, ca_pem) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        maker = (("authorization", f"Bearer {signer.issue('maker')[0]}"),)
        taker = (("authorization", f"Bearer {signer.issue('taker')[0]}"),)
        buy = engine_pb2.PlaceOrderRequest(market=MARKET, side=order_pb2.BUY,
                                           type=order_pb2.LIMIT, price="101", quantity="0.01")
        loop, sent = asyncio.get_running_loop(), 0
        pending: set[asyncio.Task[object]] = set()

        async def place() -> object:
            return await stub.PlaceOrder(buy, metadata=taker, timeout=30)

        start = loop.time()
        while loop.time() - start < seconds:
            target = int((loop.time() - start) * rate)
            while sent < target:
                task = asyncio.create_task(place())
                pending.add(task)
                task.add_done_callback(pending.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*pending)
        del maker
        return sent


async def prepare_book(address: str, ca_pem: bytes, signer: TokenSigner) -> None:
    async with tls_channel(address, ca_pem) as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        for user, asset, amount in (("maker", "SOL", "10000000"), ("taker", "USD", "1000000000")):
            await stub.Deposit(engine_pb2.DepositRequest(asset=asset, amount=amount,
                                                         transaction_id=f"{user}-seed"),
                               metadata=(("authorization", f"Bearer {signer.issue(user)[0]}"),))
        maker = (("authorization", f"Bearer {signer.issue('maker')[0]}"),)
        for level in range(20):
            await stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
                market=MARKET, side=order_pb2.SELL, type=order_pb2.LIMIT,
                price=f"{100 + level / 10:.1f}", quantity="10000"), metadata=maker)
            await stub.PlaceOrder(engine_pb2.PlaceOrderRequest(
                market=MARKET, side=order_pb2.BUY, type=order_pb2.LIMIT,
                price=f"{99 - level / 10:.1f}", quantity="1"), metadata=(
                ("authorization", f"Bearer {signer.issue('taker')[0]}"),))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_round(settings: Settings, signer: TokenSigner, clients: int, rate: int,
                    seconds: float, pids: dict[str, int]) -> dict[str, object]:
    step = max(1, clients // SAMPLED)  # sampled clients spread over the connection order
    fleet = [Client(i % step == step - 1) for i in range(clients)]
    for i, client in enumerate(fleet):
        await client.run(settings.ws_port)
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    probe_delays: list[float] = []
    counting = asyncio.Event()
    ca_pem = settings.ca_path.read_bytes()
    prober = asyncio.create_task(probe(settings.address("feed"), ca_pem, probe_delays,
                                       counting))
    await asyncio.sleep(1.0)  # snapshots and replies delivered
    for client in fleet:
        client.counting = True
    counting.set()
    print(f"{clients} clients connected; order flow starts", file=sys.stderr, flush=True)
    started, cpu0 = time.monotonic(), {k: cpu_seconds(p) for k, p in pids.items()}
    own0 = time.process_time()
    trades = await order_flow(settings.address("engine"), ca_pem, signer, rate, seconds)
    await asyncio.sleep(1.0)  # let the tail arrive
    elapsed = time.monotonic() - started
    cpu = {f"cpu_{k}_pct": round(100 * (cpu_seconds(p) - cpu0[k]) / elapsed)
           for k, p in pids.items()}
    cpu["cpu_clients_pct"] = round(100 * (time.process_time() - own0) / elapsed)
    disconnected = sum(c.closed_reason is not None for c in fleet)
    prober.cancel()
    await asyncio.gather(prober, return_exceptions=True)
    probe_delays.sort()
    if TIMELINE is not None:
        await asyncio.to_thread(Path(os.environ["BENCH_FEED_TIMELINE"]).write_text,
                                json.dumps(TIMELINE))
        TIMELINE.clear()
    for client in fleet:
        client.close()
    await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in fleet)), 60)
    delays = sorted(d for c in fleet for d in c.delays)
    messages = sum(c.messages for c in fleet)
    return {"clients": clients, "trades": trades, "seconds": round(elapsed, 1),
            "messages": messages, "messages_per_s": round(messages / elapsed),
            "frames_per_s": round(sum(c.frames for c in fleet) / elapsed),
            "trades_per_client_min": min(c.trades for c in fleet),
            "out_of_order": sum(c.out_of_order for c in fleet),
            "delay_ms_p50": round(statistics.median(delays), 1) if delays else None,
            "delay_ms_p99": round(delays[int(len(delays) * 0.99) - 1], 1) if delays else None,
            "delay_ms_max": round(delays[-1], 1) if delays else None,
            "disconnected": disconnected,
            "hub_ms_p50": _at(probe_delays, 0.5), "hub_ms_p99": _at(probe_delays, 0.99), **cpu}


def _at(ordered: list[float], share: float) -> float | None:
    return round(ordered[max(0, int(len(ordered) * share) - 1)], 1) if ordered else None


def raise_open_files(clients: int) -> None:
    """A soft ``RLIMIT_NOFILE`` for ``clients`` sockets and some (this process and the
    children it starts); never above the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients + 1_024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        if ceiling < wanted:
            print(f"open files: at most {ceiling} (hard limit); {clients} clients need "
                  f"about {wanted}", file=sys.stderr)


async def main(args: argparse.Namespace) -> None:
    raise_open_files(max(args.clients))
    with tempfile.TemporaryDirectory(prefix="tm-bench-feed-") as tmp:
        data = Path(tmp)
        os.chmod(data, 0o755)
        redis = EmbeddedRedis(data / "redis", free_port(), appendfsync="everysec")
        postgres = EmbeddedPostgres(data / "pg", free_port())
        await redis.start()
        await postgres.start()
        private, public = data / "jwt.pem", data / "jwt.pub.pem"
        ensure_keypair(private, public)
        ca_pem = bench_pki(data)
        settings = Settings(data_dir=data, engine_port=free_port(), feed_port=free_port(),
                            engine_mesh_port=free_port(), feed_mesh_port=free_port(),
                            persistence_mesh_port=free_port(),
                            ws_port=free_port(), redis_url=redis.url, postgres_url=postgres.url,
                            jwt_private_key_file=str(private),
                            jwt_public_key_file=str(public), log_level="WARNING")
        settings = settings.with_overrides(  # every client is on 127.0.0.1
            feed_max_connections_per_address=max(args.clients) + 16)
        signer = TokenSigner.from_file(private, settings.jwt_issuer, settings.jwt_audience,
                                       3600)
        env = {**os.environ, **settings.as_env()}
        children = [await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--role", role, env=env,
            preexec_fn=die_with_parent(signal.SIGTERM, os.getpid()))
            for role in ("feed", "engine")]
        try:
            await wait_serving(settings.address("feed"), ca_pem)
            await wait_serving(settings.address("engine"), ca_pem)
            await prepare_book(settings.address("engine"), ca_pem, signer)
            for n in args.clients:
                pids = {"feed": children[0].pid, "engine": children[1].pid}
                result = await run_round(settings, signer, n, args.rate, args.seconds, pids)
                print(json.dumps(result), flush=True)
        finally:
            for child in children:
                child.terminate()
            for child in children:
                await asyncio.wait_for(child.wait(), 30)
            await postgres.stop()
            await redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["bench", "engine", "feed"], default="bench")
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=int, default=100, help="trades per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    arguments = parser.parse_args()
    role = {"engine": engine_role, "feed": feed_role}.get(arguments.role)
    if role:
        event_loop.run(role(), Settings.from_env().event_loop)
    else:
        asyncio.run(main(arguments))  # spawns children: the standard loop (Child)
