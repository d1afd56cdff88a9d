"""The pieces of ``trademesh up`` that need no server: ports, banner, redaction, log tails."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mesh_runtime.child_process import tail
from mesh_runtime.config import Settings
from mesh_runtime.ports import PortInUseError, check_ports, port_is_free
from mesh_runtime.probes import grpc_target, probe_host
from mesh_runtime.supervisor import Supervisor
from trademesh_cli.up import banner, redact


def test_a_listening_port_is_named_with_its_variable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        with pytest.raises(PortInUseError) as err:
            check_ports("127.0.0.1", [("gateway_port", port)])
    message = str(err.value)
    assert f"port {port}" in message and "TRADEMESH_GATEWAY_PORT" in message


def test_a_port_set_twice_is_refused() -> None:
    with pytest.raises(PortInUseError, match="TRADEMESH_ENGINE_PORT and TRADEMESH_FEED_PORT"):
        check_ports("127.0.0.1", [("engine_port", 1), ("feed_port", 1)])


def test_port_zero_is_refused() -> None:
    with pytest.raises(PortInUseError, match="TRADEMESH_WS_PORT=0"):
        check_ports("127.0.0.1", [("ws_port", 0)])


def test_banner_prints_every_address() -> None:
    settings = Settings(postgres_url="postgresql://postgres@127.0.0.1:1/trademesh",
                        redis_url="redis://:secret@db:6379/0")
    text = banner(settings, (True, False))
    assert "http://127.0.0.1:8080/api/v1" in text
    assert "ws://127.0.0.1:8081/ws" in text
    for port in (50051, 50052, 50053, 50054):
        assert f"127.0.0.1:{port}" in text
    assert "secret" not in text and "redis://:***@db:6379/0 (external)" in text
    assert text.endswith("Press Ctrl-C to stop.")


def test_redact_leaves_urls_without_password_alone() -> None:
    assert redact("postgresql://postgres@h:1/db") == "postgresql://postgres@h:1/db"
    assert redact("postgresql://u:p@h:1/db") == "postgresql://u:***@h:1/db"


def test_wildcard_binds_are_probed_on_loopback() -> None:
    assert probe_host("0.0.0.0") == "127.0.0.1"
    assert grpc_target("::", 5) == "[::1]:5"
    assert grpc_target("10.0.0.2", 5) == "10.0.0.2:5"


def test_tail_gives_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    assert tail(log) == ""
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 2) == "line 98\nline 99"


async def test_external_servers_start_nothing_embedded() -> None:
    settings = Settings(postgres_url="postgresql://u@db.example:5432/x",
                        redis_url="redis://cache.example:6379/0")
    supervisor = Supervisor(settings, say=lambda line: None)
    assert await supervisor._start_embedded(supervisor.settings) == supervisor.settings
    assert supervisor.children == []
