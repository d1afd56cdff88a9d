"""Where the person behind an Auth call connects from — the one place that decides it.

A REST sign-in reaches the Auth service as a gRPC call from the gateway, so the gRPC peer
is the gateway, not the person. The gateway therefore sends the client address it worked
out (:mod:`mesh_runtime.client_address`: the TCP peer, or what a trusted proxy forwarded)
as :data:`CLIENT_ADDRESS_KEY` metadata, and :func:`client_address` believes that only from
the gateway:

- over TLS, only when the caller's certificate names ``spiffe://trademesh/gateway`` (the
  mesh's mutual TLS); any other caller — a trader's program, another service — is judged
  by its own peer address, whatever it claims;
- over a plaintext channel (a mesh not yet on TLS) the header is believed: nothing there
  proves anyone's identity, and without it every REST client would share the gateway's
  address (one stranger's failures would lock everyone out).

A caller that sends no header is its own client: the address of ``context.peer()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from mesh_runtime.client_address import parse_address

CLIENT_ADDRESS_KEY = "x-trademesh-client-address"
GATEWAY_IDENTITY = "spiffe://trademesh/gateway"
_IDENTITY_PROPERTIES = ("peer_spiffe_id", "x509_uri", "x509_subject_alternative_name")
Context = grpc.aio.ServicerContext[Any, Any]


def client_address(context: Context) -> str:
    """The address the call is made for (see the module docstring for whom it believes)."""
    forwarded = _metadata_value(context, CLIENT_ADDRESS_KEY)
    if forwarded is not None and is_gateway(context.auth_context() or {}):
        address = parse_address(forwarded)
        if address is not None:
            return str(address)
    peer = context.peer() or "unknown"
    parsed = parse_address(peer)
    return peer if parsed is None else str(parsed)


def is_gateway(auth: Mapping[str, Iterable[bytes]]) -> bool:
    """Whether a call with this auth context (``context.auth_context()``) comes from the
    gateway as far as the transport can tell."""
    security = [v.decode("ascii", "replace") for v in auth.get("transport_security_type", [])]
    if not security or security == ["insecure"]:
        return True  # plaintext: no identity to check (see the module docstring)
    names = {v.decode("utf-8", "replace") for key in _IDENTITY_PROPERTIES
             for v in auth.get(key, [])}
    return GATEWAY_IDENTITY in names


def _metadata_value(context: Context, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None
