"""The route table built from the real annotations: selection, 404 and 405."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.errors import GatewayError
from gateway.path_template import parse_template
from gateway.router import RouteTable
from gateway.routes import Route, default_file_descriptors, load_routes


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    return load_routes(default_file_descriptors())


@pytest.fixture(scope="module")
def table(routes: list[Route]) -> RouteTable:
    return RouteTable(routes)


def test_every_annotated_rpc_has_a_route(routes: list[Route]) -> None:
    assert len(routes) == 39
    names = {route.name for route in routes}
    assert {"Engine.PlaceOrder", "Persistence.GetCandles", "Feed.SetIndexPrice",
            "Auth.Signup", "Feed.GetMarketTicker", "Feed.ListTickers", "Engine.AddAsset",
            "Engine.AddMarket", "Engine.ListRegistry", "Engine.UpdateMarket",
            "Engine.GetAccountSummary", "Persistence.ListLiquidations", "Engine.PlaceTrigger",
            "Engine.MoveTrigger"} <= names
    assert "Engine.GetTicker" not in names  # the REST ticker is the feed's
    assert "Engine.PlaceOrders" not in names  # streaming, not annotated


def test_route_options_come_from_the_descriptors(table: RouteTable) -> None:
    place = table.match("POST", "/api/v1/orders").route
    assert (place.success_status, place.body, place.response_body) == (201, "*", "order")
    assert place.grpc_path == "/trademesh.v1.Engine/PlaceOrder"
    assert place.upstream == "engine"
    assert table.match("GET", "/api/v1/markets").route.public
    assert table.match("POST", "/api/v1/admin/oracle/BTC-PERP").route.admin_only
    for method, path in (("POST", "/api/v1/admin/assets"), ("POST", "/api/v1/admin/markets"),
                         ("GET", "/api/v1/admin/markets"),
                         ("PATCH", "/api/v1/admin/markets/TATA-INR")):
        assert table.match(method, path).route.admin_only, path
    assert table.match("POST", "/api/v1/auth/signin").route.upstream == "auth"


def test_literal_segment_beats_variable(table: RouteTable) -> None:
    by_client = table.match("DELETE", "/api/v1/orders/by-client-id/c-1")
    assert by_client.route.name == "Engine.CancelOrderByClientId"
    assert by_client.path_values == {"client_order_id": "c-1"}
    assert table.match("POST", "/api/v1/orders/quote").route.name == "Engine.QuoteOrder"
    assert table.match("DELETE", "/api/v1/orders/o-9").path_values == {"order_id": "o-9"}


def test_literal_beats_variable_at_equal_length(routes: list[Route]) -> None:
    get_order = next(r for r in routes if r.name == "Engine.GetOrder")
    special = dataclasses.replace(get_order, template=parse_template("/api/v1/orders/special"))
    table = RouteTable([get_order, special])
    assert table.match("GET", "/api/v1/orders/special").route is special
    assert table.match("GET", "/api/v1/orders/other").route is get_order


def test_unknown_path_is_404(table: RouteTable) -> None:
    with pytest.raises(GatewayError) as caught:
        table.match("GET", "/api/v1/nothing/here")
    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow(table: RouteTable) -> None:
    with pytest.raises(GatewayError) as caught:
        table.match("PUT", "/api/v1/orders/o-1")
    assert caught.value.status == 405
    assert caught.value.headers["Allow"] == "DELETE, GET, HEAD, PATCH"


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "OPTIONS"])
def test_a_literal_path_is_its_own_resource(table: RouteTable, method: str) -> None:
    # schemathesis: PATCH /orders/quote was ReplaceOrder of order "quote" (a 400), and
    # OPTIONS advertised GET, PATCH, DELETE there
    with pytest.raises(GatewayError) as caught:
        table.match(method, "/api/v1/orders/quote")
    assert (caught.value.status, caught.value.headers["Allow"]) == (405, "POST")


def test_a_post_only_path_allows_no_head(table: RouteTable) -> None:
    with pytest.raises(GatewayError) as caught:
        table.match("GET", "/api/v1/auth/signin")
    assert caught.value.headers["Allow"] == "POST"


def test_duplicate_bindings_are_refused(routes: list[Route]) -> None:
    with pytest.raises(ValueError, match="two rpcs bind"):
        RouteTable([routes[0], routes[0]])
