"""Decimal text as the wire contract has it (API.md): ``[+-]digits[.digits]``, ASCII only.

The core's own reader (:func:`engine_svc.core.units.to_decimal`) also takes an exponent
(``1e3``), which the engine's configuration and records may use; a client's price,
quantity or amount may not, over gRPC as over REST (where the gateway's pattern refuses it
first). :func:`checked` lets through what the contract allows and the non-finite words, for
which the core has its own message, and refuses the rest naming the field.
"""

from __future__ import annotations

import re

from engine_svc.core.units import ValidationError

_WIRE = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_NON_FINITE = re.compile(r"[+-]?(?:s?nan[0-9]*|inf(?:inity)?)", re.ASCII | re.IGNORECASE)


def checked(text: str, field: str) -> str:
    """``text`` unchanged when it is contract decimal text (or NaN/Infinity, refused by the
    core in its own words); otherwise a ``NOT_A_NUMBER`` error naming ``field``."""
    if _WIRE.fullmatch(text) is None and _NON_FINITE.fullmatch(text) is None:
        raise ValidationError(field, "NOT_A_NUMBER",
                              f"{text!r} is not a decimal number (ASCII digits with an "
                              "optional sign and point, e.g. 12.5; no exponent)")
    return text
