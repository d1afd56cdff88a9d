"""gRPC's fork handlers are off wherever trademesh runs (they crash forked children)."""

from __future__ import annotations

import os
import subprocess
import sys

from mesh_runtime.grpc_env import FORK_SUPPORT_VAR, fork_is_safe


def test_the_test_process_loaded_grpc_with_fork_handlers_off() -> None:
    assert fork_is_safe()
    assert os.environ[FORK_SUPPORT_VAR] == "false"


def _probe(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != FORK_SUPPORT_VAR}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def test_the_trademesh_command_turns_them_off_before_grpc_loads() -> None:
    out = _probe("import trademesh_cli.main, grpc, os; from mesh_runtime.grpc_env import "
                 f"fork_is_safe; print(fork_is_safe(), os.environ['{FORK_SUPPORT_VAR}'])")
    assert out == "True false"


def test_grpc_loaded_first_or_handlers_asked_for_means_no_fork() -> None:
    assert _probe("import grpc; from mesh_runtime.grpc_env import fork_is_safe; "
                  "print(fork_is_safe())") == "False"
    assert _probe("from mesh_runtime.grpc_env import fork_is_safe; print(fork_is_safe())",
                  **{FORK_SUPPORT_VAR: "1"}) == "False"
