"""Response message → JSON, the same way everywhere.

JSON names are lowerCamelCase and fields without presence are always printed (empty
strings, zeros, empty lists show), so a client sees every field of the contract. With a
``response_body`` rule the JSON is that one field (e.g. a top-level array).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from gateway.routes import Route
from mesh_runtime import proto_json


def to_json(message: Any) -> Any:
    """``message`` as a JSON-compatible value with the gateway's JSON options (what
    ``json_format.MessageToDict`` prints, compiled per type: `mesh_runtime.proto_json`)."""
    return proto_json.to_json(message)


def response_json(route: Route, message: Any) -> Any:
    """The JSON body for ``route``'s successful ``message``."""
    if not route.response_body:
        return to_json(message)
    field = message.DESCRIPTOR.fields_by_name[route.response_body]
    if field.message_type is not None and not field.is_repeated:
        return to_json(getattr(message, field.name))
    return to_json(message).get(field.json_name)


class FastJSONResponse(JSONResponse):
    """A JSONResponse rendered by orjson (compact UTF-8, as Starlette's own)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
