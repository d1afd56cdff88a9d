"""The forked snapshot child: its bytes when it succeeds, a clear failure otherwise."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from engine_svc.snapshot_fork import CHILD_NICENESS, ForkedSnapshot, ForkedSnapshotFailed


async def test_the_child_serializes_the_state_as_it_was_at_the_fork() -> None:
    state = {"orders": list(range(100_000))}
    child = ForkedSnapshot.start(lambda: repr(state["orders"][-3:]).encode())
    state["orders"].append(-1)  # the parent goes on; the child holds the fork-time copy
    assert await child.result() == b"[99997, 99998, 99999]"


async def test_the_collector_is_as_it_was_after_the_fork() -> None:
    assert gc.isenabled()
    child = ForkedSnapshot.start(lambda: b"x" if not gc.isenabled() else b"")
    assert gc.isenabled()
    assert await child.result() == b"x"  # the child never collects
    gc.disable()
    try:
        child = ForkedSnapshot.start(lambda: b"y")
        assert not gc.isenabled()
        assert await child.result() == b"y"
    finally:
        gc.enable()


async def test_the_child_runs_at_a_lower_priority_than_the_engine() -> None:
    engine = os.nice(0)
    child = ForkedSnapshot.start(lambda: str(os.nice(0)).encode())
    assert int(await child.result()) == min(engine + CHILD_NICENESS, 19)
    assert os.nice(0) == engine  # the parent's own priority is untouched


async def test_a_killed_child_is_a_failure() -> None:
    child = ForkedSnapshot.start(lambda: os.kill(os.getpid(), signal.SIGKILL) or b"x")
    with pytest.raises(ForkedSnapshotFailed, match="-9"):
        await child.result()


async def test_a_child_raising_is_a_failure() -> None:
    def boom() -> bytes:
        raise ValueError("cannot serialize")

    child = ForkedSnapshot.start(boom)
    with pytest.raises(ForkedSnapshotFailed, match="exited with 1"):
        await child.result()


async def test_a_child_past_its_deadline_is_killed() -> None:
    child = ForkedSnapshot.start(lambda: time.sleep(60) or b"late")
    with pytest.raises(ForkedSnapshotFailed, match="killed"):
        await child.result(deadline_s=0.2)
    with pytest.raises(ChildProcessError):
        os.waitpid(child._pid, os.WNOHANG)  # noqa: ASYNC222 - reaped: no zombie left
