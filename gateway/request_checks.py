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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from gateway.errors import bad_request
from gateway.request_rules import (
    at_least_one,
    compiled_pattern,
    field_rule,
    required_fields,
    violation,
)
from gateway.schemas import enum_names

_FD = FieldDescriptor
_INT32 = {_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32, _FD.TYPE_UINT32,
          _FD.TYPE_FIXED32}
_FLOATS = {_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT}
_STRING_MESSAGES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
_FREE_MESSAGES = {"google.protobuf.Value", "google.protobuf.Struct",
                  "google.protobuf.ListValue", "google.protobuf.Any"}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one field takes, worked out once per field (the checks are on the hot path)."""

    json_name: str
    kind: str  # "map", "repeated" or "single"
    is_type: Callable[[Any], bool]
    what: str  # the JSON type, for the error
    nested: Any  # a message descriptor to check inside, or None
    problem: Callable[[Any], str | None] | None  # the rule, for the request's own fields


def check_json_object(descriptor: Any, obj: Mapping[str, Any], prefix: str = "") -> None:
    """Every known key of ``obj`` (a JSON object for ``descriptor``) has the document's type
    and, at the top (no ``prefix``), keeps its rule; unknown keys are left to the parser,
    which names them."""
    plans = _plans(descriptor)
    for key, value in obj.items():
        plan = plans.get(key)
        if plan is None:
            continue
        where = prefix + plan.json_name
        if plan.kind == "map":
            _want(isinstance(value, dict), where, "a JSON object")
        elif plan.kind == "repeated":
            _want(isinstance(value, list), where, "a JSON array")
            for item in value:
                _check_item(plan, item, where, top=not prefix)
        else:
            _check_item(plan, value, where, top=not prefix)


def _check_item(plan: _Plan, value: Any, where: str, top: bool) -> None:
    if value is None:
        raise bad_request(where, "must not be null (leave the field out instead)")
    _want(plan.is_type(value), where, plan.what)
    if plan.nested is not None:
        check_json_object(plan.nested, value, where + ".")
    elif top and plan.problem is not None:
        problem = plan.problem(value)
        if problem is not None:
            raise bad_request(where, problem)


def _want(ok: bool, where: str, what: str) -> None:
    if not ok:
        raise bad_request(where, f"must be {what}")


def check_value(field: Any, value: Any, where: str) -> None:
    """``value`` (an enum's name, a string, an integer) keeps the field's rule."""
    problem = _rule(field)
    if problem is not None:
        found = problem(value)
        if found is not None:
            raise bad_request(where, found)


@cache
def _plans(descriptor: Any) -> dict[str, _Plan]:
    """Each field of ``descriptor`` under its proto and its JSON name."""
    plans: dict[str, _Plan] = {}
    for field in descriptor.fields:
        plans[field.name] = plans[field.json_name] = _plan(field)
    return plans


def _plan(field: Any) -> _Plan:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        return _Plan(field.json_name, "map", _anything, "a JSON object", None, None)
    kind = "repeated" if field.is_repeated else "single"
    nested = None
    if message is None:
        is_type, what = _SCALAR_TYPES[_scalar_family(field.type)]
    elif message.full_name in _STRING_MESSAGES:
        is_type, what = _is_str, "a string"
    elif message.full_name in _FREE_MESSAGES:
        is_type, what = _anything, "any JSON value"
    else:
        is_type, what, nested = _is_object, "a JSON object", message
    return _Plan(field.json_name, kind, is_type, what, nested, _rule(field))


@cache
def _rule(field: Any) -> Callable[[Any], str | None] | None:
    """The field's rule as a function of the value (None: no rule)."""
    if field.type == _FD.TYPE_ENUM:
        names = enum_names(field, request=True)
        allowed = frozenset(names)
        listed = ", ".join(names)
        return lambda value: None if value in allowed else f"{value!r} is not one of {listed}"
    rule = field_rule(field.containing_type, field)
    if not rule:
        return None
    if set(rule) - {"pattern", "minLength", "maxLength", "description"}:
        return lambda value: violation(rule, value)  # enum, maximum: the general reading
    shortest, longest = rule.get("minLength", 0), rule.get("maxLength", 2**31)
    matches = compiled_pattern(rule["pattern"]).search if "pattern" in rule else None

    def string_problem(value: Any) -> str | None:
        # the common case (a string that conforms) in a few operations
        if (isinstance(value, str) and shortest <= len(value) <= longest
                and (matches is None or matches(value) is not None)):
            return None
        return violation(rule, value)

    return string_problem


def _anything(value: Any) -> bool:
    return True


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _scalar_family(kind: int) -> str:
    if kind in _INT32:
        return "int"
    if kind in _FLOATS:
        return "number"
    if kind == _FD.TYPE_BOOL:
        return "bool"
    return "string"  # strings, bytes (base64), enums (by name), 64-bit integers


_SCALAR_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "int": (_is_int, "an integer"), "number": (_is_number, "a number"),
    "bool": (_is_bool, "true or false"), "string": (_is_str, "a string"),
}


def _given(message: Any, field: Any) -> bool:
    """Set by the request: present for a field with presence (an explicit 0 fee counts),
    not empty for the others."""
    return bool(message.HasField(field.name) if field.has_presence
                else getattr(message, field.name))


def check_required(message: Any) -> None:
    """The fields ``message`` requires are set (not empty), and one of each group."""
    descriptor = message.DESCRIPTOR
    for name in required_fields(descriptor):
        if not getattr(message, name):
            raise bad_request(descriptor.fields_by_name[name].json_name, "is required")
    group = at_least_one(descriptor)
    if group and not any(_given(message, descriptor.fields_by_name[name]) for name in group):
        names = [descriptor.fields_by_name[name].json_name for name in group]
        raise bad_request(names[0], "give at least one of " + ", ".join(names))
