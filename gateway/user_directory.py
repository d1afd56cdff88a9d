"""The users, as the persistence service keeps them (``CreateUser`` / ``GetUser``).

Persistence owns the users table; the Auth service only calls it. Its gRPC failures become
:class:`~gateway.rich_status.RpcProblem` answers: a taken email is ALREADY_EXISTS naming
``email``, anything else the caller cannot fix is UNAVAILABLE.
"""

from __future__ import annotations

import logging

import grpc
from trademesh.v1 import account_pb2, persistence_pb2, persistence_pb2_grpc

from gateway.rich_status import RpcProblem, unavailable

log = logging.getLogger("trademesh.gateway.auth")


class UserDirectory:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float) -> None:
        self._stub = persistence_pb2_grpc.PersistenceStub(channel)
        self._timeout = timeout_seconds

    async def create(self, email: str, password_hash: str) -> account_pb2.User:
        request = persistence_pb2.CreateUserRequest(email=email, password_hash=password_hash)
        try:
            reply = await self._stub.CreateUser(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.ALREADY_EXISTS:
                raise RpcProblem(grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN",
                                 "email: already registered", field="email") from None
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise RpcProblem(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT",
                                 "email: is not a valid email address", field="email") from None
            raise _unavailable(err) from None
        return reply.user

    async def by_email(self, email: str) -> tuple[account_pb2.User, str] | None:
        """The user with ``email`` and their password hash, or None."""
        return await self._get(persistence_pb2.GetUserRequest(email=email))

    async def by_id(self, user_id: str) -> account_pb2.User | None:
        found = await self._get(persistence_pb2.GetUserRequest(id=user_id))
        return None if found is None else found[0]

    async def _get(self, request: persistence_pb2.GetUserRequest
                   ) -> tuple[account_pb2.User, str] | None:
        try:
            reply = await self._stub.GetUser(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                return None
            raise _unavailable(err) from None
        return reply.user, reply.password_hash


def _unavailable(err: grpc.aio.AioRpcError) -> RpcProblem:
    log.warning("persistence user call failed: %s %s", err.code().name, err.details())
    return unavailable("the user directory is unavailable; try again")
