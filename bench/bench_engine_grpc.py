"""Engine throughput and latency through gRPC with the journal on.

Starts embedded Redis (``appendfsync always`` as shipped, or ``everysec``), embedded
PostgreSQL (snapshots) and a real ``trademesh engine`` process, then measures:

* unary PlaceOrder at a constant offered rate (open loop: latency from each request's
  *intended* send time, so queueing delay is counted);
* unary PlaceOrder at saturation (many concurrent callers), from this process and from
  an outside client, h2load (:mod:`bench.h2load_unary`);
* the streaming PlaceOrders rpc (many orders per message, several messages in flight),
  one stream per user, many users at once.

* the streaming rpc at a constant offered rate (50 orders per message).

Usage: python -m bench.bench_engine_grpc [--fsync always|everysec|both] [--rate 1000]
       [--seconds 10] [--stream-rate 5000] [--stream-orders 200000] [--batch 500]
       [--stream-users 16]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator

import grpc
from trademesh.v1 import engine_pb2, engine_pb2_grpc, order_pb2

from bench.engine_harness import RunningEngine, engine_process
from bench.h2load_unary import h2load_saturation

USERS = [f"bench-{i}" for i in range(64)]


def order(rng: random.Random) -> engine_pb2.PlaceOrderRequest:
    """A mixed flow on SOL-USD around 100: resting orders and crossing ones."""
    side = order_pb2.BUY if rng.random() < 0.5 else order_pb2.SELL
    # ticks of 0.01 from 100.00: buys mostly below, sells mostly above, some crossing
    offset = rng.randint(-5, 20) * (-1 if side == order_pb2.BUY else 1)
    cents = 10_000 + offset
    return engine_pb2.PlaceOrderRequest(
        market="SOL-USD", side=side, type=order_pb2.LIMIT, quantity="0.1",
        price=f"{cents // 100}.{cents % 100:02d}", time_in_force=order_pb2.GTC)


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (f"p50 {at(0.50):.2f} ms  p99 {at(0.99):.2f} ms  p99.9 {at(0.999):.2f} ms  "
            f"max {ordered[-1] * 1000:.2f} ms  mean {statistics.fmean(ordered) * 1000:.2f} ms")


async def fund(stub: engine_pb2_grpc.EngineAsyncStub, engine: RunningEngine) -> None:
    for user in USERS:
        for asset, amount in (("USD", "1000000000"), ("SOL", "10000000")):
            await stub.Deposit(engine_pb2.DepositRequest(
                asset=asset, amount=amount, transaction_id=f"{user}-{asset}"),
                metadata=engine.metadata(user))


async def fixed_rate(stub: engine_pb2_grpc.EngineAsyncStub, engine: RunningEngine, rate: float,
                     seconds: float) -> None:
    rng = random.Random(1)
    meta = {u: engine.metadata(u) for u in USERS}
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    start = time.perf_counter() + 0.1
    total = int(rate * seconds)

    async def one(intended: float, request: engine_pb2.PlaceOrderRequest, user: str) -> None:
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await stub.PlaceOrder(request, metadata=meta[user], timeout=30)
        except grpc.aio.AioRpcError as err:
            errors[f"{err.code().name}: {err.details()}"] += 1
        latencies.append(time.perf_counter() - intended)

    tasks = [asyncio.create_task(one(start + i / rate, order(rng), rng.choice(USERS)))
             for i in range(total)]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    print(f"  unary at {rate:.0f}/s offered: {total / elapsed:.0f}/s done, "
          f"{sum(errors.values())} errors; {percentiles(latencies)}")
    for error, count in errors.most_common(3):
        print(f"    {count} x {error}")


async def saturation(stub: engine_pb2_grpc.EngineAsyncStub, engine: RunningEngine, seconds: float,
                     workers: int = 64) -> None:
    meta = {u: engine.metadata(u) for u in USERS}
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            await stub.PlaceOrder(order(rng), metadata=meta[rng.choice(USERS)], timeout=30)
            latencies.append(time.perf_counter() - sent)

    began, cpu = time.perf_counter(), engine.cpu_seconds()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    elapsed, cpu = time.perf_counter() - began, engine.cpu_seconds() - cpu
    print(f"  unary saturation ({workers} callers): {len(latencies) / elapsed:.0f} orders/s, "
          f"engine CPU {cpu / max(1, len(latencies)) * 1e6:.0f} µs per order; "
          f"{percentiles(latencies)}")


async def streaming(stub: engine_pb2_grpc.EngineAsyncStub, engine: RunningEngine, total: int,
                    batch: int, users: int, in_flight: int = 4) -> None:
    """``users`` streams at once, one per user (a stream is one caller's), each with
    ``in_flight`` messages out: different users' crossing orders really match (one user's
    would cancel by self-trade prevention and hide the matching cost)."""
    rng = random.Random(2)
    per_user = max(1, total // batch // users)
    streams = [[engine_pb2.PlaceOrdersRequest(batch_id=i, orders=[order(rng) for _ in range(batch)])
                for i in range(per_user)] for _ in range(users)]
    latencies: list[float] = []
    counts = {"done": 0, "refused": 0, "filled": 0}

    async def one_stream(user: str, messages: list[engine_pb2.PlaceOrdersRequest]) -> None:
        window = asyncio.Semaphore(in_flight)
        sent_at: dict[int, float] = {}

        async def requests() -> AsyncIterator[engine_pb2.PlaceOrdersRequest]:
            for message in messages:
                await window.acquire()
                sent_at[message.batch_id] = time.perf_counter()
                yield message

        async for reply in stub.PlaceOrders(requests(), metadata=engine.metadata(user)):
            latencies.append(time.perf_counter() - sent_at[reply.batch_id])
            counts["done"] += len(reply.results)
            counts["refused"] += sum(1 for r in reply.results if r.error.code)
            counts["filled"] += sum(1 for r in reply.results if r.order.fills)
            window.release()

    began, cpu = time.perf_counter(), engine.cpu_seconds()
    await asyncio.gather(*(one_stream(USERS[i % len(USERS)], streams[i]) for i in range(users)))
    elapsed, cpu = time.perf_counter() - began, engine.cpu_seconds() - cpu
    print(f"  streaming ({users} users' streams, {batch}/message, {in_flight} in flight each): "
          f"{counts['done'] / elapsed:.0f} orders/s, engine CPU "
          f"{cpu / max(1, counts['done']) * 1e6:.0f} µs per order ({counts['done']} orders, "
          f"{counts['filled']} (partly) filled, {counts['refused']} refused); "
          f"per-message {percentiles(latencies)}")


async def streaming_fixed_rate(stub: engine_pb2_grpc.EngineAsyncStub, engine: RunningEngine,
                               rate: float, seconds: float, batch: int = 50) -> None:
    """Messages of ``batch`` orders sent at ``rate`` orders/s on one stream (open loop):
    each order's latency counts from its message's intended send time."""
    rng = random.Random(3)
    count = max(1, int(rate * seconds / batch))
    start = time.perf_counter() + 0.1
    intended = {i: start + i * batch / rate for i in range(count)}
    latencies: list[float] = []

    async def requests() -> AsyncIterator[engine_pb2.PlaceOrdersRequest]:
        for i in range(count):
            delay = intended[i] - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield engine_pb2.PlaceOrdersRequest(batch_id=i,
                                                orders=[order(rng) for _ in range(batch)])

    async for reply in stub.PlaceOrders(requests(), metadata=engine.metadata(USERS[1])):
        done = time.perf_counter()
        latencies.extend([done - intended[reply.batch_id]] * len(reply.results))
    elapsed = time.perf_counter() - start
    print(f"  streaming at {rate:.0f}/s offered ({batch}/message): "
          f"{len(latencies) / elapsed:.0f}/s done; per order {percentiles(latencies)}")


async def run(fsync: str, args: argparse.Namespace) -> None:
    print(f"journal appendfsync={fsync}")
    async with engine_process(fsync) as engine, \
            engine.channel() as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        await fund(stub, engine)
        await fixed_rate(stub, engine, args.rate, args.seconds)
        await saturation(stub, engine, args.seconds)
        await h2load_saturation(engine, USERS, args.seconds)
        await streaming_fixed_rate(stub, engine, args.stream_rate, args.seconds)
        await streaming(stub, engine, args.stream_orders, args.batch, args.stream_users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsync", choices=["always", "everysec", "both"], default="both")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--stream-rate", type=float, default=5000,
                        help="offered orders/s for the fixed-rate streaming run")
    parser.add_argument("--stream-orders", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--stream-users", type=int, default=16,
                        help="concurrent PlaceOrders streams, one user each")
    args = parser.parse_args()
    for fsync in (["always", "everysec"] if args.fsync == "both" else [args.fsync]):
        asyncio.run(run(fsync, args))  # spawns the engine: the standard loop (Child)


if __name__ == "__main__":
    main()
