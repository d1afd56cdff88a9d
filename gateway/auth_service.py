"""Registering the gRPC ``trademesh.v1.Auth`` service the gateway serves.

:func:`auth_registrar` registers a real :class:`gateway.auth_servicer.AuthServicer`;
:func:`register_auth` registers the generated base servicer (every rpc UNIMPLEMENTED), for
tests that need an Auth endpoint but not auth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc
from trademesh.v1 import auth_pb2, auth_pb2_grpc

SERVICE_NAME: str = auth_pb2.DESCRIPTOR.services_by_name["Auth"].full_name


def auth_registrar(servicer: auth_pb2_grpc.AuthServicer
                   ) -> Callable[[grpc.aio.Server], Iterable[str]]:
    """A :class:`mesh_runtime.serving.GrpcService` registrar for ``servicer``."""

    def register(server: grpc.aio.Server) -> Iterable[str]:
        auth_pb2_grpc.add_AuthServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return register


def register_auth(server: grpc.aio.Server) -> Iterable[str]:
    """Registers the UNIMPLEMENTED base servicer."""
    # The stubs mark the base's rpcs abstract; at run time each answers UNIMPLEMENTED.
    base: Any = auth_pb2_grpc.AuthServicer
    auth_pb2_grpc.add_AuthServicer_to_server(base(), server)
    return [SERVICE_NAME]
