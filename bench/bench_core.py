"""Benchmark of the pure engine core (not a test).

A seeded mixed workload over every default market: passive limits near the mid, cancels
of live orders, crossing limits (GTC and IOC) and market orders, across many users.
Prints commands/s and p50/p99/p99.9 latency of ``Engine.apply``.

    python bench/bench_core.py            # 1,000,000 commands
    python bench/bench_core.py -n 200000 --seed 3 --profile
    python bench/bench_core.py --tune-gc  # larger gen0 GC threshold, as a service would
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import time
from collections import Counter
from typing import Any

from engine_svc.core import (
    CancelOrder,
    Command,
    Deposit,
    Engine,
    OrderAccepted,
    OrderType,
    PlaceOrder,
    Side,
    TimeInForce,
    default_markets,
)

MIDS = {"BTC-PERP": 500_000, "ETH-PERP": 300_000, "SOL-PERP": 150_000, "SOL-USD": 150_000}


class Workload:
    """Generates the next command from a seeded RNG and the live order ids seen so far."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = random.Random(seed)
        self.users = [f"user{i}" for i in range(users)]
        self.markets = list(MIDS)
        self.live: list[tuple[str, int]] = []
        self.ts = 0

    def funding(self) -> list[Command]:
        cmds: list[Command] = []
        for u in self.users:
            cmds.append(Deposit(user_id=u, asset="USD", amount=10**15, tx_id=f"usd-{u}"))
            cmds.append(Deposit(user_id=u, asset="SOL", amount=10**14, tx_id=f"sol-{u}"))
        return cmds

    def next(self) -> Command:
        rng = self.rng
        self.ts += 1
        roll = rng.random()
        if roll < 0.35 and self.live:
            i = rng.randrange(len(self.live))
            self.live[i], self.live[-1] = self.live[-1], self.live[i]
            user, oid = self.live.pop()
            return CancelOrder(user_id=user, order_id=oid, ts=self.ts)
        user = rng.choice(self.users)
        market = rng.choice(self.markets)
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        lev = 10 if market.endswith("PERP") else 1
        qty = rng.randint(1, 20)
        mid = MIDS[market]
        sign = -1 if side is Side.BUY else 1
        if roll < 0.80:  # passive limit near the mid
            price = mid + sign * rng.randint(1, 50)
            return PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                              price=price, leverage=lev, ts=self.ts)
        if roll < 0.93:  # crossing limit
            price = mid - sign * rng.randint(0, 10)
            tif = TimeInForce.IOC if rng.random() < 0.5 else TimeInForce.GTC
            return PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                              price=price, tif=tif, leverage=lev, ts=self.ts)
        return PlaceOrder(user_id=user, market=market, side=side, quantity=qty,
                          type=OrderType.MARKET, leverage=lev, ts=self.ts)

    def observe(self, events: list[Any]) -> None:
        for e in events:
            if type(e) is OrderAccepted and e.type is OrderType.LIMIT:
                self.live.append((e.user_id, e.order_id))


def record(n: int, seed: int, users: int) -> tuple[list[Command], list[Command]]:
    """Generate (setup, measured) commands by driving a scratch engine (not timed)."""
    engine = Engine(default_markets())
    work = Workload(seed, users)
    setup = work.funding()
    for cmd in setup:
        engine.apply(cmd)
    for _ in range(2_000):  # warm the books up
        cmd = work.next()
        setup.append(cmd)
        work.observe(engine.apply(cmd))
    measured = []
    for _ in range(n):
        cmd = work.next()
        measured.append(cmd)
        work.observe(engine.apply(cmd))
    return setup, measured


def fresh(setup: list[Command]) -> Engine:
    engine = Engine(default_markets())
    for cmd in setup:
        engine.apply(cmd)
    return engine


def throughput(setup: list[Command], cmds: list[Command]) -> tuple[float, float]:
    """(wall, cpu) commands/s of a tight replay loop, no per-command timer."""
    apply = fresh(setup).apply
    wall, cpu = time.perf_counter(), time.thread_time()
    for cmd in cmds:
        apply(cmd)
    return len(cmds) / (time.perf_counter() - wall), len(cmds) / (time.thread_time() - cpu)


class GcPauses:
    """Counts cyclic-GC passes per generation and their total/max pause (a gc callback)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.total_ns = [0, 0, 0]
        self.max_ns = [0, 0, 0]
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
            return
        gen, took = info["generation"], time.perf_counter_ns() - self._t0
        self.count[gen] += 1
        self.total_ns[gen] += took
        self.max_ns[gen] = max(self.max_ns[gen], took)

    def report(self) -> str:
        return "  ".join(f"gen{g}: {self.count[g]} passes, {self.total_ns[g] / 1e6:.1f} ms "
                         f"(max {self.max_ns[g] / 1e3:.0f} us)" for g in range(3))


def latencies(setup: list[Command], cmds: list[Command]
              ) -> tuple[list[int], Engine, GcPauses]:
    """perf_counter_ns around every apply, on a second fresh replay (GC passes recorded)."""
    engine = fresh(setup)
    apply, clock = engine.apply, time.perf_counter_ns
    out = [0] * len(cmds)
    gc.freeze()  # the 200k-slot timing list would otherwise be re-scanned by every GC pass
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    try:
        for i, cmd in enumerate(cmds):
            t0 = clock()
            apply(cmd)
            out[i] = clock() - t0
    finally:
        gc.callbacks.remove(pauses)
    return out, engine, pauses


def pct(sorted_ns: list[int], q: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="commands to apply")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile the run")
    parser.add_argument("--tune-gc", action="store_true",
                        help="raise the gen0 GC threshold, as a service would run")
    args = parser.parse_args()
    setup, cmds = record(args.n, args.seed, args.users)
    gc.collect()
    gc.freeze()  # the recorded commands are scaffolding: keep them out of GC passes
    if args.tune_gc:
        gc.set_threshold(50_000, 50, 100)
    if args.profile:
        engine = fresh(setup)
        prof = cProfile.Profile()
        prof.enable()
        for cmd in cmds:
            engine.apply(cmd)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    wall_rate, cpu_rate = throughput(setup, cmds)
    lat, engine, pauses = latencies(setup, cmds)
    lat.sort()
    fills = engine.snapshot()["next_fill_id"] - 1
    kinds = Counter(type(c).__name__ + (f"/{c.type.value}" if isinstance(c, PlaceOrder) else "")
                    for c in cmds)
    print(f"commands: {args.n:,} {dict(kinds)}  fills: {fills:,}")
    print(f"throughput: {wall_rate:,.0f} commands/s wall, {cpu_rate:,.0f} commands/s cpu-time")
    print(f"apply latency us: p50 {pct(lat, 0.5):.2f}  p99 {pct(lat, 0.99):.2f}  "
          f"p99.9 {pct(lat, 0.999):.2f}  max {lat[-1] / 1000:.1f}")
    print(f"gc during the latency run: {pauses.report()}")
    print(f"state hash: {engine.state_hash()[:16]}")


if __name__ == "__main__":
    main()
