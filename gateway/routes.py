"""The REST route table, read from the ``google.api.http`` annotations of the services.

Every rpc with an http rule becomes one :class:`Route` per binding (the main rule and each
of its ``additional_bindings``). Nothing here is hand-written per route: adding an rpc with an
annotation to a proto adds its REST route. Who may call a route is the rpc's
``call_policy`` (the same option the servers enforce): ``public`` needs no token, ``user``
a valid one, ``admin`` alone (without ``user``) the admin role; an rpc that only named
services may call has no REST route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2
from google.protobuf import message_factory
from trademesh.v1 import auth_pb2, engine_pb2, feed_pb2, options_pb2, persistence_pb2

from gateway.path_template import PathTemplate, parse_template
from mesh_runtime.call_policy import Policy, method_policy

# Which upstream (a ``Settings.address`` name) serves each service.
SERVICE_UPSTREAMS: dict[str, str] = {
    "trademesh.v1.Engine": "engine",
    "trademesh.v1.Persistence": "persistence",
    "trademesh.v1.Feed": "feed",
    "trademesh.v1.Auth": "auth",
}

_HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True, slots=True)
class Route:
    """One REST binding of one unary rpc."""

    http_method: str
    template: PathTemplate
    grpc_path: str
    upstream: str
    method: Any  # google.protobuf.descriptor.MethodDescriptor
    request_class: Any  # the generated request message class
    response_class: Any  # the generated response message class
    body: str
    response_body: str
    success_status: int
    public: bool  # from call_policy: no token needed
    admin_only: bool  # from call_policy: admin, and not any user

    @property
    def name(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name}"


def default_file_descriptors() -> list[Any]:
    """The descriptors of the files holding trademesh's services."""
    return [engine_pb2.DESCRIPTOR, persistence_pb2.DESCRIPTOR, feed_pb2.DESCRIPTOR,
            auth_pb2.DESCRIPTOR]


def load_routes(file_descriptors: Iterable[Any]) -> list[Route]:
    """Every REST route annotated in ``file_descriptors``' services."""
    routes: list[Route] = []
    for file_descriptor in file_descriptors:
        for service in file_descriptor.services_by_name.values():
            upstream = SERVICE_UPSTREAMS.get(service.full_name)
            if upstream is None:
                continue
            for method in service.methods:
                routes.extend(_method_routes(method, upstream))
    return routes


def _method_routes(method: Any, upstream: str) -> list[Route]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return []
    if method.client_streaming or method.server_streaming:
        raise ValueError(f"{method.full_name}: only unary rpcs can carry an http rule")
    policy = method_policy(method)
    if policy is None or not (policy.public or policy.user or policy.admin):
        raise ValueError(f"{method.full_name}: an http rule needs a call_policy that "
                         "admits public, user or admin callers")
    rule = options.Extensions[annotations_pb2.http]
    rules = [rule, *rule.additional_bindings]
    return [_route(method, upstream, binding, options, policy) for binding in rules]


def _route(method: Any, upstream: str, rule: Any, options: Any, policy: Policy) -> Route:
    http_method, path = _pattern(rule, method.full_name)
    _check_field(method.input_type, rule.body, method.full_name, "body")
    _check_field(method.output_type, rule.response_body, method.full_name, "response_body")
    template = parse_template(path)
    for variable in template.variables:
        _check_field_path(method.input_type, variable.field_path, method.full_name)
    return Route(
        http_method=http_method,
        template=template,
        grpc_path=f"/{method.containing_service.full_name}/{method.name}",
        upstream=upstream,
        method=method,
        request_class=message_factory.GetMessageClass(method.input_type),
        response_class=message_factory.GetMessageClass(method.output_type),
        body=rule.body,
        response_body=rule.response_body,
        success_status=options.Extensions[options_pb2.http_success_status] or 200,
        public=policy.public,
        admin_only=policy.admin and not policy.user,
    )


def _pattern(rule: Any, where: str) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind in _HTTP_METHODS:
        return kind.upper(), str(getattr(rule, kind))
    if kind == "custom":
        return str(rule.custom.kind).upper(), str(rule.custom.path)
    raise ValueError(f"{where}: http rule without a pattern")


def _check_field(message: Any, name: str, where: str, what: str) -> None:
    if name in ("", "*") and not (what == "response_body" and name == "*"):
        return
    if name not in message.fields_by_name:
        raise ValueError(f"{where}: {what} {name!r} is not a field of {message.full_name}")


def _check_field_path(message: Any, field_path: str, where: str) -> None:
    descriptor = message
    for name in field_path.split("."):
        field = None if descriptor is None else descriptor.fields_by_name.get(name)
        if field is None:
            raise ValueError(f"{where}: path variable {field_path!r} names no field")
        descriptor = field.message_type
