"""TLS for the mesh's gRPC: credentials for a server's two listeners and client channels.

Every gRPC server listens twice with the same services, handlers and interceptors:

- the **public port** presents the server's certificate and asks for none (traders'
  programs, ``grpcurl -cacert ca.pem``, health checks); callers authenticate with a JWT;
- the **mesh port** requires a client certificate signed by the mesh CA (mutual TLS);
  services call each other there, and the certificate's ``spiffe://trademesh/<service>``
  URI SAN is the caller's identity.

grpcio cannot ask for an *optional* client certificate on one port
(``require_client_auth=False`` never requests one), hence two listeners. The port grants
nothing: the call-policy interceptor decides from the verified certificate or the token.

A failed handshake (a plaintext client, an unknown CA, no client certificate on the mesh
port) fails that connection only; grpc core logs one line for it on stderr
(``ssl_transport_security.cc … Handshake failed …``) and the server keeps serving.

Clients keep their channels open (one handshake per connection, not per call). A user's
server name check uses the host dialed: the certificates carry ``localhost``, the loopback
addresses and the service's own name (docker-compose's host name); a wildcard host
(``0.0.0.0``, ``::``) is dialed on loopback. A service dialing a peer checks the peer's
service name instead (``server_name``, :func:`certificate_name`), so the engine's events go
to a certificate issued to persistence, not to any holder of a mesh certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

from mesh_runtime.pki import TlsFiles

ChannelOptions = Sequence[tuple[str, Any]]
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]", "": "127.0.0.1"}


def public_server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """The public listener's: the server certificate, no client certificate asked."""
    _, cert, key = files.read()
    return grpc.ssl_server_credentials([(key, cert)])


def mesh_server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """The mesh listener's: a client certificate signed by the mesh CA is required."""
    ca, cert, key = files.read()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                       require_client_auth=True)


def dial_target(target: str) -> str:
    """``target`` with a wildcard host replaced by loopback (what a wildcard bind answers
    on, and a name the certificates carry)."""
    host, sep, port = target.rpartition(":")
    if not sep:
        return target
    loopback = _WILDCARDS.get(host)
    return f"{loopback}:{port}" if loopback else target


def certificate_name(service: str) -> str:
    """The service name in the certificate of the process serving ``service`` (engine,
    persistence, feed, or auth, which the gateway process serves)."""
    return "gateway" if service == "auth" else service


def mesh_channel(target: str, files: TlsFiles, *, server_name: str = "",
                 options: ChannelOptions = ()) -> grpc.aio.Channel:
    """A channel to a service's mesh listener, presenting this process's certificate.
    ``server_name`` overrides the name checked in the server's certificate."""
    ca, cert, key = files.read()
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    return grpc.aio.secure_channel(dial_target(target), credentials,
                                   options=_options(server_name, options))


def tls_channel(target: str, ca_pem: bytes, *, server_name: str = "",
                options: ChannelOptions = ()) -> grpc.aio.Channel:
    """A user's channel to a public listener: TLS trusting ``ca_pem``, no certificate of
    its own (the caller sends a JWT in its metadata)."""
    credentials = grpc.ssl_channel_credentials(ca_pem)
    return grpc.aio.secure_channel(dial_target(target), credentials,
                                   options=_options(server_name, options))


RECONNECT_OPTIONS: list[tuple[str, Any]] = [
    # A peer that comes back at a new address (a restarted container) is looked up again
    # within a second of a failed connection, not grpc's default 30 s; and a channel tries
    # again at least every 5 s (grpc's default backoff grows to 120 s), so a service that
    # was down a while is used again within seconds of coming back.
    ("grpc.dns_min_time_between_resolutions_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 5000),
]


def _options(server_name: str, options: ChannelOptions) -> list[tuple[str, Any]]:
    extra = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    return [*RECONNECT_OPTIONS, *extra, *options]
