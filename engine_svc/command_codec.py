"""Commands to journal bytes and back (and events to outbox bytes): one encoding.

A record is the JSON object ``{"@type": <class name>, field: value, ...}`` (``@type`` is no
valid field name, so it never clashes with one such as ``type``), enums written by value
(orjson serialises enums natively, and fast). Decoding rebuilds the exact dataclass, so a
replay applies the very same commands.
"""

from __future__ import annotations

import dataclasses
import typing
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


@cache
def _prefix(cls: type) -> bytes:
    return b'{"' + KIND.encode() + b'":"' + cls.__name__.encode() + b'",'


def encode(record: Command | Event) -> bytes:
    """Canonical JSON of a command (for the journal) or an event (for the outbox).

    orjson writes the dataclass as an object (never empty: every record has fields); the
    ``@type`` member is spliced in front of its first member.
    """
    cls: type = type(record)
    return _prefix(cls) + orjson.dumps(record)[1:]


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
