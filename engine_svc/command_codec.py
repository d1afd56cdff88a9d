"""Commands to journal bytes and back (and events to outbox bytes): one encoding.

A journal entry is canonical JSON ``{"@type": <class name>, ...fields}``; enums are written
by value. Decoding rebuilds the exact dataclass, so a replay applies the same commands.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from enum import Enum
from functools import cache
from typing import Any

from engine_svc.core import commands as core_commands
from engine_svc.core.commands import Command
from engine_svc.core.events import Event

COMMAND_TYPES: dict[str, type] = {
    name: cls for name, cls in vars(core_commands).items()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls)
    and cls.__module__ == core_commands.__name__
}


KIND = "@type"  # not a valid field name, so it never clashes with one (e.g. ``type``)


class CorruptJournalEntry(ValueError):
    """A journal entry that does not decode to a command: the journal is not trusted."""


def encode(record: Command | Event) -> bytes:
    """Canonical JSON of a command (for the journal) or an event (for the outbox)."""
    body: dict[str, Any] = {KIND: type(record).__name__}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        body[f.name] = value.value if isinstance(value, Enum) else value
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


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
        body = json.loads(raw)
        cls = COMMAND_TYPES[body.pop(KIND)]
        for name, enum in _enum_fields(cls).items():
            if body.get(name) is not None:
                body[name] = enum(body[name])
        return typing.cast(Command, cls(**body))
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptJournalEntry(f"cannot decode journal entry: {err}") from err
