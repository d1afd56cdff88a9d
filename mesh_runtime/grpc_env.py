"""gRPC settings that only count if made before ``grpc`` is first imported.

gRPC Python's core registers ``pthread_atfork`` handlers unless ``GRPC_ENABLE_FORK_SUPPORT``
is false when it loads (grpcio 1.85; its Python side and its core disagree on the default,
grpc/grpc#41455). Those handlers make a ``fork()`` under load crash the child: measured
here, 100 of 300 forks of a process serving gRPC calls died (SIGSEGV or abort in the child),
0 of 300 with the handlers off. The engine forks only to serialize a snapshot in a child
that never touches gRPC (``engine_svc/snapshot_fork.py``), which needs no handlers.

Importing this module turns the handlers off when ``grpc`` has not been imported yet and
nobody set the variable; the ``trademesh`` command and the test suite import it first.
:func:`fork_is_safe` says whether that took effect.
"""

from __future__ import annotations

import os
import sys

FORK_SUPPORT_VAR = "GRPC_ENABLE_FORK_SUPPORT"
_FALSE = frozenset({"0", "false", "no", "off"})


def _off() -> bool:
    return os.environ.get(FORK_SUPPORT_VAR, "").strip().lower() in _FALSE


if "grpc" not in sys.modules:
    os.environ.setdefault(FORK_SUPPORT_VAR, "false")
_OFF_WHEN_GRPC_LOADED = _off() if "grpc" in sys.modules else None


def fork_is_safe() -> bool:
    """Whether gRPC loaded (or will load) with its fork handlers off, so a forked child
    that runs no gRPC code is safe."""
    if _OFF_WHEN_GRPC_LOADED is not None:
        return _OFF_WHEN_GRPC_LOADED
    return _off()
