"""One supervised child process: spawned, logged to a file, stopped within a bound.

A :class:`Child` runs in its own process group (a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order) and asks the kernel for a signal when
its parent dies (``prctl(PR_SET_PDEATHSIG)``), so even a ``kill -9`` of the supervisor leaves
no child behind. Its stdout and stderr are appended to one log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class RunAs:
    """A system account to run the child as (the supervisor runs as root)."""

    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """What to run: ``argv`` with ``env``; output appended to ``log_path``."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    death_signal: int = signal.SIGKILL
    run_as: RunAs | None = None
    cwd: Path | None = None


def _open_log(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "ab")


def die_with_parent(death_signal: int, parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``death_signal`` when ``parent_pid`` dies."""
    def preexec() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), death_signal)

    return preexec


class Child:
    """A running child process started from a :class:`ChildSpec`."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Spawns the process. Must run on the thread that lives as long as the supervisor,
        on asyncio's own loop (uvloop's subprocesses lack process_group, user and group)."""
        spec = self.spec
        ids: dict[str, object] = {}
        if spec.run_as is not None:
            ids = {"user": spec.run_as.uid, "group": spec.run_as.gid, "extra_groups": []}
        with _open_log(spec.log_path) as log:
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"--- {spec.name} started by trademesh at {started} ---\n".encode())
            log.flush()
            self._proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(spec.env),
                cwd=spec.cwd,
                process_group=0,
                preexec_fn=die_with_parent(spec.death_signal, os.getpid()),
                **ids,  # type: ignore[arg-type]
            )

    async def wait(self) -> int:
        assert self._proc is not None, f"{self.name} was never started"
        return await self._proc.wait()

    def send(self, sig: int) -> None:
        if self.running and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self, sig: int = signal.SIGTERM, grace: float = 10.0) -> int | None:
        """Sends ``sig``, waits up to ``grace`` seconds, then SIGKILLs; returns the exit code."""
        if self._proc is None:
            return None
        self.send(sig)
        try:
            return await asyncio.wait_for(self._proc.wait(), grace)
        except TimeoutError:
            self.send(signal.SIGKILL)
            return await asyncio.wait_for(self._proc.wait(), 5.0)

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.spec.log_path, lines)


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
