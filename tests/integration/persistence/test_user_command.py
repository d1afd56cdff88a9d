"""``trademesh user create``: the one way to make an admin account, straight into
PostgreSQL through persistence's user store (the real command in a child process)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import bcrypt
import pytest
from persistence_harness import Persistence
from trademesh.v1 import persistence_pb2 as pb
from trademesh.v1 import persistence_pb2_grpc

from mesh_runtime.config import Settings
from tests.tls import service_channel

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[3]


async def _run(settings: Settings, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {**os.environ, "TRADEMESH_POSTGRES_URL": settings.postgres_url,
           "TRADEMESH_DATA_DIR": str(settings.data_dir), "TRADEMESH_BCRYPT_ROUNDS": "4"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trademesh_cli", "user", "create", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(stdin.encode()), 60)
    return child.returncode or 0, out.decode(), err.decode()


async def test_user_create_makes_an_admin(settings: Settings, persistence: Persistence,
                                          tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("a long admin password\n")
    code, out, err = await _run(settings, "--email", "Root@Example.com", "--admin",
                                "--password-file", str(secret))
    assert (code, err) == (0, "")
    assert out.startswith("created admin root@example.com id ")
    code, out, _ = await _run(settings, "--email", "ana@example.com", stdin="trader secret\n")
    assert code == 0 and out.startswith("created user ana@example.com")
    channel = service_channel(persistence.mesh_address, "gateway")
    try:
        stub = persistence_pb2_grpc.PersistenceStub(channel)
        root = await stub.GetUser(pb.GetUserRequest(email="root@example.com"), timeout=10)
        ana = await stub.GetUser(pb.GetUserRequest(email="ana@example.com"), timeout=10)
    finally:
        await channel.close(None)
    assert (root.user.admin, ana.user.admin) == (True, False)
    assert bcrypt.checkpw(b"a long admin password", root.password_hash.encode())
    assert bcrypt.checkpw(b"trader secret", ana.password_hash.encode())


async def test_user_create_refusals(settings: Settings, persistence: Persistence) -> None:
    code, _, err = await _run(settings, "--email", "dup@example.com", stdin="password one\n")
    assert code == 0, err
    code, _, err = await _run(settings, "--email", "dup@example.com", stdin="password two\n")
    assert code == 1 and "already registered" in err
    code, _, err = await _run(settings, "--email", "short@example.com", stdin="short\n")
    assert code == 2 and "password" in err
    code, _, err = await _run(settings, "--email", "not-an-email", stdin="password one\n")
    assert code == 2 and "email" in err
    code, _, err = await _run(settings, "--email", "x@example.com", "--password-file",
                              "/nonexistent/file")
    assert code == 2 and "--password-file" in err
