"""Is a TCP port free to listen on? Checked before anything starts; a clash names its variable."""

from __future__ import annotations

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
