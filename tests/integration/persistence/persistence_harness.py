"""Real persistence (gRPC with TLS on 127.0.0.1) + real engine (sequencer, Redis outbox, event
link to persistence's mesh listener, as ``engine``)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import grpc
from trademesh.v1 import persistence_pb2_grpc

from engine_svc.app import build as build_engine
from engine_svc.core import (
    CancelOrder,
    Deposit,
    OrderFilled,
    OrderType,
    PlaceOrder,
    ReplaceOrder,
    Side,
    TimeInForce,
    Withdraw,
)
from engine_svc.core.events import Event
from engine_svc.event_link import EventLink
from engine_svc.sequencer import Sequencer
from mesh_runtime.config import Settings
from mesh_runtime.revocation import RedisRevocations, TokenCheck
from mesh_runtime.serving import GrpcService
from mesh_runtime.tokens import TokenVerifier
from persistence_svc.app import build as build_persistence
from persistence_svc.app import register
from tests.tls import user_channel

MIDS = {"BTC-PERP": 500_000, "SOL-USD": 150_000}
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000  # a UTC midnight


class Persistence:
    """The persistence service in-process; ``stop``/``start`` keep the same ports."""

    def __init__(self, settings: Settings, verifier: TokenVerifier) -> None:
        self.settings = settings
        self.verifier = verifier
        self.port = 0
        self.mesh_port = 0
        self.service: GrpcService | None = None
        self.stack: AsyncExitStack | None = None
        self.channel: grpc.aio.Channel | None = None

    @property
    def stub(self) -> persistence_pb2_grpc.PersistenceAsyncStub:
        if self.channel is None:
            self.channel = user_channel(f"127.0.0.1:{self.port}")
        return persistence_pb2_grpc.PersistenceStub(self.channel)

    async def start(self) -> None:
        self.stack = AsyncExitStack()
        servicer = await build_persistence(self.settings, self.stack)
        revocations = RedisRevocations.from_url(self.settings.redis_dsn)
        self.stack.push_async_callback(revocations.close)
        for attempt in range(100):  # the port of a stopped server frees up asynchronously
            try:
                self.service = GrpcService(
                    "persistence", "127.0.0.1", self.port, [register(servicer)],
                    tls=self.settings.tls_files("persistence"), mesh_port=self.mesh_port,
                    grace_seconds=0.2, token_check=TokenCheck(self.verifier, revocations))
                break
            except (RuntimeError, OSError):
                if attempt == 99:
                    raise
                await asyncio.sleep(0.05)
        assert self.service is not None
        await self.service.start()
        self.port, self.mesh_port = self.service.port, self.service.mesh_port

    @property
    def mesh_address(self) -> str:
        return f"127.0.0.1:{self.mesh_port}"

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close(None)
            self.channel = None
        if self.service is not None:
            await self.service.stop()
            self.service = None
        if self.stack is not None:
            await self.stack.aclose()
            self.stack = None


@dataclass
class EngineSide:
    """Sequencer + outbox + event link, fed by :meth:`submit` (events are recorded)."""

    settings: Settings
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    sequencer: Sequencer | None = None
    link: EventLink | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    async def start(self, with_link: bool = True) -> None:
        self.sequencer, journal = await build_engine(self.settings, self.stack)
        self.tasks.append(asyncio.create_task(self.sequencer.run()))
        if with_link:
            self.link = EventLink(journal, self.settings, self.sequencer.config, block_ms=200)
            self.tasks.append(asyncio.create_task(self.link.run()))

    async def submit(self, command: Any) -> list[Event]:
        assert self.sequencer is not None
        emitted: list[Event] = await self.sequencer.submit(command, lambda ev, _: ev)
        self.events.extend(emitted)
        return emitted

    async def stop(self) -> None:
        if self.sequencer is not None:
            await self.sequencer.close()
        for task in reversed(self.tasks):
            if task is not self.tasks[0]:
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.stack.aclose()

    async def drained(self, seconds: float = 30) -> None:
        """Waits until persistence has committed every event the engine emitted."""
        assert self.link is not None and self.sequencer is not None
        last = self.sequencer.engine.event_seq
        await wait_for(lambda: self.link is not None and self.link.committed >= last, seconds)


async def wait_for(predicate: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def scenario(seed: int, n: int, users: int = 6) -> list[Any]:
    """A seeded stream: deposits, then limit/market orders, cancels, replaces, withdrawals
    on SOL-USD (spot) and BTC-PERP, with times crossing minute boundaries."""
    rng = random.Random(seed)
    names = [f"user-{i}" for i in range(users)]
    out: list[Any] = []
    for u in names:
        out.append(Deposit(user_id=u, asset="USD", amount=10**11, tx_id=f"usd-{u}", ts=T0))
        out.append(Deposit(user_id=u, asset="SOL", amount=10**11, tx_id=f"sol-{u}", ts=T0))
    for i in range(n):
        out.append(_command(rng, rng.choice(names), i, T0 + i * 1_700))
    return out


def _command(rng: random.Random, u: str, i: int, ts: int) -> Any:
    mkt = rng.choice(list(MIDS))
    side = rng.choice([Side.BUY, Side.SELL])
    roll = rng.random()
    price = MIDS[mkt] + rng.randint(-30, 30)
    lev = rng.choice([1, 5, 10]) if mkt.endswith("PERP") else 1
    if roll < 0.6:
        tif = rng.choice([TimeInForce.GTC] * 4 + [TimeInForce.IOC])
        return PlaceOrder(user_id=u, market=mkt, side=side, price=price, tif=tif,
                          quantity=rng.randint(1, 30), ts=ts, leverage=lev)
    if roll < 0.75:
        return PlaceOrder(user_id=u, market=mkt, side=side, type=OrderType.MARKET,
                          quantity=rng.randint(1, 30), slippage_bps=100, ts=ts,
                          leverage=lev)
    recent = rng.randint(max(1, i // 2 - 30), i // 2 + 2)
    if roll < 0.88:
        return CancelOrder(user_id=u, order_id=recent, ts=ts)
    if roll < 0.97:
        return ReplaceOrder(user_id=u, order_id=recent, price=price,
                            quantity=rng.randint(1, 30), ts=ts)
    return Withdraw(user_id=u, asset=rng.choice(["USD", "SOL"]), amount=rng.randint(1, 10**6),
                    tx_id=f"w{i}", ts=ts)


def engine_fills(events: list[Event]) -> list[OrderFilled]:
    return [e for e in events if isinstance(e, OrderFilled)]


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def run_all(engine: EngineSide, commands: list[Any],
                  between: Callable[[int], Awaitable[None]] | None = None) -> None:
    for i, command in enumerate(commands):
        await engine.submit(command)
        if between is not None:
            await between(i)


async def assert_fills_match(engine: EngineSide) -> None:
    assert engine.sequencer is not None
    config = engine.sequencer.config
    fills = engine_fills(engine.events)
    assert fills
    rows = await fetch(engine.settings.postgres_dsn,
                       "SELECT count(*) AS n, count(DISTINCT (fill_id, liquidity)) AS d, "
                       "sum(quantity) AS q FROM fills")
    total = sum(config.markets[f.market].lots_to_qty(f.quantity) for f in fills)
    assert (rows[0]["n"], rows[0]["d"], rows[0]["q"]) == (2 * len(fills), 2 * len(fills),
                                                         2 * total)
