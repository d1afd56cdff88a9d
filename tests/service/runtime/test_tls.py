"""The two TLS listeners of a real GrpcService on loopback: who gets in, who is refused, and
that a refused handshake leaves the server serving; health over TLS with ``trademesh
healthcheck``; reflection a real client (``buf curl``) can use."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from trademesh.v1 import engine_pb2_grpc

from engine_svc.app import register
from mesh_runtime.pki import TlsFiles, service_files
from mesh_runtime.serving import GrpcService
from mesh_runtime.tls import certificate_name, mesh_channel, tls_channel
from tests.tls import ca_pem, files, other_pki_dir, pki_dir, service_channel, user_channel
from trademesh_cli.main import main

SERVING = health_pb2.HealthCheckResponse.SERVING
BUF = Path(__file__).resolve().parents[3] / "node_modules" / ".bin" / "buf"


@pytest.fixture
async def service() -> AsyncIterator[GrpcService]:
    svc = GrpcService("engine", "127.0.0.1", 0,
                      [register(engine_pb2_grpc.EngineServicer())],  # type: ignore[abstract]
                      tls=files("engine"), mesh_port=0, grace_seconds=1)
    await svc.start()
    await svc.set_serving(True)
    yield svc
    await svc.stop()


async def _check(channel: grpc.aio.Channel) -> int:
    async with channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5)
        return int(reply.status)


async def _refused(channel: grpc.aio.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _check(channel)
    return err.value.code()


def _public(service: GrpcService, host: str = "127.0.0.1") -> str:
    return f"{host}:{service.port}"


def _mesh(service: GrpcService) -> str:
    return f"127.0.0.1:{service.mesh_port}"


async def test_both_listeners_are_bound_and_distinct(service: GrpcService) -> None:
    assert service.port > 0 and service.mesh_port > 0 and service.port != service.mesh_port


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_user_reaches_the_public_listener_with_tls(service: GrpcService,
                                                           host: str) -> None:
    assert await _check(user_channel(_public(service, host))) == SERVING


async def test_a_service_reaches_the_mesh_listener_with_its_certificate(
        service: GrpcService) -> None:
    assert await _check(service_channel(_mesh(service), "gateway")) == SERVING


async def test_a_plaintext_client_fails_cleanly_and_the_server_keeps_serving(
        service: GrpcService, capfd: pytest.CaptureFixture[str]) -> None:
    for address in (_public(service), _mesh(service)):
        assert await _refused(grpc.aio.insecure_channel(address)) == grpc.StatusCode.UNAVAILABLE
    assert await _check(user_channel(_public(service))) == SERVING
    logged = [line for line in capfd.readouterr().err.splitlines() if "Handshake failed" in line]
    assert 1 <= len(logged) <= 4, logged  # one line per refused connection, no flood


async def test_the_mesh_listener_refuses_a_client_without_a_certificate(
        service: GrpcService) -> None:
    assert await _refused(user_channel(_mesh(service))) == grpc.StatusCode.UNAVAILABLE
    assert await _check(service_channel(_mesh(service), "engine")) == SERVING


async def test_the_mesh_listener_refuses_a_certificate_from_another_ca(
        service: GrpcService) -> None:
    rogue = service_files(other_pki_dir(), "engine")
    mixed = TlsFiles(ca=files("engine").ca, cert=rogue.cert, key=rogue.key)
    assert await _refused(mesh_channel(_mesh(service), mixed)) == grpc.StatusCode.UNAVAILABLE
    assert await _check(service_channel(_mesh(service), "engine")) == SERVING


async def test_a_client_trusting_another_ca_refuses_the_server(service: GrpcService) -> None:
    other_ca = (other_pki_dir() / "ca.pem").read_bytes()
    assert await _refused(tls_channel(_public(service), other_ca)) == \
        grpc.StatusCode.UNAVAILABLE


async def test_the_server_name_is_checked(service: GrpcService) -> None:
    """The certificate names loopback, localhost and its service, nothing else."""
    wrong = tls_channel(_public(service), ca_pem(), server_name="elsewhere.example")
    assert await _refused(wrong) == grpc.StatusCode.UNAVAILABLE
    right = tls_channel(_public(service), ca_pem(), server_name="engine")
    assert await _check(right) == SERVING


async def test_healthcheck_command_over_tls(service: GrpcService,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ca = str(pki_dir() / "ca.pem")
    assert await asyncio.to_thread(main, ["healthcheck", _public(service), "--cacert", ca]) == 0
    monkeypatch.setenv("TRADEMESH_TLS_CA_FILE", ca)  # the default CA comes from the settings
    assert await asyncio.to_thread(main, ["healthcheck", _public(service)]) == 0
    other = str(other_pki_dir() / "ca.pem")
    assert await asyncio.to_thread(
        main, ["healthcheck", _public(service), "--cacert", other, "--seconds", "1"]) == 1
    assert capsys.readouterr().out.split() == ["SERVING", "SERVING", "NOT", "SERVING"]


async def test_healthcheck_module_as_the_containers_run_it(service: GrpcService) -> None:
    """``python -m trademesh_cli.healthcheck`` (docker-compose.yml's health checks): the
    same answers without importing every command."""
    def check(ca: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trademesh_cli.healthcheck", _public(service),
             "--cacert", str(ca), "--seconds", "1"],
            capture_output=True, text=True, timeout=60, check=False)

    good, bad = await asyncio.gather(asyncio.to_thread(check, pki_dir() / "ca.pem"),
                                     asyncio.to_thread(check, other_pki_dir() / "ca.pem"))
    assert (good.returncode, good.stdout.strip()) == (0, "SERVING"), good.stderr
    assert (bad.returncode, bad.stdout.strip()) == (1, "NOT SERVING")


@pytest.mark.skipif(not BUF.exists(), reason="buf is installed by npm (node_modules)")
async def test_buf_curl_lists_every_method_through_reflection(service: GrpcService) -> None:
    def list_methods() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BUF), "curl", "--protocol", "grpc", "--cacert", str(pki_dir() / "ca.pem"),
             "--list-methods", f"https://{_public(service)}"],
            capture_output=True, text=True, timeout=60, check=False)

    done = await asyncio.to_thread(list_methods)
    assert done.returncode == 0, done.stderr
    methods = set(done.stdout.split())
    assert {"trademesh.v1.Engine/PlaceOrder", "grpc.health.v1.Health/Check",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"} <= methods


async def test_a_service_checks_which_service_answers(service: GrpcService) -> None:
    """Dialing persistence, the engine accepts only a certificate issued to persistence, not
    any mesh certificate (here the server is the engine)."""
    gateway = files("gateway")
    wrong = mesh_channel(_mesh(service), gateway, server_name=certificate_name("persistence"))
    assert await _refused(wrong) == grpc.StatusCode.UNAVAILABLE
    right = mesh_channel(_mesh(service), gateway, server_name=certificate_name("engine"))
    assert await _check(right) == SERVING
    assert certificate_name("auth") == "gateway"
