"""What metrics cost at REST saturation: two ``trademesh up`` meshes side by side, one with
``TRADEMESH_METRICS=off`` and one with metrics on, hammered by wrk in turns (off, on, on,
off, ...) so that both see the same machine over the same minutes; prints each run and the
medians' ratio. See :mod:`bench.bench_rest_wrk` for the load (GTC limit buys that rest).

On a shared machine throughput follows the neighbours more than the code, so each run also
reports the CPU time the gateway and the engine processes spent per order (their
``cpu_times`` over the run, divided by the orders answered): a cost figure that other
processes' load disturbs far less.

Usage: python -m bench.bench_metrics_cost [--connections 64] [--threads 2] [--seconds 10]
       [--runs 4] [--users 16] [--market SOL-USD]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psutil

from bench.bench_rest import Mesh, running_mesh, settled
from bench.bench_rest_wrk import prepare, run_wrk

MODES = ("off", "on")
SERVICES = ("gateway", "engine")


def service_processes(mesh: Mesh) -> dict[str, psutil.Process]:
    """The mesh's gateway and engine processes (``python -m trademesh_cli <name>``)."""
    found: dict[str, psutil.Process] = {}
    for child in psutil.Process(mesh.proc.pid).children(recursive=True):
        command = child.cmdline()
        if len(command) >= 4 and command[-1] in SERVICES and "trademesh_cli" in command:
            found[command[-1]] = child
    return found


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    times = {name: p.cpu_times() for name, p in processes.items()}
    return {name: t.user + t.system for name, t in times.items()}


def start(mode: str, stack: ExitStack) -> Mesh:
    # the sign-ups' bcrypt at its minimum cost: they are not measured, and at cost 12 on a
    # busy machine they can outlast the gateway's upstream deadline
    os.environ.update(TRADEMESH_METRICS=mode, TRADEMESH_BCRYPT_ROUNDS="4")
    try:
        return stack.enter_context(running_mesh())
    finally:
        os.environ.pop("TRADEMESH_METRICS", None)
        os.environ.pop("TRADEMESH_BCRYPT_ROUNDS", None)


def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpu: dict[tuple[str, str], list[float]] = {(m, s): [] for m in MODES for s in SERVICES}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        meshes = {mode: start(mode, stack) for mode in MODES}
        scripts = {}
        for mode, mesh in meshes.items():
            scripts[mode] = tmp / f"orders-{mode}.lua"
            scripts[mode].write_text(asyncio.run(prepare(mesh, args.users, args.market)))
            run_wrk(mesh, scripts[mode], argparse.Namespace(**{**vars(args), "seconds": 3}))
        for run in range(args.runs):
            order = MODES if run % 2 == 0 else MODES[::-1]
            for mode in order:
                asyncio.run(settled(meshes[mode]))
                processes = service_processes(meshes[mode])
                before = cpu_seconds(processes)
                figures = run_wrk(meshes[mode], scripts[mode], args)
                after = cpu_seconds(processes)
                orders = figures["rate"] * args.seconds
                per_order = {s: (after[s] - before[s]) / orders * 1e6 for s in SERVICES}
                rates[mode].append(figures["rate"])
                for service in SERVICES:
                    cpu[(mode, service)].append(per_order[service])
                print(f"run {run + 1} metrics {mode:>3}: {figures['rate']:,.0f} orders/s, "
                      f"p99 {figures.get('p99', 0):.2f} ms, non-201 {figures['non2xx']:.0f}, "
                      f"CPU per order: gateway {per_order['gateway']:.0f} µs, engine "
                      f"{per_order['engine']:.0f} µs", flush=True)
    for service in SERVICES:
        off, on = (statistics.median(cpu[(mode, service)]) for mode in MODES)
        print(f"{service} CPU per order, median: metrics off {off:.0f} µs, on {on:.0f} µs "
              f"({100 * (on / off - 1):+.1f}%)", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--users", type=int, default=16)  # bcrypt sign-ups: few
    parser.add_argument("--market", default="SOL-USD")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    rates = measure(args)
    off, on = (statistics.median(rates[mode]) for mode in MODES)
    print(f"median of {args.runs} runs each: metrics off {off:,.0f} orders/s, on {on:,.0f} "
          f"orders/s: on is {100 * (on / off - 1):+.1f}% ({args.connections} connections)",
          flush=True)


if __name__ == "__main__":
    main()
