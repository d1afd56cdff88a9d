"""Where the person behind an Auth call connects from — the one place that decides it.

A REST sign-in reaches the Auth service as a gRPC call from the gateway, so the gRPC peer
is the gateway, not the person. The gateway therefore sends the client address it worked
out (:mod:`mesh_runtime.client_address`: the TCP peer, or what a trusted proxy forwarded)
as :data:`CLIENT_ADDRESS_KEY` metadata, and :func:`client_address` believes that only from
the gateway: a call on the mesh listener whose verified client certificate names
``spiffe://trademesh/gateway`` (mutual TLS). Any other caller — a trader's program on the
public listener, another service — is judged by its own peer address, whatever it claims.

A caller that sends no header is its own client: the address of ``context.peer()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import grpc

from mesh_runtime.client_address import parse_address

CLIENT_ADDRESS_KEY = "x-trademesh-client-address"
GATEWAY_IDENTITY = "spiffe://trademesh/gateway"
PEER_ID_PROPERTY = "peer_spiffe_id"  # set by gRPC from a verified certificate's URI SAN
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
    gateway: its client certificate, verified against the mesh CA, names the gateway."""
    names = {v.decode("utf-8", "replace") for v in auth.get(PEER_ID_PROPERTY, [])}
    return GATEWAY_IDENTITY in names


def _metadata_value(context: Context, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key and isinstance(value, str):
            return value
    return None
