"""Edge conversions between decimals and the core's integers.

Invariants kept here:

* The core never sees a binary float: every decimal that crosses the edge is a
  :class:`decimal.Decimal` (or a string / int that converts exactly).
* Conversions never round. A value that is not an exact multiple of its step, is
  negative, zero (unless allowed), NaN, infinite or at least ``MAX_UNITS`` steps raises
  :class:`ValidationError` naming the offending field.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import Final

_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
"""What a decimal string may look like. Python's ``Decimal()`` also takes surrounding
whitespace, ``1_000``, ``.5``, ``1.`` and digits of every script (Arabic-Indic one is 1); a price
or a quantity is not read from any of those."""
_NON_FINITE_TEXT = re.compile(r"\s*[+-]?(?:s?nan[0-9]*|inf(?:inity)?)\s*", re.ASCII | re.IGNORECASE)

MAX_UNITS: Final = 10**18
"""Exclusive cap on any integer the core accepts (ticks, lots, minor units)."""


class ValidationError(ValueError):
    """A request field that cannot be represented on the core's integer grid."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = message


def ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded up, for ``b > 0``: the exchange's rounding of fees and holds.

    Callers pass ``a`` as a product of non-negative factors (``ceil_div(notional * bps,
    10_000)``, not ``-(-notional * bps // 10_000)``): the compiled build multiplies small
    non-negative integers in C and boxes anything with a negative operand.
    """
    return -(-a // b)


def to_decimal(value: Decimal | str | int, field: str) -> Decimal:
    """Return ``value`` as a finite Decimal; floats and garbage are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ValidationError(field, "INVALID_TYPE", "must be a decimal string or integer")
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value) is None \
            and _NON_FINITE_TEXT.fullmatch(value) is None:  # those get their own words below
        raise ValidationError(
            field, "NOT_A_NUMBER",
            f"{value!r} is not a decimal number (ASCII digits with an optional sign, point "
            "and exponent, e.g. 12.5)")
    try:
        dec = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValidationError(field, "NOT_A_NUMBER", f"{value!r} is not a number") from None
    if dec.is_nan():
        raise ValidationError(field, "NOT_A_NUMBER", "NaN is not allowed")
    if dec.is_infinite():
        raise ValidationError(field, "NOT_FINITE", "infinity is not allowed")
    return dec


def decimal_to_units(
    value: Decimal | str | int, step: Decimal, field: str, *, allow_zero: bool = False
) -> int:
    """Convert ``value`` to an exact integer number of ``step`` units, never rounding."""
    dec = to_decimal(value, field)
    if dec < 0 or (dec == 0 and not allow_zero):
        raise ValidationError(field, "NOT_POSITIVE", f"must be positive, got {dec}")
    if dec.adjusted() > 40:
        raise ValidationError(field, "TOO_LARGE", f"{dec} is too large")
    with localcontext() as ctx:
        ctx.prec = 100
        units = dec / step
        if units != units.to_integral_value():
            raise ValidationError(field, "OFF_GRID", f"{dec} is not a multiple of {step}")
    n = int(units)
    if n >= MAX_UNITS:
        raise ValidationError(field, "TOO_LARGE", f"{dec} exceeds the maximum")
    return n


def units_to_decimal(units: int, step: Decimal) -> Decimal:
    """Exact inverse of :func:`decimal_to_units`."""
    with localcontext() as ctx:
        ctx.prec = 100
        return Decimal(units) * step
