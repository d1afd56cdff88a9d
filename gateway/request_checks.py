"""A request's values against what the OpenAPI document says of them, before conversion.

``json_format.ParseDict`` is lenient where the document is not: it takes ``"5"`` and ``5.0``
for an integer, ``1`` for an enum, ``null`` for any field, a number for a 64-bit integer.
The document promises JSON types, and :mod:`gateway.request_rules` patterns, lengths, bounds
and required fields; this module holds a request to the same, so a value the document
calls invalid is a 400 naming the field, and a value it calls valid reaches the upstream.
The rules hold for the request message's own fields (as the document states them); nested
messages are held to their JSON types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from gateway.errors import bad_request
from gateway.request_rules import at_least_one, field_rule, required_fields, violation
from gateway.schemas import enum_names

_FD = FieldDescriptor
_INT32 = {_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32, _FD.TYPE_UINT32,
          _FD.TYPE_FIXED32}
_INT64 = {_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64, _FD.TYPE_UINT64,
          _FD.TYPE_FIXED64}
_FLOATS = {_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT}
_STRING_MESSAGES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
_FREE_MESSAGES = {"google.protobuf.Value", "google.protobuf.Struct",
                  "google.protobuf.ListValue", "google.protobuf.Any"}


def check_json_object(descriptor: Any, obj: Mapping[str, Any], prefix: str = "") -> None:
    """Every known key of ``obj`` (a JSON object for ``descriptor``) has the document's type
    and, at the top (no ``prefix``), keeps its rule; unknown keys are left to the parser,
    which names them."""
    for key, value in obj.items():
        field = _find(descriptor, key)
        if field is None:
            continue
        where = prefix + field.json_name
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if not isinstance(value, dict):
                raise bad_request(where, "must be a JSON object")
        elif field.is_repeated:
            if not isinstance(value, list):
                raise bad_request(where, "must be a JSON array")
            for item in value:
                _check_item(field, item, where)
        else:
            _check_item(field, value, where)


def _check_item(field: Any, value: Any, where: str) -> None:
    if value is None:
        raise bad_request(where, "must not be null (leave the field out instead)")
    message = field.message_type
    if message is not None:
        if message.full_name in _STRING_MESSAGES:
            _want(isinstance(value, str), where, "a string")
        elif message.full_name not in _FREE_MESSAGES:
            _want(isinstance(value, dict), where, "a JSON object")
            check_json_object(message, value, where + ".")
        return
    kind = field.type
    if kind in (_FD.TYPE_STRING, _FD.TYPE_BYTES, _FD.TYPE_ENUM) or kind in _INT64:
        _want(isinstance(value, str), where, "a string")
    elif kind == _FD.TYPE_BOOL:
        _want(isinstance(value, bool), where, "true or false")
    elif kind in _INT32:
        _want(isinstance(value, int) and not isinstance(value, bool), where, "an integer")
    elif kind in _FLOATS:
        _want(isinstance(value, int | float) and not isinstance(value, bool), where,
              "a number")
    if "." not in where:  # a request message's own field
        check_value(field, value, where)


def _want(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise bad_request(where, f"must be {what}")


def check_value(field: Any, value: Any, where: str) -> None:
    """``value`` (an enum's name, a string, an integer) keeps the field's rule."""
    if field.type == _FD.TYPE_ENUM:
        names = enum_names(field, request=True)
        if value not in names:
            raise bad_request(where, f"{value!r} is not one of {', '.join(names)}")
        return
    problem = violation(field_rule(field.containing_type, field), value)
    if problem is not None:
        raise bad_request(where, problem)


def check_required(message: Any) -> None:
    """The fields ``message`` requires are set (not empty), and one of each group."""
    descriptor = message.DESCRIPTOR
    for name in required_fields(descriptor):
        if not getattr(message, name):
            raise bad_request(descriptor.fields_by_name[name].json_name, "is required")
    group = at_least_one(descriptor)
    if group and not any(getattr(message, name) for name in group):
        names = [descriptor.fields_by_name[name].json_name for name in group]
        raise bad_request(names[0], "give at least one of " + ", ".join(names))


def _find(descriptor: Any, name: str) -> Any:
    field = descriptor.fields_by_name.get(name)
    if field is not None:
        return field
    return next((f for f in descriptor.fields if f.json_name == name), None)
