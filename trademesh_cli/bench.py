"""``trademesh bench NAME [ARGS]``: runs one benchmark of ``bench/`` and prints its figures."""

from __future__ import annotations

import argparse
import runpy
import signal
import sys
from types import FrameType

BENCHMARKS = {
    "core": "bench.bench_core",
    "peers": "bench.bench_peers",
    "engine-grpc": "bench.bench_engine_grpc",
    "persistence": "bench.bench_persistence",
    "rest": "bench.bench_rest",
    "rest-wrk": "bench.bench_rest_wrk",
    "metrics-cost": "bench.bench_metrics_cost",
    "feed": "bench.bench_feed",
    "web": "bench.bench_web",
}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments (see --help)")


def command(args: argparse.Namespace) -> int:
    module = BENCHMARKS[args.name]
    # SIGTERM (``timeout``, a CI runner) stops a benchmark as Ctrl-C does: its ``finally``
    # blocks stop the servers it started (which also die with it: ``die_with_parent``)
    signal.signal(signal.SIGTERM, _interrupt)
    sys.argv = [module, *args.args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0
