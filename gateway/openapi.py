"""The OpenAPI 3.1 document, derived from the same routes (and descriptors) the gateway serves.

Paths use JSON field names for variables (``/api/v1/orders/{orderId}``); query parameters
are the request's remaining scalar, enum and Timestamp fields (none for ``body: "*"``);
responses honour ``response_body`` and the ``http_success_status`` option; routes that are
not ``public_route`` need ``bearerAuth``. The gateway's own answers are listed too: 401 and
403 (access rules), 413 (body limit), 429 (rate limits, with ``Retry-After``), and on POST
the ``Idempotency-Key`` header with its 409 and 422. What a request's fields may hold (and
which it needs) comes from :mod:`gateway.request_rules`, which the gateway enforces; 400
and, for fields naming a market, asset, order or position, 404 are declared (not for the
history lists, whose fields only filter). A route that creates
(201) links to every route whose path ids (``orderId``, ...) its answer carries, so
clients and stateful testers can follow them.
"""

from __future__ import annotations

from typing import Any

from gateway.request_rules import EXAMPLES, not_found, required_fields
from gateway.routes import Route
from gateway.schemas import Schema, SchemaRegistry

_ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {
            "code": {"type": "string", "description": "an ErrorInfo reason or gRPC code"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    }},
}


def openapi_path(route: Route) -> str:
    """The route's template in OpenAPI form, variables named by JSON field paths."""
    template = route.template
    starts = {var.start: var for var in template.variables}
    parts: list[str] = []
    index = 0
    while index < len(template.segments):
        var = starts.get(index)
        if var is None:
            parts.append(template.segments[index])
            index += 1
            continue
        parts.append("{" + _json_path(route.method.input_type, var.field_path) + "}")
        index = len(template.segments) if var.end is None else var.end
    suffix = f":{template.verb}" if template.verb else ""
    return "/" + "/".join(parts) + suffix


def _plain_get(summary: str, content_type: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "security": [], "tags": ["operations"],
                    "responses": {"200": {"description": summary,
                                          "content": {content_type: {"schema": {}}}}}}}


# Routes the gateway serves itself, beside the transcoded ones.
_OPERATIONAL_PATHS = {
    "/healthz": _plain_get("Liveness: the gateway process answers", "application/json"),
    "/readyz": {"get": {**_plain_get("Readiness: every upstream service is SERVING",
                                     "application/json")["get"],
                        "responses": {
                            "200": {"description": "ready"},
                            "503": {"description": "a dependency is not serving"}}}},
    "/openapi.json": _plain_get("This document", "application/json"),
    "/docs": _plain_get("A page listing every route", "text/html"),
}


def build_openapi(routes: list[Route], title: str = "trademesh", version: str = "v1"
                  ) -> dict[str, Any]:
    """The whole document for ``routes``."""
    registry = SchemaRegistry(frozenset(r.method.input_type.full_name for r in routes))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        item = paths.setdefault(openapi_path(route), {})
        item[route.http_method.lower()] = _operation(route, registry)
    components = {
        "schemas": {**dict(sorted(registry.components.items())), "Error": _ERROR_SCHEMA},
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "bearerFormat": "JWT"}},
    }
    _add_links(routes, paths, registry)
    paths.update(_OPERATIONAL_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "REST/JSON transcoded to trademesh's gRPC services."},
        "paths": dict(sorted(paths.items())),
        "components": components,
    }


def _add_links(routes: list[Route], paths: dict[str, dict[str, Any]],
               registry: SchemaRegistry) -> None:
    """OpenAPI links from each creating route's 201 to the routes it gives the ids of."""
    for source in (r for r in routes if r.success_status == 201):
        answer = _response_schema(source, registry)
        name = str(answer.get("$ref", "")).rsplit("/", 1)[-1]
        properties = registry.components.get(name, {}).get("properties", {})
        links: dict[str, Any] = {}
        for target in routes:
            names = [_json_path(target.method.input_type, v.field_path)
                     for v in target.template.variables]
            if names and all(n.endswith("Id") and n in properties for n in names):
                links[target.method.name] = {
                    "operationId": _operation_id(target),
                    "parameters": {n: f"$response.body#/{n}" for n in names}}
        if links:
            response = paths[openapi_path(source)][source.http_method.lower()]["responses"]
            response["201"]["links"] = links


def _operation_id(route: Route) -> str:
    return f"{route.method.containing_service.name}_{route.method.name}"


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Replays the first answer to a retry with the same key (24 h, per caller)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": "^[\\x21-\\x7e]+$"},
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _gateway_errors(route: Route) -> dict[str, Any]:
    """The answers the gateway itself may give before (or instead of) the upstream's."""
    errors = {"429": {**_error("rate limited (see Retry-After)"),
                      "headers": {"Retry-After": {"schema": {"type": "integer"}}}}}
    fields = {f.name for f in route.method.input_type.fields}
    if fields or route.body:
        errors["400"] = _error("a field is malformed, missing or refused (the details name "
                               "it; a market's grid, a balance and the like are checked here)")
    unknown = not_found(route.method.input_type)
    if unknown:
        errors["404"] = _error("; ".join(unknown))
    if not route.public:
        errors["401"] = _error("missing, invalid, expired or revoked bearer token")
    if route.admin_only:
        errors["403"] = _error("the token lacks the admin role")
    if route.body:
        errors["413"] = _error("the request body is too large")
        errors["415"] = _error("the request body is not application/json")
    if route.http_method == "POST":
        errors["409"] = _error("a request with this Idempotency-Key is still in flight")
        errors["422"] = _error("this Idempotency-Key was used for a different request")
    return errors


def _operation(route: Route, registry: SchemaRegistry) -> dict[str, Any]:
    method = route.method
    parameters = _parameters(route, registry)
    if route.http_method == "POST":
        parameters.append(_IDEMPOTENCY_KEY)
    operation: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": method.name,
        "tags": [method.containing_service.name],
        "parameters": parameters,
        "responses": {
            str(route.success_status): {
                "description": "success",
                "content": {"application/json": {"schema": _response_schema(route, registry)}},
            },
            **_gateway_errors(route),
            "default": _error("an error"),
        },
        "security": [] if route.public else [{"bearerAuth": []}],
    }
    if route.admin_only:
        operation["description"] = "Needs a token with the admin role."
    if route.body:
        content: dict[str, Any] = {"schema": _request_schema(route, registry)}
        example = EXAMPLES.get(method.input_type.full_name) if route.body == "*" else None
        if example is not None:
            content["example"] = example
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": content}}
    return operation


def _parameters(route: Route, registry: SchemaRegistry) -> list[dict[str, Any]]:
    request = route.method.input_type
    bound = {var.field_path.split(".")[0] for var in route.template.variables}
    params = [
        {"name": _json_path(request, var.field_path), "in": "path", "required": True,
         "schema": _path_schema(request, var.field_path, registry)}
        for var in route.template.variables
    ]
    if route.body == "*":
        return params
    required = set(required_fields(request))
    for field in request.fields:
        if field.name in bound or field.name == route.body or not _query_capable(field):
            continue
        params.append({"name": field.json_name, "in": "query",
                       "required": field.name in required,
                       "schema": registry.field_schema(field)})
    return params


def _query_capable(field: Any) -> bool:
    message = field.message_type
    return message is None or message.full_name == "google.protobuf.Timestamp"


def _path_schema(request: Any, field_path: str, registry: SchemaRegistry) -> Schema:
    descriptor = request
    field: Any = None
    for name in field_path.split("."):
        field = descriptor.fields_by_name[name]
        descriptor = field.message_type
    return registry.field_schema(field)


def _json_path(request: Any, field_path: str) -> str:
    names: list[str] = []
    descriptor = request
    for name in field_path.split("."):
        field = descriptor.fields_by_name[name]
        names.append(field.json_name)
        descriptor = field.message_type
    return ".".join(names)


def _request_schema(route: Route, registry: SchemaRegistry) -> Schema:
    request = route.method.input_type
    if route.body == "*":
        return registry.message_schema(request)
    return registry.field_schema(request.fields_by_name[route.body])


def _response_schema(route: Route, registry: SchemaRegistry) -> Schema:
    response = route.method.output_type
    if route.response_body:
        return registry.field_schema(response.fields_by_name[route.response_body])
    return registry.message_schema(response)
