"""The gRPC ``trademesh.v1.Auth`` service the gateway serves.

For now the generated base servicer, which answers UNIMPLEMENTED (auth is a later issue).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from trademesh.v1 import auth_pb2, auth_pb2_grpc

SERVICE_NAME: str = auth_pb2.DESCRIPTOR.services_by_name["Auth"].full_name


def register_auth(server: grpc.aio.Server) -> Iterable[str]:
    """A :class:`mesh_runtime.serving.GrpcService` registrar for the Auth service."""
    # The stubs mark the base's rpcs abstract; at run time each answers UNIMPLEMENTED.
    base: Any = auth_pb2_grpc.AuthServicer
    auth_pb2_grpc.add_AuthServicer_to_server(base(), server)
    return [SERVICE_NAME]
