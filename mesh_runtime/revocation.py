"""Revoked tokens, shared by every service and replica through Redis.

A revoked token is remembered by its ``jti`` under ``trademesh:revoked:<jti>`` until the
token itself expires (``EXAT`` = the token's ``exp``), after which the signature check alone
refuses it and the key is gone. :class:`TokenCheck` is the one verification API for every
entry point — REST (gateway), gRPC (:class:`mesh_runtime.grpc_auth.Authenticator`) and the
WebSocket bridge: the signature and claims through :class:`TokenVerifier`, then the
revocation set, on every call (the verifier's cache never skips the revocation check).
"""

from __future__ import annotations

import time
from typing import Protocol

import redis.asyncio as aioredis

from mesh_runtime.tokens import Claims, InvalidToken, TokenVerifier

KEY_PREFIX = "trademesh:revoked:"


class RevocationUnavailable(Exception):
    """The revocation store cannot be reached: the token's standing is unknown."""


class Revocations(Protocol):
    """The port: revoke a token id until its expiry; ask whether one is revoked."""

    async def revoke(self, token_id: str, expires_at: int) -> None: ...

    async def is_revoked(self, token_id: str) -> bool: ...


class RedisRevocations:
    """:class:`Revocations` in Redis: one key per revoked ``jti``, expiring with the token."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: str, timeout: float = 2.0) -> RedisRevocations:
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=timeout,
                                           socket_timeout=timeout))

    async def revoke(self, token_id: str, expires_at: int) -> None:
        if expires_at <= time.time():
            return  # already refused by its expiry
        try:
            await self._redis.set(KEY_PREFIX + token_id, b"1", exat=expires_at)
        except (OSError, aioredis.RedisError) as err:
            raise RevocationUnavailable(f"cannot record the revocation: {err}") from None

    async def is_revoked(self, token_id: str) -> bool:
        try:
            return bool(await self._redis.exists(KEY_PREFIX + token_id))
        except (OSError, aioredis.RedisError) as err:
            raise RevocationUnavailable(f"cannot check revocation: {err}") from None

    async def close(self) -> None:
        await self._redis.aclose()


class MemoryRevocations:
    """:class:`Revocations` in one process (tests, single-process tools)."""

    def __init__(self) -> None:
        self._revoked: dict[str, int] = {}

    async def revoke(self, token_id: str, expires_at: int) -> None:
        self._revoked[token_id] = expires_at

    async def is_revoked(self, token_id: str) -> bool:
        expires_at = self._revoked.get(token_id)
        return expires_at is not None and expires_at > time.time()


class TokenCheck:
    """Verifies a token and refuses a revoked one: the check every entry point runs."""

    def __init__(self, verifier: TokenVerifier, revocations: Revocations | None) -> None:
        self.verifier = verifier
        self.revocations = revocations

    async def verify(self, token: str) -> Claims:
        """The claims of a valid, unrevoked ``token``.

        Raises :class:`InvalidToken` (answer 401 / UNAUTHENTICATED) or
        :class:`RevocationUnavailable` (answer 503 / UNAVAILABLE: fail closed).
        """
        claims = self.verifier.verify(token)
        await self.check(claims)
        return claims

    async def check(self, claims: Claims) -> None:
        """Raises :class:`InvalidToken` when ``claims``' token has been revoked."""
        if self.revocations is not None and await self.revocations.is_revoked(claims.token_id):
            raise InvalidToken("the token has been revoked")


__all__ = ["Claims", "InvalidToken", "MemoryRevocations", "RedisRevocations",
           "RevocationUnavailable", "Revocations", "TokenCheck"]
