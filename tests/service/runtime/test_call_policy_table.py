"""The call-policy table, generated from the descriptors and checked against real servers.

Every rpc of every trademesh service (and each server's health and reflection services) by
every caller of :data:`policy_mesh.CALLERS` — plaintext, TLS without a certificate, a
trader's JWT, a revoked, an expired and a garbage JWT, an admin JWT, each service's mesh
certificate, and the gateway forwarding a trader's JWT — is called
on the four running servers. The outcome must be what the rpc's declared ``call_policy``
says: allowed (the policy let it through; the servicer may then answer anything, e.g.
INVALID_ARGUMENT for an empty request, or keep a stream open), or refused by the policy
(UNAUTHENTICATED / PERMISSION_DENIED carrying the interceptor's ErrorInfo). Plaintext never
gets a call through a TLS port. Expectations are read from the raw option here, not from
the runtime's own ``Policy.admits``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from grpc_status import rpc_status
from policy_mesh import BAD_TOKENS, CALLERS, Caller, PolicyMesh, mesh_settings, running_mesh
from trademesh.v1 import auth_pb2, engine_pb2, feed_pb2, options_pb2, persistence_pb2

from mesh_runtime.policy_interceptor import ENFORCER

pytestmark = pytest.mark.timeout(300)
CALL_SECONDS = 5.0
STREAM_SECONDS = 1.0  # a stream the policy let through may stay open: read until then
SERVICES = [file.services_by_name[name] for file, name in (
    (engine_pb2.DESCRIPTOR, "Engine"), (persistence_pb2.DESCRIPTOR, "Persistence"),
    (feed_pb2.DESCRIPTOR, "Feed"), (auth_pb2.DESCRIPTOR, "Auth"))]
BUILT_IN = [health_pb2.DESCRIPTOR.services_by_name["Health"],
            reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]]
ALLOWED, PLAINTEXT_REFUSED = "allowed", "transport refused"


def expected(method: Any, caller: Caller) -> str:
    """What the declared policy says for ``caller`` (built-in services are public)."""
    if caller.plaintext:
        return PLAINTEXT_REFUSED
    if caller.token in BAD_TOKENS:
        return "UNAUTHENTICATED"  # a token presented must be valid, wherever
    options = method.GetOptions()
    if not options.HasExtension(options_pb2.call_policy):
        return ALLOWED if method.containing_service in BUILT_IN else "PERMISSION_DENIED"
    policy = options.Extensions[options_pb2.call_policy]
    if policy.public or (caller.identity and caller.identity in policy.services) \
            or (caller.token and policy.user) or (caller.token == "admin" and policy.admin):
        return ALLOWED
    return "PERMISSION_DENIED" if caller.token or caller.identity else "UNAUTHENTICATED"


def _classify(err: grpc.aio.AioRpcError, caller: Caller) -> str:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.metadata.get("enforcedBy") == ENFORCER:
            return str(err.code().name)
    if caller.plaintext and err.code() == grpc.StatusCode.UNAVAILABLE:
        return PLAINTEXT_REFUSED
    return ALLOWED  # the servicer's own answer: the policy let the call through


async def _nothing() -> AsyncIterator[Any]:
    return
    yield  # an empty request stream (half-closed at once)


async def outcome(mesh: PolicyMesh, server: str, method: Any, caller: Caller) -> str:
    """Calls ``method`` on ``server``'s listeners as ``caller``; what came of it."""
    channel = mesh.channel(server, caller)
    kind = {(False, False): "unary_unary", (False, True): "unary_stream",
            (True, False): "stream_unary", (True, True): "stream_stream"}[
        (method.client_streaming, method.server_streaming)]
    callable_ = getattr(channel, kind)(
        f"/{method.containing_service.full_name}/{method.name}",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=message_factory.GetMessageClass(method.output_type).FromString)
    request = _nothing() if method.client_streaming else \
        message_factory.GetMessageClass(method.input_type)()
    try:
        call = callable_(request, metadata=await mesh.metadata(caller),
                         timeout=STREAM_SECONDS if method.server_streaming else CALL_SECONDS)
        if method.server_streaming:
            await call.read()  # the first response, the end, or the refusal
            call.cancel()
        else:
            await call
    except grpc.aio.AioRpcError as err:
        return _classify(err, caller)
    except asyncio.CancelledError:
        # grpc.aio ends a request-streaming call that never connected this way (the
        # connection failed, nobody cancelled this test)
        task = asyncio.current_task()
        if not caller.plaintext or task is None or task.cancelling():
            raise
        return PLAINTEXT_REFUSED
    finally:
        await channel.close(None)
    return ALLOWED


async def test_every_rpc_answers_every_caller_as_declared(
        redis_url: str, database: str, tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path, redis_url, database)
    mismatches: list[str] = []
    seen: Counter[str] = Counter()
    async with running_mesh(settings) as mesh:
        for service in SERVICES:
            rows = [*service.methods, *(m for s in BUILT_IN for m in s.methods
                                       if m.name != "List")]
            for method in rows:
                for caller in CALLERS:
                    got = await outcome(mesh, service.full_name, method, caller)
                    want = expected(method, caller)
                    seen[got] += 1
                    if got != want:
                        mismatches.append(f"{service.name}: {method.full_name} as "
                                          f"{caller.name}: {got}, declared {want}")
    assert mismatches == []
    assert sum(seen.values()) == len(CALLERS) * sum(len(s.methods) + 3 for s in SERVICES)
    assert set(seen) == {ALLOWED, PLAINTEXT_REFUSED, "UNAUTHENTICATED", "PERMISSION_DENIED"}
