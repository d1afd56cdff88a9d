"""Commands to journal bytes and back (and events to outbox bytes): one encoding.

A record is the JSON object ``{"@type": <class name>, field: value, ...}`` (``@type`` is no
valid field name, so it never clashes with one such as ``type``), enums written by value
(orjson serialises enums natively, and fast). Decoding rebuilds the exact dataclass, so a
replay applies the very same commands.
"""

from __future__ import annotations

import dataclasses
import operator
import typing
from collections.abc import Callable
from enum import Enum
from functools import cache
from typing import Any

import orjson

from engine_svc.core import commands as core_commands
from engine_svc.core.commands import Command
from engine_svc.core.events import Event

COMMAND_TYPES: dict[str, type] = {
    name: cls for name, cls in vars(core_commands).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    and cls.__module__ == core_commands.__name__
}


class CorruptJournalEntry(ValueError):
    """A journal entry that does not decode to a command: the journal is not trusted."""


KIND = "@type"


def _prefix(cls: type) -> bytes:
    return b'{"' + KIND.encode() + b'":"' + cls.__name__.encode() + b'",'


class _Layout:
    """How a record class is written: its ``@type`` prefix, its field names in definition
    order, a getter of their values as one tuple, and which of them hold enums."""

    def __init__(self, cls: type) -> None:
        self.prefix = _prefix(cls)
        self.kind = cls.__name__
        self.names: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(cls))
        getter = operator.attrgetter(*self.names)  # one name: the value, not a 1-tuple
        self.values: Callable[[object], Any] = getter if len(self.names) > 1 else \
            (lambda record: (getter(record),))
        enums = _enum_fields(cls)
        self.enum_names: tuple[str, ...] = tuple(n for n in self.names if n in enums)


_LAYOUTS: dict[type, _Layout] = {}


def encode(record: Command | Event) -> bytes:
    """Canonical JSON of a command (for the journal) or an event (for the outbox).

    The object orjson writes for the dataclass (every field in definition order, enums by
    value; never empty: every record has fields), with the ``@type`` member spliced in
    front of its first member. The fields go to orjson as a dict, the enums its type hints
    declare already replaced by their values (any other enum orjson writes the same way):
    the same bytes, without orjson's generic dataclass walk and ``Enum.value`` lookups
    (a PlaceOrder in about half the time).
    """
    layout = _layout(type(record))
    return layout.prefix + orjson.dumps(_body(layout, record, {}))[1:]


def fields(record: Command | Event) -> dict[str, Any]:
    """What decoding :func:`encode`'s bytes gives (``{"@type": <class name>, field:
    value, ...}``, enums as their values), without writing and reading the JSON: for a
    reader in this process (the engine's market-data publisher)."""
    layout = _layout(type(record))
    return _body(layout, record, {KIND: layout.kind})


def _layout(cls: type) -> _Layout:
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _Layout(cls)
    return layout


def _body(layout: _Layout, record: object, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with ``record``'s fields added in definition order, enums by value."""
    values: tuple[Any, ...] = layout.values(record)
    names = layout.names
    for i in range(len(names)):  # compiled, twice as fast as dict(zip(...))
        body[names[i]] = values[i]
    for name in layout.enum_names:
        value = body[name]
        if value is not None:
            body[name] = value._value_
    return body


@cache
def _enum_fields(cls: type) -> dict[str, type[Enum]]:
    hints = typing.get_type_hints(cls)
    found: dict[str, type[Enum]] = {}
    for name, hint in hints.items():
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and issubclass(candidate, Enum):
                found[name] = candidate
    return found


def decode(raw: bytes) -> Command:
    try:
        body = orjson.loads(raw)
        cls = COMMAND_TYPES[body.pop(KIND)]
        for field, enum in _enum_fields(cls).items():
            if body.get(field) is not None:
                body[field] = enum(body[field])
        return typing.cast(Command, cls(**body))
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptJournalEntry(f"cannot decode journal entry: {err}") from err


def decode_event(raw: bytes) -> tuple[str, dict[str, Any]]:
    """An outbox record as (event class name, fields with enums as their values)."""
    body = orjson.loads(raw)
    return str(body.pop(KIND)), dict(body)
