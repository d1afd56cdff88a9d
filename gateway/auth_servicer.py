"""The ``trademesh.v1.Auth`` servicer: sign-up, sign-in, whoami, logout.

Sign-up checks the email's syntax and the password's length (8 characters .. 72 bytes),
hashes it with bcrypt off the event loop and asks persistence to create the user. Sign-in
answers one UNAUTHENTICATED for an unknown email, a wrong password or an unusable password
(always after one bcrypt check), and RESOURCE_EXHAUSTED with a retry delay while the
account is locked out for the caller's address, or the address itself is
(:mod:`gateway.signin_lockout`; the address is :func:`gateway.client_origin.client_address`).
WhoAmI and Logout are for users (their call policy): the token the policy interceptor
verified, unrevoked (:func:`~mesh_runtime.call_policy.current_caller`); Logout revokes it
everywhere (the revocation set is in Redis).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
import redis.asyncio as aioredis
from google.protobuf import timestamp_pb2
from trademesh.v1 import auth_pb2, auth_pb2_grpc

from gateway.client_origin import client_address
from gateway.credentials import CredentialError, PasswordHasher, new_password_bytes, normalise_email
from gateway.rich_status import RpcProblem, abort, invalid, unauthenticated, unavailable
from gateway.signin_lockout import SigninLockout
from gateway.user_directory import UserDirectory
from mesh_runtime.call_policy import current_caller
from mesh_runtime.revocation import Revocations, RevocationUnavailable
from mesh_runtime.tokens import Claims, TokenSigner

log = logging.getLogger("trademesh.gateway.auth")
Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


class AuthServicer(auth_pb2_grpc.AuthServicer):
    def __init__(self, users: UserDirectory, hasher: PasswordHasher, signer: TokenSigner,
                 revocations: Revocations, lockout: SigninLockout) -> None:
        self._users = users
        self._hasher = hasher
        self._signer = signer
        self._revocations = revocations
        self._lockout = lockout

    async def Signup(self, request: auth_pb2.SignupRequest,
                     context: Context) -> auth_pb2.SignupResponse:
        return await _answer(context, self._signup(request))

    async def Signin(self, request: auth_pb2.SigninRequest,
                     context: Context) -> auth_pb2.SigninResponse:
        return await _answer(context, self._signin(request, client_address(context)))

    async def WhoAmI(self, request: auth_pb2.WhoAmIRequest,
                     context: Context) -> auth_pb2.WhoAmIResponse:
        return await _answer(context, self._whoami())

    async def Logout(self, request: auth_pb2.LogoutRequest,
                     context: Context) -> auth_pb2.LogoutResponse:
        return await _answer(context, self._logout())

    async def _signup(self, request: auth_pb2.SignupRequest) -> auth_pb2.SignupResponse:
        try:
            email = normalise_email(request.email)
            password = new_password_bytes(request.password)
        except CredentialError as err:
            raise invalid(err.field, err.description) from None
        user = await self._users.create(email, await self._hasher.hash(password))
        token, _ = self._signer.issue(user.id, admin=user.admin)
        log.info("signup user=%s", user.id)
        return auth_pb2.SignupResponse(user=user, token=token)

    async def _signin(self, request: auth_pb2.SigninRequest,
                      address: str) -> auth_pb2.SigninResponse:
        try:
            email = normalise_email(request.email)
        except CredentialError:
            email = ""
        lock_key = email or request.email.strip().lower()
        wait = await self._lockout.locked_for(lock_key, address)
        if wait:
            raise RpcProblem(grpc.StatusCode.RESOURCE_EXHAUSTED, "SIGNIN_LOCKED",
                             "too many failed sign-ins; try again later",
                             retry_after_seconds=wait)
        found = await self._users.by_email(email) if email else None
        matched = await self._hasher.verify(request.password, found[1] if found else None)
        if found is None or not matched:
            await self._lockout.failed(lock_key, address)
            raise unauthenticated()
        await self._lockout.succeeded(lock_key, address)
        user = found[0]
        token, expires = self._signer.issue(user.id, admin=user.admin)
        return auth_pb2.SigninResponse(token=token,
                                       expires_at=timestamp_pb2.Timestamp(seconds=expires))

    async def _whoami(self) -> auth_pb2.WhoAmIResponse:
        claims = _claims()
        user = await self._users.by_id(claims.user_id)
        if user is None:
            raise unauthenticated("the token's user does not exist")
        return auth_pb2.WhoAmIResponse(user=user)

    async def _logout(self) -> auth_pb2.LogoutResponse:
        claims = _claims()
        await self._revocations.revoke(claims.token_id, claims.expires_at)
        log.info("logout user=%s jti=%s", claims.user_id, claims.token_id)
        return auth_pb2.LogoutResponse()


def _claims() -> Claims:
    """The verified caller's claims (WhoAmI's and Logout's policy admits users only)."""
    claims = current_caller().claims
    if claims is None:
        raise unauthenticated("a bearer token is required")
    return claims


async def _answer(context: Context, work: Awaitable[T]) -> T:
    """``work``'s result; its problems become rich gRPC errors, never a bare UNKNOWN."""
    try:
        return await work
    except RpcProblem as problem:
        await abort(context, problem)
    except RevocationUnavailable as err:
        await abort(context, unavailable(str(err)))
    except (OSError, aioredis.RedisError) as err:
        log.warning("auth store unavailable: %r", err)
        await abort(context, unavailable("the auth store is unavailable; try again"))
