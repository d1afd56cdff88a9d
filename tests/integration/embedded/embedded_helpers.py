"""Helpers for the embedded-server tests: free loopback ports and process checks."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil


def gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def traversable_tmp() -> Iterator[Path]:
    """A fresh tmp dir the ``embedded_postgres`` account can traverse.

    pytest's basetemp (``/tmp/pytest-of-root``) is 0700 and every pytest session that starts
    resets it to 0700, so a server running as another account could lose its way in.
    """
    path = Path(tempfile.mkdtemp(prefix="trademesh-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
