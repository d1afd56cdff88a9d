"""Default deny, checked on the contracts: every rpc of every service declares who may call
it, names only services the mesh has, and the gateway's REST access rules are the same
policies (one source of truth)."""

from __future__ import annotations

from typing import Any

import pytest
from trademesh.v1 import auth_pb2, engine_pb2, feed_pb2, options_pb2, persistence_pb2

from gateway.routes import default_file_descriptors, load_routes
from mesh_runtime.call_policy import (
    PUBLIC,
    Policy,
    method_policy,
    policy_for,
    policy_problems,
)
from mesh_runtime.tokens import Claims

FILES = [engine_pb2.DESCRIPTOR, persistence_pb2.DESCRIPTOR, feed_pb2.DESCRIPTOR,
         auth_pb2.DESCRIPTOR]
SERVICES = [service for file in FILES for service in file.services_by_name.values()]
METHODS = [method for service in SERVICES for method in service.methods]
USER = Claims("u1", "t1", 2**40)
ADMIN = Claims("a1", "t2", 2**40, admin=True)


def test_the_walk_sees_every_service() -> None:
    assert {s.full_name for s in SERVICES} == {
        "trademesh.v1.Engine", "trademesh.v1.Persistence", "trademesh.v1.Feed",
        "trademesh.v1.Auth"}
    assert len(METHODS) > 30


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_every_method_declares_a_valid_policy(service: Any) -> None:
    assert list(policy_problems(service)) == []


def test_a_method_without_a_policy_is_reported() -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool

    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="t/bare.proto", package="t", syntax="proto3")
    file.message_type.add(name="M")
    service = file.service.add(name="Bare")
    service.method.add(name="Open", input_type=".t.M", output_type=".t.M")
    pool.Add(file)
    bare = pool.FindServiceByName("t.Bare")
    assert list(policy_problems(bare)) == ["t.Bare.Open: no call_policy"]
    assert policy_for("/t.Bare/Open", pool) is None
    assert policy_for("/t.Bare/Missing", pool) is None
    assert policy_for("/t.Nothing/Open", pool) is None


def test_unknown_service_names_are_reported() -> None:
    method = engine_pb2.DESCRIPTOR.services_by_name["Engine"].methods_by_name["GetEngineStatus"]
    assert method_policy(method) == Policy(admin=True, services=frozenset({"gateway"}))
    # the same walk with a mesh that has no gateway flags the name
    problems = list(policy_problems(method.containing_service, known_services=("engine",)))
    assert problems == [f"trademesh.v1.Engine.{name}: call_policy names unknown service "
                        "'gateway'" for name in ("GetEngineStatus", "RelayOrders")]


def test_health_and_reflection_are_built_in_public() -> None:
    for path in ("/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
                 "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                 "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"):
        assert policy_for(path) is PUBLIC


@pytest.mark.parametrize(("path", "expected"), [
    ("/trademesh.v1.Feed/PublishMarketData", Policy(services=frozenset({"engine"}))),
    ("/trademesh.v1.Persistence/SyncEvents", Policy(services=frozenset({"engine"}))),
    ("/trademesh.v1.Persistence/CreateUser", Policy(services=frozenset({"gateway"}))),
    ("/trademesh.v1.Persistence/GetUser", Policy(services=frozenset({"gateway"}))),
    ("/trademesh.v1.Persistence/ListFills", Policy(user=True)),
    ("/trademesh.v1.Feed/SetIndexPrice", Policy(admin=True)),
    ("/trademesh.v1.Engine/PlaceOrders", Policy(user=True)),
    ("/trademesh.v1.Engine/RelayOrders", Policy(services=frozenset({"gateway"}))),
    ("/trademesh.v1.Auth/Signin", PUBLIC),
])
def test_the_issue_s_closures(path: str, expected: Policy) -> None:
    assert policy_for(path) == expected


def test_admission_is_the_union_of_principals() -> None:
    status = Policy(admin=True, services=frozenset({"gateway"}))
    assert status.admits("gateway", None) and status.admits(None, ADMIN)
    assert not status.admits("engine", None) and not status.admits(None, USER)
    assert not status.admits(None, None)
    user = Policy(user=True)
    assert user.admits(None, USER) and user.admits(None, ADMIN) and user.admits("gateway", USER)
    assert not user.admits("gateway", None)
    assert PUBLIC.admits(None, None)
    assert status.describe() == "admin | service gateway" and PUBLIC.describe() == "public"


def test_rest_routes_take_their_rule_from_the_call_policy() -> None:
    routes = load_routes(default_file_descriptors())
    assert routes
    for route in routes:
        policy = method_policy(route.method)
        assert policy is not None, route.name
        assert route.public == policy.public, route.name
        assert route.admin_only == (policy.admin and not policy.user), route.name
        assert policy.public or policy.user or policy.admin, route.name
        options = route.method.GetOptions()  # the superseded options stay consistent
        assert options.Extensions[options_pb2.public_route] == route.public, route.name
        assert options.Extensions[options_pb2.admin_only] == route.admin_only, route.name
    by_name = {route.name: route for route in routes}
    assert by_name["Feed.SetIndexPrice"].admin_only
    assert by_name["Engine.GetDepth"].public and not by_name["Engine.PlaceOrder"].public
