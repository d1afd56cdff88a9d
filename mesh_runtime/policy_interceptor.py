"""The one guard that enforces every rpc's ``call_policy``.

:class:`CallPolicyInterceptor` is installed by :class:`mesh_runtime.serving.GrpcService` on
every server (no service can be built without it): it wraps each method's behavior once, as
the method is registered (:class:`~mesh_runtime.method_wrapping.WrappedHandlers`), with a
guard that runs first on every call, with the call's ``ServicerContext``:

1. a presented ``authorization: Bearer <jwt>`` must be valid and unrevoked
   (:class:`~mesh_runtime.revocation.TokenCheck`) — on public methods too; otherwise
   UNAUTHENTICATED (UNAVAILABLE when the revocation store cannot be asked: fail closed);
2. the caller's service is the ``spiffe://trademesh/<service>`` URI SAN of a client
   certificate verified by the mesh listener (mutual TLS; no other trust domain);
3. the method's policy (:mod:`mesh_runtime.call_policy`) must admit the caller: with no
   credential at all that is UNAUTHENTICATED, with a valid credential it does not name,
   PERMISSION_DENIED. A method without a policy is refused (PERMISSION_DENIED, logged);
   an unknown method is UNIMPLEMENTED as usual.

A token lasts as long as it is valid, not as long as a stream: on a request stream opened
with a token (``Engine.PlaceOrders``), every further message is checked against the token's
expiry and the revocation set before the servicer sees it, and the call ends
UNAUTHENTICATED once the token is no longer good.

Refusals carry a ``google.rpc.ErrorInfo`` whose metadata ``enforcedBy`` is ``call_policy``,
so a client (and the table test) can tell them from a servicer's own answers. The admitted
caller is then :func:`~mesh_runtime.call_policy.current_caller` for the servicer.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from mesh_runtime.call_policy import Caller, Policy, policy_for, set_caller
from mesh_runtime.method_wrapping import (
    Behavior,
    Kind,
    MethodWrapping,
    streams_requests,
    streams_responses,
)
from mesh_runtime.pki import peer_service
from mesh_runtime.revocation import RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import Claims, InvalidToken, bearer_token

log = logging.getLogger("trademesh.call_policy")

Context = grpc.aio.ServicerContext[Any, Any]
Guard = Callable[[Context], Awaitable[Caller]]
Watch = Callable[[Any, Claims, Context], AsyncIterator[Any]]
ENFORCER = "call_policy"
_PEER_ID_KEY = "peer_spiffe_id"


class CallPolicyInterceptor(MethodWrapping):
    """Admits a call only when its method's declared policy names the verified caller.

    ``tokens`` verifies user JWTs (signature, claims, revocation); without one the server
    accepts no tokens at all (a presented token is UNAUTHENTICATED).
    """

    def __init__(self, tokens: TokenCheck | None, pool: Any = None) -> None:
        super().__init__()
        self._tokens = tokens
        self._pool = pool

    def unknown(self, method: str) -> None:
        log.info("refused %s: no such method", method)

    def wrap(self, kind: Kind, method: str, behavior: Behavior) -> Behavior:
        """``behavior`` with the method's guard run first on every call (its caller then
        set), and a request stream opened with a token passed through a watch."""
        guard = self._guard(method)
        watch = self._watch(method) if streams_requests(kind) else None
        if streams_responses(kind):
            return _streamed(behavior, guard, watch)
        return _single(behavior, guard, watch)

    def _guard(self, method: str) -> Guard:
        policy = policy_for(method, self._pool)
        if policy is None:
            log.error("%s declares no call_policy: every call to it is refused", method)

            async def undeclared(context: Context) -> Caller:
                await refuse(context, grpc.StatusCode.PERMISSION_DENIED, "METHOD_WITHOUT_POLICY",
                             f"{method} declares no call policy", method)

            return undeclared

        async def admit(context: Context) -> Caller:
            return await self.admit(method, policy, context)

        return admit

    async def admit(self, method: str, policy: Policy, context: Context) -> Caller:
        """The verified caller if ``policy`` admits it; otherwise the call is aborted."""
        authorization = _authorization(context)
        claims = None if authorization is None else \
            await self._claims(method, authorization, context)
        service = caller_service(context)
        if policy.admits(service, claims):
            return Caller(service, claims)
        if service is None and claims is None:
            await refuse(context, grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_REQUIRED",
                         f"{method} needs a credential ({policy.describe()})", method)
        who = f"service {service}" if service else ""
        if claims is not None:
            role = "admin" if claims.admin else "user"
            who = f"{who} with a {role} token" if who else f"a {role} token"
        await refuse(context, grpc.StatusCode.PERMISSION_DENIED, "CALLER_NOT_ALLOWED",
                     f"{method} may be called by {policy.describe()}, not by {who}", method)

    def _watch(self, method: str) -> Watch:
        async def checked(requests: Any, claims: Claims, context: Context
                          ) -> AsyncIterator[Any]:
            async for request in requests:
                await self._still_valid(method, claims, context)
                yield request

        return checked

    async def _still_valid(self, method: str, claims: Claims, context: Context) -> None:
        """Ends the call when ``claims``' token has expired or been revoked since."""
        try:
            if claims.expires_at <= time.time():
                raise InvalidToken("the token has expired")
            if self._tokens is not None:
                await self._tokens.check(claims)
        except InvalidToken as err:
            await refuse(context, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN", str(err),
                         method)
        except RevocationUnavailable as err:
            await refuse(context, grpc.StatusCode.UNAVAILABLE, "REVOCATION_UNAVAILABLE",
                         str(err), method)

    async def _claims(self, method: str, authorization: str, context: Context) -> Claims:
        if self._tokens is None:
            await refuse(context, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN",
                         "this server accepts no user tokens", method)
        try:
            return await self._tokens.verify(bearer_token(authorization))
        except InvalidToken as err:
            await refuse(context, grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN", str(err),
                         method)
        except RevocationUnavailable as err:
            await refuse(context, grpc.StatusCode.UNAVAILABLE, "REVOCATION_UNAVAILABLE",
                         str(err), method)


def caller_service(context: Context) -> str | None:
    """The service named by the call's verified client certificate (mesh listener), if
    any. Only the mesh listener asks for a certificate, and it verifies it against the
    mesh CA before the call exists; elsewhere the key is absent. A call without any verified
    peer identity (no client certificate: the public listener) skips building the whole
    auth context, a dict holding the peer's PEM certificate, on every call."""
    if context.peer_identities() is None:
        return None
    ids = context.auth_context().get(_PEER_ID_KEY)
    if not ids:
        return None
    return peer_service(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                        for v in ids)


def _authorization(context: Context) -> str | None:
    found: str | None = None
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            if found is not None:
                return "duplicate"  # two tokens: refused as not a bearer token
            found = value if isinstance(value, str) else value.decode("latin-1")
    return found


async def refuse(context: Context, code: grpc.StatusCode, reason: str, message: str,
                 method: str) -> NoReturn:
    """Ends the call with ``code`` and an ErrorInfo marked as the call policy's."""
    log.info("refused %s: %s %s: %s", method, code.name, reason, message)
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="trademesh",
                                          metadata={"enforcedBy": ENFORCER}))
    status = rpc_status.to_status(status_pb2.Status(code=code.value[0], message=message,
                                                    details=[info]))
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable")  # context.abort raises


async def _admitted(guard: Guard, watch: Watch | None, request: Any, context: Context) -> Any:
    """Runs ``guard`` and sets the caller; the request (stream) the servicer gets."""
    caller = await guard(context)
    set_caller(caller)
    if watch is None or caller.claims is None:
        return request
    return watch(request, caller.claims, context)


def _single(behavior: Behavior, guard: Guard, watch: Watch | None = None) -> Behavior:
    """A single-response behavior (a coroutine function, as grpc.aio requires)."""
    is_coroutine = inspect.iscoroutinefunction(behavior)

    async def call(request: Any, context: Context) -> Any:
        request = await _admitted(guard, watch, request, context)
        result = behavior(request, context)
        return await result if is_coroutine else result

    return call


def _streamed(behavior: Behavior, guard: Guard, watch: Watch | None = None) -> Behavior:
    """A response-streaming behavior, of the same kind as ``behavior``: grpc.aio tells an
    async generator (it iterates) from a coroutine (it writes with ``context.write``)."""
    if inspect.iscoroutinefunction(behavior):
        async def write(request: Any, context: Context) -> None:
            await behavior(await _admitted(guard, watch, request, context), context)

        return write

    async def generate(request: Any, context: Context) -> AsyncIterator[Any]:
        responses = behavior(await _admitted(guard, watch, request, context), context)
        if not hasattr(responses, "__aiter__"):  # a plain generator
            for response in responses:
                yield response
            return
        async with contextlib.aclosing(responses) as items:
            async for item in items:
                yield item

    return generate


__all__ = ["ENFORCER", "CallPolicyInterceptor", "caller_service", "refuse"]
