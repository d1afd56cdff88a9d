"""Protobuf messages → JSON values, compiled per message type: the one renderer of the
gateway's responses and the feed's WebSocket data.

The same output as ``json_format.MessageToDict(message,
always_print_fields_with_no_presence=True)`` (lowerCamelCase names; every field without
presence printed, fields with presence only when set; 64-bit integers as strings; enums
by name; Timestamps in RFC 3339), at a fraction of the cost: each message type's fields
are looked up once, not on every call. A type with anything this module does not render
itself (floating point, ``Any``, wrappers, ...) is rendered by ``json_format`` whole; the
``google.protobuf`` struct types (``Value``, ``ListValue``, ``Struct``) by ``json_format``
in place. ``tests/unit/runtime/test_proto_json.py`` checks the equality on every message of
the contracts; ``tests/unit/feed/test_frame_json.py`` on every message the feed sends.
Fields come in ``json_format``'s order too (the set ones by field number, then the unset
ones without presence in declaration order), so ``json.dumps`` of either is the same text.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any, NamedTuple

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

Render = Callable[[Any], Any]
_F = FieldDescriptor
_INT64 = {_F.TYPE_INT64, _F.TYPE_UINT64, _F.TYPE_FIXED64, _F.TYPE_SINT64, _F.TYPE_SFIXED64}
_INT32 = {_F.TYPE_INT32, _F.TYPE_UINT32, _F.TYPE_FIXED32, _F.TYPE_SINT32, _F.TYPE_SFIXED32}
_PLAIN = _INT32 | {_F.TYPE_BOOL, _F.TYPE_STRING}
_STRUCTS = {"google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Struct"}
_renderers: dict[str, Render] = {}


def to_json(message: Any) -> Any:
    """``message`` as a JSON-compatible value (see the module's docstring)."""
    descriptor = message.DESCRIPTOR
    render = _renderers.get(descriptor.full_name)
    if render is None:
        render = _renderers[descriptor.full_name] = _compile(descriptor)
    return render(message)


def _whole(message: Any) -> Any:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


_SECONDS_MIN, _SECONDS_MAX = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31
_EPOCH = datetime.datetime(1970, 1, 1)
_seconds_text: dict[int, str] = {}  # whole seconds rendered lately (answers share them)


def _timestamp(message: Any) -> Any:
    """``Timestamp.ToJsonString``'s text (3, 6 or 9 fraction digits, as few as exact), its
    whole seconds rendered once for every timestamp in the same second."""
    seconds, nanos = message.seconds, message.nanos
    if not (_SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < 1_000_000_000):
        return message.ToJsonString()  # its own error
    text = _seconds_text.get(seconds)
    if text is None:
        if len(_seconds_text) >= 4096:
            _seconds_text.clear()
        text = _seconds_text[seconds] = \
            (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1000 == 0:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"


class _Unsupported(Exception):
    """A field this module leaves to ``json_format`` (floating point, maps)."""


def _compile(descriptor: Descriptor) -> Render:
    if descriptor.full_name == "google.protobuf.Timestamp":
        return _timestamp
    if descriptor.full_name.startswith("google.protobuf."):
        return _whole
    try:
        fields = [_Field(f.name, f.json_name, f.has_presence and not f.is_repeated,
                         _value_renderer(f), place) for place, f in enumerate(descriptor.fields)]
    except _Unsupported:
        return _whole
    return _message_renderer(sorted(fields, key=lambda f: descriptor.fields[f.place].number))


class _Field(NamedTuple):
    name: str
    json_name: str
    presence: bool
    value: Render | None  # None: the value as it is
    place: int  # where the message declares it


def _message_renderer(by_number: list[_Field]) -> Render:
    """``json_format``'s order: set fields by number (``ListFields``), then the unset
    fields without presence (falsy: zero, empty, False) by declaration."""
    declared = [f.place for f in by_number] == sorted(f.place for f in by_number)

    def render(message: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        unset: list[tuple[_Field, Any]] = []
        for field in by_number:
            if field.presence:
                if not message.HasField(field.name):
                    continue
                raw = getattr(message, field.name)
            else:
                raw = getattr(message, field.name)
                if not raw:
                    unset.append((field, raw))
                    continue
            out[field.json_name] = raw if field.value is None else field.value(raw)
        if not declared:
            unset.sort(key=lambda pair: pair[0].place)
        for field, raw in unset:
            out[field.json_name] = raw if field.value is None else field.value(raw)
        return out

    return render


def _value_renderer(field: FieldDescriptor) -> Render | None:
    """How one field's value renders: None means as it is."""
    kind, message_type = field.type, field.message_type
    one: Render
    if kind in _PLAIN:
        return list if field.is_repeated else None
    if kind in _INT64:
        one = str
    elif kind == _F.TYPE_ENUM:
        one = _enum_renderer(field)
    elif kind == _F.TYPE_BYTES:
        one = _bytes
    elif message_type is not None and not message_type.GetOptions().map_entry:
        one = _whole if message_type.full_name in _STRUCTS else to_json
    else:  # float, double and maps: json_format's own rules
        raise _Unsupported(field.full_name)
    if field.is_repeated:
        return lambda values: [one(v) for v in values]
    return one


def _enum_renderer(field: FieldDescriptor) -> Render:
    enum = field.enum_type
    assert enum is not None
    if enum.full_name == "google.protobuf.NullValue":
        return lambda _: None
    names = {v.number: v.name for v in enum.values}
    return lambda number: names.get(number, number)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
