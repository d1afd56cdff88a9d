"""Persistence outcomes → gRPC statuses (richer error model): the one place they are mapped."""

from __future__ import annotations

import grpc
from google.rpc import status_pb2

from mesh_runtime.rich_errors import abort, rich_status
from persistence_svc.history import InvalidQuery

__all__ = ["abort", "invalid", "status"]

status = rich_status  # the servicer builds its own statuses with it


def invalid(err: InvalidQuery) -> status_pb2.Status:
    return status(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", str(err), err.field)

