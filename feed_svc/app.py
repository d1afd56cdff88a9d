"""The feed service's composition root: hub, Redis relay, oracle, gRPC ``Feed`` and the
WebSocket bridge.

`trademesh feed` runs :func:`run`: gRPC on ``feed_port``, WebSocket on ``ws_port`` at
``/ws``; the 24h figures are rebuilt from persistence at start (:mod:`feed_svc.seeder`).
Health is SERVING while Redis (the fan-out) answers. :class:`FeedNode` is the same
assembly, startable and stoppable in-process (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from trademesh.v1 import feed_pb2, feed_pb2_grpc

from feed_svc import codec
from feed_svc.admission import DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, ConnectionCap
from feed_svc.backpack import BackpackOracle
from feed_svc.hub import TICKERS_INTERVAL_MS, Hub
from feed_svc.oracle import SimulatedOracle
from feed_svc.relay import Relay
from feed_svc.seeder import Seeder
from feed_svc.servicer import FeedServicer
from feed_svc.session import Limits
from feed_svc.ws_bridge import Bridge, build_app
from mesh_runtime.builtin_markets import BUILTIN_MARKETS
from mesh_runtime.client_address import TrustedProxies
from mesh_runtime.config import Settings
from mesh_runtime.dependencies import redis_probe, watch_health
from mesh_runtime.gc_tuning import tune_gc
from mesh_runtime.http_serving import AsgiServer
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.serving import GrpcService, Registrar, serve_until_signal
from mesh_runtime.tokens import TokenVerifier

SERVICE_NAME = feed_pb2.DESCRIPTOR.services_by_name["Feed"].full_name
DEFAULT_MARKETS = BUILTIN_MARKETS
log = logging.getLogger("trademesh.feed")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """The feed's knobs; :meth:`from_settings` reads them from ``TRADEMESH_FEED_*``."""

    markets: tuple[str, ...] = DEFAULT_MARKETS
    oracle: str = "simulated"  # simulated | backpack | off
    oracle_seed: int = 1
    oracle_interval_seconds: float = 1.0
    backpack_url: str = "wss://ws.backpack.exchange"
    relay_channel: str = "trademesh:feed:market-data"
    limits: Limits = field(default_factory=Limits)
    # WebSocket connections one client address may hold; proxies whose X-Forwarded-For
    # names the address (feed_svc.admission)
    max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS
    trusted_proxies: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedConfig:
        return cls(oracle=settings.feed_oracle, oracle_seed=settings.feed_oracle_seed,
                   oracle_interval_seconds=settings.feed_oracle_interval_seconds,
                   backpack_url=settings.feed_backpack_url,
                   limits=Limits(max_subscriptions=settings.feed_max_subscriptions,
                                 max_message_bytes=settings.feed_max_message_bytes,
                                 queue=settings.feed_queue_size,
                                 requests_per_second=settings.feed_requests_per_second),
                   max_connections_per_address=settings.feed_max_connections_per_address,
                   trusted_proxies=settings.trusted_proxies)


def register(servicer: feed_pb2_grpc.FeedServicer) -> Registrar:
    def add(server: grpc.aio.Server) -> list[str]:
        feed_pb2_grpc.add_FeedServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return add


class FeedNode:
    """One feed replica: everything but the process' signal handling."""

    def __init__(self, settings: Settings, config: FeedConfig | None = None, *,
                 clock_ms: Callable[[], int] = wall_clock_ms, grpc_port: int | None = None,
                 mesh_port: int | None = None, ws_port: int | None = None) -> None:
        self.config = config = config or FeedConfig()
        verifier = TokenVerifier.from_file(settings.public_key_path, settings.jwt_issuer,
                                           settings.jwt_audience)
        self._clock = clock_ms
        self.hub = Hub(config.markets, clock_ms)
        self.relay = Relay(settings.redis_dsn, self.hub.apply, channel=config.relay_channel)
        self.seeder = Seeder(self.hub, settings.mesh_address("persistence"),
                             settings.tls_files("feed"), clock_ms)
        self.oracle: SimulatedOracle | BackpackOracle | None = None
        if config.oracle == "simulated":
            self.oracle = SimulatedOracle(seed=config.oracle_seed)
        elif config.oracle == "backpack":
            self.oracle = BackpackOracle(config.backpack_url)
        self.revocations = RedisRevocations.from_url(settings.redis_dsn)
        tokens = TokenCheck(verifier, self.revocations)
        servicer = FeedServicer(self.hub, self.relay.publish, self.oracle, tokens, clock_ms,
                                queue=config.limits.queue,
                                token_recheck_seconds=config.limits.token_recheck_seconds)
        self.service = GrpcService(
            "feed", settings.host, settings.feed_port if grpc_port is None else grpc_port,
            [register(servicer)], tls=settings.tls_files("feed"),
            mesh_port=settings.feed_mesh_port if mesh_port is None else mesh_port,
            token_check=tokens,
            grace_seconds=settings.shutdown_grace_seconds)
        cap = ConnectionCap(config.max_connections_per_address,
                            TrustedProxies.parse(config.trusted_proxies))
        self.bridge = Bridge(self.hub, tokens, config.limits, cap)
        self.ws = AsgiServer(build_app(self.bridge), settings.host,
                             settings.ws_port if ws_port is None else ws_port,
                             settings.log_level, grace_seconds=1,
                             ws_deflate=False)  # frames are shared bytes: never compressed
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Starts serving (for in-process use; :func:`run` uses serve_until_signal)."""
        await self.service.start()
        await self.service.set_serving(True)
        self._tasks = [asyncio.create_task(loop()) for loop in
                       (self.relay.run, self.ticks, self.pace_tickers, self.seeder.run,
                        self.run_oracle, self.ws.serve)]
        await asyncio.wait_for(self.relay.subscribed.wait(), 30)
        for _ in range(3000):  # bounded: uvicorn sets no event when it is up
            if self.ws.started:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the WebSocket server did not start")

    async def stop(self) -> None:
        self.ws.stop()
        for task in self._tasks[:-1]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.service.stop()
        await self.revocations.close()

    async def ticks(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.hub.tick()

    async def pace_tickers(self) -> None:
        while True:
            await asyncio.sleep(TICKERS_INTERVAL_MS / 1000)
            self.hub.flush_tickers()

    async def run_oracle(self) -> None:
        oracle = self.oracle
        if isinstance(oracle, SimulatedOracle):
            while True:
                for market, price in oracle.step():
                    self.relay.publish(codec.index_request(market, price, self._clock()))
                await asyncio.sleep(self.config.oracle_interval_seconds)
        elif isinstance(oracle, BackpackOracle):
            async for market, price, ts in oracle.prices():
                self.relay.publish(codec.index_request(market, price, ts))


async def run(settings: Settings) -> None:
    node = FeedNode(settings, FeedConfig.from_settings(settings))
    tune_gc()
    ws_task = asyncio.create_task(node.ws.serve())

    async def stop_ws() -> None:
        node.ws.stop()
        await ws_task

    probes = [("redis", redis_probe(settings.redis_dsn))]
    await serve_until_signal(
        node.service,
        background=[lambda: watch_health(node.service, probes), node.relay.run, node.ticks,
                    node.pace_tickers, node.seeder.run, node.run_oracle],
        cleanup=[stop_ws])
