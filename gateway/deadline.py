"""The deadline for an upstream call: the gateway's limit or the client's, whichever is less.

A client may send ``grpc-timeout`` in gRPC's format (an integer and a unit: ``H`` hours,
``M`` minutes, ``S`` seconds, ``m`` milliseconds, ``u`` microseconds, ``n`` nanoseconds).
"""

from __future__ import annotations

import re

from gateway.errors import bad_request

HEADER = "grpc-timeout"
_FORMAT = re.compile(r"^([0-9]{1,8})([HMSmun])$")  # ASCII digits: \d would take "٣"
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_grpc_timeout(value: str) -> float:
    """Seconds in a ``grpc-timeout`` value; raises a 400 naming the header if malformed."""
    match = _FORMAT.match(value.strip())
    if match is None:
        raise bad_request(HEADER, f"{value!r} is not a gRPC timeout like 500m or 2S")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def call_timeout(limit_seconds: float, client_header: str | None) -> float:
    """The ``timeout=`` for an upstream call."""
    if client_header is None:
        return limit_seconds
    return min(limit_seconds, parse_grpc_timeout(client_header))
