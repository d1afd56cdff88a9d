"""TLS for the tests: one mesh PKI for the session and the channels real clients open.

The PKI is made once per test process by :func:`mesh_runtime.pki.ensure_pki` in a
temporary directory (removed at exit). ``user_channel`` is a trader's program (TLS to a
public listener, trusting the CA, no certificate); ``service_channel`` is a service calling
a mesh listener with its own certificate (``identity``: engine, persistence, feed,
gateway). :func:`use_pki` copies the PKI into a settings' data dir, where the services'
composition roots look for their files, so every server of a test shares one CA.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import grpc

from mesh_runtime.config import Settings
from mesh_runtime.pki import TlsFiles, ensure_pki, service_files
from mesh_runtime.tls import mesh_channel, tls_channel


def _temporary_pki() -> Path:
    path = Path(tempfile.mkdtemp(prefix="trademesh-pki-"))
    atexit.register(shutil.rmtree, path, True)
    ensure_pki(path)
    return path


@functools.cache
def pki_dir() -> Path:
    """The session's PKI: ``ca.pem`` and ``<service>{,-key}.pem`` for every service."""
    return _temporary_pki()


@functools.cache
def other_pki_dir() -> Path:
    """A second, unrelated CA and certificates: what the mesh must refuse."""
    return _temporary_pki()


def files(identity: str) -> TlsFiles:
    return service_files(pki_dir(), identity)


def ca_pem() -> bytes:
    return (pki_dir() / "ca.pem").read_bytes()


def user_channel(address: str) -> grpc.aio.Channel:
    """A user's channel: TLS to a public listener, no client certificate."""
    return tls_channel(address, ca_pem())


def service_channel(address: str, identity: str) -> grpc.aio.Channel:
    """A service's channel to a mesh listener, presenting ``identity``'s certificate."""
    return mesh_channel(address, files(identity))


def use_pki(settings: Settings) -> Settings:
    """Copies the session's PKI into ``settings.pki_dir``; returns ``settings``."""
    shutil.copytree(pki_dir(), settings.pki_dir, dirs_exist_ok=True)
    return settings


def free_mesh_ports(settings: Settings) -> Settings:
    """``settings`` with every mesh listener on its own free loopback port (so tests never
    meet the defaults a running mesh may hold)."""
    from mesh_runtime.ports import free_port

    return settings.with_overrides(**{f"{service}_mesh_port": free_port()
                                      for service in ("engine", "persistence", "feed", "auth")})
