"""Serializing a snapshot without pausing the engine: in a forked child.

Building a snapshot's bytes walks the whole state (~2 µs per resting order: 1.2 s for
600,000 orders) and the sequencer cannot apply commands meanwhile. ``fork()`` instead gives
a child an exact, frozen copy of the state (copy-on-write) in the time it takes to copy the
page tables; the child serializes it, writes the bytes to a pipe and exits, while the
parent goes on applying commands and reads the pipe from a worker thread.

The parent is multi-threaded (gRPC's core threads), so the child must run nothing but
``serialize``. gRPC's own fork handlers must be off (``mesh_runtime/grpc_env.py``; with
them on, a third of forks under load crashed); the garbage collector is off across the
fork (a collection in the child runs finalizers — of gRPC objects, of asyncio tasks —
whose threads and locks did not survive the fork; that crashed a child with SIGSEGV); the
signal handlers are reset (a signal to the process group must not reach the parent's event
loop through the inherited wakeup descriptor); the child runs ``CHILD_NICENESS`` lower in
priority (on two cores it competes with the engine and its callers, which go first); and
the child leaves with ``os._exit`` (no ``atexit``, no finalizers, no gRPC or asyncio
shutdown).

Anything unusual — ``fork`` refused, the child crashing, or running past its deadline (it
is then killed) — raises :class:`ForkedSnapshotFailed`; the caller then serializes
in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import warnings
from collections.abc import Callable

DEFAULT_DEADLINE_S = 120.0
CHILD_NICENESS = 10  # a snapshot is not urgent: the engine and its callers go first


class ForkedSnapshotFailed(RuntimeError):
    pass


class ForkedSnapshot:
    """A child forked by :meth:`start` (so: of the state as it is at that call)."""

    def __init__(self, pid: int, read_end: int) -> None:
        self._pid, self._read_end = pid, read_end

    @classmethod
    def start(cls, serialize: Callable[[], bytes]) -> ForkedSnapshot:
        """Forks now; the child computes ``serialize()``. Raises ForkedSnapshotFailed."""
        read_end, write_end = os.pipe()
        collecting = gc.isenabled()
        gc.disable()
        try:
            with warnings.catch_warnings():  # 3.12+ warns of forking with threads: see above
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError as err:
            if collecting:
                gc.enable()
            os.close(read_end)
            os.close(write_end)
            raise ForkedSnapshotFailed(f"fork: {err}") from err
        if pid == 0:  # pragma: no cover - the child; its outcome is checked by the parent
            _child(serialize, read_end, write_end)
        if collecting:
            gc.enable()
        os.close(write_end)
        return cls(pid, read_end)

    async def result(self, deadline_s: float = DEFAULT_DEADLINE_S) -> bytes:
        """The child's bytes once it has exited cleanly; else ForkedSnapshotFailed. A child
        still running after ``deadline_s`` is killed (a fork of a multi-threaded process can
        deadlock on a lock another thread held)."""
        reading = asyncio.ensure_future(asyncio.to_thread(_read_all, self._read_end))
        killed = False
        try:
            try:
                data = await asyncio.wait_for(asyncio.shield(reading), deadline_s)
            except TimeoutError:
                killed = True
                _kill(self._pid)
                data = await reading  # the pipe's write end died with the child
        finally:
            if not reading.done():  # cancelled: the child must not outlive its reader
                _kill(self._pid)
                await asyncio.shield(reading)
            os.close(self._read_end)
        _, status = await asyncio.to_thread(os.waitpid, self._pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if killed:
            raise ForkedSnapshotFailed(f"the snapshot child ran past {deadline_s:g} s; killed")
        if code != 0 or not data:
            raise ForkedSnapshotFailed(f"the snapshot child exited with {code}")
        return data


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _child(serialize: Callable[[], bytes], read_end: int, write_end: int) -> None:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.nice(CHILD_NICENESS)
        os.close(read_end)
        view = memoryview(serialize())
        while view:
            view = view[os.write(write_end, view):]
        code = 0
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
