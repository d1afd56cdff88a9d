"""One WebSocket client's protocol: its connection state, identity and subscriptions.

Requests are ``{"method": ..., "params": [...], "id": n}``; each gets exactly one reply,
``{"result": null, "id": n}`` or ``{"error": {"code", "message"}, "id": n}``, and a bad
request never closes the connection. Replies travel through the same outbox as data, so
a SUBSCRIBE's reply always precedes the channel's first message. SUBSCRIBE is all or
nothing: one unknown channel and nothing is subscribed.

Connection states (STYLE 14): CONNECTING → OPEN → CLOSING → CLOSED (CONNECTING and OPEN
may also go straight to CLOSED when the peer vanishes); any other move is refused.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from feed_svc import metrics
from feed_svc.channels import Channel, Kind, UnknownChannel, parse
from feed_svc.codec import Frame
from feed_svc.hub import Hub
from feed_svc.outbox import Message, Mode, Outbox
from feed_svc.token_watch import until_invalid
from mesh_runtime.revocation import RevocationUnavailable, TokenCheck
from mesh_runtime.tokens import Claims, InvalidToken


class State(Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_MOVES = {State.CONNECTING: {State.OPEN, State.CLOSED},
          State.OPEN: {State.CLOSING, State.CLOSED},
          State.CLOSING: {State.CLOSED}, State.CLOSED: set[State]()}


class IllegalTransition(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Limits:
    max_subscriptions: int = 50
    max_message_bytes: int = 16 * 1024
    queue: int = 2_000
    # How often an authenticated connection's token is checked for revocation (its expiry
    # is acted on at the second).
    token_recheck_seconds: float = 5.0
    # Requests a connection may send: a bucket of ``request_burst``, refilled at
    # ``requests_per_second``. Past it a request is answered RATE_LIMITED; a client that
    # goes on sending ``request_burst`` more while limited is disconnected.
    requests_per_second: float = 10.0
    request_burst: int = 50
    # Batched connections get what waits a little after the first message so that one
    # frame carries what arrives meanwhile: at least 1 ms, 2.5 µs per batched connection
    # (5 ms at 2,000) and a quarter of the last tick's work (so the pacer writes at most
    # four fifths of the time), capped at ``linger_seconds``. Measured (bench_feed, 2,000
    # clients, 100 trades/s): waiting as long as the work (half the time) gave p99 152 ms,
    # a quarter 88 ms, none 97 ms with the hub itself falling behind (its p99 324 ms).
    linger_seconds: float = 0.05
    linger_per_connection: float = 0.000_002_5
    linger_share: float = 0.25


class RequestError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Session:
    def __init__(self, hub: Hub, verifier: TokenCheck | None, limits: Limits,
                 wakeup: asyncio.Event | None = None) -> None:
        """``wakeup``: an event to set on every queued message instead of the outbox's
        own (a pacer serving many sessions waits on one shared event); such an outbox is
        deferred (its channels' messages come at ``Hub.settle``, which that pacer calls)."""
        self.state = State.CONNECTING
        self._hub, self._verifier, self._limits = hub, verifier, limits
        self.outbox: Outbox[Frame] = Outbox(limits.queue, hub.resnapshot)
        if wakeup is not None:
            self.outbox.wakeup = wakeup
            self.outbox.deferred = True
        self.channels: dict[str, Channel] = {}
        self.user_id = ""
        self._later: list[Channel] = []
        self._token_watch: asyncio.Task[None] | None = None
        self._tokens = float(limits.request_burst)
        self._refilled = time.monotonic()
        self._refused = 0  # requests refused since the last one allowed

    def move(self, to: State) -> None:
        if to not in _MOVES[self.state]:
            raise IllegalTransition(f"{self.state.value} → {to.value}")
        self.state = to
        if to is State.CLOSED:
            self._hub.drop(self.outbox)
            if self._token_watch is not None:
                self._token_watch.cancel()

    async def receive(self, raw: str | bytes) -> None:
        """Handles one client message; its reply is queued on the outbox."""
        request_id: Any = None
        if not self._allow_request():
            return
        try:
            if len(raw) > self._limits.max_message_bytes:
                raise RequestError("MESSAGE_TOO_LARGE", "messages are at most "
                                   f"{self._limits.max_message_bytes} bytes")
            message = _decode(raw)
            request_id = message.get("id")
            if not _valid_id(request_id):
                request_id = None
                raise RequestError("INVALID_REQUEST", "id: expected a number, a string or null")
            method, params = message.get("method"), message.get("params")
            if method == "AUTH":  # the one request that waits (the revocation check)
                result = await self._auth(params)
            else:
                result = self._dispatch(method, params)
            body: dict[str, Any] = {"result": result, "id": request_id}
        except RequestError as err:
            body = {"error": {"code": err.code, "message": str(err)}, "id": request_id}
        self._reply(body)
        later, self._later = self._later, []
        for channel in later:
            self._hub.subscribe(self.outbox, channel, self.user_id)

    def _allow_request(self) -> bool:
        """The request rate limit: False when this request is refused (answered, or the
        connection closed)."""
        limits = self._limits
        now = time.monotonic()
        self._tokens = min(float(limits.request_burst),
                           self._tokens + (now - self._refilled) * limits.requests_per_second)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            self._refused = 0
            return True
        self._refused += 1
        metrics.RATE_LIMITED.inc()
        if self._refused > limits.request_burst:
            self.outbox.close(f"TOO_MANY_REQUESTS: more than {limits.requests_per_second:g} "
                              "requests per second")
            return False
        body = {"error": {"code": "RATE_LIMITED", "message": "at most "
                          f"{limits.requests_per_second:g} requests per second (burst "
                          f"{limits.request_burst}); this one was not processed"}, "id": None}
        self._reply(body)
        return False

    def _dispatch(self, method: object, params: object) -> Any:
        if method not in ("PING", "SUBSCRIBE", "UNSUBSCRIBE"):  # (AUTH: answered before)
            raise RequestError("INVALID_REQUEST", f"method: unknown method {method!r} "
                                                  "(AUTH, PING, SUBSCRIBE or UNSUBSCRIBE)")
        if method == "PING" and params is None:  # the one request that needs no params
            params = []
        if not isinstance(params, list):
            raise RequestError("INVALID_REQUEST", "params: expected a list")
        if method == "PING":
            return "PONG"
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and not params:
            raise RequestError("INVALID_REQUEST", "params: expected at least one channel")
        if method == "SUBSCRIBE":
            return self._subscribe(params)
        return self._unsubscribe(params)

    async def _auth(self, params: object) -> Any:
        if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], str) \
                or self._verifier is None:
            raise RequestError("INVALID_REQUEST", "params: expected [token]")
        try:
            claims = await self._verifier.verify(params[0])
            user_id = claims.user_id
        except InvalidToken as err:
            raise RequestError("UNAUTHENTICATED", str(err)) from None
        except RevocationUnavailable as err:
            raise RequestError("UNAVAILABLE", str(err)) from None
        user = self.channels.pop("user", None)
        if user is not None:
            self._hub.unsubscribe(self.outbox, user, self.user_id)
        self.user_id = user_id
        if user is not None:
            self.channels["user"] = user
            self._hub.subscribe(self.outbox, user, user_id)
        if self._token_watch is not None:
            self._token_watch.cancel()
        self._token_watch = asyncio.create_task(self._watch(claims))
        return {"userId": user_id}

    async def _watch(self, claims: Claims) -> None:
        """Ends the authentication when its token expires or is revoked: the user channel
        stops and the client is told with an error message (``"id": null``); public
        channels go on, and AUTH may come again."""
        assert self._verifier is not None
        reason = await until_invalid(self._verifier, claims, self._limits.token_recheck_seconds)
        user = self.channels.pop("user", None)
        if user is not None:
            self._hub.unsubscribe(self.outbox, user, self.user_id)
        self.user_id = ""
        self._token_watch = None
        self._reply({"error": {
            "code": "UNAUTHENTICATED",
            "message": f"{reason}: the user channel has stopped; AUTH again to resume"},
            "id": None})

    def _reply(self, body: dict[str, Any]) -> None:
        """Queues ``body`` after every message published before it (``Hub.settle``)."""
        self._hub.settle()
        self.outbox.push(Message("", Mode.STRICT, Frame.reply(body)))

    def _channels(self, params: list[Any]) -> list[Channel]:
        try:
            return [parse(name, self._hub.markets) for name in params]
        except UnknownChannel as err:
            raise RequestError("UNKNOWN_CHANNEL", str(err)) from None

    def _subscribe(self, params: list[Any]) -> None:
        wanted = [c for c in self._channels(params) if c.name not in self.channels]
        if any(c.kind is Kind.USER for c in wanted) and not self.user_id:
            raise RequestError("UNAUTHENTICATED", "AUTH before subscribing to user")
        if len(self.channels) + len({c.name for c in wanted}) > self._limits.max_subscriptions:
            raise RequestError("TOO_MANY_SUBSCRIPTIONS", "at most "
                               f"{self._limits.max_subscriptions} channels per connection")
        for channel in wanted:
            self.channels[channel.name] = channel
        for channel in wanted:  # after the reply: see receive()
            self._later.append(channel)

    def _unsubscribe(self, params: list[Any]) -> None:
        for channel in self._channels(params):
            if self.channels.pop(channel.name, None) is not None:
                self._hub.unsubscribe(self.outbox, channel, self.user_id)


def _valid_id(request_id: object) -> bool:
    """A request id is echoed back as given: a (finite) number, a string or null."""
    if request_id is None or isinstance(request_id, str):
        return True
    if isinstance(request_id, bool) or not isinstance(request_id, int | float):
        return False
    return math.isfinite(request_id)


def _decode(raw: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        raise RequestError("MALFORMED_JSON", "the message is not valid JSON") from None
    if not isinstance(message, dict):
        raise RequestError("INVALID_REQUEST", "a request is a JSON object")
    return message
