"""``trademesh bench feed`` stopped by SIGTERM (``timeout``, a CI runner) leaves nothing behind:
its feed and engine processes, its embedded Redis and PostgreSQL all end with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from trademesh_cli.bench import BENCHMARKS

ROOT = Path(__file__).resolve().parents[3]


def test_every_benchmark_of_bench_runs_from_the_cli() -> None:
    modules = {f"bench.{p.stem}" for p in (ROOT / "bench").glob("bench_*.py")}
    assert modules == set(BENCHMARKS.values())


def _wait(what: str, seconds: float, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds:.0f} s")


@pytest.mark.timeout(180)
def test_sigterm_stops_the_feed_benchmark_and_everything_it_started(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    log = tmp_path / "bench.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trademesh_cli", "bench", "feed", "--clients", "4",
             "--seconds", "120"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    bench = psutil.Process(proc.pid)
    family: list[psutil.Process] = []
    try:
        def started() -> bool:  # its feed and engine, once they run
            roles = [" ".join(c.cmdline()) for c in bench.children()
                     if c.is_running() and "--role" in c.cmdline()]
            return len(roles) == 2
        _wait("the benchmark's feed and engine started", 120, started)
        assert proc.poll() is None, log.read_text()
        family += bench.children(recursive=True)
        assert len(family) >= 4  # feed, engine, Redis, PostgreSQL (and its workers)
        proc.send_signal(signal.SIGTERM)
        proc.wait(90)
        _, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for child in family:  # what a failure left: never outlives the test
            if child.is_running():
                child.kill()
