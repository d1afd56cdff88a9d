"""The caller's identity on a gRPC call: the verified JWT in ``authorization`` metadata."""

from __future__ import annotations

from typing import Any

import grpc

from mesh_runtime.tokens import Claims, InvalidToken, TokenVerifier, bearer_token


class Authenticator:
    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def claims(self, context: grpc.aio.ServicerContext[Any, Any]) -> Claims:
        """The verified claims, or :class:`InvalidToken` saying why not."""
        metadata = context.invocation_metadata() or ()
        header = next((str(v) for k, v in metadata if k == "authorization"), None)
        return self._verifier.verify(bearer_token(header))


__all__ = ["Authenticator", "Claims", "InvalidToken"]
