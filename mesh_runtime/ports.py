"""Is a TCP port free to listen on? Checked before anything starts; a clash names its variable.
Also picks free ports for tests and benchmarks, outside the kernel's ephemeral range."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable

from mesh_runtime.config import PREFIX


class PortInUseError(OSError):
    """A configured port is taken; the message names the port and the variable that sets it."""


def port_is_free(host: str, port: int) -> bool:
    """True if a listener could bind ``host:port`` now (TIME_WAIT leftovers do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(host: str, ports: Iterable[tuple[str, int]]) -> None:
    """Raises :class:`PortInUseError` for the first ``(setting, port)`` that is taken or 0."""
    seen: dict[int, str] = {}
    for setting, port in ports:
        var = PREFIX + setting.upper()
        if port == 0:
            raise PortInUseError(f"{var}=0: `trademesh up` needs a fixed port; set {var}")
        if port in seen:
            raise PortInUseError(
                f"port {port} is set for both {PREFIX + seen[port].upper()} and {var}; "
                f"change one of them")
        seen[port] = setting
        if not port_is_free(host, port):
            raise PortInUseError(
                f"port {port} on {host} is already in use; stop what holds it or set {var}")


# Ports handed out by free_ports, never handed out twice by one process.
_HANDED_OUT: set[int] = set()
_LOWEST = 20000


def _ephemeral_start() -> int:
    """Where the kernel starts picking ports for outgoing connections (and for bind to 0)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports that bind on ``host`` now, for tests and benchmarks.

    They are drawn at random from below the kernel's ephemeral range: binding port 0 would
    pick from inside it, where every outgoing connection also takes its local port, so a
    port found free could be taken by a connection before the server that wants it binds it.
    A port is never handed out twice by one process."""
    top = max(_ephemeral_start(), _LOWEST + 1000)
    picks = random.SystemRandom()
    chosen: list[int] = []
    for _ in range(count * 200):
        port = picks.randrange(_LOWEST, top)
        if port not in _HANDED_OUT and port_is_free(host, port):
            _HANDED_OUT.add(port)
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise PortInUseError(f"no {count} free ports found on {host} in {_LOWEST}-{top - 1}")


def free_port(host: str = "127.0.0.1") -> int:
    """One port that binds on ``host`` now (see :func:`free_ports`)."""
    return free_ports(1, host)[0]
