"""Free ports for tests and benchmarks come from below the kernel's ephemeral range, where no
outgoing connection can take them between the check and the server's bind."""

from __future__ import annotations

import random
import socket

import pytest

from mesh_runtime import ports
from mesh_runtime.ports import _ephemeral_start, free_port, free_ports


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    ports = free_ports(40)
    assert len(set(ports)) == 40
    assert all(20000 <= port < _ephemeral_start() for port in ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_is_never_handed_out_twice() -> None:
    first = set(free_ports(200))
    second = {free_port() for _ in range(200)}
    assert not first & second


def test_a_port_something_holds_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken: int = held.getsockname()[1]
        fallback = free_port()  # handed out once, so it is only reachable through the script
        monkeypatch.setattr(ports, "_HANDED_OUT", set())
        script = iter([taken, taken, fallback])

        class Scripted(random.Random):
            def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
                return next(script)

        monkeypatch.setattr(random, "SystemRandom", Scripted)
        assert free_port() == fallback
