"""Unary PlaceOrder at saturation from an outside client: h2load (nghttp2's HTTP/2 load
generator, C; Debian's ``nghttp2-client``).

A Python gRPC client on the same two cores spends about as much CPU per call as the engine
does, so the in-process saturation run measures the pair. h2load sends gRPC's framing
itself (one length-prefixed message per POST, ``content-type: application/grpc``) over TLS
to the engine's public listener with each user's bearer token: several processes, one user
each, half buying and half selling 0.1 SOL at 100.00, so orders rest and cross (fills
between users, no self-trade cancels).

h2load counts HTTP answers, and a gRPC error is an HTTP 200 too: the figure reported is the
engine's own count of PlaceOrder calls answered OK (``grpc_server_handled_total`` from its
``/metrics``), and the run says how many answers were not OK.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import time
import urllib.request
from collections import Counter

from trademesh.v1 import engine_pb2, order_pb2

from bench.engine_harness import RunningEngine

_HANDLED = re.compile(r'^grpc_server_handled_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_BATCHES = re.compile(r'^trademesh_engine_batch_commands_(?P<what>count|sum) (?P<value>\S+)$', re.M)


def grpc_frame(message: bytes) -> bytes:
    """One uncompressed gRPC message: flag 0, big-endian length, the bytes."""
    return b"\0" + struct.pack(">I", len(message)) + message


def engine_counts(metrics_url: str) -> Counter[str]:
    """From the engine's metrics so far: unary PlaceOrder calls by gRPC code (``OK``,
    ``CANCELLED``, ...), sequencer ``batches`` (journal writes) and the ``commands`` in them."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
    with direct.open(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    counts: Counter[str] = Counter()
    for match in _HANDLED.finditer(text):
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("grpc_method") == "PlaceOrder" and labels.get("grpc_type") == "unary":
            counts[labels["grpc_code"]] += int(float(match["value"]))
    for match in _BATCHES.finditer(text):
        counts["batches" if match["what"] == "count" else "commands"] = int(float(match["value"]))
    return counts


async def h2load_saturation(engine: RunningEngine, users: list[str], seconds: float,
                            processes: int = 4, streams: int = 64) -> None:
    """``processes`` h2load runs at once (one connection, ``streams // processes``
    concurrent calls each), for ``seconds``."""
    if shutil.which("h2load") is None:
        print("  unary saturation from h2load: skipped (not installed; Debian: "
              "apt-get install nghttp2-client)")
        return
    commands = []
    for i in range(processes):
        side = order_pb2.BUY if i % 2 == 0 else order_pb2.SELL
        request = engine_pb2.PlaceOrderRequest(
            market="SOL-USD", side=side, type=order_pb2.LIMIT, quantity="0.1", price="100.00",
            time_in_force=order_pb2.GTC)
        body = engine.data_dir / f"h2load-{i}.bin"
        body.write_bytes(grpc_frame(request.SerializeToString()))
        token = dict(engine.metadata(users[i]))["authorization"]
        commands.append([
            "h2load", "--duration", str(int(seconds)), "--clients", "1",
            "--max-concurrent-streams", str(max(1, streams // processes)),
            "--data", str(body), "--header", "content-type: application/grpc",
            "--header", "te: trailers", "--header", f"authorization: {token}",
            f"https://{engine.address}/trademesh.v1.Engine/PlaceOrder"])
    before = await asyncio.to_thread(engine_counts, engine.metrics_url)
    began, cpu = time.perf_counter(), engine.cpu_seconds()
    runs = [await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        for command in commands]
    outputs = [(await run.communicate())[0].decode() for run in runs]
    elapsed, cpu = time.perf_counter() - began, engine.cpu_seconds() - cpu
    after = await asyncio.to_thread(engine_counts, engine.metrics_url)
    counts = after - before
    ok, batches, written = counts.pop("OK", 0), counts.pop("batches", 0), counts.pop("commands", 0)
    other = sum(counts.values())
    refused = ", ".join(f"{n} {code}" for code, n in counts.most_common()) or "none"
    answered = sum(int(m[1]) for out in outputs
                   for m in re.finditer(r"^status codes: (\d+) 2xx", out, re.M))
    print(f"  unary saturation from h2load ({processes} processes, {streams} calls in flight): "
          f"{ok / elapsed:.0f} orders/s answered OK, engine CPU "
          f"{cpu / max(1, ok + other) * 1e6:.0f} µs per call; not OK: {refused} (h2load "
          f"resets the calls in flight when it stops); {answered} HTTP 2xx answers; "
          f"{written / max(1, batches):.1f} commands per journal write")
    if ok == 0:
        print(outputs[0][-2000:])
