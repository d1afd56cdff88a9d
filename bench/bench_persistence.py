"""Benchmark of the event link into PostgreSQL (not a test).

Starts embedded Redis and PostgreSQL and a persistence process (``trademesh persistence``);
the engine side (sequencer, outbox, event link) runs in this process, as in the engine.

1. Throughput: a backlog of fills is produced with the link off, then the link is started
   and the time until persistence has committed all of it gives events/s and fills/s.
2. Lag: with the link on, orders are paced to produce ``--rate`` fills/s; for every fill
   the time from the engine's durable append to persistence's commit acknowledgement.

    python -m bench.bench_persistence           # 200,000 fills, then 1,000 fills/s
    python -m bench.bench_persistence --fills 50000 --rate 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from bench.bench_rest import cpu_seconds
from bench.engine_harness import bench_pki, wait_serving
from engine_svc.app import build
from engine_svc.core import Deposit, OrderFilled, OrderType, PlaceOrder, Side
from engine_svc.event_link import EventLink
from engine_svc.sequencer import Sequencer
from mesh_runtime.child_process import Child, ChildSpec
from mesh_runtime.config import Settings
from mesh_runtime.embedded_postgres import EmbeddedPostgres
from mesh_runtime.embedded_redis import EmbeddedRedis
from mesh_runtime.gc_tuning import tune_gc
from mesh_runtime.ports import free_port
from mesh_runtime.tokens import ensure_keypair

MAKERS = 10  # fills per taker order: one taker sweeps ten one-lot makers
_LABELS = {"bench client": "engine side (this process: the event link)"}


class TimedLink(EventLink):
    """Records when each committed sequence was acknowledged."""

    acks: list[tuple[int, float]]
    changed: asyncio.Event

    async def _acknowledged(self, committed: int) -> None:
        await super()._acknowledged(committed)
        self.acks.append((committed, time.perf_counter()))
        self.changed.set()

    async def reach(self, seq: int) -> None:
        while self.committed < seq:
            self.changed.clear()
            await self.changed.wait()


def round_of_fills(n: int, ts: int) -> list[Any]:
    """Ten makers rest one-lot sells; a taker sweeps them: ten fills."""
    price = 150_000 + n % 50
    makers = [PlaceOrder(user_id=f"m{i}", market="SOL-USD", side=Side.SELL, price=price,
                         quantity=1, ts=ts) for i in range(MAKERS)]
    taker = PlaceOrder(user_id=f"t{n % 7}", market="SOL-USD", side=Side.BUY,
                       type=OrderType.MARKET, quantity=MAKERS, ts=ts)
    return [*makers, taker]


async def fund(sequencer: Sequencer) -> None:
    users = [f"m{i}" for i in range(MAKERS)] + [f"t{i}" for i in range(7)]
    for u in users:
        for asset in ("USD", "SOL"):
            await sequencer.submit(Deposit(user_id=u, asset=asset, amount=10**17,
                                           tx_id=f"{asset}-{u}", ts=1), lambda ev, _: ev)


async def produce(sequencer: Sequencer, rounds: int, start: int = 0) -> int:
    fills = 0
    for r in range(start, start + rounds, 20):
        commands = [c for n in range(r, min(r + 20, start + rounds))
                    for c in round_of_fills(n, 1_700_000_000_000 + n)]
        results = await asyncio.gather(*(sequencer.submit(c, lambda ev, _: ev)
                                         for c in commands))
        fills += sum(isinstance(e, OrderFilled) for events in results for e in events)
    return fills


async def throughput(sequencer: Sequencer, link: TimedLink, fills_wanted: int
                     ) -> asyncio.Task[None]:
    fills = await produce(sequencer, fills_wanted // MAKERS)
    last = sequencer.engine.event_seq
    before, started = cpu_seconds(os.getpid()), time.perf_counter()
    task = asyncio.create_task(link.run())
    await link.reach(last)
    took = time.perf_counter() - started
    after = cpu_seconds(os.getpid())
    print(f"throughput: {last:,} events ({fills:,} fills) committed in {took:.2f}s: "
          f"{last / took:,.0f} events/s, {fills / took:,.0f} fills/s")
    costs = sorted(((seconds - before.get(name, 0.0), name) for name, seconds in after.items()),
                   reverse=True)
    print("  CPU per fill: " + ", ".join(
        f"{_LABELS.get(name, name)} {spent / fills * 1e6:,.0f} µs ({spent / took:.0%} of a core)"
        for spent, name in costs if spent > 0))
    return task


async def lag(sequencer: Sequencer, link: TimedLink, rate: int, seconds: float) -> None:
    emitted: list[tuple[int, float]] = []
    link.acks.clear()
    rounds_per_tick = max(1, rate // MAKERS // 100)  # a round every 10 ms
    start, n = time.perf_counter(), 10**7
    while time.perf_counter() - start < seconds:
        commands = [c for r in range(rounds_per_tick) for c in round_of_fills(n + r, n)]
        n += rounds_per_tick
        results = await asyncio.gather(*(sequencer.submit(c, lambda ev, _: ev)
                                         for c in commands))
        now = time.perf_counter()
        emitted.extend((e.seq, now) for events in results for e in events
                       if isinstance(e, OrderFilled))
        await asyncio.sleep(max(0.0, start + (n - 10**7) / (rate / MAKERS) - now))
    await link.reach(sequencer.engine.event_seq)
    report_lag(emitted, link.acks, time.perf_counter() - start)


def report_lag(emitted: list[tuple[int, float]], acks: list[tuple[int, float]],
               took: float) -> None:
    lags, i = [], 0
    for seq, at in emitted:
        while acks[i][0] < seq:
            i += 1
        lags.append(acks[i][1] - at)
    lags.sort()

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] * 1000

    print(f"lag at {len(emitted) / took:,.0f} fills/s ({len(emitted):,} fills): "
          f"p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {lags[-1] * 1000:.1f} ms")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tm-bench-persist-") as tmp:
        data = Path(tmp)
        os.chmod(data, 0o755)
        redis = EmbeddedRedis(data, free_port(), appendfsync=args.appendfsync)
        postgres = EmbeddedPostgres(data, free_port())
        await redis.start()
        await postgres.start()
        private, public = data / "keys" / "jwt.pem", data / "keys" / "jwt.pub.pem"
        ensure_keypair(private, public)
        ca_pem = bench_pki(data)  # the engine side dials persistence's mesh port as "engine"
        settings = Settings(data_dir=data, persistence_port=free_port(),
                            persistence_mesh_port=free_port(), redis_url=redis.url,
                            postgres_url=postgres.url, jwt_private_key_file=str(private),
                            jwt_public_key_file=str(public), log_level="WARNING")
        child = Child(ChildSpec("persistence",
                                [sys.executable, "-m", "trademesh_cli", "persistence"],
                                data / "logs" / "persistence.log",
                                {**os.environ, **settings.as_env()}))
        await child.start()
        try:
            await wait_serving(settings.address("persistence"), ca_pem)
            await run_engine_side(settings, args)
        finally:
            await child.stop()
            await postgres.stop()
            await redis.stop()


async def run_engine_side(settings: Settings, args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        sequencer, journal = await build(settings, stack)
        seq_task = asyncio.create_task(sequencer.run())
        link = TimedLink(journal, settings, sequencer.config, max_batch=args.batch)
        link.acks, link.changed = [], asyncio.Event()
        tune_gc()  # as the engine process does
        await fund(sequencer)
        link_task = await throughput(sequencer, link, args.fills)
        await lag(sequencer, link, args.rate, args.seconds)
        link_task.cancel()
        await sequencer.close()
        await seq_task


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=1000, help="fills/s for the lag test")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=5000, help="events per link batch")
    parser.add_argument("--appendfsync", default="everysec")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
