"""Acting on every call of a method by wrapping its behavior once, as it is registered.

grpc.aio hands whoever picks a method's handler (a generic handler, an interceptor) the
*handler*, never the call: there is no peer, context or outcome yet. To act on each call,
one returns a handler of the same kind and codecs whose behavior is wrapped.
:class:`MethodWrapping` is how one concern (call policy, metrics, traces) says how a
behavior is wrapped (:meth:`MethodWrapping.wrap`, told the method's kind and full name);
:class:`WrappedHandlers` applies a server's wrappings to each method once, as the generic
handler that serves it, and :class:`UnknownMethods` tells them of calls nothing serves.
grpc.aio's interceptors would do the same but run their chain, a coroutine per interceptor,
on every call only to hand out the same wrapped handler.

A behavior is what grpc.aio calls with ``(request or request iterator, context)``: a
coroutine function for single responses; for response streams either an async generator
(grpc iterates it) or a coroutine that writes with ``context.write``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import grpc

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    _Generic = grpc.GenericRpcHandler[Any, Any]
else:  # not subscriptable at run time
    Handler = grpc.RpcMethodHandler
    _Generic = grpc.GenericRpcHandler
Behavior = Callable[..., Any]
Kind = Literal["unary", "client_stream", "server_stream", "bidi_stream"]

_FACTORIES: dict[str, tuple[Kind, Callable[..., Handler]]] = {
    "unary_unary": ("unary", grpc.unary_unary_rpc_method_handler),
    "stream_unary": ("client_stream", grpc.stream_unary_rpc_method_handler),
    "unary_stream": ("server_stream", grpc.unary_stream_rpc_method_handler),
    "stream_stream": ("bidi_stream", grpc.stream_stream_rpc_method_handler),
}


def streams_responses(kind: Kind) -> bool:
    return kind in ("server_stream", "bidi_stream")


def streams_requests(kind: Kind) -> bool:
    return kind in ("client_stream", "bidi_stream")


def rewrapped(handler: Handler, wrap: Callable[[Kind, Behavior], Behavior]) -> Handler:
    """``handler`` with its behavior replaced by ``wrap(kind, behavior)``, same codecs."""
    for attribute, (kind, factory) in _FACTORIES.items():
        behavior = getattr(handler, attribute)
        if behavior is not None:
            return factory(wrap(kind, behavior),
                           request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
    raise TypeError("a method handler without a behavior")


class MethodWrapping:
    """One concern that wraps each method's behavior (see :class:`WrappedHandlers`)."""

    def wrap(self, kind: Kind, method: str, behavior: Behavior) -> Behavior:
        """The behavior that runs instead of ``behavior`` on every call of ``method``."""
        raise NotImplementedError

    def unknown(self, method: str) -> None:
        """Told of a call to a method the server does not have (grpc answers UNIMPLEMENTED)."""

    def wrapped(self, method: str, handler: Handler) -> Handler:
        """``method``'s ``handler`` with its behavior wrapped by :meth:`wrap`."""
        return rewrapped(handler, lambda kind, behavior: self.wrap(kind, method, behavior))


class WrappedHandlers(_Generic):  # type: ignore[misc]
    """A generic handler whose methods reach the server already wrapped by ``wrappings``
    (the first outermost), each wrapped once and kept while ``inner`` hands out the same
    handler."""

    def __init__(self, inner: _Generic,
                 wrappings: Sequence[MethodWrapping]) -> None:
        self._inner = inner
        self._wrappings = tuple(reversed(wrappings))  # innermost first
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method = str(handler_call_details.method)
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = handler
        for wrapping in self._wrappings:
            wrapped = wrapping.wrapped(method, wrapped)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


class UnknownMethods(_Generic):  # type: ignore[misc]
    """The last of a server's generic handlers: reached only by a call no other handler
    serves, it tells each wrapping (:meth:`MethodWrapping.unknown`) and serves nothing, so
    grpc answers UNIMPLEMENTED."""

    def __init__(self, wrappings: Sequence[MethodWrapping]) -> None:
        self._wrappings = tuple(wrappings)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> None:
        method = str(handler_call_details.method)
        for wrapping in self._wrappings:
            wrapping.unknown(method)


__all__ = ["Behavior", "Handler", "Kind", "MethodWrapping", "UnknownMethods", "WrappedHandlers",
           "rewrapped", "streams_requests", "streams_responses"]
