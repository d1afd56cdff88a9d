"""A history request's optional filters, checked: ``side``, ``status``, ``from``, ``to``,
``positionId``.

Each List* request message declares the filters it takes (``side`` where its rows have
one, ``status`` for orders, ``from_time``/``to_time`` for all, JSON ``from``/``to``,
``position_id`` where rows belong to a position); an unset field does not filter. Times
are ``google.protobuf.Timestamp`` (RFC 3339 in JSON) and compare with the rows' epoch
milliseconds (a timestamp's sub-millisecond part is dropped); ``from`` after ``to`` is
refused, as are values outside the enums and timestamps outside 0001-01-01..9999-12-31. A
``positionId`` is 1-19 ASCII digits read as a number (``"041"`` is position 41, as an
order id is read; the rows store it without leading zeros); anything else is refused, and
an id that is no position of the caller's matches no row. Errors name the field by its
JSON name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trademesh.v1 import order_pb2

from mesh_runtime.ascii_digits import NotAsciiDigits, parse_ascii_uint

MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z, RFC 3339's first instant
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
SIDES: dict[int, str] = {order_pb2.BUY: "BUY", order_pb2.SELL: "SELL"}
STATUSES: dict[int, str] = {int(v): k for k, v in order_pb2.OrderStatus.items() if v}


@dataclass(frozen=True, slots=True)
class Filters:
    side: str | None = None
    status: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    position_id: str | None = None  # an isolated position's id as stored: no leading zeros


Invalid = Callable[[str, str], Exception]  # (JSON field name, message) -> the error


def filters(request: Any, invalid: Invalid) -> Filters:
    fields = request.DESCRIPTOR.fields_by_name
    side = _enum(request, "side", SIDES, invalid) if "side" in fields else None
    status = _enum(request, "status", STATUSES, invalid) if "status" in fields else None
    start = _millis(request, "from_time", invalid) if "from_time" in fields else None
    end = _millis(request, "to_time", invalid) if "to_time" in fields else None
    if start is not None and end is not None and start > end:
        raise invalid("from", "is after to")
    position = _position(request, invalid) if "position_id" in fields else None
    return Filters(side, status, start, end, position)


def _position(request: Any, invalid: Invalid) -> str | None:
    text = request.position_id
    if not text:
        return None
    try:
        return str(parse_ascii_uint(text))
    except NotAsciiDigits as err:
        raise invalid("positionId", f"an isolated position's id {err}") from None


def _enum(request: Any, name: str, names: dict[int, str], invalid: Invalid) -> str | None:
    value = getattr(request, name)
    if not value:
        return None
    if value not in names:
        raise invalid(name, f"{value} is not one of {', '.join(names.values())}")
    return names[value]


def _millis(request: Any, name: str, invalid: Invalid) -> int | None:
    if not request.HasField(name):
        return None
    stamp = getattr(request, name)
    json_name = request.DESCRIPTOR.fields_by_name[name].json_name
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS or not 0 <= stamp.nanos < 10**9:
        raise invalid(json_name, "is not a time between 0001-01-01 and 9999-12-31")
    return int(stamp.seconds) * 1000 + int(stamp.nanos) // 1_000_000
