"""The caller's identity on a gRPC call: the verified JWT in ``authorization`` metadata.

:meth:`Authenticator.claims` checks the signature and claims only; :meth:`Authenticator.
authenticate` also refuses revoked tokens (when built with a :class:`Revocations`) and is
what every servicer should call.
"""

from __future__ import annotations

from typing import Any

import grpc

from mesh_runtime.revocation import Revocations, RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import Claims, InvalidToken, TokenVerifier, bearer_token


class Authenticator:
    def __init__(self, verifier: TokenVerifier, revocations: Revocations | None = None) -> None:
        self._verifier = verifier
        self.check = TokenCheck(verifier, revocations)

    def claims(self, context: grpc.aio.ServicerContext[Any, Any]) -> Claims:
        """The verified claims, or :class:`InvalidToken` saying why not (no revocation
        check: prefer :meth:`authenticate`)."""
        return self._verifier.verify(bearer_token(authorization(context)))

    async def authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> Claims:
        """The claims of a valid, unrevoked token; raises :class:`InvalidToken` (answer
        UNAUTHENTICATED) or :class:`RevocationUnavailable` (answer UNAVAILABLE)."""
        return await self.check.verify(bearer_token(authorization(context)))


def authorization(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    """The call's ``authorization`` metadata value, if any."""
    metadata = context.invocation_metadata() or ()
    return next((str(v) for k, v in metadata if k == "authorization"), None)


__all__ = ["Authenticator", "Claims", "InvalidToken", "RevocationUnavailable",
           "authorization"]
