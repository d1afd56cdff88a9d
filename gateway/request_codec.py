"""An HTTP request (JSON body, path variables, query parameters) → the rpc's request message.

The body fills the field named by the rule's ``body`` (``*``: the whole message) through
``json_format.ParseDict`` with unknown fields refused. Query parameters, then path variables
(so the path wins), set fields by dotted field path (proto or JSON names), converted by the
field's type: strings, integers, bools, enums by name, ``google.protobuf.Timestamp`` in
RFC 3339; a repeated field takes every value of a repeated parameter. With ``body: "*"``
every field comes from the body, so any query parameter is unknown. Every failure is a 400
naming the field.

Beyond the proto JSON mapping (which also takes ``"5"`` for an integer, ``1`` for an enum and
``null`` for anything), values must have the JSON type the OpenAPI document states, and the
rules of :mod:`gateway.request_rules` (patterns, lengths, bounds, required fields): the
document and the gateway say the same thing (:mod:`gateway.request_checks`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from gateway.errors import GatewayError, bad_request
from gateway.request_checks import check_json_object, check_required, check_value
from gateway.routes import Route
from mesh_runtime.ascii_digits import NotAsciiDigits, parse_ascii_int

_NO_FIELD = re.compile(r'has no field named "([^"]+)"')
_FAILED_FIELD = re.compile(r"Failed to parse (\S+) field")
_INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_FLOAT_TYPES = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}
_UNSIGNED_32 = (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32)
_UNSIGNED_64 = (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64)
_SIGNED_32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32,
              FieldDescriptor.TYPE_SFIXED32)
_INT_RANGES: dict[int, tuple[int, int]] = {
    **dict.fromkeys(_UNSIGNED_32, (0, 2**32 - 1)),
    **dict.fromkeys(_UNSIGNED_64, (0, 2**64 - 1)),
    **dict.fromkeys(_SIGNED_32, (-(2**31), 2**31 - 1)),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
}
_BOOLS = {"true": True, "false": False, "1": True, "0": False}


def build_request(
    route: Route,
    raw_body: bytes,
    path_values: dict[str, str],
    query: Iterable[tuple[str, str]],
) -> Any:
    """The request message for ``route``; raises GatewayError 400 naming the bad field."""
    message = route.request_class()
    if route.body:
        _merge_body(message, route.body, raw_body)
    for name, values in _group(query).items():
        if route.body == "*":
            raise bad_request(name, "unknown query parameter (this route takes a JSON body)")
        set_field(message, name, values)
    for field_path, value in path_values.items():  # last: the path wins; errors name
        set_field(message, _json_path(message.DESCRIPTOR, field_path), [value])  # JSON names
    check_required(message)
    return message


@cache
def _json_path(descriptor: Any, field_path: str) -> str:
    names: list[str] = []
    for name in field_path.split("."):
        field = descriptor.fields_by_name[name]
        names.append(field.json_name)
        descriptor = field.message_type
    return ".".join(names)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: ``{"price": "1", "price": "9"}`` is
    refused, not read as whichever came last (another parser on the way may take the first)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # one, not one per body


def _json(raw: bytes) -> Any:
    """``json.loads(raw, object_pairs_hook=_unique_keys)``, its decoder built once: a body
    is decoded as UTF-8 unless its first bytes say UTF-16/32 or a UTF-8 BOM (then as
    ``json.loads`` would)."""
    if raw[:1] in (b"\x00", b"\xef", b"\xfe", b"\xff") or raw[1:2] == b"\x00":
        return json.loads(raw, object_pairs_hook=_unique_keys)
    return _DECODER.decode(raw.decode("utf-8", "surrogatepass"))


def _merge_body(message: Any, body_field: str, raw_body: bytes) -> None:
    try:
        payload = _json(raw_body or b"{}")
    except _DuplicateKey as dup:
        raise bad_request(dup.key, "given more than once") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise GatewayError(400, "INVALID_ARGUMENT", f"malformed JSON body: {exc}",
                           [{"field": "body", "description": "malformed JSON"}]) from None
    if body_field == "*":
        if not isinstance(payload, dict):
            raise bad_request("body", "the body must be a JSON object")
        check_json_object(message.DESCRIPTOR, payload)
    else:
        json_name = message.DESCRIPTOR.fields_by_name[body_field].json_name
        payload = {json_name: payload}
        check_json_object(message.DESCRIPTOR, payload)
    if _set_plain(message, payload):
        return
    try:
        json_format.ParseDict(payload, message, ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise bad_request(_parse_error_field(str(exc)), _first_line(str(exc))) from None


# A field the fast path sets: (its proto name, its kind, an enum's numbers by name).
_Plain = tuple[str, int, dict[str, int] | None]


@cache
def _plain_fields(descriptor: Any) -> dict[str, _Plain]:
    """The message's singular string, bool and enum fields outside any oneof, by proto and
    JSON name: what a flat JSON object sets with no conversion but an enum's name."""
    plain: dict[str, _Plain] = {}
    for field in descriptor.fields:
        if field.is_repeated or field.containing_oneof is not None or field.type not in (
                FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BOOL,
                FieldDescriptor.TYPE_ENUM):
            continue
        numbers = None if field.enum_type is None else \
            {value.name: value.number for value in field.enum_type.values}
        plain[field.name] = plain[field.json_name] = (field.name, field.type, numbers)
    return plain


def _set_plain(message: Any, payload: dict[str, Any]) -> bool:
    """Sets ``payload`` on the empty ``message`` when every key is a plain field (see
    :func:`_plain_fields`) given once, with a JSON string (an enum: one of its names) or a
    bool for a bool: what ``json_format.ParseDict`` would set, without its generic walk
    (half of a REST order's decoding). False, with ``message`` left empty, for anything
    else: the parser then decides, and names what is wrong."""
    plain = _plain_fields(message.DESCRIPTOR)
    values: dict[str, Any] = {}
    for key, value in payload.items():
        field = plain.get(key)
        if field is None:
            return False
        name, kind, numbers = field
        if name in values:  # both the proto and the JSON name
            return False
        if kind == FieldDescriptor.TYPE_BOOL:
            if type(value) is not bool:
                return False
        elif type(value) is not str:
            return False
        elif numbers is not None:
            value = numbers.get(value)
            if value is None:
                return False
        values[name] = value
    try:
        for name, value in values.items():
            setattr(message, name, value)
    except (TypeError, ValueError):  # e.g. a lone surrogate in a string
        message.Clear()
        return False
    return True


def _parse_error_field(text: str) -> str:
    """The dotted field path a json_format.ParseError message is about."""
    path = _FAILED_FIELD.findall(text)
    missing = _NO_FIELD.search(text)
    if missing:
        path.append(missing.group(1))
    return ".".join(path) or "body"


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "invalid value"


def _group(query: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        grouped.setdefault(name, []).append(value)
    return grouped


def set_field(message: Any, field_path: str, values: list[str]) -> None:
    """Sets the field at dotted ``field_path`` from string ``values``."""
    names = field_path.split(".")
    target = message
    for depth, name in enumerate(names):
        field = _find_field(target.DESCRIPTOR, name)
        where = ".".join(names[: depth + 1])
        if field is None:
            raise bad_request(field_path, "unknown parameter: no such field")
        if depth == len(names) - 1:
            _assign(target, field, values, where, checked=depth == 0)
            return
        if field.message_type is None or _is_repeated(field):
            raise bad_request(where, "not a message field; cannot select a sub-field")
        target = getattr(target, field.name)


def _find_field(descriptor: Any, name: str) -> Any:
    field = descriptor.fields_by_name.get(name)
    if field is not None:
        return field
    for candidate in descriptor.fields:
        if candidate.json_name == name:
            return candidate
    return None


def _is_repeated(field: Any) -> bool:
    return bool(field.is_repeated)


def _assign(target: Any, field: Any, values: list[str], where: str, checked: bool) -> None:
    """Sets ``field`` from ``values``; ``checked``: a request message's own field, held to
    its rule (nested fields to their types)."""
    if field.message_type is not None and field.message_type.full_name != (
            "google.protobuf.Timestamp"):
        raise bad_request(where, "a message field cannot be set from a parameter")
    if not _is_repeated(field):
        if len(values) != 1:
            raise bad_request(where, "given more than once")
        if field.message_type is not None:
            _set_timestamp(getattr(target, field.name), values[0], where)
        else:
            setattr(target, field.name, _checked_scalar(field, values[0], where, checked))
        return
    container = getattr(target, field.name)
    for value in values:
        if field.message_type is not None:
            _set_timestamp(container.add(), value, where)
        else:
            container.append(_checked_scalar(field, value, where, checked))


def _checked_scalar(field: Any, value: str, where: str, checked: bool) -> Any:
    """``value`` converted, and within the field's rule (an enum's zero is no value)."""
    converted = convert_scalar(field, value, where)
    if not checked:
        pass
    elif field.type == FieldDescriptor.TYPE_ENUM:
        check_value(field, value, where)
    else:
        check_value(field, converted, where)
    return converted


def _set_timestamp(timestamp: Any, value: str, where: str) -> None:
    try:
        timestamp.FromJsonString(value)
    except ValueError:
        raise bad_request(where, f"{value!r} is not an RFC 3339 timestamp") from None


def convert_scalar(field: Any, value: str, where: str) -> Any:
    """``value`` as the Python value of scalar ``field``; raises a 400 naming ``where``."""
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return value
    if kind == FieldDescriptor.TYPE_BOOL:
        if value.lower() not in _BOOLS:
            raise bad_request(where, f"{value!r} is not a boolean (true or false)")
        return _BOOLS[value.lower()]
    if kind == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_name.get(value)
        if enum_value is None:
            names = ", ".join(v.name for v in field.enum_type.values)
            raise bad_request(where, f"{value!r} is not one of {names}")
        return enum_value.number
    if kind in _INTEGER_TYPES or kind in _FLOAT_TYPES:
        return _number(field, value, where)
    raise bad_request(where, "this field cannot be set from a parameter")


def _number(field: Any, value: str, where: str) -> Any:
    """An integer in ASCII digits (``int()`` would read ``"٣"`` as 3 and ``" 7"`` as 7)."""
    if field.type in _FLOAT_TYPES:
        try:
            return float(value)
        except ValueError:
            raise bad_request(where, f"{value!r} is not a valid number") from None
    low, high = _INT_RANGES.get(field.type, _INT_RANGES[FieldDescriptor.TYPE_INT64])
    try:
        return parse_ascii_int(value, minimum=low, maximum=high)
    except NotAsciiDigits as exc:
        raise bad_request(where, f"{value!r}: {exc}") from None
