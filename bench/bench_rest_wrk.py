"""REST saturation measured by an outside load generator: wrk (Debian's ``wrk``).

Starts ``trademesh up`` like :mod:`bench.bench_rest` (temp data dir, free loopback ports, no
market maker, rate limits raised), signs up ``--users`` traders with deposits, then runs
``wrk`` ``--runs`` times against ``POST /api/v1/orders``: GTC limit buys far below any ask
(they rest; nothing trades), each request from the next trader in turn (a Lua script holds
their tokens and a table of on-grid prices: no float ever makes a price). Prints each run's
orders/s, latency percentiles, non-201 answers and each mesh process's CPU time per
order, and the median of the runs.

Usage: python -m bench.bench_rest_wrk [--connections 64] [--threads 2] [--seconds 10]
       [--runs 3] [--users 64] [--market SOL-USD]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import httpx

from bench.bench_rest import Mesh, cpu_seconds, running_mesh, settled, sign_up

LUA = """
local tokens = %(tokens)s
local prices = %(prices)s
local market, lot = %(market)s, %(lot)s
local counter = 0
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local price = prices[math.random(#prices)]
  local body = '{"market":"' .. market .. '","side":"BUY","type":"LIMIT",' ..
               '"timeInForce":"GTC","quantity":"' .. lot .. '","price":"' .. price .. '"}'
  return wrk.format("POST", "/api/v1/orders",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"}, body)
end
"""

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def lua_list(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


async def prepare(mesh: Mesh, users: int, market_name: str) -> str:
    """Signs up the traders; returns the wrk script."""
    async with httpx.AsyncClient(base_url=mesh.base_url, timeout=30) as client:
        markets = {m["symbol"]: m for m in (await client.get("/markets")).json()}
        market = markets[market_name]
        traders = []
        for start in range(0, users, 16):  # bcrypt per sign-up: a few at a time
            traders += await asyncio.gather(*(sign_up(client, market["quoteAsset"])
                                              for _ in range(min(16, users - start))))
    tick = Decimal(market["tickSize"])
    prices = [str(ticks * tick) for ticks in range(1, 1001)]  # far below any ask
    return LUA % {"tokens": lua_list([t.token for t in traders]), "prices": lua_list(prices),
                  "market": json.dumps(market_name), "lot": json.dumps(market["lotSize"])}


def parse(output: str) -> dict[str, float]:
    """orders/s, p50/p90/p99 latency (ms) and non-2xx count from wrk's --latency output."""
    figures: dict[str, float] = {"non2xx": 0.0}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    figures["rate"] = float(rate.group(1)) if rate else float("nan")
    count = re.search(r"^\s*(\d+) requests in", output, flags=re.M)
    figures["requests"] = float(count.group(1)) if count else float("nan")
    for pct, value, unit in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output,
                                       flags=re.M):
        figures[f"p{pct}"] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if errors:
        figures["non2xx"] = float(errors.group(1))
    return figures


def run_wrk(mesh: Mesh, script: Path, args: argparse.Namespace) -> dict[str, float]:
    """One wrk run's figures, with each mesh process's CPU time per request (µs): a cost
    that the other load on a shared machine disturbs far less than the rate."""
    url = f"http://127.0.0.1:{mesh.ports['gateway_port']}"
    before = cpu_seconds(mesh.proc.pid)
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, timeout=args.seconds + 60, check=True).stdout
    after = cpu_seconds(mesh.proc.pid)
    figures = parse(out)
    for name, seconds in after.items():
        if name != "bench client" and figures["requests"] > 0:
            figures[f"cpu:{name}"] = (seconds - before.get(name, 0.0)) / figures["requests"] * 1e6
    return figures


def cpu_line(figures: dict[str, float]) -> str:
    """The processes' CPU µs per request, busiest first (above 1 µs)."""
    costs = sorted(((v, k[4:]) for k, v in figures.items() if k.startswith("cpu:")),
                   reverse=True)
    return ", ".join(f"{name} {value:.0f}" for value, name in costs if value >= 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--market", default="SOL-USD")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with running_mesh() as mesh, tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "orders.lua"
        script.write_text(asyncio.run(prepare(mesh, args.users, args.market)))
        warm = argparse.Namespace(**{**vars(args), "seconds": 3})
        run_wrk(mesh, script, warm)
        rates, cpu = [], []
        for run in range(1, args.runs + 1):
            asyncio.run(settled(mesh))
            f = run_wrk(mesh, script, args)
            rates.append(f["rate"])
            cpu.append(sum(v for k, v in f.items() if k.startswith("cpu:")))
            print(f"run {run}: {f['rate']:,.0f} orders/s, latency ms p50 {f.get('p50', 0):.2f} "
                  f"p90 {f.get('p90', 0):.2f} p99 {f.get('p99', 0):.2f}, "
                  f"non-201 answers {f['non2xx']:.0f}; CPU µs per order: {cpu_line(f)}",
                  flush=True)
        print(f"median of {args.runs} runs: {statistics.median(rates):,.0f} orders/s "
              f"({args.connections} connections, {args.users} users, wrk -t{args.threads}); "
              f"mesh CPU {statistics.median(cpu):,.0f} µs per order", flush=True)


if __name__ == "__main__":
    main()
