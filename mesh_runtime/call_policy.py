"""Who may call what: each rpc's ``call_policy`` option, read from the descriptors, and the
verified caller of the call being served.

The contracts declare on every rpc (``trademesh.v1.call_policy``, :file:`options.proto`)
which principals may call it: anyone (``public``), a trader (``user``: a valid, unrevoked
JWT), an admin (a JWT with the admin role) or named services (the mutual-TLS certificate's
``spiffe://trademesh/<service>``). :func:`policy_for` reads that option from the default
descriptor pool, so a server needs no table of its own; gRPC's health service and server
reflection (v1 and v1alpha) are built in as public. A method with no policy has none here
(``None``): the interceptor (:mod:`mesh_runtime.policy_interceptor`) refuses it.

A policy admits a caller when any of its principals matches (the union). The verified
caller reaches servicers through :func:`current_caller` only; servicers never read the
``authorization`` metadata or the peer certificate themselves.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool
from trademesh.v1 import options_pb2

from mesh_runtime.pki import SERVICES
from mesh_runtime.tokens import Claims

# Services every server offers that anyone may call (probes, `grpcurl list`).
PUBLIC_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
})


@dataclass(frozen=True, slots=True)
class Policy:
    """One rpc's allowed principals (any one of them suffices)."""

    public: bool = False
    user: bool = False
    admin: bool = False
    services: frozenset[str] = frozenset()

    @classmethod
    def from_option(cls, option: Any) -> Policy:
        return cls(public=option.public, user=option.user, admin=option.admin,
                   services=frozenset(option.services))

    def admits(self, service: str | None, claims: Claims | None) -> bool:
        if self.public or (service is not None and service in self.services):
            return True
        if claims is None:
            return False
        return self.user or (self.admin and claims.admin)

    @property
    def empty(self) -> bool:
        """Whether no principal at all is named (nobody could call it)."""
        return not (self.public or self.user or self.admin or self.services)

    def describe(self) -> str:
        """``public``, or who may call it: ``user | admin | service gateway``."""
        if self.public:
            return "public"
        parts = [name for name, on in (("user", self.user), ("admin", self.admin)) if on]
        parts.extend(f"service {name}" for name in sorted(self.services))
        return " | ".join(parts) or "nobody"


PUBLIC = Policy(public=True)


def method_policy(method: Any) -> Policy | None:
    """The ``call_policy`` of a ``MethodDescriptor``, or None when it declares none."""
    options = method.GetOptions()
    if not options.HasExtension(options_pb2.call_policy):
        return None
    return Policy.from_option(options.Extensions[options_pb2.call_policy])


def policy_for(path: str, pool: Any = None) -> Policy | None:
    """The policy of the rpc at ``path`` (``/package.Service/Method``), or None when the
    method is unknown to ``pool`` (the default pool) or declares no policy."""
    service_name, _, method_name = path.lstrip("/").rpartition("/")
    if service_name in PUBLIC_SERVICES:
        return PUBLIC
    try:
        service = (pool or descriptor_pool.Default()).FindServiceByName(service_name)
    except KeyError:
        return None
    method = service.methods_by_name.get(method_name)
    return None if method is None else method_policy(method)


def policy_problems(service: Any, known_services: Iterable[str] = SERVICES) -> Iterator[str]:
    """What is wrong with the policies of a ``ServiceDescriptor``'s methods: a method
    without one, one naming nobody, or naming a service the mesh does not have."""
    known = frozenset(known_services)
    for method in service.methods:
        policy = method_policy(method)
        if policy is None:
            yield f"{method.full_name}: no call_policy"
            continue
        if policy.empty:
            yield f"{method.full_name}: call_policy names nobody"
        for name in sorted(policy.services - known):
            yield f"{method.full_name}: call_policy names unknown service {name!r}"
        if policy.public and (policy.user or policy.admin or policy.services):
            yield f"{method.full_name}: a public call_policy names other principals too"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the service of a verified mesh certificate and/or a valid,
    unrevoked token's claims (either may be None on a public method)."""

    service: str | None
    claims: Claims | None

    @property
    def user_id(self) -> str | None:
        return None if self.claims is None else self.claims.user_id


ANONYMOUS = Caller(None, None)
_CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("trademesh_caller",
                                                                 default=ANONYMOUS)


def current_caller() -> Caller:
    """The verified caller of the rpc being served (set by the policy interceptor before
    the servicer runs; each call runs in its own task, so it never leaks to another)."""
    return _CALLER.get()


def set_caller(caller: Caller) -> None:
    """Sets :func:`current_caller` for the rest of this call (the interceptor's job)."""
    _CALLER.set(caller)


__all__ = ["ANONYMOUS", "PUBLIC", "PUBLIC_SERVICES", "Caller", "Policy", "current_caller",
           "method_policy", "policy_for", "policy_problems", "set_caller"]
