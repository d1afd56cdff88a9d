"""JSON Schemas (OpenAPI 3.1) for protobuf messages, following the proto3 JSON mapping.

Field names are JSON names (lowerCamelCase); 32-bit integers are integers within their
bounds; 64-bit integers are strings; enums are string enums of their value names;
``Timestamp`` is a ``date-time`` string, ``Duration`` a string, ``ListValue`` an array,
``Struct`` an object, ``Value`` anything; maps are objects.

Request messages (the registry is told which) also state :mod:`gateway.request_rules`:
patterns, lengths, bounds, required fields, and enums without their ``*_UNSPECIFIED`` zero.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from gateway.request_rules import at_least_one, field_rule, required_fields

Schema = dict[str, Any]

_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}},
                            "additionalProperties": True},
}
# The bounds are the JSON mapping's too: a value outside them is a 400, so the document must
# not offer it as valid (schemathesis' positive examples sent leverage 2**32 and got a 400).
_INT32: Schema = {"type": "integer", "format": "int32", "minimum": -(2**31),
                  "maximum": 2**31 - 1}
_UINT32: Schema = {"type": "integer", "format": "uint32", "minimum": 0, "maximum": 2**32 - 1}
_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_UINT32: _UINT32,
    FieldDescriptor.TYPE_FIXED32: _UINT32,
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}


def component_name(descriptor: Any) -> str:
    return str(descriptor.full_name)


def ref(descriptor: Any) -> Schema:
    return {"$ref": f"#/components/schemas/{component_name(descriptor)}"}


class SchemaRegistry:
    """Collects a component schema for every message reachable from the ones it is given."""

    def __init__(self, request_messages: frozenset[str] = frozenset()) -> None:
        self.components: dict[str, Schema] = {}
        self.request_messages = request_messages

    def message_schema(self, descriptor: Any) -> Schema:
        """A schema for ``descriptor``: inline for well-known types, else a ``$ref``."""
        if descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = component_name(descriptor)
        if name not in self.components:
            self.components[name] = {}  # placeholder: breaks recursion
            self.components[name] = self._object(descriptor)
        return ref(descriptor)

    def field_schema(self, field: Any) -> Schema:
        """The schema of one field's JSON value, arrays and maps included; a field of a
        request message with what :mod:`gateway.request_rules` says of it."""
        request = field.containing_type.full_name in self.request_messages
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            return {"type": "object",
                    "additionalProperties": self._single(value_field, request)}
        single = self._single(field, request)
        if request:
            single.update(field_rule(field.containing_type, field))
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: Any, request: bool) -> Schema:
        if field.type == FieldDescriptor.TYPE_ENUM:
            return {"type": "string", "enum": enum_names(field, request)}
        if field.message_type is not None:
            return self.message_schema(field.message_type)
        return dict(_SCALARS[field.type])

    def _object(self, descriptor: Any) -> Schema:
        properties = {f.json_name: self.field_schema(f) for f in descriptor.fields}
        schema: Schema = {"type": "object", "title": descriptor.name,
                          "properties": properties, "additionalProperties": False}
        if descriptor.full_name in self.request_messages:
            json_names = {f.name: f.json_name for f in descriptor.fields}
            required = [json_names[name] for name in required_fields(descriptor)]
            if required:
                schema["required"] = required
            group = at_least_one(descriptor)
            if group:
                schema["anyOf"] = [{"required": [json_names[name]]} for name in group]
        return schema


def enum_names(field: Any, request: bool) -> list[str]:
    """An enum field's value names; in a request without the zero (``*_UNSPECIFIED``):
    leaving the field out says that."""
    return [v.name for v in field.enum_type.values if not (request and v.number == 0)]


def _is_map(field: Any) -> bool:
    message = field.message_type
    return bool(message is not None and message.GetOptions().map_entry)
