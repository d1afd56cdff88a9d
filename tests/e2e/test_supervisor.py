"""The supervisor behind ``trademesh up``, with stand-in services (a tmp dir shadowing the
service packages on PYTHONPATH): restarts and giving up, failed starts, ``kill -9`` of the
supervisor, Ctrl-C during start-up, a busy port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.test_mesh_up import (
    UP_TIMEOUT,
    health_status,
    listening,
    mesh_env,
    run_until_exit,
    start_up,
    traversable_tmp,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def data_root() -> Iterator[Path]:
    with traversable_tmp() as path:
        yield path


STANDIN = '''
"""A stand-in {name} service for the supervisor tests (written by tests/e2e)."""
import asyncio, os, sys
from mesh_runtime.serving import GrpcService, install_signal_handlers
from trademesh.v1 import {module}_pb2_grpc as pb

NAME, SERVICE, PORT = "{name}", "trademesh.v1.{service}", "{port}"
MESH_PORT = PORT.replace("_port", "_mesh_port")


def register(server):
    pb.add_{service}Servicer_to_server(pb.{service}Servicer(), server)
    return [SERVICE]


async def answer(reader, writer):
    await reader.read(4096)
    writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\nok")
    await writer.drain()
    writer.close()


async def run(settings):
    fail = os.environ.get("STANDIN_FAIL_" + NAME.upper(), "")
    if fail.startswith("start:"):
        print("standin " + NAME + ": " + fail[6:], flush=True)
        sys.exit(4)
    if fail.startswith("slow:"):
        await asyncio.sleep(float(fail[5:]))
    service = GrpcService(NAME, settings.host, getattr(settings, PORT), [register],
                          tls=settings.tls_files(NAME),
                          mesh_port=getattr(settings, MESH_PORT), grace_seconds=1)
    await service.start()
    http = {http}
    extra = []
    if http:
        extra.append(await asyncio.start_server(answer, settings.host, getattr(settings, http)))
    await service.set_serving(True)
    install_signal_handlers(service.stop)
    if fail.startswith("die:"):
        await asyncio.sleep(float(fail[4:]))
        os._exit(5)
    if fail.startswith("die-once:"):  # die-once:<seconds>:<marker file>
        seconds, marker = fail[9:].split(":", 1)
        if not os.path.exists(marker):
            open(marker, "w").close()
            await asyncio.sleep(float(seconds))
            os._exit(5)
    await service.wait_stopped()
    await service.server.wait_for_termination()
    for server in extra:
        server.close()
'''

STANDINS = {  # package: (name, pb2 module, gRPC service, its port, an HTTP port or None)
    "engine_svc": ("engine", "engine", "Engine", "engine_port", "None"),
    "persistence_svc": ("persistence", "persistence", "Persistence", "persistence_port", "None"),
    "feed_svc": ("feed", "feed", "Feed", "feed_port", '"ws_port"'),
    "gateway": ("gateway", "auth", "Auth", "auth_port", '"gateway_port"'),
}


@pytest.fixture
def standins(data_root: Path) -> Path:
    """A directory of stand-in service packages that shadows the real ones."""
    root = data_root / "standins"
    for package, values in STANDINS.items():
        fields = dict(zip(("name", "module", "service", "port", "http"), values, strict=True))
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "app.py").write_text(textwrap.dedent(STANDIN.format(**fields)))
    return root


def test_a_dead_service_is_restarted(data_root: Path, standins: Path) -> None:
    env, ports = mesh_env(data_root / "data", standins)
    env["STANDIN_FAIL_ENGINE"] = f"die-once:1:{data_root / 'engine-died'}"
    mesh = start_up(data_root, env, ports, "restart")
    mesh.wait_ready()
    try:
        mesh.wait_for_output("trademesh: engine is back")
        assert "engine exited unexpectedly with code 5" in mesh.output
        assert "restarting engine in 0.5s" in mesh.output
        assert asyncio.run(health_status(ports["engine_port"], mesh.ca_pem)) == 1
    finally:
        assert mesh.stop(signal.SIGINT) == 0, mesh.output
    mesh.assert_nothing_left()


@pytest.mark.parametrize(("limit", "deaths"), [("1", 2), ("0", 1)],
                         ids=["one-restart", "no-restarts"])
def test_a_service_dying_too_often_stops_the_rest(data_root: Path, standins: Path,
                                                  limit: str, deaths: int) -> None:
    env, ports = mesh_env(data_root / "data", standins)
    env["STANDIN_FAIL_ENGINE"] = "die:1"
    env["TRADEMESH_RESTART_LIMIT"] = limit
    mesh = start_up(data_root, env, ports, f"death-{limit}")
    mesh.wait_ready()
    assert run_until_exit(mesh) == 1
    assert mesh.output.count("engine exited unexpectedly with code 5") == deaths
    assert "not restarting engine (it died too often); stopping the rest" in mesh.output
    mesh.assert_nothing_left()


def test_failed_start_names_the_service_and_its_log(data_root: Path, standins: Path) -> None:
    env, ports = mesh_env(data_root / "data", standins)
    env["STANDIN_FAIL_GATEWAY"] = "start:no signing key here"
    mesh = start_up(data_root, env, ports, "failed")
    assert run_until_exit(mesh) == 1
    assert "gateway exited with code 4 during startup" in mesh.output
    assert "no signing key here" in mesh.output
    assert not any(listening(port) for port in ports.values())


@pytest.mark.parametrize("whole_tree", [False, True], ids=["up-only", "whole-tree"])
def test_kill_9_leaves_nothing_and_up_starts_again(
    data_root: Path, standins: Path, whole_tree: bool
) -> None:
    env, ports = mesh_env(data_root / "data", standins)
    first = start_up(data_root, env, ports, "killed")
    first.wait_ready()
    first.proc.kill()
    if whole_tree:
        for pid in first.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    first.proc.wait(10)
    first.assert_nothing_left()
    second = start_up(data_root, env, ports, "after-kill")
    second.wait_ready()
    assert second.stop(signal.SIGTERM) == 0, second.output
    second.assert_nothing_left()


def test_ctrl_c_during_startup_stops_cleanly(data_root: Path, standins: Path) -> None:
    env, ports = mesh_env(data_root / "data", standins)
    env["STANDIN_FAIL_GATEWAY"] = "slow:60"
    mesh = start_up(data_root, env, ports, "interrupted")
    deadline = time.monotonic() + UP_TIMEOUT
    while "starting persistence" not in mesh.output:
        assert mesh.proc.poll() is None and time.monotonic() < deadline, mesh.output
        time.sleep(0.1)
    time.sleep(1.0)  # the services are spawned; the gateway is not serving yet
    mesh.children = {p.pid: " ".join(p.cmdline()[:4])
                     for p in psutil.Process(mesh.proc.pid).children(recursive=True)}
    assert mesh.stop(signal.SIGINT) == 0, mesh.output
    assert "interrupted during startup" in mesh.output
    mesh.assert_nothing_left()


def test_busy_port_is_named_with_its_variable(data_root: Path) -> None:
    env, ports = mesh_env(data_root / "data")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", ports["gateway_port"]))
        taken.listen()
        mesh = start_up(data_root, env, ports, "busy")
        assert run_until_exit(mesh, 30) == 1
    assert f"port {ports['gateway_port']}" in mesh.output
    assert "TRADEMESH_GATEWAY_PORT" in mesh.output
