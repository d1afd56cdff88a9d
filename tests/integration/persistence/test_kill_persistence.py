"""``kill -9`` of a persistence process mid-stream: after restarts no fill is missing or
duplicated (count and sum compared with the engine's events)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from persistence_harness import EngineSide, assert_fills_match, scenario, wait_for

from mesh_runtime.config import Settings
from mesh_runtime.ports import free_port

RUN = ("import asyncio; from mesh_runtime.config import Settings; "
       "from persistence_svc.app import run; asyncio.run(run(Settings.from_env()))")


def spawn(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings.with_overrides(persistence_mesh_port=port,
                                                   persistence_port=free_port()).as_env()}
    proc = subprocess.Popen([sys.executable, "-c", RUN], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"persistence exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError("persistence did not start")


async def bounded(awaitable: Awaitable[object], seconds: float, what: str) -> None:
    """Awaits ``awaitable`` for at most ``seconds``; on a hang, fails naming ``what`` with
    every task's stack (where it waits), instead of leaving pytest's timeout to kill it."""
    try:
        await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            stacks.write(f"--- {task!r}\n")
            task.print_stack(file=stacks)
        raise AssertionError(f"not {what} within {seconds} s; tasks:\n"
                             f"{stacks.getvalue()}") from None


def _advanced(engine: EngineSide, before: int) -> Callable[[], bool]:
    return lambda: engine.link is not None and engine.link.committed > before


async def test_kill_9_of_persistence_mid_stream(settings: Settings) -> None:
    port = free_port()
    engine = EngineSide(settings.with_overrides(persistence_mesh_addr=f"127.0.0.1:{port}"))
    proc = await asyncio.to_thread(spawn, settings, port)
    await engine.start()
    commands = scenario(21, 3600)
    try:
        for burst in range(3):
            part = commands[burst * 1200:(burst + 1) * 1200]
            submitted = asyncio.gather(*(engine.submit(c) for c in part))
            assert engine.link is not None
            await wait_for(_advanced(engine, engine.link.committed), 30)
            os.kill(proc.pid, signal.SIGKILL)  # while batches are in flight
            await asyncio.to_thread(proc.wait)
            await bounded(submitted, 60, f"burst {burst}'s orders answered")
            proc = await asyncio.to_thread(spawn, settings, port)
        await engine.drained(60)
        await assert_fills_match(engine)
        assert engine.link is not None and engine.link.sessions >= 3
    finally:
        proc.kill()
        await asyncio.to_thread(proc.wait)
        await bounded(engine.stop(), 30, "the engine side stopped")
